// Small helpers of the fault tests that check time bounds and thread counts.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>

namespace connpool::pgtest {

// `base` scaled by CONNPOOL_TEST_SLACK_SCALE (sanitizer builds run slower).
inline int64_t slack_ms(int64_t base) {
    const char *scale = std::getenv("CONNPOOL_TEST_SLACK_SCALE");
    return base * (scale != nullptr ? std::max(1, std::atoi(scale)) : 1);
}

inline int64_t ms_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                 start)
        .count();
}

// Threads of this process (/proc/self/task).
inline int threads_now() {
    int n = 0;
    for (const auto &entry : std::filesystem::directory_iterator("/proc/self/task")) {
        (void)entry;
        ++n;
    }
    return n;
}

}  // namespace connpool::pgtest
