#include "core/log.hpp"

#include <cstdlib>

#include <spdlog/sinks/stdout_sinks.h>

#include "core/options.hpp"

namespace connpool {

std::shared_ptr<spdlog::logger> make_pool_logger(const std::string &pool_name,
                                                 const std::string &level_option) {
    int level = SPDLOG_LEVEL_OFF;
    if (!level_option.empty()) {
        parse_log_level(level_option, level);
    } else if (const char *env = std::getenv("CONNPOOL_LOG_LEVEL")) {
        parse_log_level(env, level);
    }
    auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    auto logger = std::make_shared<spdlog::logger>("connpool:" + pool_name, std::move(sink));
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e [%n] [%l] %v");
    logger->set_level(static_cast<spdlog::level::level_enum>(level));
    logger->flush_on(spdlog::level::warn);
    return logger;
}

}  // namespace connpool
