// connpool_group_*: pool groups (read-only routing over a primary and its standbys).
#include <cstring>

#include "handles.hpp"
#include "pg/pool_group_factory.hpp"

using namespace connpool;
using namespace connpool::capi;

namespace {

HandleRegistry::Ref lookup_group(connpool_group *group) {
    return HandleRegistry::instance().lookup(token_of(group), HandleKind::group);
}

// Runs `body(PoolGroup &)` on a live group handle of this process: the common prologue.
template <class Body>
connpool_status with_group(const char *function, connpool_group *group, connpool_error **err,
                           Body &&body) {
    if (group == nullptr) return null_argument(err, function, "group");
    return guarded(err, [&] {
        auto ref = lookup_group(group);
        if (!ref) return stale_handle(err, function, "group");
        PoolGroup &core = *ref.get<GroupObject>()->group;
        if (core.forked()) return forked(err, function);
        return body(core);
    });
}

}  // namespace

extern "C" {

CONNPOOL_API connpool_status connpool_group_create(connpool_group **out, const char *conninfo,
                                                   const connpool_options *options,
                                                   connpool_error **err) {
    if (out == nullptr) return null_argument(err, "connpool_group_create", "out");
    *out = nullptr;
    if (conninfo == nullptr) return null_argument(err, "connpool_group_create", "conninfo");
    return guarded(err, [&] {
        PoolSettings settings;
        if (options != nullptr) {
            auto ref = HandleRegistry::instance().lookup(token_of(options), HandleKind::options);
            if (!ref) return stale_handle(err, "connpool_group_create", "options");
            settings = ref.get<OptionsObject>()->settings;
        }
        install_lease_cells();
        auto object = std::make_unique<GroupObject>();
        const Error created = create_pg_group(conninfo, settings, object->group);
        if (!created.ok()) {
            return fail(err, Error(created.status, "connpool_group_create: " + created.message));
        }
        *out = publish<connpool_group>(HandleKind::group, std::move(object));
        return CONNPOOL_OK;
    });
}

CONNPOOL_API connpool_status connpool_group_wait_ready(connpool_group *group, int64_t timeout_ms,
                                                       connpool_error **err) {
    return with_group("connpool_group_wait_ready", group, err, [&](PoolGroup &core) {
        Error error;
        const connpool_status status = core.wait_checked(timeout_ms, err ? &error : nullptr);
        return status == CONNPOOL_OK || err == nullptr ? status : fail(err, error);
    });
}

CONNPOOL_API connpool_status connpool_group_acquire(connpool_lease **out, connpool_group *group,
                                                    int32_t mode, int64_t timeout_ms,
                                                    connpool_error **err) {
    if (out == nullptr) return null_argument(err, "connpool_group_acquire", "out");
    *out = nullptr;
    if (mode != CONNPOOL_ROUTE_READ_WRITE && mode != CONNPOOL_ROUTE_READ_ONLY) {
        return fail(err, misuse(CONNPOOL_ERR_INVALID_ARGUMENT),
                    "connpool_group_acquire: mode must be CONNPOOL_ROUTE_READ_WRITE (0) or "
                    "CONNPOOL_ROUTE_READ_ONLY (1)");
    }
    return with_group("connpool_group_acquire", group, err, [&](PoolGroup &core) {
        Slot *slot = nullptr;
        Error error;
        const Route route = mode == CONNPOOL_ROUTE_READ_ONLY ? Route::read_only : Route::read_write;
        const connpool_status status =
            core.acquire(route, timeout_ms, slot, err ? &error : nullptr);
        if (status != CONNPOOL_OK) return err == nullptr ? status : fail(err, error);
        *out = lease_handle(slot);
        return status;
    });
}

CONNPOOL_API connpool_status connpool_group_stats_json(char **out_json, connpool_group *group,
                                                       connpool_error **err) {
    if (out_json == nullptr) return null_argument(err, "connpool_group_stats_json", "out_json");
    *out_json = nullptr;
    return with_group("connpool_group_stats_json", group, err, [&](PoolGroup &core) {
        const std::string json = core.stats_json();
        char *copy = new char[json.size() + 1];
        std::memcpy(copy, json.c_str(), json.size() + 1);
        *out_json = copy;
        return CONNPOOL_OK;
    });
}

CONNPOOL_API connpool_status connpool_group_close(connpool_group *group, connpool_error **err) {
    return with_group("connpool_group_close", group, err, [&](PoolGroup &core) {
        core.close();
        return CONNPOOL_OK;
    });
}

CONNPOOL_API connpool_status connpool_group_free(connpool_group *group) {
    if (group == nullptr) return CONNPOOL_OK;
    return guarded(nullptr, [&] {
        bool in_child = false;
        {
            // Close first: threads blocked in acquire on this handle wake, so the retire below
            // (which waits for every call in flight on the handle) finishes promptly.
            auto ref = lookup_group(group);
            if (!ref) return misuse(CONNPOOL_ERR_INVALID_HANDLE);
            PoolGroup &core = *ref.get<GroupObject>()->group;
            in_child = core.forked();
            if (!in_child) core.close();
        }
        if (in_child) {
            // After fork(): closing would end the parent's sessions (see connpool_pool_free).
            HandleRegistry::instance().abandon(token_of(group), HandleKind::group);
            return CONNPOOL_OK;
        }
        auto object = retire<GroupObject>(HandleKind::group, group);
        return object ? CONNPOOL_OK : misuse(CONNPOOL_ERR_INVALID_HANDLE);
    });
}

}  // extern "C"
