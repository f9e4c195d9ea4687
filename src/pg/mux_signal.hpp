// A one-shot "done" flag that one thread raises and others sleep on, for multiplexed
// statements: a futex word instead of a mutex and condition variable. Raising it wakes the
// sleepers without holding any lock (a condition variable notified under its mutex makes the
// woken caller block again on that mutex: a second context switch per statement), and costs no
// system call at all when nobody sleeps (the caller is still running or polls an eventfd).
#pragma once

#include <atomic>
#include <cstdint>

#include "core/clock.hpp"

namespace connpool {

class MuxSignal {
  public:
    // True once raise() ran; what the raiser wrote before raise() is visible after this.
    bool raised() const { return state_.load(std::memory_order_acquire) == kRaised; }
    // Raises the flag (once; later calls do nothing) and wakes every sleeper.
    void raise();
    // Sleeps until raised or `until`; true if raised.
    bool wait_until(TimePoint until);

  private:
    static constexpr uint32_t kClear = 0, kSleepers = 1, kRaised = 2;
    std::atomic<uint32_t> state_{kClear};
};

}  // namespace connpool
