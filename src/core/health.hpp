// A pool's health verdict: healthy, degraded or unhealthy, from its utilisation, the errors
// of a recent window and its circuit breaker, with the reasons as sentences.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/stats.hpp"

namespace connpool {

// Values are pinned: the C API reports them as CONNPOOL_HEALTH_*.
enum class HealthVerdict : int32_t { healthy = 0, degraded = 1, unhealthy = 2 };

const char *health_verdict_name(HealthVerdict verdict);

struct HealthThresholds {
    int64_t degraded_utilisation = 80;   // percent: degraded at or above
    int64_t unhealthy_utilisation = 95;  // percent: unhealthy above
    int64_t unhealthy_errors = 10;       // errors in the window: unhealthy above (1+: degraded)
    int64_t error_window_ms = 60'000;
};

// Errors (failed connects, acquire timeouts, connections found broken) of the last
// error_window_ms, counted in 20 slices of the window: an error leaves the count between
// 19/20 and 20/20 of the window after it happened. Plain data: the pool's mutex guards it.
class ErrorWindow {
  public:
    explicit ErrorWindow(int64_t window_ms)
        : slice_ms_(std::max<int64_t>(1, (window_ms + kSlices - 1) / kSlices)) {}
    void record(TimePoint now) {
        const int64_t epoch = epoch_of(now);
        Slice &slice = slices_[static_cast<size_t>(epoch % kSlices)];
        if (slice.epoch != epoch) slice = {epoch, 0};
        ++slice.count;
    }
    int64_t count(TimePoint now) const {
        const int64_t epoch = epoch_of(now);
        int64_t total = 0;
        for (const Slice &slice : slices_) {
            if (slice.epoch > epoch - kSlices && slice.epoch <= epoch) total += slice.count;
        }
        return total;
    }

  private:
    static constexpr int64_t kSlices = 20;
    struct Slice {
        int64_t epoch = -1;
        int64_t count = 0;
    };
    int64_t epoch_of(TimePoint now) const {
        return std::chrono::duration_cast<Millis>(now.time_since_epoch()).count() / slice_ms_;
    }
    int64_t slice_ms_;
    std::array<Slice, kSlices> slices_{};
};

// In use over max_size + max_overflow, in percent (rounded down; 100 when the pool is full).
int64_t utilisation_percent(const PoolStats &stats);

// The verdict from a snapshot whose utilisation_percent and recent_errors are filled in.
// `closed`: a closed pool serves nothing, so it is unhealthy.
HealthVerdict assess_health(const PoolStats &stats, const HealthThresholds &thresholds,
                            bool closed);

struct HealthReport {
    HealthVerdict verdict = HealthVerdict::healthy;
    std::vector<std::string> reasons;  // one sentence each; empty when healthy
};
HealthReport explain_health(const PoolStats &stats, const HealthThresholds &thresholds,
                            bool closed);

// {"name", "status", "utilisation_percent", "recent_errors", "breaker_state", "reasons"}.
std::string health_to_json(const HealthReport &report, const PoolStats &stats,
                           const std::string &pool_name);

}  // namespace connpool
