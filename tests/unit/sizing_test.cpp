// The sizing policies of the core pool over the fake connector: min_idle, target_utilisation,
// idle_order, thread_affinity, keepalive_interval and fast recovery (recovery_probe_interval).
#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>
#include <memory>
#include <thread>
#include <vector>

#include "core/pool.hpp"
#include "fake_connector.hpp"
#include "wait_support.hpp"

namespace connpool::testing {
namespace {

class SizingTest : public ::testing::Test {
  protected:
    void TearDown() override {
        for (Slot *slot : held_) pool_->release(slot);
        held_.clear();
        pool_.reset();
        EXPECT_TRUE(eventually([&] { return server_->open_connections() == 0; }))
            << server_->open_connections() << " fake connections still open";
    }

    Pool &make(PoolOptions options) {
        options.name = "sizing-test";
        options.maintenance_interval_ms = 20;
        pool_ = Pool::create(std::move(options), std::make_unique<FakeConnector>(server_));
        return *pool_;
    }
    // Acquires and keeps the lease until release() or the end of the test.
    Slot *hold(int64_t timeout_ms = 2000) {
        Slot *slot = nullptr;
        Error error;
        EXPECT_EQ(pool_->acquire(timeout_ms, slot, &error), CONNPOOL_OK) << error.message;
        if (slot != nullptr) held_.push_back(slot);
        return slot;
    }
    void release(Slot *slot) {
        held_.erase(std::find(held_.begin(), held_.end(), slot));
        pool_->release(slot);
    }
    static int id_of(const Slot *slot) { return FakeConnector::fake(*slot->connection).id; }
    bool settles_at(int64_t total, int64_t idle, int limit_ms = 2000) {
        return eventually(
            [&] {
                const PoolStats s = pool_->stats();
                return s.total == total && s.idle == idle && s.opening == 0;
            },
            limit_ms);
    }

    std::shared_ptr<FakeServer> server_ = std::make_shared<FakeServer>();
    std::shared_ptr<Pool> pool_;
    std::vector<Slot *> held_;
};

// ----- min_idle and target_utilisation -------------------------------------------------------

TEST_F(SizingTest, MinIdleKeepsThatManyIdleAboveUseUpToMaxSize) {
    PoolOptions options;
    options.max_size = 5;
    options.min_idle = 2;
    make(options);
    EXPECT_TRUE(settles_at(2, 2)) << "opened in the background with nothing in use";
    hold();
    EXPECT_TRUE(settles_at(3, 2)) << "one in use, two idle";
    hold();
    hold();
    hold();
    EXPECT_TRUE(settles_at(5, 1)) << "four in use: max_size caps it";
    EXPECT_EQ(pool_->stats().created, 5);
}

TEST_F(SizingTest, MinIdleConnectionsAreNotClosedByMaxIdle) {
    PoolOptions options;
    options.max_size = 4;
    options.min_idle = 2;
    options.max_idle_ms = 30;
    make(options);
    ASSERT_TRUE(settles_at(2, 2));
    std::this_thread::sleep_for(Millis(150));  // several max_idle periods
    EXPECT_EQ(pool_->stats().total, 2);
    EXPECT_EQ(pool_->stats().closed_idle, 0);
}

TEST_F(SizingTest, TargetUtilisationOpensAheadAndMaxIdleShrinksAfterwards) {
    PoolOptions options;
    options.max_size = 10;
    options.target_utilisation = 50;
    options.max_idle_ms = 60;
    make(options);
    EXPECT_TRUE(settles_at(0, 0)) << "nothing in use: nothing opened";
    hold();
    hold();
    hold();
    // 3 in use at 50%: 6 open, so the next 3 acquires find a connection at once.
    EXPECT_TRUE(settles_at(6, 3));
    for (int i = 0; i < 3; ++i) {
        Slot *slot = nullptr;
        EXPECT_EQ(pool_->try_acquire(slot, nullptr), CONNPOOL_OK);
        if (slot != nullptr) held_.push_back(slot);
    }
    EXPECT_TRUE(settles_at(10, 4)) << "6 in use: 12 wanted, max_size 10";
    while (!held_.empty()) release(held_.back());
    EXPECT_TRUE(settles_at(0, 0)) << "the load fell: max_idle closed them";
    EXPECT_EQ(pool_->stats().closed_idle, 10);
}

TEST_F(SizingTest, SizingRespectsMaxConcurrentConnects) {
    server_->connect_delay_ms = 20;
    PoolOptions options;
    options.max_size = 8;
    options.min_idle = 8;
    options.max_concurrent_connects = 2;
    make(options);
    EXPECT_TRUE(settles_at(8, 8));
    EXPECT_LE(server_->max_in_flight.load(), 2);
}

// ----- idle_order and thread_affinity --------------------------------------------------------

// Leases three connections and returns them in the order leased; returns their ids.
std::vector<int> lease_and_return_in_order(Pool &pool) {
    std::vector<Slot *> slots(3);
    std::vector<int> ids;
    for (Slot *&slot : slots) {
        EXPECT_EQ(pool.acquire(2000, slot, nullptr), CONNPOOL_OK);
        ids.push_back(FakeConnector::fake(*slot->connection).id);
    }
    for (Slot *slot : slots) pool.release(slot);
    return ids;
}

TEST_F(SizingTest, LifoTakesTheMostRecentlyReturned) {
    PoolOptions options;
    options.min_size = 3;
    options.max_size = 3;
    Pool &pool = make(options);
    ASSERT_EQ(pool.wait_ready(2000, nullptr), CONNPOOL_OK);
    const std::vector<int> ids = lease_and_return_in_order(pool);
    EXPECT_EQ(id_of(hold()), ids[2]);
    EXPECT_EQ(id_of(hold()), ids[1]);
}

TEST_F(SizingTest, FifoTakesTheLeastRecentlyReturned) {
    PoolOptions options;
    options.min_size = 3;
    options.max_size = 3;
    options.idle_order = "fifo";
    Pool &pool = make(options);
    ASSERT_EQ(pool.wait_ready(2000, nullptr), CONNPOOL_OK);
    const std::vector<int> ids = lease_and_return_in_order(pool);
    Slot *first = hold();
    EXPECT_EQ(id_of(first), ids[0]);
    EXPECT_EQ(id_of(hold()), ids[1]);
    release(first);  // goes to the back of the line
    EXPECT_EQ(id_of(hold()), ids[2]);
    EXPECT_EQ(id_of(hold()), ids[0]);
}

// Another thread returns its connection after this one: without affinity this thread takes
// that one (lifo); with it, its own. Returns 1 for its own, 2 for the other's.
class AffinityTest : public SizingTest {
  protected:
    int taken_after_other_thread(bool affinity) {
        PoolOptions options;
        options.min_size = 2;
        options.max_size = 2;
        options.thread_affinity = affinity;
        Pool &pool = make(options);
        EXPECT_EQ(pool.wait_ready(2000, nullptr), CONNPOOL_OK);
        Slot *mine = hold();
        Slot *theirs = nullptr;
        std::thread([&] { EXPECT_EQ(pool.acquire(2000, theirs, nullptr), CONNPOOL_OK); }).join();
        release(mine);
        std::thread([&] { pool.release(theirs); }).join();
        const int taken = id_of(hold());
        EXPECT_TRUE(taken == id_of(mine) || taken == id_of(theirs));
        return taken == id_of(mine) ? 1 : 2;
    }
};

TEST_F(AffinityTest, OffByDefaultTheThreadTakesTheMostRecentlyReturned) {
    EXPECT_FALSE(PoolOptions{}.thread_affinity);
    EXPECT_EQ(taken_after_other_thread(false), 2);
}

TEST_F(AffinityTest, OnTheThreadTakesTheConnectionItReleasedLast) {
    EXPECT_EQ(taken_after_other_thread(true), 1);
}

// ----- keepalive_interval --------------------------------------------------------------------

TEST_F(SizingTest, KeepaliveFindsAKilledIdleConnectionAndReplacesIt) {
    PoolOptions options;
    options.min_size = 2;
    options.max_size = 2;
    options.pre_ping = false;
    options.keepalive_interval_ms = 40;
    Pool &pool = make(options);
    ASSERT_EQ(pool.wait_ready(2000, nullptr), CONNPOOL_OK);
    ASSERT_TRUE(eventually([&] { return pool.stats().keepalive_checks >= 2; }));
    EXPECT_EQ(pool.stats().keepalive_failures, 0);
    EXPECT_GE(server_->pings.load(), 2);
    server_->kill(1);  // the first connection's backend goes away while idle
    ASSERT_TRUE(eventually([&] { return pool.stats().keepalive_failures == 1; }));
    EXPECT_TRUE(settles_at(2, 2));
    const PoolStats s = pool.stats();
    EXPECT_EQ(s.created, 3);
    EXPECT_EQ(s.closed_broken, 1);
    EXPECT_EQ(s.acquired, 0) << "no acquire was involved";
}

TEST_F(SizingTest, KeepaliveChecksOnlyConnectionsIdleLongerThanTheInterval) {
    PoolOptions options;
    options.min_size = 1;
    options.max_size = 1;
    options.keepalive_interval_ms = 100;
    options.pre_ping = false;
    Pool &pool = make(options);
    ASSERT_EQ(pool.wait_ready(2000, nullptr), CONNPOOL_OK);
    // Used every 20 ms: never idle for the interval, never checked.
    const TimePoint until = Clock::now() + Millis(300);
    while (Clock::now() < until) {
        release(hold());
        std::this_thread::sleep_for(Millis(20));
    }
    EXPECT_EQ(pool.stats().keepalive_checks, 0);
    // Idle: checked about once per interval, not at every maintenance pass (20 ms).
    std::this_thread::sleep_for(Millis(450));
    const int64_t checks = pool.stats().keepalive_checks;
    EXPECT_GE(checks, 2);
    EXPECT_LE(checks, 5);
}

TEST_F(SizingTest, KeepaliveDoesNotStopMaxIdleClosingConnections) {
    PoolOptions options;
    options.max_size = 2;
    options.keepalive_interval_ms = 20;
    options.max_idle_ms = 150;
    make(options);
    release(hold());
    ASSERT_TRUE(eventually([&] { return pool_->stats().keepalive_checks >= 2; }));
    EXPECT_TRUE(settles_at(0, 0)) << "a check is not a use: max_idle still applies";
    EXPECT_EQ(pool_->stats().closed_idle, 1);
}

// ----- recovery_probe_interval ---------------------------------------------------------------

TEST(ConnectPolicyRecoveryTest, CallersWaitingShortenTheBackoffToTheProbeInterval) {
    ConnectPolicy policy(0);
    const TimePoint t0 = Clock::now();
    for (int i = 0; i < 5; ++i) policy.on_failure(t0, false, 0.5);  // a 1.6 s step
    const Millis hurry(250);
    EXPECT_EQ(policy.backoff_until(), t0 + Millis(1600));
    EXPECT_EQ(policy.retry_at(hurry), t0 + hurry);
    EXPECT_TRUE(policy.backing_off(t0 + Millis(300)));
    EXPECT_FALSE(policy.backing_off(t0 + Millis(300), hurry));
    EXPECT_TRUE(policy.backing_off(t0 + Millis(200), hurry));
    // A backoff step shorter than the interval is not lengthened.
    ConnectPolicy fresh(0);
    fresh.on_failure(t0, false, 0.5);  // 100 ms
    EXPECT_EQ(fresh.retry_at(hurry), t0 + Millis(100));
    policy.on_success();
    EXPECT_FALSE(policy.backing_off(t0, hurry));
}

// Connects fail for `outage`; then the time from the server coming back to an acquire that
// was waiting all along succeeding.
int64_t recovery_ms(Pool &pool, FakeServer &server, Millis outage) {
    server.refuse = true;
    Slot *slot = nullptr;
    connpool_status status = CONNPOOL_ERR_TIMEOUT;
    TimePoint served{};
    std::thread waiter([&] {
        status = pool.acquire(10'000, slot, nullptr);
        served = Clock::now();
    });
    std::this_thread::sleep_for(outage);
    const TimePoint back = Clock::now();
    server.refuse = false;
    waiter.join();
    EXPECT_EQ(status, CONNPOOL_OK);
    if (slot != nullptr) pool.release(slot);
    return std::chrono::duration_cast<Millis>(served - back).count();
}

TEST_F(SizingTest, WaitersAreServedSoonAfterTheServerIsBack) {
    PoolOptions options;
    options.max_size = 2;
    options.breaker_threshold = 0;
    options.recovery_probe_interval_ms = 50;
    Pool &pool = make(options);
    // After 1.6 s of failures the backoff step is 0.8-1.6 s: the probe interval is what counts.
    const int64_t took = recovery_ms(pool, *server_, Millis(1600));
    std::cout << "served " << took << " ms after the server was back\n";
    EXPECT_LE(took, 50 + 100);
}

TEST_F(SizingTest, WithoutWaitersTheBackoffStaysAsItIs) {
    server_->refuse = true;
    PoolOptions options;
    options.min_size = 1;  // the pool keeps trying with nobody waiting
    options.max_size = 1;
    options.breaker_threshold = 0;
    options.recovery_probe_interval_ms = 20;
    make(options);
    std::this_thread::sleep_for(Millis(1000));
    // Backoff steps of ~100, 200, 400 ms (+-20%): 3 to 5 attempts, not 1000/20.
    EXPECT_GE(server_->attempts.load(), 3);
    EXPECT_LE(server_->attempts.load(), 5);
    server_->refuse = false;
}

TEST_F(SizingTest, WithWaitersProbesComeAtTheIntervalOneAtATime) {
    server_->refuse = true;
    server_->connect_delay_ms = 5;
    PoolOptions options;
    options.max_size = 4;
    options.max_concurrent_connects = 4;
    options.breaker_threshold = 0;
    options.recovery_probe_interval_ms = 100;
    Pool &pool = make(options);
    std::vector<std::thread> waiters;
    for (int i = 0; i < 4; ++i) {
        waiters.emplace_back([&] {
            Slot *slot = nullptr;
            EXPECT_NE(pool.acquire(1500, slot, nullptr), CONNPOOL_OK);
        });
    }
    for (std::thread &t : waiters) t.join();
    // 1.5 s: backoff steps at ~0, 100, 300, 700 ms of up to 4 attempts, then probes every
    // ~100 ms; plain backoff would add only the 1500 ms step.
    const int attempts = server_->attempts.load();
    EXPECT_GE(attempts, 12);
    EXPECT_LE(attempts, 30);
    server_->refuse = false;
}

}  // namespace
}  // namespace connpool::testing
