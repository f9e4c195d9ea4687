// The libpq side of the pool: opening connections with a hard deadline, cheap liveness checks,
// pings, and putting returned connections back in a clean state.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <libpq-fe.h>

#include "core/connector.hpp"
#include "pg/cancel_request.hpp"
#include "pg/server_role.hpp"
#include "pg/session_reset.hpp"
#include "pg/statement_cache.hpp"

namespace connpool {

// One statement sent by connpool_lease_exec/_send and not yet fully collected (pg_query.cpp
// drives it). Buffers are reused from statement to statement.
struct StatementState {
    enum class Expect : uint8_t { deallocate, prepare, execute, sync };
    bool active = false;      // sent, outcome not yet collected
    bool pipeline = false;    // libpq pipeline mode entered for this statement
    bool want_write = false;  // libpq still holds unsent output (PQflush returned 1)
    bool retryable = false;   // executes a cached prepared statement: may be re-run unprepared
    bool retried = false;
    std::vector<Expect> expect;  // results still to come, in order
    size_t next = 0;
    std::string name;                   // prepared statement executed ("" = unprepared)
    std::string retry_text;             // SQL, NUL, each non-NULL parameter, NUL (retryable only)
    std::vector<int64_t> retry_offs;    // parameter offsets in retry_text, -1 = SQL NULL
    PGresult *result = nullptr;         // the statement's own result
    PGresult *prepare_error = nullptr;  // the Parse step failed: this is the outcome
    void clear_results() {
        PQclear(result);
        PQclear(prepare_error);
        result = prepare_error = nullptr;
    }
};

class PgConnection final : public Connection {
  public:
    // Takes ownership of `conn` and routes its notices to on_notice (libpq would otherwise
    // print them on the host program's stderr).
    explicit PgConnection(PGconn *conn, StatementCacheConfig cache = {});
    ~PgConnection() override;
    PgConnection(const PgConnection &) = delete;
    PgConnection &operator=(const PgConnection &) = delete;
    PGconn *get() const { return conn_; }
    // The server sent FATAL/PANIC while the connection was idle (e.g. pg_terminate_backend,
    // shutdown): libpq reports that only as a notice and keeps the status OK.
    bool doomed() const { return doomed_; }
    // session_authorization when the connection was opened (the session guard compares it).
    const std::string &session_user_at_connect() const { return session_user_; }
    void remember_session_user();
    // Called once the connection is established: prepares the cancel request, so that
    // cancel() is safe from any thread while another one uses the connection.
    void connected(Millis cancel_timeout);
    // Asks the server to cancel what runs on this connection (pg/cancel_request.hpp), giving
    // up after cancel_timeout. `message` says why unless the outcome is `delivered`.
    CancelOutcome cancel(std::string &message) const;

    // Unique within the process, never reused: lets callers cache per-connection state.
    uint64_t id() const { return id_; }
    StatementCache &cache() { return cache_; }
    StatementState &statement() { return statement_; }
    // The caller took the raw PGconn (connpool_lease_pgconn): the cache is distrusted before
    // its next use.
    // Raw use also owes a session reset (reset=auto): the library cannot see what was sent.
    void mark_raw_use() {
        raw_used_ = true;
        session_dirty_ = true;
    }
    bool take_raw_use() { return std::exchange(raw_used_, false); }
    // A statement of the current lease may have changed the session (pg/session_effects.hpp):
    // reset=auto owes it a full reset at release. Cleared by that reset.
    void mark_session_dirty() { session_dirty_ = true; }
    bool session_dirty() const { return session_dirty_; }
    void session_cleaned() { session_dirty_ = false; }
    // SET statements that restore the settings the connection was given by its owner
    // (connpool_lease_keep_session), each preceded by ';': the full reset runs them after
    // RESET ALL. Empty: the server's defaults are the connection's own.
    const std::string &session_baseline() const { return session_baseline_; }
    void keep_session(std::string baseline) {
        session_baseline_ = std::move(baseline);
        session_dirty_ = false;
    }
    // Left in a state the pool must not reuse (a send that failed half-way, COPY, a pipeline
    // that could not be closed).
    void poison() { poisoned_ = true; }
    bool poisoned() const { return poisoned_; }
    // The server it reached and whether it must stay writable (pg/server_role.hpp).
    ServerRole &role() { return role_; }

  private:
    static void on_notice(void *self, const PGresult *notice);
    PGconn *conn_;
    const uint64_t id_;
    std::shared_ptr<PGcancel> cancel_;  // shared with a fallback request still running
    CancelKey cancel_key_;              // valid if has_cancel_key_ (the non-blocking request)
    bool has_cancel_key_ = false;
    Millis cancel_timeout_{5'000};
    bool doomed_ = false;
    bool raw_used_ = false;
    bool session_dirty_ = false;
    bool poisoned_ = false;
    std::string session_user_;
    std::string session_baseline_;
    StatementCache cache_;
    StatementState statement_;
    ServerRole role_;
};

struct PgSettings {
    std::string conninfo;     // the first target; PgConnector::retarget replaces it
    std::string password;     // only to scrub it from libpq's messages
    std::string reset_query;  // "" = none
    StatementCacheConfig statement_cache{};
    std::string init_sql;                // "" = none
    ResetMode reset = ResetMode::auto_;  // the `reset` option (pg/session_reset.hpp)
    int64_t cancel_timeout_ms = 5'000;
};

// Where new connections go: a conninfo and its password (only to scrub messages). Immutable;
// credential rotation swaps the whole target.
struct PgTarget {
    std::string conninfo;
    std::string password;
};

// The latest failed connect of a connector (what a direct connection reports to its caller).
struct LastConnectFailure {
    ConnectFailure failure;
    bool timed_out = false;  // the connect deadline passed
};

class PgConnector final : public Connector {
  public:
    explicit PgConnector(PgSettings settings);

    // Connects to the current target, then runs init_sql, all within `deadline`.
    std::unique_ptr<Connection> connect(TimePoint deadline, const std::atomic<bool> &abandon,
                                        ConnectFailure &failure) override;
    // Credential rotation: connects that start from now on use `target`; open connections and
    // connects in progress are not touched. Thread-safe.
    void retarget(PgTarget target);
    // The latest connect failure, if any (thread-safe copy).
    bool last_failure(LastConnectFailure &out) const;
    bool looks_alive(Connection &connection) override;
    bool ping(Connection &connection, TimePoint deadline) override;
    ReleaseVerdict verdict_on_release(Connection &connection) override;
    bool reset(Connection &connection, TimePoint deadline) override;
    // Run-time operations (pg/connection_identity.cpp).
    uint64_t connection_id(Connection &connection) override;
    int32_t backend_pid(Connection &connection) override;

  private:
    std::shared_ptr<const PgTarget> current_target() const;
    std::unique_ptr<PgConnection> open(const PgTarget &target, TimePoint deadline,
                                       const std::atomic<bool> &abandon, ConnectFailure &failure);
    void note_failure(const ConnectFailure &failure, TimePoint deadline);
    // Whether this returned connection's session gets the full reset (pg/session_reset.hpp).
    bool owes_full_reset(PgConnection &pg) const;
    bool full_reset(PgConnection &pg, TimePoint deadline) const;

    PgSettings settings_;
    // Workers connect concurrently while retarget() may swap the target: each connect reads
    // the pointer once under the lock and keeps its own reference.
    mutable std::mutex target_mutex_;
    std::shared_ptr<const PgTarget> target_;            // guarded by target_mutex_
    std::unique_ptr<LastConnectFailure> last_failure_;  // guarded by target_mutex_; null: none
};

// Fills `failure` from libpq's (verbose) connect error: message without LOCATION lines,
// SQLSTATE, and whether it is permanent (authentication, unknown database).
void describe_connect_failure(const char *libpq_message, ConnectFailure &failure);

// Runs `sql` (no parameters) and drains every result, giving up at `deadline`. True if the
// connection ends idle and no result reported an error. Does not block past the deadline.
// `dropped_statements` (optional) is set when a command reported DISCARD ALL or DEALLOCATE ALL.
bool exec_with_deadline(PGconn *conn, const char *sql, TimePoint deadline,
                        bool *dropped_statements = nullptr);

}  // namespace connpool
