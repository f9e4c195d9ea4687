#include "core/options.hpp"

#include <fmt/format.h>

#include <charconv>
#include <vector>

namespace connpool {
namespace {

constexpr int64_t kDay = 86'400'000;
constexpr int64_t kMaxConnections = 10'000;

const char *const kLevelNames[] = {"trace", "debug", "info", "warn", "error", "critical", "off"};

using Field = OptionField<PoolOptions>;
using P = PoolOptions;

const Field kFields[] = {
    {{"name", OptionKind::string, 0, 64, "pool name used in log lines and stats"},
     nullptr,
     nullptr,
     &P::name},
    {{"min_size", OptionKind::integer, 0, kMaxConnections,
      "connections kept open even when idle (opened in the background; see "
      "connpool_pool_wait_ready)"},
     &P::min_size},
    {{"max_size", OptionKind::integer, 1, kMaxConnections,
      "connections kept at most (without overflow)"},
     &P::max_size},
    {{"max_overflow", OptionKind::integer, 0, kMaxConnections,
      "extra connections allowed under load, closed again when released"},
     &P::max_overflow},
    {{"acquire_timeout", OptionKind::duration_ms, 0, kDay,
      "default wait for a connection (acquire with a negative timeout)"},
     &P::acquire_timeout_ms},
    {{"connect_timeout", OptionKind::duration_ms, 1, 3'600'000, "limit for opening one connection"},
     &P::connect_timeout_ms},
    {{"max_lifetime", OptionKind::duration_ms, 0, 30 * kDay,
      "connections are closed after this age, minus up to 5% random jitter (0 = never)"},
     &P::max_lifetime_ms},
    {{"max_idle", OptionKind::duration_ms, 0, 30 * kDay,
      "idle connections above min_size are closed after this long (0 = never)"},
     &P::max_idle_ms},
    {{"pre_ping", OptionKind::boolean, 0, 1,
      "check a connection idle longer than pre_ping_threshold before handing it out"},
     nullptr,
     &P::pre_ping},
    {{"pre_ping_threshold", OptionKind::duration_ms, 0, kDay,
      "idle time after which pre_ping runs a round trip (0 = on every acquire)"},
     &P::pre_ping_threshold_ms},
    {{"health_check_timeout", OptionKind::duration_ms, 1, 3'600'000,
      "limit for a pre-ping round trip and for the rollback/reset after release"},
     &P::health_check_timeout_ms},
    {{"maintenance_interval", OptionKind::duration_ms, 10, 3'600'000,
      "how often idle/expired connections are closed and min_size is restored"},
     &P::maintenance_interval_ms},
    {{"max_concurrent_connects", OptionKind::integer, 1, 64,
      "connection attempts in flight at once (background workers)"},
     &P::max_concurrent_connects},
    {{"max_waiting", OptionKind::integer, 0, 1'000'000,
      "threads allowed to wait in acquire at once; beyond it acquire fails at once with "
      "CONNPOOL_ERR_TOO_MANY_WAITERS (0 = unlimited)"},
     &P::max_waiting},
    {{"overtake_window_us", OptionKind::integer, 0, 1'000'000,
      "microseconds a waiting thread lets running threads take connections released meanwhile "
      "before every release is handed to it (0 = strict first come, first served)"},
     &P::overtake_window_us},
    {{"leak_threshold", OptionKind::duration_ms, 0, 30 * kDay,
      "a lease held longer than this is reported once in the log, with its label (see "
      "connpool_lease_set_label), and counted (0 = off)"},
     &P::leak_threshold_ms},
    {{"breaker_threshold", OptionKind::integer, 0, 1000,
      "consecutive connect failures after which acquires fail fast with "
      "CONNPOOL_ERR_DATABASE_UNAVAILABLE (authentication failures and unknown databases open it at "
      "once; 0 = never)"},
     &P::breaker_threshold},
    {{"health_degraded_utilisation", OptionKind::integer, 0, 100,
      "health verdict: degraded when this percentage of max_size + max_overflow (or more) is in "
      "use"},
     &P::health_degraded_utilisation},
    {{"health_unhealthy_utilisation", OptionKind::integer, 0, 100,
      "health verdict: unhealthy when more than this percentage of max_size + max_overflow is "
      "in use"},
     &P::health_unhealthy_utilisation},
    {{"health_error_window", OptionKind::duration_ms, 1000, kDay,
      "health verdict: failed connects, acquire timeouts and broken connections count as recent "
      "errors this long (any: degraded)"},
     &P::health_error_window_ms},
    {{"health_unhealthy_errors", OptionKind::integer, 0, 1'000'000,
      "health verdict: unhealthy with more than this many recent errors"},
     &P::health_unhealthy_errors},
    {{"log_level", OptionKind::choice, 0, 0,
      "trace, debug, info, warn, error, critical or off; empty: $CONNPOOL_LOG_LEVEL, else off",
      "trace,debug,info,warn,error,critical,off"},
     nullptr,
     nullptr,
     &P::log_level},
    {{"keepalive_interval", OptionKind::duration_ms, 0, kDay,
      "maintenance checks connections idle longer than this, one at a time, and replaces dead "
      "ones, so a killed backend or a NAT idle timer is noticed without an acquire; skipped "
      "while callers wait (0 = off)"},
     &P::keepalive_interval_ms},
    {{"min_idle", OptionKind::integer, 0, 10'000,
      "idle connections kept open above those in use, up to max_size (0 = none beyond "
      "min_size)"},
     &P::min_idle},
    {{"target_utilisation", OptionKind::integer, 0, 100,
      "percent: while in_use/total stays above it, connections are opened ahead of demand (up "
      "to max_size); max_idle closes them when the load falls (0 = off)"},
     &P::target_utilisation},
    {{"idle_order", OptionKind::choice, 0, 0,
      "which idle connection an acquire takes: lifo (most recently used) or fifo (least "
      "recently used: use spreads over every connection)",
      "lifo,fifo"},
     nullptr,
     nullptr,
     &P::idle_order},
    {{"thread_affinity", OptionKind::boolean, 0, 0,
      "an acquire first tries the idle connection its thread last released (off: asyncio tasks "
      "and goroutines share OS threads)"},
     nullptr,
     &P::thread_affinity},
    {{"recovery_probe_interval", OptionKind::duration_ms, 10, 60'000,
      "while callers wait on a pool that cannot connect, a connection attempt is made at least "
      "this often (without waiters the backoff applies)"},
     &P::recovery_probe_interval_ms},
};

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

bool is_choice(std::string_view choices, std::string_view word) {
    while (!choices.empty()) {
        const size_t comma = choices.find(',');
        if (choices.substr(0, comma) == word) return true;
        if (comma == std::string_view::npos) break;
        choices.remove_prefix(comma + 1);
    }
    return false;
}

Error invalid(const OptionSpec &spec, std::string detail) {
    return {CONNPOOL_ERR_INVALID_ARGUMENT, fmt::format("option \"{}\": {}", spec.key, detail)};
}

}  // namespace

std::span<const OptionField<PoolOptions>> pool_option_fields() {
    return kFields;
}

std::string quoted_input(std::string_view text) {
    constexpr size_t kShown = 40;
    std::string out(text.substr(0, kShown));
    for (char &c : out)
        if (static_cast<unsigned char>(c) < 0x20) c = '?';
    return fmt::format("\"{}{}\"", out, text.size() > kShown ? "..." : "");
}

Error parse_option(const OptionSpec &spec, std::string_view value, OptionValue &out) {
    switch (spec.kind) {
        case OptionKind::integer:
        case OptionKind::duration_ms:
            if (!parse_int(value, out.integer) || out.integer < spec.min ||
                out.integer > spec.max) {
                return invalid(
                    spec, fmt::format("{} is not valid; expected an integer from {} "
                                      "to {}{}",
                                      quoted_input(value), spec.min, spec.max,
                                      spec.kind == OptionKind::duration_ms ? " milliseconds" : ""));
            }
            return {};
        case OptionKind::boolean:
            if (!parse_bool(value, out.boolean)) {
                return invalid(spec, fmt::format("{} is not valid; expected on/off, true/false, "
                                                 "yes/no or 1/0",
                                                 quoted_input(value)));
            }
            return {};
        case OptionKind::choice:
            // Empty means "not chosen": the option's default behaviour (e.g. log_level from the
            // environment), so the default reported by introspection is accepted back.
            if (!value.empty() && !is_choice(spec.choices, value)) {
                std::string accepted(spec.choices);
                for (size_t at = 0; (at = accepted.find(',', at)) != std::string::npos; at += 2)
                    accepted.replace(at, 1, ", ");
                return invalid(spec, fmt::format("{} is not valid; expected one of {}",
                                                 quoted_input(value), accepted));
            }
            out.text = std::string(value);
            return {};
        case OptionKind::string:
            if (value.size() > static_cast<size_t>(spec.max) ||
                value.find('\0') != std::string_view::npos) {
                return invalid(spec, fmt::format("value is too long ({} bytes); at most {} bytes "
                                                 "are accepted",
                                                 value.size(), spec.max));
            }
            out.text = std::string(value);
            return {};
    }
    return invalid(spec, "has an unknown kind (internal error)");
}

bool parse_log_level(std::string_view text, int &level_out) {
    for (int i = 0; i < 7; ++i) {
        if (text == kLevelNames[i]) {
            level_out = i;
            return true;
        }
    }
    return false;
}

Error PoolOptions::validate() const {
    if (min_size > max_size) {
        return {CONNPOOL_ERR_INVALID_ARGUMENT,
                fmt::format("options \"min_size\" ({}) and \"max_size\" ({}): min_size must not "
                            "exceed max_size",
                            min_size, max_size)};
    }
    if (health_degraded_utilisation > health_unhealthy_utilisation) {
        return {CONNPOOL_ERR_INVALID_ARGUMENT,
                fmt::format("options \"health_degraded_utilisation\" ({}) and "
                            "\"health_unhealthy_utilisation\" ({}): the degraded threshold must "
                            "not exceed the unhealthy one",
                            health_degraded_utilisation, health_unhealthy_utilisation)};
    }
    return {};
}

}  // namespace connpool
