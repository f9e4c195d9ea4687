// The libpq side of the pool: opening connections with a hard deadline, cheap liveness checks,
// pings, and putting returned connections back in a clean state.
#pragma once

#include <string>

#include <libpq-fe.h>

#include "connector.hpp"

namespace connpool {

class PgConnection final : public Connection {
  public:
    // Takes ownership of `conn` and routes its notices to on_notice (libpq would otherwise
    // print them on the host program's stderr).
    explicit PgConnection(PGconn *conn);
    ~PgConnection() override { PQfinish(conn_); }
    PgConnection(const PgConnection &) = delete;
    PgConnection &operator=(const PgConnection &) = delete;
    PGconn *get() const { return conn_; }
    // The server sent FATAL/PANIC while the connection was idle (e.g. pg_terminate_backend,
    // shutdown): libpq reports that only as a notice and keeps the status OK.
    bool doomed() const { return doomed_; }
    // session_authorization when the connection was opened (the session guard compares it).
    const std::string &session_user_at_connect() const { return session_user_; }
    void remember_session_user();

  private:
    static void on_notice(void *self, const PGresult *notice);
    PGconn *conn_;
    bool doomed_ = false;
    std::string session_user_;
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

// Fills `failure` from libpq's (verbose) connect error: message without LOCATION lines,
// SQLSTATE, and whether it is permanent (authentication, unknown database).
void describe_connect_failure(const char *libpq_message, ConnectFailure &failure);

// Runs `sql` (no parameters) and drains every result, giving up at `deadline`. True if the
// connection ends idle and no result reported an error. Does not block past the deadline.
bool exec_with_deadline(PGconn *conn, const char *sql, TimePoint deadline);

}  // namespace connpool
