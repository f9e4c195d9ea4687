#include "pg/connector.hpp"

#include <poll.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <utility>

#include "pg/conninfo.hpp"
#include "pg/init_sql.hpp"
#include "pg/libpq_helpers.hpp"
#include "pg/resolver.hpp"

namespace connpool {
namespace {

// Connect attempts re-check `abandon` at least this often, so close() is never held up long.
constexpr int kPollSliceMs = 50;

PGconn *conn_of(Connection &c) {
    return static_cast<PgConnection &>(c).get();
}

int millis_until(TimePoint deadline) {
    const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
    return static_cast<int>(std::clamp<int64_t>(left, 0, kPollSliceMs));
}

// Waits until `fd` is ready for `events`, for at most one poll slice. False on poll error.
bool wait_socket(int fd, short events, TimePoint deadline) {
    pollfd p{fd, events, 0};
    const int rc = poll(&p, 1, millis_until(deadline));
    return rc >= 0 || errno == EINTR;
}

uint64_t next_connection_id() {
    static std::atomic<uint64_t> next{1};
    return next.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

void describe_connect_failure(const char *libpq_message, ConnectFailure &failure) {
    // Keep the human lines, drop verbose-mode LOCATION lines, lift the SQLSTATE out.
    std::string text = libpq_message != nullptr ? libpq_message : "";
    std::string kept;
    size_t start = 0;
    while (start < text.size()) {
        size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        std::string line = text.substr(start, end - start);
        start = end + 1;
        if (line.empty() || line.rfind("LOCATION:", 0) == 0) continue;
        // "...FATAL:  28P01: password authentication failed..."
        for (const char *severity : {"FATAL:  ", "ERROR:  "}) {
            const size_t at = line.find(severity);
            const size_t code = at == std::string::npos ? at : at + std::strlen(severity);
            if (code != std::string::npos && line.size() > code + 7 && line[code + 5] == ':' &&
                line[code + 6] == ' ') {
                if (failure.sqlstate.empty()) failure.sqlstate = line.substr(code, 5);
                line.erase(code, 7);
            }
        }
        if (!kept.empty()) kept += "; ";
        kept += line;
    }
    failure.message = kept.empty() ? "connection failed" : kept;
    // 28xxx: invalid authorization (wrong password, no pg_hba entry, unknown role);
    // 3D000: unknown database. Retrying in 100 ms will not fix either.
    failure.permanent = failure.sqlstate.rfind("28", 0) == 0 || failure.sqlstate == "3D000";
}

PgConnection::PgConnection(PGconn *conn, StatementCacheConfig cache)
    : conn_(conn), id_(next_connection_id()), cache_(std::move(cache)) {
    PQsetNoticeReceiver(conn_, &PgConnection::on_notice, this);
}

PgConnection::~PgConnection() {
    statement_.clear_results();
    PQfinish(conn_);
}

void PgConnection::connected(Millis cancel_timeout) {
    cancel_timeout_ = cancel_timeout;
    if (!cancel_) cancel_.reset(PQgetCancel(conn_), &PQfreeCancel);
    has_cancel_key_ = read_cancel_key(cancel_.get(), cancel_key_);
    observe_server_role(conn_, role_);
}

CancelOutcome PgConnection::cancel(std::string &message) const {
    if (!cancel_) {
        message = "no cancel key for this connection";
        return CancelOutcome::failed;
    }
    const TimePoint deadline = Clock::now() + cancel_timeout_;
    const CancelOutcome outcome = has_cancel_key_
                                      ? send_cancel_request(cancel_key_, deadline, message)
                                      : cancel_on_worker(cancel_, deadline, message);
    if (outcome == CancelOutcome::timed_out) {
        message = "the server did not take the cancel request within cancel_timeout (" +
                  std::to_string(cancel_timeout_.count()) +
                  " ms); it may be unreachable or overloaded";
    }
    return outcome;
}

void PgConnection::on_notice(void *self, const PGresult *notice) {
    const char *severity = PQresultErrorField(notice, PG_DIAG_SEVERITY_NONLOCALIZED);
    if (severity != nullptr &&
        (std::strcmp(severity, "FATAL") == 0 || std::strcmp(severity, "PANIC") == 0)) {
        static_cast<PgConnection *>(self)->doomed_ = true;
    }
}

void PgConnection::remember_session_user() {
    const char *user = PQparameterStatus(conn_, "session_authorization");
    session_user_ = user != nullptr ? user : "";
}

PgConnector::PgConnector(PgSettings settings)
    : settings_(std::move(settings)),
      target_(std::make_shared<const PgTarget>(
          PgTarget{std::move(settings_.conninfo), std::move(settings_.password)})) {}

std::shared_ptr<const PgTarget> PgConnector::current_target() const {
    std::lock_guard<std::mutex> lock(target_mutex_);
    return target_;
}

void PgConnector::retarget(PgTarget target) {
    auto next = std::make_shared<const PgTarget>(std::move(target));
    std::lock_guard<std::mutex> lock(target_mutex_);
    target_.swap(next);  // the old target is freed by the last connect still using it
}

bool PgConnector::last_failure(LastConnectFailure &out) const {
    std::lock_guard<std::mutex> lock(target_mutex_);
    if (!last_failure_) return false;
    out = *last_failure_;
    return true;
}

void PgConnector::note_failure(const ConnectFailure &failure, TimePoint deadline) {
    auto noted =
        std::make_unique<LastConnectFailure>(LastConnectFailure{failure, Clock::now() >= deadline});
    std::lock_guard<std::mutex> lock(target_mutex_);
    last_failure_.swap(noted);
}

std::unique_ptr<Connection> PgConnector::connect(TimePoint deadline,
                                                 const std::atomic<bool> &abandon,
                                                 ConnectFailure &failure) {
    // Read once: a concurrent retarget() affects the next connect, not this one.
    const std::shared_ptr<const PgTarget> target = current_target();
    std::unique_ptr<PgConnection> connection = open(*target, deadline, abandon, failure);
    if (connection && !settings_.init_sql.empty() &&
        !run_init_sql(connection->get(), settings_.init_sql, deadline, abandon, target->password,
                      failure)) {
        connection.reset();
    }
    if (!connection) {
        note_failure(failure, deadline);
        return nullptr;
    }
    // After init_sql: a SET SESSION AUTHORIZATION there is the connection's own identity,
    // which the session guard (verdict_on_release) then keeps.
    connection->remember_session_user();
    return connection;
}

std::unique_ptr<PgConnection> PgConnector::open(const PgTarget &target, TimePoint deadline,
                                                const std::atomic<bool> &abandon,
                                                ConnectFailure &failure) {
    // expand_dbname lets `dbname` carry the whole conninfo (key=value or URI). Entries before
    // it are defaults the conninfo may override: TCP keepalives and a user timeout, so that a
    // silently dead peer surfaces in about a minute instead of the kernel's 2+ hours (idle) or
    // ~15 minutes (unacknowledged data). Ignored for Unix sockets.
    // Host names are resolved here, within the deadline (pg/resolver.hpp); entries after
    // `dbname` override the conninfo's.
    HostOverrides hosts;
    std::string resolve_message;
    switch (resolve_host_names(target.conninfo, deadline, abandon, hosts, resolve_message)) {
        case ResolveOutcome::untouched:
        case ResolveOutcome::resolved:
            break;
        case ResolveOutcome::timed_out:
            failure.message = abandon.load(std::memory_order_relaxed)
                                  ? "connect abandoned: the pool is closing"
                                  : "could not connect within connect_timeout: " + resolve_message;
            return nullptr;
        case ResolveOutcome::failed:
            failure.message = resolve_message;
            return nullptr;
    }
    std::vector<const char *> keywords = {
        "keepalives",       "keepalives_idle", "keepalives_interval",      "keepalives_count",
        "tcp_user_timeout", "dbname",          "fallback_application_name"};
    std::vector<const char *> values = {
        "1", "30", "10", "3", "60000", target.conninfo.c_str(), "libconnpool"};
    if (!hosts.hostaddr.empty()) {
        keywords.insert(keywords.end(), {"host", "hostaddr", "port"});
        values.insert(values.end(), {hosts.host.c_str(), hosts.hostaddr.c_str(),
                                     hosts.port.empty() ? nullptr : hosts.port.c_str()});
    }
    keywords.push_back(nullptr);
    values.push_back(nullptr);
    PGconn *raw = PQconnectStartParams(keywords.data(), values.data(), 1);
    if (raw == nullptr) {
        failure.message = "out of memory starting a connection";
        return nullptr;
    }
    auto connection = std::make_unique<PgConnection>(raw, settings_.statement_cache);
    // Verbose errors carry the SQLSTATE ("FATAL:  28P01: ..."), the only way libpq exposes it
    // for a failed connection; it tells authentication failures from transient ones.
    PQsetErrorVerbosity(raw, PQERRORS_VERBOSE);
    // libpq's protocol: wait until the socket is writable, then call PQconnectPoll and wait for
    // what it asks for, until it says OK or FAILED. Each wait is one short poll slice so that
    // the deadline and `abandon` are honoured.
    PostgresPollingStatusType state = PGRES_POLLING_WRITING;
    while (PQstatus(raw) != CONNECTION_BAD && state != PGRES_POLLING_FAILED) {
        if (state == PGRES_POLLING_OK) {
            PQsetErrorVerbosity(raw, PQERRORS_DEFAULT);
            connection->connected(Millis(settings_.cancel_timeout_ms));
            return connection;
        }
        if (abandon.load(std::memory_order_relaxed)) {
            failure.message = "connect abandoned: the pool is closing";
            return nullptr;
        }
        if (Clock::now() >= deadline) {
            failure.message =
                "could not connect within connect_timeout; check that the server "
                "is reachable and not overloaded";
            return nullptr;
        }
        pollfd p{PQsocket(raw), state == PGRES_POLLING_READING ? short{POLLIN} : short{POLLOUT}, 0};
        const int ready = poll(&p, 1, millis_until(deadline));
        if (ready < 0 && errno != EINTR) break;
        if (ready > 0) state = PQconnectPoll(raw);
    }
    describe_connect_failure(PQerrorMessage(raw), failure);
    failure.message = redact(failure.message, target.password);
    return nullptr;
}

bool PgConnector::looks_alive(Connection &connection) {
    auto &pg = static_cast<PgConnection &>(connection);
    PGconn *conn = pg.get();
    if (pg.doomed() || PQstatus(conn) != CONNECTION_OK ||
        PQtransactionStatus(conn) != PQTRANS_IDLE || fenced(pg.role())) {
        return false;
    }
    // Polled every time, however recently the last statement ended: a backend terminated
    // right after a release has already written its FATAL (or EOF) before its entry leaves
    // pg_stat_activity, and must not reach the next caller (issue 14). Anything readable on an idle
    // connection is most likely the server saying goodbye (a FATAL "terminating connection due to
    // administrator command") or EOF. Read and parse it: PQconsumeInput only buffers bytes,
    // PQisBusy parses them (FATAL reaches on_notice).
    pollfd p{PQsocket(conn), POLLIN, 0};
    if (poll(&p, 1, 0) <= 0) return true;
    if (p.revents & (POLLERR | POLLHUP | POLLNVAL)) return false;
    if (PQconsumeInput(conn) == 0) return false;
    PQisBusy(conn);
    while (PGnotify *n = PQnotifies(conn)) PQfreemem(n);  // stray LISTEN notifications
    if (pg.role().must_be_writable && reports_read_only(conn)) {
        fence_node(pg.role().node);
        return false;
    }
    return !pg.doomed() && PQstatus(conn) == CONNECTION_OK;
}

bool PgConnector::ping(Connection &connection, TimePoint deadline) {
    return exec_with_deadline(conn_of(connection), "", deadline);
}

ReleaseVerdict PgConnector::verdict_on_release(Connection &connection) {
    auto &pg = static_cast<PgConnection &>(connection);
    PGconn *conn = pg.get();
    if (pg.doomed() || PQstatus(conn) != CONNECTION_OK) return ReleaseVerdict::discard;
    switch (role_verdict_on_release(conn, pg.role())) {
        case RoleVerdict::discard_fenced:
            fence_node(pg.role().node);  // the sweep drops the other connections to it
            return ReleaseVerdict::discard;
        case RoleVerdict::discard:
            return ReleaseVerdict::discard;
        case RoleVerdict::keep:
            break;
    }
    // Session guard: SET SESSION AUTHORIZATION must not leak into the next lease. libpq
    // tracks the value for free (the server reports it as a ParameterStatus). The full reset
    // undoes it (even one the scanner missed); with reset=rollback the connection is closed.
    const char *user = PQparameterStatus(conn, "session_authorization");
    if (user == nullptr) return ReleaseVerdict::discard;
    if (pg.session_user_at_connect() != user) {
        if (settings_.reset == ResetMode::rollback) return ReleaseVerdict::discard;
        pg.mark_session_dirty();
    }
    if (PQpipelineStatus(conn) != PQ_PIPELINE_OFF || PQisBusy(conn)) return ReleaseVerdict::discard;
    // A statement sent with connpool_lease_send and never collected: its outcome would reach
    // the next lease holder.
    if (pg.statement().active || pg.poisoned()) return ReleaseVerdict::discard;
    switch (PQtransactionStatus(conn)) {
        case PQTRANS_IDLE:
            // The hot path: a clean lease goes straight back, without a round trip.
            return settings_.reset_query.empty() && !owes_full_reset(pg) ? ReleaseVerdict::reuse
                                                                         : ReleaseVerdict::reset;
        case PQTRANS_INTRANS:
        case PQTRANS_INERROR:
            return ReleaseVerdict::reset;
        default:  // ACTIVE (a command in progress) or UNKNOWN (bad connection)
            return ReleaseVerdict::discard;
    }
}

bool PgConnector::owes_full_reset(PgConnection &pg) const {
    switch (settings_.reset) {
        case ResetMode::always:
            return true;
        case ResetMode::auto_:
            return pg.session_dirty();
        case ResetMode::rollback:
            break;
    }
    return false;
}

// Why at release, on a pool worker, rather than sent ahead of the next lease's first statement
// (Npgsql's way, no round trip at all): a connection owing a reset never reaches the idle list,
// so nothing else can meet its session first: keepalive and pre-ping checks, the raw PGconn,
// pool-group probes, init_sql, a caller's transaction control. The reset runs outside the pool
// lock, bounded by health_check_timeout, and only after leases that may have changed their
// session (reset=auto): clean leases, the hot path, pay nothing.
bool PgConnector::full_reset(PgConnection &pg, TimePoint deadline) const {
    PGconn *conn = pg.get();
    const std::string sql =
        full_reset_sql(PQtransactionStatus(conn) != PQTRANS_IDLE, statement_name_prefix()) +
        pg.session_baseline();
    if (!exec_with_deadline(conn, sql.c_str(), deadline)) return false;
    pg.session_cleaned();
    return true;
}

bool PgConnector::reset(Connection &connection, TimePoint deadline) {
    auto &pg = static_cast<PgConnection &>(connection);
    PGconn *conn = pg.get();
    const bool full = owes_full_reset(pg);
    if (full) {
        if (!full_reset(pg, deadline)) return false;
    } else if (PQtransactionStatus(conn) != PQTRANS_IDLE &&
               !exec_with_deadline(conn, "ROLLBACK", deadline)) {
        // (Prepared statements survive ROLLBACK: they are not transactional.)
        return false;
    }
    // The full reset (RESET ALL...) undid what init_sql set up: that session state belongs to
    // the pool, so the connection gets it again, once, after the reset query if any.
    bool reapply_init_sql = full;
    if (!settings_.reset_query.empty()) {
        // Whatever the reset query did, the statement cache no longer trusts its entries:
        // DISCARD ALL / DEALLOCATE ALL dropped them; anything else might have.
        bool dropped = false;
        const bool ok = exec_with_deadline(conn, settings_.reset_query.c_str(), deadline, &dropped);
        pg.cache().forget_all(dropped);
        if (!ok) return false;
        // It may have undone init_sql too (DISCARD ALL resets every SET).
        reapply_init_sql = true;
    }
    if (reapply_init_sql && !settings_.init_sql.empty() &&
        !exec_with_deadline(conn, settings_.init_sql.c_str(), deadline)) {
        return false;
    }
    return PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) == PQTRANS_IDLE;
}

namespace {

// Waits until libpq has a whole result to give, without blocking past `deadline`.
bool await_result(PGconn *conn, TimePoint deadline) {
    while (PQisBusy(conn)) {
        if (Clock::now() >= deadline) return false;  // the caller closes the connection
        if (!wait_socket(PQsocket(conn), POLLIN, deadline)) return false;
        if (PQconsumeInput(conn) == 0) return false;
    }
    return true;
}

bool drops_prepared_statements(PGresult *result) {
    return PQresultStatus(result) == PGRES_COMMAND_OK &&
           (std::strcmp(PQcmdStatus(result), "DISCARD ALL") == 0 ||
            std::strcmp(PQcmdStatus(result), "DEALLOCATE ALL") == 0);
}

}  // namespace

bool exec_with_deadline(PGconn *conn, const char *sql, TimePoint deadline,
                        bool *dropped_statements) {
    if (PQsendQuery(conn, sql) == 0) return false;
    bool ok = true;
    for (;;) {
        if (!await_result(conn, deadline)) return false;
        PGresult *result = PQgetResult(conn);
        if (result == nullptr) break;
        const ExecStatusType status = PQresultStatus(result);
        if (dropped_statements != nullptr && drops_prepared_statements(result)) {
            *dropped_statements = true;
        }
        ok = ok && (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK ||
                    status == PGRES_EMPTY_QUERY);
        PQclear(result);
        // A reset query must not start a COPY: give up on the connection.
        if (is_copy(status)) return false;
    }
    return ok && PQstatus(conn) == CONNECTION_OK;
}

}  // namespace connpool
