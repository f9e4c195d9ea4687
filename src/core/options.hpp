// The generic pool's options: one plain struct with defaults, and the list that describes and
// sets them by key (so that adding one never changes the C ABI). Options of the database side
// live with it (pg/options.hpp).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "core/option_table.hpp"

namespace connpool {

struct PoolOptions {
    std::string name = "pool";
    int64_t min_size = 0;
    int64_t max_size = 10;
    int64_t max_overflow = 0;
    int64_t acquire_timeout_ms = 30'000;
    int64_t connect_timeout_ms = 10'000;
    int64_t max_lifetime_ms = 3'600'000;  // 0 = unlimited
    int64_t max_idle_ms = 600'000;        // 0 = never close for idleness
    bool pre_ping = true;
    int64_t pre_ping_threshold_ms = 1'000;
    int64_t health_check_timeout_ms = 5'000;
    int64_t maintenance_interval_ms = 1'000;
    int64_t max_concurrent_connects = 2;
    std::string log_level;             // empty = from CONNPOOL_LOG_LEVEL, else "off"
    int64_t max_waiting = 0;           // 0 = unlimited
    int64_t overtake_window_us = 200;  // see "Fairness" in pool.hpp; 0 = strict FIFO
    int64_t leak_threshold_ms = 0;     // 0 = no leak reports
    int64_t breaker_threshold = 5;     // consecutive connect failures that open it; 0 = never
    // Health verdict (core/health.hpp).
    int64_t health_degraded_utilisation = 80;   // percent: degraded at or above
    int64_t health_unhealthy_utilisation = 95;  // percent: unhealthy above
    int64_t health_error_window_ms = 60'000;
    int64_t health_unhealthy_errors = 10;  // errors in the window: unhealthy above
    // Run-time policies (see the option list in core/options.cpp).
    int64_t keepalive_interval_ms = 0;  // 0 = off
    int64_t min_idle = 0;
    int64_t target_utilisation = 0;   // percent; 0 = off
    std::string idle_order = "lifo";  // "lifo" or "fifo"
    bool thread_affinity = false;
    int64_t recovery_probe_interval_ms = 250;

    // Checks rules that involve several options (e.g. min_size <= max_size).
    Error validate() const;
};

// Every option of PoolOptions, in the order they are documented.
std::span<const OptionField<PoolOptions>> pool_option_fields();

// Parses a log level name ("trace".."critical", "off"); returns false if unknown.
bool parse_log_level(std::string_view text, int &level_out);

}  // namespace connpool
