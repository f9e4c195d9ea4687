// Backoff and circuit breaker, on their own: no pool, no clock (times are made up).
#include <gtest/gtest.h>

#include "core/connect_policy.hpp"

namespace connpool {
namespace {

using Breaker = ConnectPolicy::Breaker;

const TimePoint t0 = TimePoint() + std::chrono::hours(1);

int64_t ms_between(TimePoint from, TimePoint to) {
    return std::chrono::duration_cast<Millis>(to - from).count();
}

TEST(ConnectPolicy, StartsClosedWithoutBackoff) {
    ConnectPolicy policy(5);
    EXPECT_EQ(policy.breaker(), Breaker::closed);
    EXPECT_TRUE(policy.breaker_closed());
    EXPECT_FALSE(policy.backing_off(t0));
    EXPECT_EQ(policy.consecutive_failures(), 0);
}

TEST(ConnectPolicy, BackoffDoublesFromFirstToMax) {
    ConnectPolicy policy(0);
    const int64_t expected[] = {100, 200, 400, 800, 1600, 3200, 5000, 5000};
    for (const int64_t step : expected) {
        // A jitter fraction of 0.5 is the middle of the +-20% band: exactly the step.
        const auto outcome = policy.on_failure(t0, false, 0.5);
        EXPECT_EQ(outcome.backoff_ms, step);
        EXPECT_EQ(ms_between(t0, policy.backoff_until()), step);
    }
    EXPECT_EQ(ConnectPolicy::kFirstBackoffMs, 100);
    EXPECT_EQ(ConnectPolicy::kMaxBackoffMs, 5000);
}

TEST(ConnectPolicy, JitterStaysWithinTwentyPercent) {
    for (const double jitter : {0.0, 0.25, 0.999999}) {
        ConnectPolicy policy(0);
        const int64_t first = policy.on_failure(t0, false, jitter).backoff_ms;
        EXPECT_GE(first, 80);
        EXPECT_LE(first, 120);
        for (int i = 0; i < 10; ++i) policy.on_failure(t0, false, jitter);
        const int64_t capped = policy.on_failure(t0, false, jitter).backoff_ms;
        EXPECT_GE(capped, 4000);
        EXPECT_LE(capped, 6000);
    }
    ConnectPolicy low(0), high(0);
    EXPECT_EQ(low.on_failure(t0, false, 0.0).backoff_ms, 80);
    EXPECT_EQ(high.on_failure(t0, false, 0.999999).backoff_ms, 119);
}

TEST(ConnectPolicy, BacksOffUntilTheJitteredTime) {
    ConnectPolicy policy(0);
    policy.on_failure(t0, false, 0.5);
    EXPECT_TRUE(policy.backing_off(t0));
    EXPECT_TRUE(policy.backing_off(t0 + Millis(99)));
    EXPECT_FALSE(policy.backing_off(t0 + Millis(100)));
}

TEST(ConnectPolicy, SuccessResetsBackoffAndFailures) {
    ConnectPolicy policy(5);
    for (int i = 0; i < 3; ++i) policy.on_failure(t0, false, 0.5);
    EXPECT_EQ(policy.consecutive_failures(), 3);
    EXPECT_FALSE(policy.on_success());  // the breaker was closed
    EXPECT_EQ(policy.consecutive_failures(), 0);
    EXPECT_FALSE(policy.backing_off(t0));
    EXPECT_EQ(policy.on_failure(t0, false, 0.5).backoff_ms, 100);  // from the first step again
}

TEST(ConnectPolicy, OpensAfterThresholdConsecutiveFailures) {
    ConnectPolicy policy(3);
    EXPECT_FALSE(policy.on_failure(t0, false, 0.5).breaker_opened);
    EXPECT_FALSE(policy.on_failure(t0, false, 0.5).breaker_opened);
    EXPECT_TRUE(policy.breaker_closed());
    EXPECT_TRUE(policy.on_failure(t0, false, 0.5).breaker_opened);
    EXPECT_EQ(policy.breaker(), Breaker::open);
    EXPECT_EQ(policy.consecutive_failures(), 3);
    // Still failing while open: it stays open and does not "open" again.
    EXPECT_FALSE(policy.on_failure(t0, false, 0.5).breaker_opened);
    EXPECT_EQ(policy.breaker(), Breaker::open);
}

TEST(ConnectPolicy, PermanentFailureOpensAtOnce) {
    ConnectPolicy policy(5);
    EXPECT_TRUE(policy.on_failure(t0, true, 0.5).breaker_opened);
    EXPECT_EQ(policy.breaker(), Breaker::open);
    EXPECT_EQ(policy.consecutive_failures(), 1);
}

TEST(ConnectPolicy, ThresholdZeroNeverOpens) {
    ConnectPolicy policy(0);
    for (int i = 0; i < 50; ++i) {
        EXPECT_FALSE(policy.on_failure(t0, i % 2 == 0, 0.5).breaker_opened);
    }
    EXPECT_TRUE(policy.breaker_closed());
    EXPECT_EQ(policy.consecutive_failures(), 50);
}

TEST(ConnectPolicy, HalfOpenProbeFailsBackToOpen) {
    ConnectPolicy policy(1);
    ASSERT_TRUE(policy.on_failure(t0, false, 0.5).breaker_opened);
    policy.start_probe();
    EXPECT_EQ(policy.breaker(), Breaker::half_open);
    EXPECT_FALSE(policy.breaker_closed());
    const auto outcome = policy.on_failure(t0, false, 0.5);
    EXPECT_FALSE(outcome.breaker_opened);  // the probe failed: open again, not newly opened
    EXPECT_EQ(policy.breaker(), Breaker::open);
    EXPECT_EQ(outcome.backoff_ms, 200);  // the backoff kept growing
}

TEST(ConnectPolicy, ProbeSuccessCloses) {
    ConnectPolicy policy(1);
    policy.on_failure(t0, false, 0.5);
    policy.start_probe();
    EXPECT_TRUE(policy.on_success());  // it was tripped
    EXPECT_EQ(policy.breaker(), Breaker::closed);
    EXPECT_FALSE(policy.backing_off(t0));
    EXPECT_EQ(policy.consecutive_failures(), 0);
}

TEST(ConnectPolicy, StatsValuesOfTheStates) {
    EXPECT_EQ(static_cast<int>(Breaker::closed), 0);
    EXPECT_EQ(static_cast<int>(Breaker::open), 1);
    EXPECT_EQ(static_cast<int>(Breaker::half_open), 2);
}

}  // namespace
}  // namespace connpool
