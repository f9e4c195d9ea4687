// A one-shot signal that a waker sets once and threads sleep on, with no mutex on their side:
// a futex word. Setting it costs no system call when nobody sleeps.
//
// The pool's blocking waiters sleep on one: a hand-off wakes the waiter straight into its
// connection. (With a condition variable the woken thread first has to take the pool's mutex
// again, which the waker usually still holds: it wakes, sleeps on the mutex and is woken a
// second time. See "Fairness" in pool.hpp.) A multiplexed statement's callers sleep on one
// until its outcome is stored (pg/multiplexer.hpp).
#pragma once

#include <atomic>
#include <cstdint>

#include "core/clock.hpp"

namespace connpool {

class WakeFlag {
  public:
    // Waiter: sleeps until the flag is set or `deadline` passes (TimePoint::max(): no
    // deadline); true once set. May be called again after a timeout.
    bool wait_until(TimePoint deadline);
    bool is_set() const { return state_.load(std::memory_order_acquire) == kSet; }

    // Waker: sets the flag (everything written before is visible to the waiter once it sees the
    // flag set). The waiter may return, and the flag cease to exist, as soon as this returns:
    // pass the returned key (null when nobody sleeps) to wake(), preferably after unlocking
    // whatever lock the waker holds.
    [[nodiscard]] const void *set();
    // Wakes the threads sleeping on `key`, if any. Touches no memory: the kernel only compares
    // the address, so a flag already gone costs at most a harmless spurious wake-up of whoever
    // sleeps on that address now (every futex user re-checks its word).
    static void wake(const void *key);

  private:
    enum : uint32_t { kClear, kSleeping, kSet };
    std::atomic<uint32_t> state_{kClear};
};

}  // namespace connpool
