// Each pool owns its logger. It is never registered in spdlog's global registry nor made the
// default logger: that registry is shared by every library in the process. Where its messages
// go (stderr or the host's callback) is decided by the log router (core/log_router.hpp).
#pragma once

#include <memory>
#include <string>

#include <spdlog/logger.h>

#include "core/log_router.hpp"

namespace connpool {

// Builds a logger named after the pool, routed by the log router. `level_option` is the pool's
// log_level option; when empty, the level is the min_level of the pool's callback if there is
// one, else CONNPOOL_LOG_LEVEL for stderr; when that is unset or invalid, logging is off.
std::shared_ptr<spdlog::logger> make_pool_logger(const std::string &pool_name,
                                                 const std::string &level_option);

// Gives the pool of `logger` (made by make_pool_logger) its own callback; null returns it to
// the process-wide routing. Waits as LogRouter::set_pool_target does.
void set_pool_log_target(spdlog::logger &logger, std::shared_ptr<const LogTarget> target);

}  // namespace connpool
