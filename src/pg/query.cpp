#include "pg/query.hpp"

#include <poll.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <utility>
#include <vector>

#include "pg/connector.hpp"
#include "pg/libpq_helpers.hpp"
#include "pg/pooler_watch.hpp"
#include "pg/session_effects.hpp"

namespace connpool {

namespace {

using Expect = StatementState::Expect;

// The connection failed: reports it (with the SQLSTATE the server gave, e.g. 57P01 when the
// backend was terminated), abandons the statement and marks the connection for closing.
connpool_status broken(PgConnection &pg, Error &error, const PGresult *last = nullptr) {
    PGconn *conn = pg.get();
    std::string sqlstate;
    if (last != nullptr) sqlstate = trimmed(PQresultErrorField(last, PG_DIAG_SQLSTATE));
    // libpq parses what arrived before the socket failed into results (a FATAL error message
    // first): take them, without blocking, for their SQLSTATE.
    for (int i = 0; i < 16 && PQstatus(conn) == CONNECTION_BAD; ++i) {
        PGresult *r = PQgetResult(conn);
        if (r == nullptr) break;
        if (sqlstate.empty()) sqlstate = trimmed(PQresultErrorField(r, PG_DIAG_SQLSTATE));
        PQclear(r);
    }
    error = Error(CONNPOOL_ERR_CONNECTION_BROKEN,
                  "connection lost: " + trimmed(PQerrorMessage(conn)) +
                      "; release the lease (the pool replaces the connection) and retry",
                  sqlstate);
    StatementState &st = pg.statement();
    st.clear_results();
    st.active = false;
    pg.poison();
    return CONNPOOL_ERR_CONNECTION_BROKEN;
}

bool has_sqlstate(const PGresult *r, const char *state) {
    const char *s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    return s != nullptr && std::strcmp(s, state) == 0;
}

// The server refused to run a cached prepared statement because its result type changed
// (ALTER TABLE...): SQLSTATE 0A000 raised by the plan cache. The message may be translated;
// the source function is not.
bool is_stale_plan(const PGresult *r) {
    if (!has_sqlstate(r, "0A000")) return false;
    const char *function = PQresultErrorField(r, PG_DIAG_SOURCE_FUNCTION);
    const char *message = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    return (function != nullptr && std::strcmp(function, "RevalidateCachedQuery") == 0) ||
           (message != nullptr &&
            std::strstr(message, "cached plan must not change result type") != nullptr);
}

bool is_error(const PGresult *r) {
    const ExecStatusType status = PQresultStatus(r);
    return status == PGRES_BAD_RESPONSE || status == PGRES_NONFATAL_ERROR ||
           status == PGRES_FATAL_ERROR || status == PGRES_PIPELINE_ABORTED;
}

// Keeps what a retry needs: the caller's buffers are not guaranteed to outlive the send.
void keep_for_retry(StatementState &st, const char *sql, int32_t n_params,
                    const char *const *params) {
    st.retry_text.assign(sql);
    st.retry_text.push_back('\0');
    st.retry_offs.clear();
    for (int32_t i = 0; i < n_params; ++i) {
        if (params[i] == nullptr) {
            st.retry_offs.push_back(-1);
            continue;
        }
        st.retry_offs.push_back(static_cast<int64_t>(st.retry_text.size()));
        st.retry_text.append(params[i]);
        st.retry_text.push_back('\0');
    }
}

// Re-sends the kept statement unprepared (after 26000 / a stale plan).
bool send_retry(PgConnection &pg) {
    StatementState &st = pg.statement();
    const char *small[16];
    std::vector<const char *> large;
    const char **params = small;
    const size_t n = st.retry_offs.size();
    if (n > 16) {
        large.resize(n);
        params = large.data();
    }
    for (size_t i = 0; i < n; ++i) {
        params[i] = st.retry_offs[i] < 0 ? nullptr : st.retry_text.data() + st.retry_offs[i];
    }
    st.expect.clear();
    st.next = 0;
    st.expect.push_back(Expect::execute);
    st.retried = true;
    st.retryable = false;
    if (PQsetnonblocking(pg.get(), 1) != 0 ||
        PQsendQueryParams(pg.get(), st.retry_text.c_str(), static_cast<int>(n), nullptr,
                          n > 0 ? params : nullptr, nullptr, nullptr, 0) == 0) {
        return false;
    }
    const int flushed = PQflush(pg.get());
    st.want_write = flushed == 1;
    return flushed >= 0;
}

// Takes one result (or the end of one command's results, `r` == nullptr) in pipeline order.
// False on protocol confusion.
bool take_result(PgConnection &pg, PGresult *r) {
    StatementState &st = pg.statement();
    const Expect expect = st.expect[st.next];
    if (expect == Expect::sync) {
        if (r == nullptr || PQresultStatus(r) != PGRES_PIPELINE_SYNC) {
            PQclear(r);
            return false;
        }
        PQclear(r);
        ++st.next;
        return true;
    }
    if (r == nullptr) {  // this command's results are complete
        ++st.next;
        return true;
    }
    switch (expect) {
        case Expect::deallocate:  // failures are harmless here (own sync, idle session)
            PQclear(r);
            break;
        case Expect::prepare:
            if (is_error(r) && st.prepare_error == nullptr) {
                st.prepare_error = r;
                pg.cache().forget(st.name, false);
            } else {
                PQclear(r);
            }
            break;
        default:
            if (st.result == nullptr) {
                st.result = r;
            } else {
                PQclear(r);
            }
            break;
    }
    return true;
}

// The statement can go no further through this API: it started a COPY. Keeps that result to
// report it and has release close the connection.
void stop_at_copy(PgConnection &pg, PGresult *copy) {
    StatementState &st = pg.statement();
    st.clear_results();
    st.result = copy;
    st.next = st.expect.size();
    pg.poison();
}

connpool_status protocol_confusion(PgConnection &pg, Error &error) {
    error = Error(CONNPOOL_ERR_CONNECTION_BROKEN,
                  "unexpected protocol state; release the lease (the pool closes this "
                  "connection)");
    StatementState &st = pg.statement();
    st.clear_results();
    st.active = false;
    pg.poison();
    return CONNPOOL_ERR_CONNECTION_BROKEN;
}

// Sends what is still queued, reads what has arrived and takes the complete results, without
// blocking. OK unless the connection failed.
connpool_status read_results(PgConnection &pg, Error &error) {
    PGconn *conn = pg.get();
    StatementState &st = pg.statement();
    if (st.want_write) {
        const int flushed = PQflush(conn);
        if (flushed < 0) return broken(pg, error);
        st.want_write = flushed == 1;
    }
    if (PQconsumeInput(conn) == 0) return broken(pg, error, st.result);
    while (st.next < st.expect.size() && !PQisBusy(conn)) {
        PGresult *r = PQgetResult(conn);
        if (r != nullptr && is_copy(PQresultStatus(r))) {
            stop_at_copy(pg, r);
            break;
        }
        if (!take_result(pg, r)) return protocol_confusion(pg, error);
    }
    return CONNPOOL_OK;
}

bool all_results_in(const StatementState &st) {
    return st.next >= st.expect.size();
}

// Whether bytes are waiting in the socket, without waiting.
bool readable_now(PGconn *conn) {
    pollfd p{PQsocket(conn), POLLIN, 0};
    return poll(&p, 1, 0) > 0;
}

// Every expected result is in: leaves pipeline and non-blocking mode and takes the statement's
// result (a failed prepare's error rather than the aborted execute's). OK with `result` set, or
// CONNECTION_BROKEN.
connpool_status end_statement(PgConnection &pg, PGresult *&result, Error &error) {
    PGconn *conn = pg.get();
    StatementState &st = pg.statement();
    if (st.pipeline && !pg.poisoned()) {
        if (PQexitPipelineMode(conn) != 1) pg.poison();
        st.pipeline = false;
    }
    if (!pg.poisoned()) PQsetnonblocking(conn, 0);
    if (PQstatus(conn) == CONNECTION_BAD) {
        return broken(pg, error, st.prepare_error != nullptr ? st.prepare_error : st.result);
    }
    result = st.result;
    if (st.prepare_error != nullptr) {
        PQclear(st.result);  // PIPELINE_ABORTED
        result = st.prepare_error;
    }
    st.result = st.prepare_error = nullptr;
    if (result == nullptr) return broken(pg, error);
    return CONNPOOL_OK;
}

enum class Retry { none, sent, failed };

// A cached statement vanished without a known cause: repeated, that is a transaction pooler in
// between (pg/pooler_watch.hpp), and the cache stops preparing.
void note_statement_loss(StatementCache &cache, const std::string &name) {
    const int64_t losses = cache.note_unexplained_loss();
    PoolerWatch *watch = cache.watch();
    if (watch == nullptr) return;
    watch->note_loss(losses, name);
    if (watch->detected()) cache.disable();
}

// A cached prepared statement failed because the server no longer has it (26000) or its plan
// went stale: corrects the cache and, when the session allows it, re-sends the statement
// unprepared (`result` is then freed).
Retry retry_unprepared(PgConnection &pg, PGresult *result) {
    StatementState &st = pg.statement();
    if (!st.retryable || st.retried || !is_error(result)) return Retry::none;
    const bool missing = has_sqlstate(result, "26000");
    const bool stale = !missing && is_stale_plan(result);
    if (missing) {
        // Someone dropped prepared statements behind the cache's back (DEALLOCATE through the
        // raw PGconn...): trust none of them any more, and deallocate the others (those already
        // gone fail harmlessly) rather than leave them behind.
        pg.cache().forget_all(false);
        note_statement_loss(pg.cache(), st.name);
    } else if (stale) {
        pg.cache().forget(st.name, true);
    }
    if (!(missing || stale) || pg.poisoned() || PQtransactionStatus(pg.get()) != PQTRANS_IDLE) {
        return Retry::none;
    }
    PQclear(result);
    return send_retry(pg) ? Retry::sent : Retry::failed;
}

// Statements that drop prepared statements server-side empty the cache to match.
void track_deallocations(PgConnection &pg, PGresult *result) {
    if (PQresultStatus(result) != PGRES_COMMAND_OK) return;
    const char *tag = PQcmdStatus(result);
    if (std::strcmp(tag, "DISCARD ALL") == 0 || std::strcmp(tag, "DEALLOCATE ALL") == 0) {
        pg.cache().forget_all(true);
    } else if (std::strcmp(tag, "DEALLOCATE") == 0) {
        pg.cache().forget_all(false);
    }
}

// The statement is over: hands its result to the caller.
connpool_status deliver(PgConnection &pg, PGresult *result, std::unique_ptr<QueryResult> &out,
                        Error &error) {
    pg.statement().active = false;
    // A write refused by a read-only server: release decides whether the server's role changed.
    if (has_sqlstate(result, "25006")) pg.role().read_only_error = true;
    const bool cached_statement_missing =
        !pg.statement().name.empty() && has_sqlstate(result, "26000");
    out = std::make_unique<QueryResult>(result);
    if (out->status() != CONNPOOL_OK) {
        error = Error(out->status(),
                      out->error_message() + (cached_statement_missing ? kPoolerHint : ""),
                      out->sqlstate());
    }
    return out->status();
}

// The connection's cache, first brought up to date: its entries are distrusted after the raw
// PGconn was used, and it stops preparing once the pool found a transaction pooler in between.
StatementCache &cache_for_next_statement(PgConnection &pg) {
    StatementCache &cache = pg.cache();
    if (pg.take_raw_use()) cache.forget_all(false);
    if (cache.enabled() && cache.watch() != nullptr && cache.watch()->detected()) cache.disable();
    return cache;
}

// reset=auto: a full reset at release if this text may change the session. Classified once per
// cached text; scanned here only when the cache keeps no entry for it.
void note_session_effects(PgConnection &pg, const StatementCache::Use &use, const char *sql) {
    if (pg.session_dirty()) return;
    if (use.classified ? use.changes_session : may_change_session(sql)) pg.mark_session_dirty();
}

}  // namespace

connpool_status send_statement(PgConnection &pg, const char *sql, int32_t n_params,
                               const char *const *params, Error &error) {
    PGconn *conn = pg.get();
    StatementState &st = pg.statement();
    if (st.active) {
        error = Error(CONNPOOL_ERR_INVALID_ARGUMENT,
                      "a statement sent with connpool_lease_send is still pending on this lease; "
                      "collect it with connpool_lease_collect first");
        return CONNPOOL_ERR_INVALID_ARGUMENT;
    }
    if (pg.poisoned()) {  // e.g. stuck in pipeline mode: a statement could wait forever
        error = Error(CONNPOOL_ERR_CONNECTION_BROKEN,
                      "the connection was left in an unusable state; release the lease (the pool "
                      "replaces the connection) and retry");
        return CONNPOOL_ERR_CONNECTION_BROKEN;
    }
    StatementCache &cache = cache_for_next_statement(pg);
    st.clear_results();
    st.expect.clear();
    st.next = 0;
    st.pipeline = st.want_write = st.retryable = st.retried = false;
    st.name.clear();

    const StatementCache::Use use = cache.use(sql, n_params);
    if (use.name != nullptr) st.name = *use.name;
    note_session_effects(pg, use, sql);
    std::vector<std::string> &deallocate = cache.pending_deallocations();
    // DEALLOCATE only outside a transaction block: each in its own implicit transaction, so
    // one that fails (the statement was already gone) affects nothing else.
    const bool send_deallocations =
        !deallocate.empty() && PQtransactionStatus(conn) == PQTRANS_IDLE;
    bool ok = PQsetnonblocking(conn, 1) == 0;
    if (ok && (send_deallocations || use.prepare)) {
        ok = PQenterPipelineMode(conn) == 1;
        st.pipeline = ok;
    }
    if (ok && send_deallocations) {
        std::string command;
        for (const std::string &name : deallocate) {
            command = "DEALLOCATE " + name;
            ok = ok && PQsendQueryParams(conn, command.c_str(), 0, nullptr, nullptr, nullptr,
                                         nullptr, 0) == 1;
            ok = ok && PQpipelineSync(conn) == 1;
            st.expect.push_back(Expect::deallocate);
            st.expect.push_back(Expect::sync);
        }
        deallocate.clear();
    }
    if (ok && use.prepare) {
        ok = PQsendPrepare(conn, st.name.c_str(), sql, n_params, nullptr) == 1;
        st.expect.push_back(Expect::prepare);
    }
    if (ok && use.name != nullptr) {
        ok = PQsendQueryPrepared(conn, st.name.c_str(), n_params, params, nullptr, nullptr, 0) == 1;
        if (!use.prepare) {
            st.retryable = true;
            keep_for_retry(st, sql, n_params, params);
        }
    } else if (ok) {
        ok = PQsendQueryParams(conn, sql, n_params, nullptr, params, nullptr, nullptr, 0) == 1;
    }
    st.expect.push_back(Expect::execute);
    if (ok && st.pipeline) {
        ok = PQpipelineSync(conn) == 1;
        st.expect.push_back(Expect::sync);
    }
    const int flushed = ok ? PQflush(conn) : -1;
    // Half a pipeline may be on the wire: broken() marks the connection as not reusable.
    if (flushed < 0) return broken(pg, error);
    st.want_write = flushed == 1;
    st.active = true;
    return CONNPOOL_OK;
}

int32_t statement_wait_events(PgConnection &pg) {
    const StatementState &st = pg.statement();
    if (!st.active) return 0;
    return st.want_write ? kWaitRead | kWaitWrite : kWaitRead;
}

connpool_status collect_statement(PgConnection &pg, std::unique_ptr<QueryResult> &out,
                                  Error &error) {
    PGconn *conn = pg.get();
    StatementState &st = pg.statement();
    if (!st.active) {
        error = Error(CONNPOOL_ERR_INVALID_ARGUMENT,
                      "no statement is pending on this lease (connpool_lease_send starts one)");
        return CONNPOOL_ERR_INVALID_ARGUMENT;
    }
    // Read first, also right after the send: a poll first would save a system call only when
    // the answer is not there yet, and cost one when it is, which is most of the time under
    // load (the backend runs while the sender is preempted) and on the critical path of a lone
    // client sharing a CPU with its backend (a poll first: 3 system calls per statement where 2
    // do).
    for (;;) {
        const connpool_status read = read_results(pg, error);
        if (read != CONNPOOL_OK) return read;
        if (!all_results_in(st)) {
            if (PQstatus(conn) == CONNECTION_BAD) return broken(pg, error, st.result);
            if (st.want_write) return CONNPOOL_ERR_IN_PROGRESS;
            // Drain the socket before reporting "wait": a caller on an edge-triggered poller
            // (Go's netpoller) would otherwise never hear of bytes that already arrived.
            if (readable_now(conn)) continue;
            return CONNPOOL_ERR_IN_PROGRESS;
        }
        PGresult *result = nullptr;
        const connpool_status ended = end_statement(pg, result, error);
        if (ended != CONNPOOL_OK) return ended;
        const Retry retry = retry_unprepared(pg, result);
        if (retry == Retry::sent) continue;
        if (retry == Retry::failed) return broken(pg, error);
        track_deallocations(pg, result);
        return deliver(pg, result, out, error);
    }
}

connpool_status run_query(PgConnection &pg, const char *sql, int32_t n_params,
                          const char *const *params, std::unique_ptr<QueryResult> &out,
                          Error &error) {
    connpool_status status = send_statement(pg, sql, n_params, params, error);
    if (status != CONNPOOL_OK) return status;
    for (;;) {
        const int32_t events = statement_wait_events(pg);
        pollfd p{PQsocket(pg.get()),
                 static_cast<short>(((events & kWaitRead) != 0 ? POLLIN : 0) |
                                    ((events & kWaitWrite) != 0 ? POLLOUT : 0)),
                 0};
        if (poll(&p, 1, -1) < 0 && errno != EINTR) return broken(pg, error);
        status = collect_statement(pg, out, error);
        if (status != CONNPOOL_ERR_IN_PROGRESS) return status;
    }
}

}  // namespace connpool
