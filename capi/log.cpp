// connpool_log_*: the host's log callback, process-wide and per pool (core/log_router.hpp).
#include <string>

#include "core/log.hpp"
#include "handles.hpp"

using namespace connpool;
using namespace connpool::capi;

static_assert(CONNPOOL_LOG_TRACE == SPDLOG_LEVEL_TRACE &&
                  CONNPOOL_LOG_DEBUG == SPDLOG_LEVEL_DEBUG &&
                  CONNPOOL_LOG_INFO == SPDLOG_LEVEL_INFO &&
                  CONNPOOL_LOG_WARN == SPDLOG_LEVEL_WARN &&
                  CONNPOOL_LOG_ERROR == SPDLOG_LEVEL_ERROR &&
                  CONNPOOL_LOG_CRITICAL == SPDLOG_LEVEL_CRITICAL &&
                  CONNPOOL_LOG_OFF == SPDLOG_LEVEL_OFF,
              "the C log levels are spdlog's: the router passes them through");

namespace {

connpool_status bad_level(connpool_error **err, const char *function, int32_t min_level) {
    const std::string message =
        std::string(function) + ": min_level " + std::to_string(min_level) +
        " is not valid; expected CONNPOOL_LOG_TRACE (0) to CONNPOOL_LOG_OFF (6)";
    return fail(err, CONNPOOL_ERR_INVALID_ARGUMENT, message.c_str());
}

bool valid_level(int32_t level) {
    return level >= CONNPOOL_LOG_TRACE && level <= CONNPOOL_LOG_OFF;
}

std::shared_ptr<const LogTarget> target_of(connpool_log_callback callback, void *user_data,
                                           int32_t min_level) {
    if (callback == nullptr) return nullptr;
    return std::make_shared<const LogTarget>(LogTarget{callback, user_data, min_level});
}

}  // namespace

extern "C" {

CONNPOOL_API connpool_status connpool_log_set_callback(connpool_log_callback callback,
                                                       void *user_data, int32_t min_level,
                                                       connpool_error **err) {
    if (!valid_level(min_level)) return bad_level(err, "connpool_log_set_callback", min_level);
    return guarded(err, [&] {
        LogRouter::instance().set_process_target(target_of(callback, user_data, min_level));
        return CONNPOOL_OK;
    });
}

CONNPOOL_API connpool_status connpool_pool_set_log_callback(connpool_pool *pool,
                                                            connpool_log_callback callback,
                                                            void *user_data, int32_t min_level,
                                                            connpool_error **err) {
    if (pool == nullptr) return null_argument(err, "connpool_pool_set_log_callback", "pool");
    if (!valid_level(min_level)) return bad_level(err, "connpool_pool_set_log_callback", min_level);
    return guarded(err, [&] {
        auto ref = HandleRegistry::instance().lookup(token_of(pool), HandleKind::pool);
        if (!ref) return stale_handle(err, "connpool_pool_set_log_callback", "pool");
        Pool &core = *ref.get<PoolObject>()->pool;
        if (core.forked()) return forked(err, "connpool_pool_set_log_callback");
        set_pool_log_target(core.log(), target_of(callback, user_data, min_level));
        return CONNPOOL_OK;
    });
}

CONNPOOL_API int64_t connpool_log_dropped_count(void) {
    return LogRouter::instance().dropped();
}
}
