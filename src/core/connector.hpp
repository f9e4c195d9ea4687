// The seam between the generic pool and a database: the pool decides *when* to open, check,
// reset and close connections; a Connector knows *how*. PgConnector implements it with libpq;
// unit tests use a fake one.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "core/clock.hpp"

namespace connpool {

// One open server connection. Destroying it closes it.
class Connection {
  public:
    virtual ~Connection() = default;
};

// What to do with a connection that comes back from a lease, decided without I/O.
enum class ReleaseVerdict {
    reuse,    // clean and idle: straight back to the pool
    reset,    // needs a round trip first (rollback, reset query): done by a background worker
    discard,  // broken, busy or in an unknown state: close it
};

struct ConnectFailure {
    std::string message;     // never contains a password
    std::string sqlstate;    // when the server sent one (e.g. 28P01 wrong password)
    bool permanent = false;  // retrying soon will not help (authentication, unknown database)
};

class Connector {
  public:
    virtual ~Connector() = default;

    // Opens a connection, giving up at `deadline` or soon after `abandon` becomes true.
    // Returns nullptr and fills `failure` on failure. Called without any pool lock held.
    virtual std::unique_ptr<Connection> connect(TimePoint deadline,
                                                const std::atomic<bool> &abandon,
                                                ConnectFailure &failure) = 0;

    // Cheap local check before an idle connection is handed out; must not block.
    virtual bool looks_alive(Connection &connection) = 0;

    // A round trip proving the connection works (pre-ping), bounded by `deadline`.
    virtual bool ping(Connection &connection, TimePoint deadline) = 0;

    // Inspects a returned connection without I/O.
    virtual ReleaseVerdict verdict_on_release(Connection &connection) = 0;

    // Brings a returned connection back to a clean idle state (rollback, reset query),
    // bounded by `deadline`. False means it must be closed.
    virtual bool reset(Connection &connection, TimePoint deadline) = 0;

    // Run-time operations: who a connection is, for introspection, without I/O. An id unique in
    // the process and the server's process id; 0 when the connector does not know.
    virtual uint64_t connection_id(Connection & /*connection*/) { return 0; }
    virtual int32_t backend_pid(Connection & /*connection*/) { return 0; }
};

}  // namespace connpool
