// Metrics exposition: pools' statistics and histograms as Prometheus text (0.0.4) or
// OpenMetrics 1.0. Names follow OpenTelemetry's db.client.connection.* metrics mapped to
// Prometheus naming (seconds, _total counters, a pool_name label); the library's own
// statistics follow as connpool_* series, derived from kStatFields (a new statistic appears
// without touching this code).
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "core/pool.hpp"
#include "core/stats.hpp"

namespace connpool {

// Values are pinned: the C API's CONNPOOL_METRICS_*.
enum class MetricsFormat : int32_t { prometheus = 0, openmetrics = 1 };

// What one pool contributes to an exposition.
struct PoolObservation {
    std::string name;
    PoolStats stats;
    PoolHistograms histograms;
};

// One exposition of `pools` (each family's HELP and TYPE once, one series per pool; an empty
// span gives only what the format requires: nothing, or "# EOF").
std::string render_metrics(std::span<const PoolObservation> pools, MetricsFormat format);

// The HTTP Content-Type of `format`.
const char *metrics_content_type(MetricsFormat format);

// The bucket bounds of the exposed histograms, in nanoseconds: exact bucket boundaries of
// LatencyHistogram (powers of two), so the exposed counts are exact.
std::span<const int64_t> metrics_histogram_bounds_ns();

}  // namespace connpool
