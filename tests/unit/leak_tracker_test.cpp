// Leak tracking on its own: leases are plain records, times are made up.
#include <gtest/gtest.h>

#include <vector>

#include "core/leak_tracker.hpp"

namespace connpool {
namespace {

const TimePoint t0 = TimePoint() + std::chrono::hours(1);
const Millis threshold(1000);

std::vector<const LeaseRecord *> listed(const LeakTracker &tracker) {
    std::vector<const LeaseRecord *> seen;
    const LeaseRecord *prev = nullptr;
    for (const LeaseRecord *l = tracker.head(); l != nullptr; l = l->leased_next) {
        EXPECT_EQ(l->leased_prev, prev);
        seen.push_back(l);
        prev = l;
    }
    return seen;
}

TEST(LeakTracker, ListsLeasesOutNewestFirst) {
    LeakTracker tracker;
    LeaseRecord a, b, c;
    tracker.link(a, t0);
    tracker.link(b, t0);
    tracker.link(c, t0);
    EXPECT_EQ(listed(tracker), (std::vector<const LeaseRecord *>{&c, &b, &a}));
    tracker.unlink(b);  // the middle
    EXPECT_EQ(listed(tracker), (std::vector<const LeaseRecord *>{&c, &a}));
    EXPECT_EQ(b.leased_prev, nullptr);
    EXPECT_EQ(b.leased_next, nullptr);
    tracker.unlink(c);  // the head
    EXPECT_EQ(listed(tracker), (std::vector<const LeaseRecord *>{&a}));
    tracker.unlink(a);  // the last one
    EXPECT_EQ(tracker.head(), nullptr);
}

TEST(LeakTracker, ANewLeaseStartsUnlabelledAndUnreported) {
    LeakTracker tracker;
    LeaseRecord lease;
    lease.label = "from the last lease";
    lease.leak_reported = true;
    tracker.link(lease, t0);
    EXPECT_TRUE(lease.label.empty());
    EXPECT_FALSE(lease.leak_reported);
    EXPECT_EQ(lease.leased_since, t0);
}

TEST(LeakTracker, ReportsLeasesHeldPastTheThresholdOnce) {
    LeakTracker tracker;
    LeaseRecord old_lease, young_lease;
    tracker.link(old_lease, t0);
    old_lease.label = "report job";
    tracker.link(young_lease, t0 + Millis(900));
    EXPECT_TRUE(tracker.take_new_leaks(t0 + Millis(999), threshold).empty());

    auto leaks = tracker.take_new_leaks(t0 + Millis(1500), threshold);
    ASSERT_EQ(leaks.size(), 1U);
    EXPECT_EQ(leaks[0].held_ms, 1500);
    EXPECT_EQ(leaks[0].label, "report job");
    EXPECT_TRUE(old_lease.leak_reported);

    leaks = tracker.take_new_leaks(t0 + Millis(2000), threshold);  // exactly the threshold
    ASSERT_EQ(leaks.size(), 1U);
    EXPECT_EQ(leaks[0].held_ms, 1100);
    EXPECT_TRUE(leaks[0].label.empty());

    EXPECT_TRUE(tracker.take_new_leaks(t0 + Millis(60'000), threshold).empty());  // once each
}

TEST(LeakTracker, ReleasedLeasesAreNotReported) {
    LeakTracker tracker;
    LeaseRecord lease;
    tracker.link(lease, t0);
    tracker.unlink(lease);
    EXPECT_TRUE(tracker.take_new_leaks(t0 + Millis(5000), threshold).empty());
}

TEST(LeakTracker, ALeaseTakenAgainIsReportedAgain) {
    LeakTracker tracker;
    LeaseRecord lease;
    tracker.link(lease, t0);
    EXPECT_EQ(tracker.take_new_leaks(t0 + threshold, threshold).size(), 1U);
    tracker.unlink(lease);
    tracker.link(lease, t0 + Millis(5000));
    EXPECT_EQ(tracker.take_new_leaks(t0 + Millis(6000), threshold).size(), 1U);
}

TEST(LeakTracker, NextDueIsTheEarliestUnreportedCrossing) {
    LeakTracker tracker;
    EXPECT_EQ(tracker.next_due(threshold), TimePoint::max());
    LeaseRecord first, second;
    tracker.link(first, t0);
    tracker.link(second, t0 + Millis(300));
    EXPECT_EQ(tracker.next_due(threshold), t0 + threshold);
    tracker.take_new_leaks(t0 + threshold, threshold);  // reports `first`
    EXPECT_EQ(tracker.next_due(threshold), t0 + Millis(1300));
    tracker.take_new_leaks(t0 + Millis(1300), threshold);
    EXPECT_EQ(tracker.next_due(threshold), TimePoint::max());
}

}  // namespace
}  // namespace connpool
