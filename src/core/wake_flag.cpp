#include "core/wake_flag.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <ctime>

namespace connpool {

namespace {

static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t),
              "the futex word must be a plain 32-bit integer");

// FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time, the clock behind Clock.
timespec monotonic_timespec(TimePoint when) {
    const auto since_epoch = when.time_since_epoch();
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
    timespec ts{};
    ts.tv_sec = static_cast<time_t>(seconds.count());
    ts.tv_nsec = static_cast<long>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(since_epoch - seconds).count());
    return ts;
}

}  // namespace

bool WakeFlag::wait_until(TimePoint deadline) {
    uint32_t state = state_.load(std::memory_order_acquire);
    while (state != kSet) {
        if (state == kClear &&
            !state_.compare_exchange_weak(state, kSleeping, std::memory_order_acquire)) {
            continue;  // `state` now holds what the flag says
        }
        const timespec until = monotonic_timespec(deadline);
        const long slept = syscall(
            SYS_futex, reinterpret_cast<uint32_t *>(&state_), FUTEX_WAIT_BITSET_PRIVATE, kSleeping,
            deadline == TimePoint::max() ? nullptr : &until, nullptr, FUTEX_BITSET_MATCH_ANY);
        if (slept != 0 && errno == ETIMEDOUT) return is_set();
        state = state_.load(std::memory_order_acquire);  // woken, interrupted or already set
    }
    return true;
}

const void *WakeFlag::set() {
    const uint32_t before = state_.exchange(kSet, std::memory_order_acq_rel);
    return before == kSleeping ? static_cast<const void *>(&state_) : nullptr;
}

void WakeFlag::wake(const void *key) {
    if (key == nullptr) return;
    syscall(SYS_futex, key, FUTEX_WAKE_PRIVATE, INT32_MAX, nullptr, nullptr, 0);
}

}  // namespace connpool
