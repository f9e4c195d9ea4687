// connpool_pool_resize/_pause/_resume/_drain/_check/_connections_json and connpool_lease_get_info:
// run-time operations on a pool (the work is done by core/pool_operations.cpp).
#include <chrono>
#include <cstring>
#include <limits>

#include "handles.hpp"

using namespace connpool;
using namespace connpool::capi;

namespace {

// Runs `body(Pool &)` with the pool behind a handle, after the checks every pool call makes,
// and reports the core's error.
template <class Body>
connpool_status with_pool(connpool_pool *pool, connpool_error **err, const char *function,
                          Body &&body) {
    if (pool == nullptr) return null_argument(err, function, "pool");
    return guarded(err, [&] {
        auto ref = HandleRegistry::instance().lookup(token_of(pool), HandleKind::pool);
        if (!ref) return stale_handle(err, function, "pool");
        Pool &core = *ref.get<PoolObject>()->pool;
        if (core.forked()) return forked(err, function);
        Error error;
        const connpool_status status = body(core, error);
        if (status == CONNPOOL_OK) return status;
        if (error.status == CONNPOOL_ERR_INVALID_ARGUMENT) misuse(error.status);
        return fail(err, error);
    });
}

// Steady-clock times as microseconds since the Unix epoch. The clocks' offset is taken once per
// process, so the same steady time always maps to the same wall time (a connection's created_at
// does not move between answers); a later change of the system clock is not followed.
class WallClock {
  public:
    int64_t unix_us(TimePoint when) const {
        return std::chrono::duration_cast<std::chrono::microseconds>(when.time_since_epoch() +
                                                                     offset())
            .count();
    }

  private:
    static std::chrono::system_clock::duration offset() {
        static const std::chrono::system_clock::duration kOffset =
            std::chrono::system_clock::now().time_since_epoch() -
            std::chrono::duration_cast<std::chrono::system_clock::duration>(
                Clock::now().time_since_epoch());
        return kOffset;
    }
};

char *new_c_string(const std::string &text) {
    char *copy = new char[text.size() + 1];
    std::memcpy(copy, text.c_str(), text.size() + 1);
    return copy;
}

}  // namespace

extern "C" {

CONNPOOL_API connpool_status connpool_pool_resize(connpool_pool *pool, int32_t min_size,
                                                  int32_t max_size, connpool_error **err) {
    return with_pool(pool, err, "connpool_pool_resize", [&](Pool &core, Error &error) {
        return core.resize(min_size, max_size, &error);
    });
}

CONNPOOL_API connpool_status connpool_pool_pause(connpool_pool *pool, connpool_error **err) {
    return with_pool(pool, err, "connpool_pool_pause",
                     [&](Pool &core, Error &error) { return core.pause(&error); });
}

CONNPOOL_API connpool_status connpool_pool_resume(connpool_pool *pool, connpool_error **err) {
    return with_pool(pool, err, "connpool_pool_resume",
                     [&](Pool &core, Error &error) { return core.resume(&error); });
}

CONNPOOL_API connpool_status connpool_pool_drain(connpool_pool *pool, connpool_error **err) {
    return with_pool(pool, err, "connpool_pool_drain",
                     [&](Pool &core, Error &error) { return core.drain(&error); });
}

CONNPOOL_API connpool_status connpool_pool_check(int32_t *out_closed, connpool_pool *pool,
                                                 connpool_error **err) {
    if (out_closed != nullptr) *out_closed = 0;
    return with_pool(pool, err, "connpool_pool_check", [&](Pool &core, Error &error) {
        int64_t closed = 0;
        const connpool_status status = core.check(closed, &error);
        if (out_closed != nullptr) {
            *out_closed = static_cast<int32_t>(
                std::min<int64_t>(closed, std::numeric_limits<int32_t>::max()));
        }
        return status;
    });
}

CONNPOOL_API connpool_status connpool_lease_get_info(connpool_lease_info *out,
                                                     connpool_lease *lease, connpool_error **err) {
    static const char *const kFunction = "connpool_lease_get_info";
    if (out == nullptr) return null_argument(err, kFunction, "out");
    const uint32_t size = out->struct_size;
    if (size < offsetof(connpool_lease_info, is_new)) {
        return struct_too_small(err, kFunction, "connpool_lease_info");
    }
    if (lease == nullptr) return null_argument(err, kFunction, "lease");
    return guarded(err, [&] {
        auto ref = HandleRegistry::instance().lookup(token_of(lease), HandleKind::lease);
        if (!ref) return stale_handle(err, kFunction, "lease");
        const Slot &slot = *ref.get<Slot>();
        if (slot.pool.forked()) return forked(err, kFunction);
        const LeaseInfo core = slot.pool.lease_info(slot);
        const WallClock wall;
        connpool_lease_info info{};
        info.backend_pid = core.backend_pid;
        info.connection_id = core.connection_id;
        info.created_at_us = wall.unix_us(core.created_at);
        info.last_used_at_us = wall.unix_us(core.last_used_at);
        info.use_count = core.use_count;
        info.is_new = core.is_new ? 1 : 0;
        copy_sized(out, info, size);
        return CONNPOOL_OK;
    });
}

CONNPOOL_API connpool_status connpool_pool_connections_json(char **out_json, connpool_pool *pool,
                                                            connpool_error **err) {
    static const char *const kFunction = "connpool_pool_connections_json";
    if (out_json == nullptr) return null_argument(err, kFunction, "out_json");
    *out_json = nullptr;
    return with_pool(pool, err, kFunction, [&](Pool &core, Error &) {
        *out_json = new_c_string(core.connections_json());
        return CONNPOOL_OK;
    });
}

}  // extern "C"
