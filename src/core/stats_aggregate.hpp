// Statistics of several pools together: every field of kStatFields summed (maxima, percentiles,
// the breaker state and the verdict: the worst pool's), the overall utilisation and the reuse
// ratio, rendered as JSON.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "core/stats.hpp"

namespace connpool {

struct AggregateStats {
    int64_t pools = 0;
    PoolStats sums;                    // each field summed (or the worst) over the pools
    double utilisation_percent = 0.0;  // in use / sum of (max_size + max_overflow), in %
    double reuse_ratio = 0.0;          // reused / created; 0 when none was created
};

AggregateStats aggregate_stats(std::span<const PoolStats> pools);

// {"pools": N, <each field of kStatFields but utilisation_percent>, "utilisation_percent": x,
//  "reuse_ratio": y}
std::string aggregate_to_json(const AggregateStats &aggregate);

}  // namespace connpool
