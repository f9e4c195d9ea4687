// Waiting helpers shared by the unit tests, with no dependency on the C shim (the core suite
// uses them too).
#pragma once

#include <chrono>
#include <cstdint>
#include <thread>

#include "core/clock.hpp"

namespace connpool::testing {

// Polls `condition` every millisecond for up to `limit_ms`.
template <class Condition>
bool eventually(Condition condition, int limit_ms = 2000) {
    const auto until = Clock::now() + Millis(limit_ms);
    while (Clock::now() < until) {
        if (condition()) return true;
        std::this_thread::sleep_for(Millis(1));
    }
    return condition();
}

inline int64_t elapsed_ms(TimePoint since) {
    return std::chrono::duration_cast<Millis>(Clock::now() - since).count();
}

}  // namespace connpool::testing
