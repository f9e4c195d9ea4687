#include "core/options.hpp"

#include <fmt/format.h>
#include <charconv>
#include <vector>

namespace connpool {
namespace {

constexpr int64_t kDay = 86'400'000;
constexpr int64_t kMaxConnections = 10'000;
constexpr size_t kMaxStringLength = 4096;

const char *const kLevelNames[] = {"trace", "debug", "info", "warn", "error", "critical", "off"};

// Describes one option for its error messages.
struct OptionInfo {
    const char *key;
    const char *type;  // "integer", "duration_ms", "boolean", "string", "log_level"
    int64_t min;
    int64_t max;
    const char *description;
};

// Field accessors keep the table and the struct in one place.
struct Binding {
    OptionInfo info;
    int64_t PoolOptions::*integer = nullptr;
    bool PoolOptions::*boolean = nullptr;
    std::string PoolOptions::*string = nullptr;
};

const std::vector<Binding> &bindings() {
    static const std::vector<Binding> table = {
        {{"name", "string", 0, 64, "pool name used in log lines and stats"},
         nullptr,
         nullptr,
         &PoolOptions::name},
        {{"min_size", "integer", 0, kMaxConnections, "connections kept open even when idle"},
         &PoolOptions::min_size},
        {{"max_size", "integer", 1, kMaxConnections, "connections kept at most (without overflow)"},
         &PoolOptions::max_size},
        {{"max_overflow", "integer", 0, kMaxConnections,
          "extra connections allowed under load, closed again when released"},
         &PoolOptions::max_overflow},
        {{"acquire_timeout", "duration_ms", 0, kDay,
          "default wait for a connection (acquire with a negative timeout)"},
         &PoolOptions::acquire_timeout_ms},
        {{"connect_timeout", "duration_ms", 1, 3'600'000, "limit for opening one connection"},
         &PoolOptions::connect_timeout_ms},
        {{"max_lifetime", "duration_ms", 0, 30 * kDay,
          "connections are closed after this age, minus up to 5% random jitter (0 = never)"},
         &PoolOptions::max_lifetime_ms},
        {{"max_idle", "duration_ms", 0, 30 * kDay,
          "idle connections above min_size are closed after this long (0 = never)"},
         &PoolOptions::max_idle_ms},
        {{"pre_ping", "boolean", 0, 1,
          "check a connection idle longer than pre_ping_threshold before handing it out"},
         nullptr,
         &PoolOptions::pre_ping},
        {{"pre_ping_threshold", "duration_ms", 0, kDay,
          "idle time after which pre_ping runs a round trip (0 = on every acquire)"},
         &PoolOptions::pre_ping_threshold_ms},
        {{"health_check_timeout", "duration_ms", 1, 3'600'000,
          "limit for a pre-ping round trip and for the rollback/reset after release"},
         &PoolOptions::health_check_timeout_ms},
        {{"reset_query", "string", 0, static_cast<int64_t>(kMaxStringLength),
          "SQL run on every returned connection before reuse, e.g. DISCARD ALL (empty = none)"},
         nullptr,
         nullptr,
         &PoolOptions::reset_query},
        {{"maintenance_interval", "duration_ms", 10, 3'600'000,
          "how often idle/expired connections are closed and min_size is restored"},
         &PoolOptions::maintenance_interval_ms},
        {{"max_concurrent_connects", "integer", 1, 64,
          "connection attempts in flight at once (background workers)"},
         &PoolOptions::max_concurrent_connects},
        {{"max_waiting", "integer", 0, 1'000'000,
          "threads allowed to wait in acquire at once; beyond it acquire fails at once with "
          "CONNPOOL_ERR_TOO_MANY_WAITERS (0 = unlimited)"},
         &PoolOptions::max_waiting},
        {{"overtake_window_us", "integer", 0, 1'000'000,
          "microseconds a waiting thread lets running threads take connections released meanwhile "
          "before every release is handed to it (0 = strict first come, first served)"},
         &PoolOptions::overtake_window_us},
        {{"leak_threshold", "duration_ms", 0, 30 * kDay,
          "a lease held longer than this is reported once in the log and counted (0 = off)"},
         &PoolOptions::leak_threshold_ms},
        {{"breaker_threshold", "integer", 0, 1000,
          "consecutive connect failures after which acquires fail fast with "
          "CONNPOOL_ERR_DATABASE_UNAVAILABLE (authentication failures open it at once; 0 = never)"},
         &PoolOptions::breaker_threshold},
        {{"statement_cache_size", "integer", 0, 10'000,
          "prepared statements kept per connection by connpool_lease_exec/_send, least recently "
          "used evicted (0 = no prepared statements, e.g. behind PgBouncer < 1.21 in transaction "
          "mode)"},
         &PoolOptions::statement_cache_size},
        {{"prepare_threshold", "integer", 0, 1'000'000,
          "executions of a statement text on a connection before it is prepared there (0 = "
          "prepare on the first execution)"},
         &PoolOptions::prepare_threshold},
        {{"log_level", "log_level", 0, 6,
          "trace, debug, info, warn, error, critical or off (default: $CONNPOOL_LOG_LEVEL, "
          "else off)"},
         nullptr,
         nullptr,
         &PoolOptions::log_level},
    };
    return table;
}

bool parse_int(std::string_view text, int64_t &out) {
    if (text.empty()) return false;
    const char *end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, out);
    return ec == std::errc() && ptr == end;
}

bool parse_bool(std::string_view text, bool &out) {
    static const char *const truthy[] = {"on", "true", "yes", "1"};
    static const char *const falsy[] = {"off", "false", "no", "0"};
    for (const char *word : truthy)
        if (text == word) return out = true, true;
    for (const char *word : falsy)
        if (text == word) return out = false, true;
    return false;
}

std::string known_keys() {
    std::string keys;
    for (const Binding &b : bindings()) {
        if (!keys.empty()) keys += ", ";
        keys += b.info.key;
    }
    return keys;
}

// Quotes user input in a message, truncated so a huge value cannot flood a log.
std::string quoted(std::string_view text) {
    constexpr size_t kShown = 40;
    std::string out(text.substr(0, kShown));
    for (char &c : out)
        if (static_cast<unsigned char>(c) < 0x20) c = '?';
    return fmt::format("\"{}{}\"", out, text.size() > kShown ? "..." : "");
}

}  // namespace

bool parse_log_level(std::string_view text, int &level_out) {
    for (int i = 0; i < 7; ++i) {
        if (text == kLevelNames[i]) {
            level_out = i;
            return true;
        }
    }
    return false;
}

Error PoolOptions::set(std::string_view key, std::string_view value) {
    for (const Binding &b : bindings()) {
        if (key != b.info.key) continue;
        const OptionInfo &info = b.info;
        if (b.integer != nullptr) {
            int64_t parsed = 0;
            const char *unit = std::string_view(info.type) == "duration_ms" ? " milliseconds" : "";
            if (!parse_int(value, parsed) || parsed < info.min || parsed > info.max) {
                return {CONNPOOL_ERR_INVALID_ARGUMENT,
                        fmt::format("option \"{}\": {} is not valid; expected an integer from {} "
                                    "to {}{}",
                                    info.key, quoted(value), info.min, info.max, unit)};
            }
            this->*b.integer = parsed;
        } else if (b.boolean != nullptr) {
            bool parsed = false;
            if (!parse_bool(value, parsed)) {
                return {CONNPOOL_ERR_INVALID_ARGUMENT,
                        fmt::format("option \"{}\": {} is not valid; expected on/off, true/false, "
                                    "yes/no or 1/0",
                                    info.key, quoted(value))};
            }
            this->*b.boolean = parsed;
        } else if (std::string_view(info.type) == "log_level") {
            int level = 0;
            if (!parse_log_level(value, level)) {
                return {CONNPOOL_ERR_INVALID_ARGUMENT,
                        fmt::format("option \"{}\": {} is not valid; expected one of trace, "
                                    "debug, info, warn, error, critical, off",
                                    info.key, quoted(value))};
            }
            this->*b.string = std::string(value);
        } else {
            if (value.size() > static_cast<size_t>(info.max) ||
                value.find('\0') != std::string_view::npos) {
                return {CONNPOOL_ERR_INVALID_ARGUMENT,
                        fmt::format("option \"{}\": value is too long ({} bytes); at most {} "
                                    "bytes are accepted",
                                    info.key, value.size(), info.max)};
            }
            this->*b.string = std::string(value);
        }
        return {};
    }
    return {CONNPOOL_ERR_UNKNOWN_OPTION,
            fmt::format("unknown option {}; known options are: {}", quoted(key), known_keys())};
}

Error PoolOptions::validate() const {
    if (min_size > max_size) {
        return {CONNPOOL_ERR_INVALID_ARGUMENT,
                fmt::format("options \"min_size\" ({}) and \"max_size\" ({}): min_size must not "
                            "exceed max_size",
                            min_size, max_size)};
    }
    return {};
}

}  // namespace connpool
