// Each pool owns its logger. It is never registered in spdlog's global registry nor made the
// default logger: that registry is shared by every library in the process.
#pragma once

#include <memory>
#include <string>

#include <spdlog/logger.h>

namespace connpool {

// Builds a stderr logger named after the pool. `level_option` is the pool's log_level option;
// when empty, CONNPOOL_LOG_LEVEL decides; when that is unset or invalid, logging is off.
std::shared_ptr<spdlog::logger> make_pool_logger(const std::string &pool_name,
                                                 const std::string &level_option);

}  // namespace connpool
