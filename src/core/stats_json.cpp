#include "core/stats_json.hpp"

#include <fmt/format.h>

namespace connpool {

std::string json_escape(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
                } else {
                    out += c;
                }
        }
    }
    return out;
}

std::string stats_to_json(const connpool_stats &s, std::string_view pool_name, bool pool_closed) {
    std::string out = fmt::format("{{\"name\": \"{}\", \"closed_pool\": {}", json_escape(pool_name),
                                  pool_closed ? "true" : "false");
    const std::pair<const char *, int64_t> fields[] = {
        {"total", s.total},
        {"idle", s.idle},
        {"in_use", s.in_use},
        {"opening", s.opening},
        {"waiting", s.waiting},
        {"max_size", s.max_size},
        {"min_size", s.min_size},
        {"max_overflow", s.max_overflow},
        {"created", s.created},
        {"closed", s.closed},
        {"acquired", s.acquired},
        {"released", s.released},
        {"reused", s.reused},
        {"acquire_timeouts", s.acquire_timeouts},
        {"connect_errors", s.connect_errors},
        {"health_checks", s.health_checks},
        {"health_check_failures", s.health_check_failures},
        {"closed_lifetime", s.closed_lifetime},
        {"closed_idle", s.closed_idle},
        {"closed_broken", s.closed_broken},
        {"closed_overflow", s.closed_overflow},
        {"resets", s.resets},
        {"acquire_wait_us_total", s.acquire_wait_us_total},
        {"acquire_wait_us_max", s.acquire_wait_us_max},
        {"breaker_state", s.breaker_state},
        {"breaker_opens", s.breaker_opens},
        {"waiters_rejected", s.waiters_rejected},
        {"unavailable", s.unavailable},
        {"leaks_detected", s.leaks_detected},
        {"canceled", s.canceled},
        {"sweeps", s.sweeps},
    };
    for (const auto &[key, value] : fields) out += fmt::format(", \"{}\": {}", key, value);
    out += "}";
    return out;
}

}  // namespace connpool
