// Small helpers shared by the pool's translation units (pool*.cpp). Not part of any API.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <random>
#include <thread>

#include "core/clock.hpp"

namespace connpool::detail {

// A uniformly random fraction in [0, 1), per thread; used for jitter off the hot path.
inline double random_fraction() {
    thread_local std::minstd_rand engine(
        static_cast<unsigned>(std::hash<std::thread::id>()(std::this_thread::get_id()) ^
                              static_cast<size_t>(Clock::now().time_since_epoch().count())));
    return std::uniform_real_distribution<double>(0.0, 1.0)(engine);
}

inline void bump_max(std::atomic<int64_t> &max, int64_t value) {
    int64_t seen = max.load(std::memory_order_relaxed);
    while (value > seen && !max.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
    }
}

inline void count(std::atomic<int64_t> &counter, int64_t n = 1) {
    counter.fetch_add(n, std::memory_order_relaxed);
}

}  // namespace connpool::detail
