// connpool_pool_*: create, wait, acquire, stats, close, free.
#include <cstring>

#include "handles.hpp"
#include "pg/multiplexer.hpp"
#include "pg/pool_factory.hpp"
#include "registry.hpp"

using namespace connpool;
using namespace connpool::capi;

namespace {

HandleRegistry::Ref lookup_pool(connpool_pool *pool) {
    return HandleRegistry::instance().lookup(token_of(pool), HandleKind::pool);
}

// Copies the caller's settings, or the defaults.
connpool_status resolve_settings(const connpool_options *options, PoolSettings &out,
                                 connpool_error **err, const char *function) {
    if (options == nullptr) return CONNPOOL_OK;
    auto ref = HandleRegistry::instance().lookup(token_of(options), HandleKind::options);
    if (!ref) return stale_handle(err, function, "options");
    out = ref.get<OptionsObject>()->settings;
    return CONNPOOL_OK;
}

}  // namespace

namespace connpool::capi {

void install_lease_cells() {
    static const bool installed = [] {
        install_slot_tag_hooks(
            {[]() -> uint64_t {
                 return HandleRegistry::instance().allocate_cell(HandleKind::lease);
             },
             [](uint64_t cell) {
                 HandleRegistry::instance().free_cell(static_cast<uint32_t>(cell));
             }});
        return true;
    }();
    (void)installed;
}

connpool_status publish_pool(connpool_pool **out, std::shared_ptr<Pool> pool,
                             std::string registry_name) {
    auto object = std::make_unique<PoolObject>();
    object->pool = std::move(pool);
    object->registry_name = std::move(registry_name);
    *out = publish<connpool_pool>(HandleKind::pool, std::move(object));
    return CONNPOOL_OK;
}

connpool_status create_pool(connpool_pool **out, std::unique_ptr<Connector> connector,
                            const connpool_options *options, connpool_error **err) {
    if (out == nullptr) return null_argument(err, "connpool_pool_create", "out");
    *out = nullptr;
    return guarded(err, [&] {
        PoolSettings settings;
        const connpool_status status =
            resolve_settings(options, settings, err, "connpool_pool_create");
        if (status != CONNPOOL_OK) return status;
        const Error valid = settings.validate();
        if (!valid.ok()) return fail(err, valid);
        install_lease_cells();
        return publish_pool(out, Pool::create(settings.pool, std::move(connector)));
    });
}

}  // namespace connpool::capi

extern "C" {

CONNPOOL_API connpool_status connpool_pool_create(connpool_pool **out, const char *conninfo,
                                                  const connpool_options *options,
                                                  connpool_error **err) {
    if (out == nullptr) return null_argument(err, "connpool_pool_create", "out");
    *out = nullptr;
    if (conninfo == nullptr) return null_argument(err, "connpool_pool_create", "conninfo");
    return guarded(err, [&] {
        PoolSettings settings;
        const connpool_status status =
            resolve_settings(options, settings, err, "connpool_pool_create");
        if (status != CONNPOOL_OK) return status;
        install_lease_cells();
        std::shared_ptr<Pool> pool;
        const Error created = create_pg_pool(conninfo, settings, pool);
        if (!created.ok()) return fail(err, created);
        return publish_pool(out, std::move(pool));
    });
}

CONNPOOL_API connpool_status connpool_pool_wait_ready(connpool_pool *pool, int64_t timeout_ms,
                                                      connpool_error **err) {
    if (pool == nullptr) return null_argument(err, "connpool_pool_wait_ready", "pool");
    return guarded(err, [&] {
        auto ref = lookup_pool(pool);
        if (!ref) return stale_handle(err, "connpool_pool_wait_ready", "pool");
        if (ref.get<PoolObject>()->pool->forked()) return forked(err, "connpool_pool_wait_ready");
        Error error;
        const connpool_status status =
            ref.get<PoolObject>()->pool->wait_ready(timeout_ms, err ? &error : nullptr);
        return status == CONNPOOL_OK || err == nullptr ? status : fail(err, error);
    });
}

CONNPOOL_API connpool_status connpool_pool_acquire(connpool_lease **out, connpool_pool *pool,
                                                   int64_t timeout_ms, connpool_error **err) {
    if (out == nullptr) return null_argument(err, "connpool_pool_acquire", "out");
    *out = nullptr;
    if (pool == nullptr) return null_argument(err, "connpool_pool_acquire", "pool");
    return guarded(err, [&] {
        auto ref = lookup_pool(pool);
        if (!ref) return stale_handle(err, "connpool_pool_acquire", "pool");
        if (ref.get<PoolObject>()->pool->forked()) return forked(err, "connpool_pool_acquire");
        Pool &core = *ref.get<PoolObject>()->pool;
        Slot *slot = nullptr;
        Error error;
        const connpool_status status = core.acquire(timeout_ms, slot, err ? &error : nullptr);
        if (status != CONNPOOL_OK) return err == nullptr ? status : fail(err, error);
        // The slot's own cell: acquiring never allocates a handle.
        *out = lease_handle(slot);
        return CONNPOOL_OK;
    });
}

CONNPOOL_API connpool_status connpool_pool_try_acquire(connpool_lease **out, connpool_pool *pool,
                                                       connpool_error **err) {
    if (out == nullptr) return null_argument(err, "connpool_pool_try_acquire", "out");
    *out = nullptr;
    if (pool == nullptr) return null_argument(err, "connpool_pool_try_acquire", "pool");
    return guarded(err, [&] {
        auto ref = lookup_pool(pool);
        if (!ref) return stale_handle(err, "connpool_pool_try_acquire", "pool");
        if (ref.get<PoolObject>()->pool->forked()) return forked(err, "connpool_pool_try_acquire");
        Slot *slot = nullptr;
        Error error;
        const connpool_status status =
            ref.get<PoolObject>()->pool->try_acquire(slot, err ? &error : nullptr);
        if (status == CONNPOOL_ERR_WOULD_BLOCK) return status;
        if (status != CONNPOOL_OK) return err == nullptr ? status : fail(err, error);
        *out = lease_handle(slot);
        return CONNPOOL_OK;
    });
}

CONNPOOL_API connpool_status connpool_pool_stats(connpool_stats *out, connpool_pool *pool,
                                                 connpool_error **err) {
    if (out == nullptr) return null_argument(err, "connpool_pool_stats", "out");
    if (pool == nullptr) return null_argument(err, "connpool_pool_stats", "pool");
    const uint32_t size = out->struct_size;
    if (size < offsetof(connpool_stats, total)) {
        return fail(err, CONNPOOL_ERR_INVALID_ARGUMENT,
                    "connpool_pool_stats: set out->struct_size to sizeof(connpool_stats)");
    }
    return guarded(err, [&] {
        auto ref = lookup_pool(pool);
        if (!ref) return stale_handle(err, "connpool_pool_stats", "pool");
        if (ref.get<PoolObject>()->pool->forked()) return forked(err, "connpool_pool_stats");
        copy_sized(out, to_c_stats(ref.get<PoolObject>()->pool->stats()), size);
        return CONNPOOL_OK;
    });
}

CONNPOOL_API connpool_status connpool_pool_stats_json(char **out_json, connpool_pool *pool,
                                                      connpool_error **err) {
    if (out_json == nullptr) return null_argument(err, "connpool_pool_stats_json", "out_json");
    *out_json = nullptr;
    if (pool == nullptr) return null_argument(err, "connpool_pool_stats_json", "pool");
    return guarded(err, [&] {
        auto ref = lookup_pool(pool);
        if (!ref) return stale_handle(err, "connpool_pool_stats_json", "pool");
        if (ref.get<PoolObject>()->pool->forked()) return forked(err, "connpool_pool_stats_json");
        const std::string json = ref.get<PoolObject>()->pool->stats_json();
        char *copy = new char[json.size() + 1];
        std::memcpy(copy, json.c_str(), json.size() + 1);
        *out_json = copy;
        return CONNPOOL_OK;
    });
}

CONNPOOL_API connpool_status connpool_pool_close(connpool_pool *pool, connpool_error **err) {
    if (pool == nullptr) return null_argument(err, "connpool_pool_close", "pool");
    return guarded(err, [&] {
        auto ref = lookup_pool(pool);
        if (!ref) return stale_handle(err, "connpool_pool_close", "pool");
        const PoolObject &object = *ref.get<PoolObject>();
        if (object.pool->forked()) return forked(err, "connpool_pool_close");
        // A registered pool closes for every handle: its name is free again at once.
        if (!object.registry_name.empty()) unregister_pool(object.registry_name, *object.pool);
        stop_multiplexing(*object.pool);  // gives back its connections before the pool closes
        object.pool->close();
        return CONNPOOL_OK;
    });
}

CONNPOOL_API connpool_status connpool_pool_free(connpool_pool *pool) {
    if (pool == nullptr) return CONNPOOL_OK;
    return guarded(nullptr, [&] {
        // Close first: that wakes threads blocked in acquire on this handle, so the retire
        // below (which waits for every call in flight on the handle) finishes promptly. A
        // registered pool stays open for its other handles and later lookups.
        bool in_child = false;
        {
            auto ref = lookup_pool(pool);
            if (!ref) return misuse(CONNPOOL_ERR_INVALID_HANDLE);
            const PoolObject &object = *ref.get<PoolObject>();
            in_child = object.pool->forked();
            if (!in_child && object.registry_name.empty()) {
                stop_multiplexing(*object.pool);
                object.pool->close();
            }
        }
        if (in_child) {
            // In a child after fork(): closing would end the parent's sessions and joining
            // would wait for threads that do not exist here. Drop the handle and leave the
            // pool's memory alone (a deliberate leak; the cell is not recycled because the
            // registry's mutex may have been held by another thread at fork time, and no wait
            // for references: the parent's threads that held them do not exist here).
            HandleRegistry::instance().abandon(token_of(pool), HandleKind::pool);
            return CONNPOOL_OK;
        }
        auto object = retire<PoolObject>(HandleKind::pool, pool);
        // Leases still out hold the Pool itself; it is freed with the last of them.
        return object ? CONNPOOL_OK : misuse(CONNPOOL_ERR_INVALID_HANDLE);
    });
}

}  // extern "C"
