#include "core/log.hpp"

#include <cstdlib>

#include "core/options.hpp"

namespace connpool {

std::shared_ptr<spdlog::logger> make_pool_logger(const std::string &pool_name,
                                                 const std::string &level_option) {
    int explicit_level = -1;
    if (!level_option.empty() && !parse_log_level(level_option, explicit_level)) {
        explicit_level = SPDLOG_LEVEL_OFF;  // validated before; never logs at an unknown level
    }
    int stderr_level = explicit_level;
    if (stderr_level < 0) {
        stderr_level = SPDLOG_LEVEL_OFF;
        if (const char *env = std::getenv("CONNPOOL_LOG_LEVEL")) parse_log_level(env, stderr_level);
    }
    auto sink = std::make_shared<PoolLogSink>(pool_name, explicit_level, stderr_level);
    // The router knows the logger by address: it must let go before the logger is destroyed.
    std::shared_ptr<spdlog::logger> logger(new spdlog::logger("connpool:" + pool_name, sink),
                                           [sink](spdlog::logger *doomed) {
                                               LogRouter::instance().detach(*sink);
                                               delete doomed;
                                           });
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e [%n] [%l] %v");
    logger->flush_on(spdlog::level::warn);
    LogRouter::instance().attach(*logger, *sink);
    return logger;
}

void set_pool_log_target(spdlog::logger &logger, std::shared_ptr<const LogTarget> target) {
    for (const spdlog::sink_ptr &sink : logger.sinks()) {
        if (auto *routed = dynamic_cast<PoolLogSink *>(sink.get())) {
            LogRouter::instance().set_pool_target(*routed, std::move(target));
            return;
        }
    }
}

}  // namespace connpool
