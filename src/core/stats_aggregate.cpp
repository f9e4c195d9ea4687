#include "core/stats_aggregate.hpp"

#include <algorithm>
#include <string_view>

#include <fmt/format.h>

namespace connpool {

namespace {

// How a field of several pools combines into one figure. Most are additive (counts, totals);
// a maximum, a percentile or a verdict is not: the aggregate shows the worst pool's value.
// The utilisation is not combined at all: the aggregate computes its own, over all capacity.
enum class Combine { sum, worst, own };

Combine combine_of(std::string_view name) {
    if (name == "utilisation_percent") return Combine::own;
    if (name == "acquire_wait_us_max" || name == "breaker_state" || name == "health" ||
        name.find("_p50_") != std::string_view::npos ||
        name.find("_p90_") != std::string_view::npos ||
        name.find("_p99_") != std::string_view::npos ||
        name.find("_p999_") != std::string_view::npos) {
        return Combine::worst;
    }
    return Combine::sum;
}

}  // namespace

AggregateStats aggregate_stats(std::span<const PoolStats> pools) {
    AggregateStats out;
    out.pools = static_cast<int64_t>(pools.size());
    for (const PoolStats &pool : pools) {
        for (const StatField &field : kStatFields) {
            int64_t &into = out.sums.*field.member;
            switch (combine_of(field.name)) {
                case Combine::sum:
                    into += pool.*field.member;
                    break;
                case Combine::worst:
                    into = std::max(into, pool.*field.member);
                    break;
                case Combine::own:
                    break;
            }
        }
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
        if (combine_of(field.name) == Combine::own) continue;
        out += fmt::format(", \"{}\": {}", field.name, aggregate.sums.*field.member);
    }
    // Fixed notation: never an exponent or "nan", which some JSON readers refuse.
    out += fmt::format(", \"utilisation_percent\": {:.2f}, \"reuse_ratio\": {:.4f}}}",
                       aggregate.utilisation_percent, aggregate.reuse_ratio);
    return out;
}

}  // namespace connpool
