// connpool_lease_*: release, raw PGconn, exec.
#include <cstring>

#include "fork_guard.hpp"
#include "handles.hpp"
#include "pg_connector.hpp"

using namespace connpool;
using namespace connpool::capi;

namespace {

HandleRegistry::Ref lookup_lease(connpool_lease *lease) {
    return HandleRegistry::instance().lookup(token_of(lease), HandleKind::lease);
}

// The libpq connection behind a lease; nullptr for pools over another connector (tests).
PGconn *pgconn_of(Slot &slot) {
    auto *pg = dynamic_cast<PgConnection *>(slot.connection.get());
    return pg != nullptr ? pg->get() : nullptr;
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
        *out_pgconn = pgconn_of(*ref.get<Slot>());
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
    if (sql == nullptr) return null_argument(err, kFunction, "sql");
    if (n_params < 0 || n_params > 65535) {
        return fail(err, CONNPOOL_ERR_INVALID_ARGUMENT,
                    "connpool_lease_exec: n_params must be from 0 to 65535 (PostgreSQL's limit)");
    }
    if (n_params > 0 && params == nullptr) return null_argument(err, kFunction, "params");
    return guarded(err, [&] {
        auto ref = lookup_lease(lease);
        if (!ref) return stale_handle(err, kFunction, "lease");
        if (ref.get<Slot>()->pool.forked()) return forked(err, kFunction);
        PGconn *conn = pgconn_of(*ref.get<Slot>());
        if (conn == nullptr) {
            return fail(err, CONNPOOL_ERR_INVALID_ARGUMENT,
                        "connpool_lease_exec: this pool's connections are not libpq connections");
        }
        std::unique_ptr<QueryResult> result;
        Error error;
        const connpool_status status = run_query(conn, sql, n_params, params, result, error);
        if (result) {
            auto object = std::make_unique<ResultObject>();
            object->result = std::move(result);
            *out = publish<connpool_result>(HandleKind::result, std::move(object));
        }
        return status == CONNPOOL_OK ? status : fail(err, error);
    });
}

}  // extern "C"
