#include "core/stats_aggregate.hpp"

#include <fmt/format.h>

namespace connpool {

AggregateStats aggregate_stats(std::span<const PoolStats> pools) {
    AggregateStats out;
    out.pools = static_cast<int64_t>(pools.size());
    for (const PoolStats &pool : pools) {
        for (const StatField &field : kStatFields) out.sums.*field.member += pool.*field.member;
    }
    const int64_t capacity = out.sums.max_size + out.sums.max_overflow;
    if (capacity > 0) {
        out.utilisation_percent =
            100.0 * static_cast<double>(out.sums.in_use) / static_cast<double>(capacity);
    }
    if (out.sums.created > 0) {
        out.reuse_ratio =
            static_cast<double>(out.sums.reused) / static_cast<double>(out.sums.created);
    }
    return out;
}

std::string aggregate_to_json(const AggregateStats &aggregate) {
    std::string out = fmt::format("{{\"pools\": {}", aggregate.pools);
    for (const StatField &field : kStatFields) {
        out += fmt::format(", \"{}\": {}", field.name, aggregate.sums.*field.member);
    }
    // Fixed notation: never an exponent or "nan", which some JSON readers refuse.
    out += fmt::format(", \"utilisation_percent\": {:.2f}, \"reuse_ratio\": {:.4f}}}",
                       aggregate.utilisation_percent, aggregate.reuse_ratio);
    return out;
}

}  // namespace connpool
