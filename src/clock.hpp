#pragma once

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

inline int64_t micros_between(TimePoint from, TimePoint to) {
    return std::chrono::duration_cast<std::chrono::microseconds>(to - from).count();
}

}  // namespace connpool
