#include "core/histogram.hpp"

#include <algorithm>
#include <cmath>

namespace connpool {

HistogramSnapshot LatencyHistogram::snapshot() const {
    HistogramSnapshot s;
    for (size_t i = 0; i < s.buckets.size(); ++i) {
        s.buckets[i] = buckets_[i].load(std::memory_order_relaxed);
        s.count += s.buckets[i];
    }
    s.sum_ns = sum_.load(std::memory_order_relaxed);
    s.max_ns = max_.load(std::memory_order_relaxed);
    return s;
}

int64_t HistogramSnapshot::percentile_ns(double q) const {
    if (count <= 0) return 0;
    q = std::clamp(q, 0.0, 1.0);
    // The rank (1-based) of the value wanted: the smallest with at least q of all at or below.
    const auto rank = std::max<int64_t>(
        1, static_cast<int64_t>(std::ceil(q * static_cast<double>(count) - 1e-9)));
    if (rank >= count) return max_ns;  // the largest value is known exactly
    int64_t below = 0;
    for (int i = 0; i < LatencyHistogram::kBuckets; ++i) {
        const int64_t in_bucket = buckets[static_cast<size_t>(i)];
        if (below + in_bucket < rank) {
            below += in_bucket;
            continue;
        }
        const int64_t lower = LatencyHistogram::lower_bound(i);
        const int64_t upper = i + 1 < LatencyHistogram::kBuckets
                                  ? LatencyHistogram::lower_bound(i + 1)
                                  : std::max(max_ns, lower) + 1;
        // The values of a bucket are taken as spread evenly over it.
        const double fraction =
            (static_cast<double>(rank - below) - 0.5) / static_cast<double>(in_bucket);
        const auto value =
            lower + static_cast<int64_t>(fraction * static_cast<double>(upper - lower));
        return std::min(value, max_ns);
    }
    return max_ns;
}

int64_t HistogramSnapshot::count_below(int64_t bound_ns) const {
    int64_t n = 0;
    for (int i = 0; i < LatencyHistogram::kBuckets; ++i) {
        if (LatencyHistogram::lower_bound(i) >= bound_ns) break;
        n += buckets[static_cast<size_t>(i)];
    }
    return n;
}

}  // namespace connpool
