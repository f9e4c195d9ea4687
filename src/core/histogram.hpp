// Latency histograms with fixed buckets: acquire wait, lease hold and connect times.
//
// Buckets are log-linear over nanoseconds: 0..7 ns one each, then every power of two is split
// into 8 equal buckets (8-8.99, 9-9.99, ..., 15-15.99; 16-17.99, ...), up to 2^41 ns (~37 min;
// longer values fall in the last bucket). A bucket is at most 1/8 of its lower bound wide, so
// a percentile read from the buckets is within 12.5 % of the true value (and never above the
// largest value recorded). Recording is an index computation and two or three relaxed atomic
// updates; reading never blocks a writer.
#pragma once

#include <array>
#include <atomic>
#include <bit>
#include <cstdint>

namespace connpool {

struct HistogramSnapshot;

class alignas(64) LatencyHistogram {
  public:
    static constexpr int kSubBuckets = 8;  // per power of two
    static constexpr int kMaxExponent = 40;
    static constexpr int kBuckets = (kMaxExponent - 2) * kSubBuckets + kSubBuckets;

    static constexpr int bucket_of(int64_t ns) {
        if (ns < kSubBuckets) return ns > 0 ? static_cast<int>(ns) : 0;
        const int exponent = static_cast<int>(std::bit_width(static_cast<uint64_t>(ns))) - 1;
        if (exponent > kMaxExponent) return kBuckets - 1;
        const auto mantissa = static_cast<int>(ns >> (exponent - 3));  // 8..15
        return (exponent - 3) * kSubBuckets + mantissa;
    }
    // The smallest value that falls in bucket `index`.
    static constexpr int64_t lower_bound(int index) {
        if (index < kSubBuckets) return index;
        const int exponent = index / kSubBuckets + 2;
        return static_cast<int64_t>(index % kSubBuckets + kSubBuckets) << (exponent - 3);
    }

    // Any thread, any time (an atomic read-modify-write per update).
    void record(int64_t ns) {
        buckets_[static_cast<size_t>(bucket_of(ns))].fetch_add(1, std::memory_order_relaxed);
        sum_.fetch_add(ns, std::memory_order_relaxed);
        int64_t seen = max_.load(std::memory_order_relaxed);
        while (ns > seen && !max_.compare_exchange_weak(seen, ns, std::memory_order_relaxed)) {
        }
    }
    // Cheaper, for a histogram whose writers are serialised by a lock they hold anyway (the
    // pool's): plain loads and stores, still atomic so that readers need no lock. Never mix
    // with record() on one histogram.
    void record_serialised(int64_t ns) {
        bump(buckets_[static_cast<size_t>(bucket_of(ns))], 1);
        bump(sum_, ns);
        if (ns > max_.load(std::memory_order_relaxed)) max_.store(ns, std::memory_order_relaxed);
    }

    HistogramSnapshot snapshot() const;

  private:
    static void bump(std::atomic<int64_t> &cell, int64_t n) {
        cell.store(cell.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }

    std::array<std::atomic<int64_t>, kBuckets> buckets_{};
    std::atomic<int64_t> sum_{0};
    std::atomic<int64_t> max_{0};
};

// A copy of a histogram at one moment (the buckets are read one by one while writers go on:
// `count` is the sum of the copied buckets, so the snapshot is consistent with itself).
struct HistogramSnapshot {
    std::array<int64_t, LatencyHistogram::kBuckets> buckets{};
    int64_t count = 0;
    int64_t sum_ns = 0;
    int64_t max_ns = 0;

    // The value below which a fraction `q` (0..1) of the recorded values lie, interpolated
    // linearly inside its bucket and capped at the largest value recorded; 0 when empty.
    int64_t percentile_ns(double q) const;
    // How many recorded values are below `bound_ns` (exact when it is a bucket's lower bound).
    int64_t count_below(int64_t bound_ns) const;
};

}  // namespace connpool
