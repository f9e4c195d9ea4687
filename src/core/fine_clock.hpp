// A cheap clock for measuring short durations on the acquire/release fast path (the latency
// histograms). On x86-64 it reads the time-stamp counter (invariant on the CPUs Linux runs its
// tsc clocksource on), which costs a fraction of a steady_clock::now(); ticks are converted to
// nanoseconds with a factor measured once per process against steady_clock. Elsewhere it is
// steady_clock itself. Only for durations: a tick count is not a TimePoint.
#pragma once

#include <chrono>
#include <cstdint>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define CONNPOOL_FINE_CLOCK_TSC 1
#endif

namespace connpool {

inline int64_t fine_ticks() {
#ifdef CONNPOOL_FINE_CLOCK_TSC
    return static_cast<int64_t>(__rdtsc());
#else
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
#endif
}

// Nanoseconds per tick (1 without a TSC). Measured on the first call (about 200 µs of spinning,
// once per process: Pool construction calls it so the fast path never does).
double fine_ns_per_tick();

// The nanoseconds between two fine_ticks() readings; 0 if the counter went backwards.
inline int64_t fine_ns_between(int64_t from, int64_t to, double ns_per_tick) {
    return to > from ? static_cast<int64_t>(static_cast<double>(to - from) * ns_per_tick) : 0;
}

}  // namespace connpool
