#pragma once

#include <time.h>

#include <chrono>
#include <cstdint>

namespace connpool {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Millis = std::chrono::milliseconds;

// now + ms, saturating so that huge timeouts cannot overflow the clock's representation.
inline TimePoint deadline_from(TimePoint now, int64_t ms) {
    const auto room = std::chrono::duration_cast<Millis>(TimePoint::max() - now).count() - 1;
    return now + Millis(ms < room ? ms : room);
}

inline TimePoint deadline_after(int64_t ms) {
    return deadline_from(Clock::now(), ms);
}

// The same clock as Clock (CLOCK_MONOTONIC), read the cheap way: CLOCK_MONOTONIC_COARSE comes
// from the vDSO without reading the TSC (docs/BENCHMARKS.md has the cost of each) but is only as
// fresh as the last timekeeping update: it lags by a few milliseconds (a timer tick or two).
// Used for timestamps compared with millisecond
// thresholds on the acquire/release fast path (idle since, leased since, expiry); never for
// deadlines or measured waits.
inline TimePoint coarse_now() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return TimePoint(std::chrono::duration_cast<Clock::duration>(
        std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec)));
}

inline int64_t micros_between(TimePoint from, TimePoint to) {
    return std::chrono::duration_cast<std::chrono::microseconds>(to - from).count();
}

}  // namespace connpool
