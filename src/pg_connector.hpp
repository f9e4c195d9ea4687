// The libpq side of the pool: opening connections with a hard deadline, cheap liveness checks,
// pings, and putting returned connections back in a clean state.
#pragma once

#include <string>

#include <libpq-fe.h>

#include "connector.hpp"

namespace connpool {

class PgConnection final : public Connection {
public:
    explicit PgConnection(PGconn *conn) : conn_(conn) {}
    ~PgConnection() override { PQfinish(conn_); }
    PgConnection(const PgConnection &) = delete;
    PgConnection &operator=(const PgConnection &) = delete;
    PGconn *get() const { return conn_; }

private:
    PGconn *conn_;
};

struct PgSettings {
    std::string conninfo;
    std::string password;     // only to scrub it from libpq's messages
    std::string reset_query;  // "" = none
};

class PgConnector final : public Connector {
public:
    explicit PgConnector(PgSettings settings) : settings_(std::move(settings)) {}

    std::unique_ptr<Connection> connect(TimePoint deadline, const std::atomic<bool> &abandon,
                                        ConnectFailure &failure) override;
    bool looks_alive(Connection &connection) override;
    bool ping(Connection &connection, TimePoint deadline) override;
    ReleaseVerdict verdict_on_release(Connection &connection) override;
    bool reset(Connection &connection, TimePoint deadline) override;

private:
    PgSettings settings_;
};

// Runs `sql` (no parameters) and drains every result, giving up at `deadline`. True if the
// connection ends idle and no result reported an error. Does not block past the deadline.
bool exec_with_deadline(PGconn *conn, const char *sql, TimePoint deadline);

}  // namespace connpool
