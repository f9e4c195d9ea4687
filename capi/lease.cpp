// connpool_lease_*: release, raw PGconn, exec, and the asynchronous statement API.
#include <cstring>

#include "core/fork_guard.hpp"
#include "handles.hpp"
#include "pg/lease.hpp"
#include "pg/query.hpp"

using namespace connpool;
using namespace connpool::capi;

namespace {

HandleRegistry::Ref lookup_lease(connpool_lease *lease) {
    return HandleRegistry::instance().lookup(token_of(lease), HandleKind::lease);
}

// Checks the statement arguments shared by exec and send.
connpool_status check_statement(const char *function, const char *sql, int32_t n_params,
                                const char *const *params, connpool_error **err) {
    if (sql == nullptr) return null_argument(err, function, "sql");
    if (n_params < 0 || n_params > 65535) {
        return fail(
            err, CONNPOOL_ERR_INVALID_ARGUMENT,
            (std::string(function) + ": n_params must be from 0 to 65535 (PostgreSQL's limit)")
                .c_str());
    }
    if (n_params > 0 && params == nullptr) return null_argument(err, function, "params");
    return CONNPOOL_OK;
}

// Looks the lease up and runs `body(Slot &, PgConnection &)` on its connection: the common
// prologue of every call that talks to the lease's server connection.
template <class Body>
connpool_status with_slot_connection(const char *function, connpool_lease *lease,
                                     connpool_error **err, Body &&body) {
    if (lease == nullptr) return null_argument(err, function, "lease");
    return guarded(err, [&] {
        auto ref = lookup_lease(lease);
        if (!ref) return stale_handle(err, function, "lease");
        if (ref.get<Slot>()->pool.forked()) return forked(err, function);
        PgConnection *pg = as_pg(ref.get<Slot>()->connection.get());
        if (pg == nullptr) {
            return fail(
                err, CONNPOOL_ERR_INVALID_ARGUMENT,
                (std::string(function) + ": this pool's connections are not libpq connections")
                    .c_str());
        }
        return body(*ref.get<Slot>(), *pg);
    });
}

// with_slot_connection for calls that need only the connection.
template <class Body>
connpool_status with_connection(const char *function, connpool_lease *lease, connpool_error **err,
                                Body &&body) {
    return with_slot_connection(function, lease, err,
                                [&](Slot &, PgConnection &pg) { return body(pg); });
}

// Publishes a statement's result and reports its status.
connpool_status deliver(connpool_result **out, connpool_status status,
                        std::unique_ptr<QueryResult> result, const Error &error,
                        connpool_error **err) {
    if (result) *out = publish<connpool_result>(HandleKind::result, std::move(result));
    return status == CONNPOOL_OK ? status : fail(err, error);
}

}  // namespace

extern "C" {

CONNPOOL_API connpool_status connpool_lease_release(connpool_lease *lease, connpool_error **err) {
    if (lease == nullptr) return null_argument(err, "connpool_lease_release", "lease");
    return guarded(err, [&] {
        // Exactly one release wins; a second one (or one racing it) finds the token stale.
        // A process that never forked cannot hold a forked pool's lease: skip the lookup.
        if (fork_generation() != 0) {
            auto ref = lookup_lease(lease);
            if (!ref) return stale_handle(err, "connpool_lease_release", "lease");
            if (ref.get<Slot>()->pool.forked()) return forked(err, "connpool_lease_release");
        }
        auto *slot = static_cast<Slot *>(
            HandleRegistry::instance().retire(token_of(lease), HandleKind::lease, false));
        if (slot == nullptr) return stale_handle(err, "connpool_lease_release", "lease");
        slot->pool.release(slot);
        return CONNPOOL_OK;
    });
}

CONNPOOL_API connpool_status connpool_lease_set_label(connpool_lease *lease, const char *label,
                                                      connpool_error **err) {
    if (lease == nullptr) return null_argument(err, "connpool_lease_set_label", "lease");
    if (label != nullptr && std::strlen(label) > 256) {
        return fail(err, CONNPOOL_ERR_INVALID_ARGUMENT,
                    "connpool_lease_set_label: label is longer than 256 bytes");
    }
    return guarded(err, [&] {
        auto ref = lookup_lease(lease);
        if (!ref) return stale_handle(err, "connpool_lease_set_label", "lease");
        if (ref.get<Slot>()->pool.forked()) return forked(err, "connpool_lease_set_label");
        Slot &slot = *ref.get<Slot>();
        slot.pool.set_label(slot, label != nullptr ? label : "");
        return CONNPOOL_OK;
    });
}

CONNPOOL_API connpool_status connpool_lease_pgconn(void **out_pgconn, connpool_lease *lease,
                                                   connpool_error **err) {
    if (out_pgconn == nullptr) return null_argument(err, "connpool_lease_pgconn", "out_pgconn");
    *out_pgconn = nullptr;
    if (lease == nullptr) return null_argument(err, "connpool_lease_pgconn", "lease");
    return guarded(err, [&] {
        auto ref = lookup_lease(lease);
        if (!ref) return stale_handle(err, "connpool_lease_pgconn", "lease");
        if (ref.get<Slot>()->pool.forked()) return forked(err, "connpool_lease_pgconn");
        PgConnection *pg = as_pg(ref.get<Slot>()->connection.get());
        if (pg != nullptr) *out_pgconn = take_raw_pgconn(*pg);
        return CONNPOOL_OK;
    });
}

CONNPOOL_API connpool_status connpool_lease_exec(connpool_result **out, connpool_lease *lease,
                                                 const char *sql, int32_t n_params,
                                                 const char *const *params, connpool_error **err) {
    static const char *const kFunction = "connpool_lease_exec";
    if (out == nullptr) return null_argument(err, kFunction, "out");
    *out = nullptr;
    if (lease == nullptr) return null_argument(err, kFunction, "lease");
    const connpool_status checked = check_statement(kFunction, sql, n_params, params, err);
    if (checked != CONNPOOL_OK) return checked;
    return with_connection(kFunction, lease, err, [&](PgConnection &pg) {
        std::unique_ptr<QueryResult> result;
        Error error;
        const connpool_status status = run_query(pg, sql, n_params, params, result, error);
        return deliver(out, status, std::move(result), error, err);
    });
}

CONNPOOL_API connpool_status connpool_lease_send(connpool_lease *lease, const char *sql,
                                                 int32_t n_params, const char *const *params,
                                                 connpool_error **err) {
    static const char *const kFunction = "connpool_lease_send";
    if (lease == nullptr) return null_argument(err, kFunction, "lease");
    const connpool_status checked = check_statement(kFunction, sql, n_params, params, err);
    if (checked != CONNPOOL_OK) return checked;
    return with_connection(kFunction, lease, err, [&](PgConnection &pg) {
        Error error;
        const connpool_status status = send_statement(pg, sql, n_params, params, error);
        return status == CONNPOOL_OK ? status : fail(err, error);
    });
}

CONNPOOL_API connpool_status connpool_lease_socket(int32_t *out_fd, int32_t *out_events,
                                                   connpool_lease *lease, connpool_error **err) {
    static const char *const kFunction = "connpool_lease_socket";
    if (out_fd == nullptr) return null_argument(err, kFunction, "out_fd");
    *out_fd = -1;
    if (out_events == nullptr) return null_argument(err, kFunction, "out_events");
    *out_events = 0;
    return with_connection(kFunction, lease, err, [&](PgConnection &pg) {
        *out_fd = socket_of(pg);
        *out_events = statement_wait_events(pg);
        return CONNPOOL_OK;
    });
}

CONNPOOL_API connpool_status connpool_lease_connection_id(uint64_t *out_id, connpool_lease *lease,
                                                          connpool_error **err) {
    static const char *const kFunction = "connpool_lease_connection_id";
    if (out_id == nullptr) return null_argument(err, kFunction, "out_id");
    *out_id = 0;
    return with_connection(kFunction, lease, err, [&](PgConnection &pg) {
        *out_id = connection_id(pg);
        return CONNPOOL_OK;
    });
}

CONNPOOL_API connpool_status connpool_lease_collect(connpool_result **out, connpool_lease *lease,
                                                    connpool_error **err) {
    static const char *const kFunction = "connpool_lease_collect";
    if (out == nullptr) return null_argument(err, kFunction, "out");
    *out = nullptr;
    return with_connection(kFunction, lease, err, [&](PgConnection &pg) {
        std::unique_ptr<QueryResult> result;
        Error error;
        const connpool_status status = collect_statement(pg, result, error);
        if (status == CONNPOOL_ERR_IN_PROGRESS) return status;
        return deliver(out, status, std::move(result), error, err);
    });
}

CONNPOOL_API connpool_status connpool_lease_cancel(connpool_lease *lease, connpool_error **err) {
    static const char *const kFunction = "connpool_lease_cancel";
    return with_slot_connection(kFunction, lease, err, [&](Slot &slot, PgConnection &pg) {
        std::string message;
        switch (cancel_statement(pg, message)) {
            case CancelOutcome::delivered:
                return CONNPOOL_OK;
            case CancelOutcome::timed_out:
                slot.pool.count_cancel_timeout();
                return fail(err, CONNPOOL_ERR_TIMEOUT,
                            (std::string(kFunction) + ": " + message).c_str());
            case CancelOutcome::failed:
                break;
        }
        return fail(err, CONNPOOL_ERR_CONNECTION_BROKEN,
                    (std::string(kFunction) + ": the cancel request failed: " + message).c_str());
    });
}

CONNPOOL_API connpool_status connpool_lease_keep_session(connpool_lease *lease,
                                                         connpool_error **err) {
    static const char *const kFunction = "connpool_lease_keep_session";
    return with_connection(kFunction, lease, err, [&](PgConnection &pg) {
        std::string message;
        connpool_status status = CONNPOOL_OK;
        switch (keep_session_settings(pg, message)) {
            case KeepSession::kept:
                return CONNPOOL_OK;
            case KeepSession::statement_pending:
                status = CONNPOOL_ERR_INVALID_ARGUMENT;
                break;
            case KeepSession::query_failed:
                status = CONNPOOL_ERR_QUERY_FAILED;
                break;
            case KeepSession::connection_broken:
                status = CONNPOOL_ERR_CONNECTION_BROKEN;
                break;
        }
        return fail(err, status, (std::string(kFunction) + ": " + message).c_str());
    });
}

CONNPOOL_API connpool_status connpool_lease_transaction_status(int32_t *out_status,
                                                               connpool_lease *lease,
                                                               connpool_error **err) {
    static const char *const kFunction = "connpool_lease_transaction_status";
    if (out_status == nullptr) return null_argument(err, kFunction, "out_status");
    *out_status = CONNPOOL_TRANSACTION_UNKNOWN;
    return with_connection(kFunction, lease, err, [&](PgConnection &pg) {
        *out_status = transaction_status(pg);
        return CONNPOOL_OK;
    });
}

}  // extern "C"
