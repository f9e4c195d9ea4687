#include "pg/mux_signal.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <ctime>

namespace connpool {

namespace {

long futex(std::atomic<uint32_t> &word, int op, uint32_t value, const timespec *until) {
    static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));
    return ::syscall(SYS_futex, reinterpret_cast<uint32_t *>(&word), op, value, until, nullptr,
                     FUTEX_BITSET_MATCH_ANY);
}

// `until` as an absolute CLOCK_MONOTONIC time (steady_clock's clock on Linux).
timespec to_timespec(TimePoint until) {
    using std::chrono::duration_cast;
    using std::chrono::nanoseconds;
    using std::chrono::seconds;
    const auto since_epoch = until.time_since_epoch();
    const auto whole = duration_cast<seconds>(since_epoch);
    timespec ts{};
    ts.tv_sec = static_cast<time_t>(whole.count());
    ts.tv_nsec = static_cast<long>(duration_cast<nanoseconds>(since_epoch - whole).count());
    return ts;
}

}  // namespace

void MuxSignal::raise() {
    if (state_.exchange(kRaised, std::memory_order_acq_rel) == kSleepers) {
        futex(state_, FUTEX_WAKE_PRIVATE, INT32_MAX, nullptr);
    }
}

bool MuxSignal::wait_until(TimePoint until) {
    const timespec deadline = to_timespec(until);
    for (;;) {
        uint32_t seen = state_.load(std::memory_order_acquire);
        if (seen == kRaised) return true;
        // Announce a sleeper, so that raise() knows to make the wake-up system call.
        if (seen == kClear &&
            !state_.compare_exchange_strong(seen, kSleepers, std::memory_order_acq_rel)) {
            if (seen == kRaised) return true;
        }
        if (Clock::now() >= until) return raised();
        const long rc = futex(state_, FUTEX_WAIT_BITSET_PRIVATE, kSleepers, &deadline);
        if (rc != 0 && errno == ETIMEDOUT) return raised();
        // Woken, interrupted, or the word changed before we slept: look again.
    }
}

}  // namespace connpool
