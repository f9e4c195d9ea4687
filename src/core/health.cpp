#include "core/health.hpp"

#include <fmt/format.h>

#include "core/stats_json.hpp"

namespace connpool {
namespace {

constexpr int64_t kBreakerOpen = 1;
constexpr int64_t kBreakerHalfOpen = 2;

// The verdict and, when `reasons` is not null, why: the one list of criteria.
HealthVerdict judge(const PoolStats &s, const HealthThresholds &t, bool closed,
                    std::vector<std::string> *reasons) {
    HealthVerdict verdict = HealthVerdict::healthy;
    auto note = [&](HealthVerdict level, auto &&sentence) {
        verdict = std::max(verdict, level);
        if (reasons != nullptr) reasons->push_back(sentence());
    };
    if (closed) {
        note(HealthVerdict::unhealthy, [] { return std::string("The pool is closed."); });
    }
    if (s.breaker_state == kBreakerOpen) {
        note(HealthVerdict::unhealthy, [&] {
            return fmt::format(
                "The circuit breaker is open: connection attempts keep failing "
                "({} errors in the last {} s), so acquires fail fast.",
                s.recent_errors, t.error_window_ms / 1000);
        });
    }
    if (s.breaker_state == kBreakerHalfOpen) {
        note(HealthVerdict::degraded, [] {
            return std::string(
                "The circuit breaker is half-open: a probe connection is testing "
                "whether the server is back.");
        });
    }
    if (s.utilisation_percent > t.unhealthy_utilisation) {
        note(HealthVerdict::unhealthy, [&] {
            return fmt::format("Utilisation is {} %, above {} %: {} of {} connections are in use.",
                               s.utilisation_percent, t.unhealthy_utilisation, s.in_use,
                               s.max_size + s.max_overflow);
        });
    } else if (s.utilisation_percent >= t.degraded_utilisation) {
        note(HealthVerdict::degraded, [&] {
            return fmt::format(
                "Utilisation is {} %, at or above {} %: {} of {} connections are "
                "in use.",
                s.utilisation_percent, t.degraded_utilisation, s.in_use,
                s.max_size + s.max_overflow);
        });
    }
    if (s.recent_errors > t.unhealthy_errors) {
        note(HealthVerdict::unhealthy, [&] {
            return fmt::format(
                "{} errors (failed connects, acquire timeouts, broken connections) "
                "in the last {} s, more than {}.",
                s.recent_errors, t.error_window_ms / 1000, t.unhealthy_errors);
        });
    } else if (s.recent_errors > 0) {
        note(HealthVerdict::degraded, [&] {
            return fmt::format(
                "{} error{} (failed connects, acquire timeouts, broken "
                "connections) in the last {} s.",
                s.recent_errors, s.recent_errors == 1 ? "" : "s", t.error_window_ms / 1000);
        });
    }
    return verdict;
}

}  // namespace

const char *health_verdict_name(HealthVerdict verdict) {
    switch (verdict) {
        case HealthVerdict::healthy:
            return "healthy";
        case HealthVerdict::degraded:
            return "degraded";
        case HealthVerdict::unhealthy:
            return "unhealthy";
    }
    return "unhealthy";
}

int64_t utilisation_percent(const PoolStats &s) {
    const int64_t capacity = s.max_size + s.max_overflow;
    if (capacity <= 0) return 0;
    return std::min<int64_t>(100, s.in_use * 100 / capacity);
}

HealthVerdict assess_health(const PoolStats &stats, const HealthThresholds &thresholds,
                            bool closed) {
    return judge(stats, thresholds, closed, nullptr);
}

HealthReport explain_health(const PoolStats &stats, const HealthThresholds &thresholds,
                            bool closed) {
    HealthReport report;
    report.verdict = judge(stats, thresholds, closed, &report.reasons);
    return report;
}

std::string health_to_json(const HealthReport &report, const PoolStats &stats,
                           const std::string &pool_name) {
    std::string out = fmt::format(
        "{{\"name\": \"{}\", \"status\": \"{}\", \"utilisation_percent\": {}, "
        "\"recent_errors\": {}, \"breaker_state\": {}, \"reasons\": [",
        json_escape(pool_name), health_verdict_name(report.verdict), stats.utilisation_percent,
        stats.recent_errors, stats.breaker_state);
    for (size_t i = 0; i < report.reasons.size(); ++i) {
        out += fmt::format("{}\"{}\"", i == 0 ? "" : ", ", json_escape(report.reasons[i]));
    }
    out += "]}";
    return out;
}

}  // namespace connpool
