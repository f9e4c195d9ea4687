// The waiters' wake flag on its own: set before or while the waiter sleeps, deadlines, and a
// wake-up that arrives after the flag is gone.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

#include "core/wake_flag.hpp"

namespace connpool {
namespace {

using std::chrono::milliseconds;

TEST(WakeFlagTest, SetBeforeTheWaitReturnsAtOnceWithNobodyToWake) {
    WakeFlag flag;
    EXPECT_FALSE(flag.is_set());
    EXPECT_EQ(flag.set(), nullptr) << "nobody sleeps: no system call owed";
    EXPECT_TRUE(flag.is_set());
    const auto start = Clock::now();
    EXPECT_TRUE(flag.wait_until(Clock::now() + std::chrono::seconds(10)));
    EXPECT_LT(Clock::now() - start, milliseconds(100));
}

TEST(WakeFlagTest, AWaitWithoutSetEndsAtItsDeadlineAndMayBeRepeated) {
    WakeFlag flag;
    const auto start = Clock::now();
    EXPECT_FALSE(flag.wait_until(start + milliseconds(30)));
    EXPECT_GE(Clock::now() - start, milliseconds(30));
    EXPECT_FALSE(flag.wait_until(Clock::now() - milliseconds(1))) << "a past deadline";
    // Still asleep from the waker's point of view: setting it now owes a wake-up.
    EXPECT_NE(flag.set(), nullptr);
    EXPECT_TRUE(flag.wait_until(Clock::now() + milliseconds(30)));
}

TEST(WakeFlagTest, SetWakesASleeperAndPublishesWhatWasWrittenBefore) {
    for (int round = 0; round < 200; ++round) {
        WakeFlag flag;
        int payload = 0;
        std::atomic<bool> asleep_soon{false};
        std::thread waker([&] {
            while (!asleep_soon.load()) std::this_thread::yield();
            payload = round + 1;  // plain write, published by set()
            WakeFlag::wake(flag.set());
        });
        asleep_soon.store(true);
        ASSERT_TRUE(flag.wait_until(TimePoint::max()));
        EXPECT_EQ(payload, round + 1);
        waker.join();
    }
}

TEST(WakeFlagTest, AWakeUpForAFlagAlreadyGoneIsHarmless) {
    const void *key = nullptr;
    {
        auto flag = std::make_unique<WakeFlag>();
        std::thread sleeper([&] { flag->wait_until(Clock::now() + milliseconds(20)); });
        sleeper.join();  // timed out: the flag reads as asleep
        key = flag->set();
        ASSERT_NE(key, nullptr);
    }  // the waiter returned and its flag is gone before the waker gets to wake it
    WakeFlag::wake(key);
    // Whoever sleeps on that address now sees a spurious wake-up and sleeps on.
    WakeFlag other;
    EXPECT_FALSE(other.wait_until(Clock::now() + milliseconds(20)));
}

}  // namespace
}  // namespace connpool
