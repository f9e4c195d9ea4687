// Pool behaviour with the fake connector: limits, overflow, timeouts, fairness, what happens to
// returned connections, eviction, refill, close with waiters and leases out.
#include <algorithm>
#include <thread>
#include <vector>

#include "test_support.hpp"

namespace connpool::testing {
namespace {

class PoolTest : public ::testing::Test {
  protected:
    void TearDown() override {
        if (pool_ != nullptr) {
            EXPECT_EQ(connpool_pool_free(pool_), CONNPOOL_OK);
        }
        // Everything the pool opened is closed once it is freed with no lease out.
        EXPECT_TRUE(eventually([&] { return server_->open_connections() == 0; }))
            << server_->open_connections() << " fake connections still open";
    }
    connpool_pool *make(std::initializer_list<Option> options) {
        pool_ = make_fake_pool(server_, options);
        return pool_;
    }
    connpool_lease *acquire(int64_t timeout_ms = 1000) {
        connpool_lease *lease = nullptr;
        ErrorBox error;
        EXPECT_EQ(connpool_pool_acquire(&lease, pool_, timeout_ms, error.out()), CONNPOOL_OK)
            << error.message();
        return lease;
    }
    void release(connpool_lease *lease) {
        EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
    }

    std::shared_ptr<FakeServer> server_ = std::make_shared<FakeServer>();
    connpool_pool *pool_ = nullptr;
};

TEST_F(PoolTest, NeverOpensMoreThanMaxSize) {
    make({{"max_size", "2"}});
    connpool_lease *a = acquire();
    connpool_lease *b = acquire();
    connpool_lease *c = nullptr;
    ErrorBox error;
    EXPECT_EQ(connpool_pool_acquire(&c, pool_, 0, error.out()), CONNPOOL_ERR_TIMEOUT);
    EXPECT_EQ(c, nullptr);
    EXPECT_NE(error.message().find("2 in use"), std::string::npos) << error.message();
    const connpool_stats s = stats_of(pool_);
    EXPECT_EQ(s.total, 2);
    EXPECT_EQ(s.in_use, 2);
    EXPECT_EQ(s.idle, 0);
    EXPECT_EQ(s.acquire_timeouts, 1);
    EXPECT_EQ(server_->connects.load(), 2);
    release(a);
    release(b);
    const connpool_stats after = stats_of(pool_);
    EXPECT_EQ(after.idle, 2);
    EXPECT_EQ(after.in_use, 0);
}

TEST_F(PoolTest, ReleasedConnectionIsReused) {
    make({{"max_size", "1"}});
    connpool_lease *a = acquire();
    const int first = fake_of(a).id;
    release(a);
    connpool_lease *b = acquire();
    EXPECT_EQ(fake_of(b).id, first);
    release(b);
    const connpool_stats s = stats_of(pool_);
    EXPECT_EQ(s.created, 1);
    EXPECT_EQ(s.acquired, 2);
    EXPECT_EQ(s.reused, 1);
    EXPECT_EQ(s.released, 2);
}

TEST_F(PoolTest, AThreadGetsBackTheConnectionItUsedLast) {
    make({{"min_size", "2"}, {"max_size", "2"}, {"thread_affinity", "on"}});
    ASSERT_EQ(connpool_pool_wait_ready(pool_, 2000, nullptr), CONNPOOL_OK);
    // This thread leases a, another thread leases b; a is returned first, so b ends on top of
    // the idle stack. Without affinity (thread_affinity off) this thread would now get b.
    connpool_lease *a = acquire();
    const int id_a = fake_of(a).id;
    connpool_lease *b = nullptr;
    int id_b = 0;
    std::thread([&] {
        b = acquire();
        id_b = fake_of(b).id;
    }).join();
    ASSERT_NE(id_a, id_b);
    release(a);
    std::thread([&] { release(b); }).join();  // the other thread returns its own, last
    connpool_lease *again = acquire();
    EXPECT_EQ(fake_of(again).id, id_a) << "the connection this thread used last";
    // A thread with no history simply gets the most recently returned idle one.
    std::thread([&] {
        connpool_lease *any = acquire();
        EXPECT_EQ(fake_of(any).id, id_b);
        release(any);
    }).join();
    release(again);
}

TEST_F(PoolTest, OverflowConnectionsAreClosedWhenReleased) {
    make({{"max_size", "1"}, {"max_overflow", "2"}});
    connpool_lease *a = acquire();
    connpool_lease *b = acquire();
    connpool_lease *c = acquire();
    connpool_lease *d = nullptr;
    EXPECT_EQ(connpool_pool_acquire(&d, pool_, 50, nullptr), CONNPOOL_ERR_TIMEOUT);
    EXPECT_EQ(stats_of(pool_).total, 3);
    release(a);
    release(b);
    release(c);
    const connpool_stats s = stats_of(pool_);
    EXPECT_EQ(s.total, 1);
    EXPECT_EQ(s.idle, 1);
    EXPECT_EQ(s.closed_overflow, 2);
    EXPECT_EQ(server_->open_connections(), 1);
}

TEST_F(PoolTest, TimeoutsAreHonouredOnBothSides) {
    make({{"max_size", "1"}, {"acquire_timeout", "150"}});
    connpool_lease *held = acquire();
    connpool_lease *none = nullptr;

    TimePoint start = Clock::now();
    EXPECT_EQ(connpool_pool_acquire(&none, pool_, 0, nullptr), CONNPOOL_ERR_TIMEOUT);
    EXPECT_LT(elapsed_ms(start), 20);

    start = Clock::now();
    EXPECT_EQ(connpool_pool_acquire(&none, pool_, 100, nullptr), CONNPOOL_ERR_TIMEOUT);
    EXPECT_GE(elapsed_ms(start), 100);
    EXPECT_LT(elapsed_ms(start), 400);

    start = Clock::now();  // negative: the pool's acquire_timeout (150 ms)
    EXPECT_EQ(connpool_pool_acquire(&none, pool_, -1, nullptr), CONNPOOL_ERR_TIMEOUT);
    EXPECT_GE(elapsed_ms(start), 150);
    EXPECT_LT(elapsed_ms(start), 450);

    // A huge timeout must not overflow the deadline: a release ends the wait.
    std::thread releaser([&] {
        std::this_thread::sleep_for(Millis(50));
        release(held);
    });
    connpool_lease *got = nullptr;
    EXPECT_EQ(connpool_pool_acquire(&got, pool_, INT64_MAX, nullptr), CONNPOOL_OK);
    releaser.join();
    release(got);
    EXPECT_EQ(stats_of(pool_).acquire_timeouts, 3);
}

TEST_F(PoolTest, WaitersAreServedFirstComeFirstServed) {
    make({{"max_size", "1"}});
    connpool_lease *held = acquire();
    constexpr int kWaiters = 6;
    std::mutex order_mutex;
    std::vector<int> order;
    std::vector<std::thread> threads;
    for (int i = 0; i < kWaiters; ++i) {
        threads.emplace_back([&, i] {
            connpool_lease *lease = nullptr;
            ASSERT_EQ(connpool_pool_acquire(&lease, pool_, 5000, nullptr), CONNPOOL_OK);
            {
                std::lock_guard<std::mutex> lock(order_mutex);
                order.push_back(i);
            }
            release(lease);
        });
        // Let waiter i queue up before waiter i+1 starts.
        ASSERT_TRUE(eventually([&] { return stats_of(pool_).waiting == i + 1; }));
    }
    release(held);
    for (auto &t : threads) t.join();
    std::vector<int> expected(kWaiters);
    for (int i = 0; i < kWaiters; ++i) expected[i] = i;
    EXPECT_EQ(order, expected);
    EXPECT_EQ(stats_of(pool_).total, 1);
}

// Bounded overtaking (src/core/pool.hpp, "Fairness"): during a waiter's window a running thread may
// take a connection released meanwhile; when the window ends the waiter gets it even though
// nobody releases again. (A 1 s window so that the test can act inside it on a loaded machine.)
TEST_F(PoolTest, RunningThreadsMayOvertakeAWaiterOnlyWithinItsWindow) {
    make({{"max_size", "1"}, {"overtake_window_us", "1000000"}});
    connpool_lease *held = acquire();
    std::atomic<int64_t> waited_ms{-1};
    std::atomic<bool> done{false};
    std::thread waiter([&] {
        const TimePoint start = Clock::now();
        connpool_lease *lease = nullptr;
        EXPECT_EQ(connpool_pool_acquire(&lease, pool_, 20'000, nullptr), CONNPOOL_OK);
        waited_ms = elapsed_ms(start);
        while (!done) std::this_thread::sleep_for(Millis(1));
        release(lease);
    });
    ASSERT_TRUE(eventually([&] { return stats_of(pool_).waiting == 1; }));
    release(held);
    connpool_lease *again = nullptr;  // inside the window: this thread may take it back
    EXPECT_EQ(connpool_pool_acquire(&again, pool_, 0, nullptr), CONNPOOL_OK);
    release(again);
    // Nobody else releases: the waiter takes the idle connection when its window ends.
    ASSERT_TRUE(eventually([&] { return waited_ms >= 0; }, 10'000));
    EXPECT_GE(waited_ms.load(), 900);
    EXPECT_LT(waited_ms.load(), 10'000) << "the waiter must not sit out its timeout";
    EXPECT_EQ(stats_of(pool_).in_use, 1);
    done = true;
    waiter.join();
    EXPECT_EQ(stats_of(pool_).acquired, 3);
}

TEST_F(PoolTest, WithoutAnOvertakeWindowEveryReleaseGoesToTheOldestWaiter) {
    make({{"max_size", "1"}, {"overtake_window_us", "0"}});
    connpool_lease *held = acquire();
    std::atomic<bool> got{false}, done{false};
    std::thread waiter([&] {
        connpool_lease *lease = nullptr;
        EXPECT_EQ(connpool_pool_acquire(&lease, pool_, 20'000, nullptr), CONNPOOL_OK);
        got = true;
        while (!done) std::this_thread::sleep_for(Millis(1));
        release(lease);
    });
    ASSERT_TRUE(eventually([&] { return stats_of(pool_).waiting == 1; }));
    release(held);
    connpool_lease *again = nullptr;  // handed over at release: nothing left to take
    EXPECT_EQ(connpool_pool_acquire(&again, pool_, 0, nullptr), CONNPOOL_ERR_TIMEOUT);
    EXPECT_TRUE(eventually([&] { return got.load(); }));
    done = true;
    waiter.join();
}

// With the default (short) window a thread cycling in a tight loop can never keep a waiter
// out: after the window every release is handed over.
TEST_F(PoolTest, AThreadCyclingInALoopCannotStarveAWaiter) {
    make({{"max_size", "1"}});
    std::atomic<bool> stop{false};
    std::atomic<int64_t> cycles{0};
    std::thread busy([&] {
        while (!stop) {
            connpool_lease *lease = nullptr;
            if (connpool_pool_acquire(&lease, pool_, 20'000, nullptr) != CONNPOOL_OK) break;
            connpool_lease_release(lease, nullptr);
            ++cycles;
        }
    });
    ASSERT_TRUE(eventually([&] { return cycles >= 1000; }));
    for (int i = 0; i < 20; ++i) {
        const TimePoint start = Clock::now();
        connpool_lease *lease = nullptr;
        ASSERT_EQ(connpool_pool_acquire(&lease, pool_, 20'000, nullptr), CONNPOOL_OK);
        EXPECT_LT(elapsed_ms(start), 2'000);
        release(lease);
    }
    stop = true;
    busy.join();
}

// A caller that will not wait (timeout 0) still lets a stale idle connection be pre-pinged:
// the ping is bounded by health_check_timeout, not by the caller's zero wait.
TEST_F(PoolTest, PrePingAlsoRunsForACallerThatWillNotWait) {
    make({{"max_size", "1"}, {"pre_ping_threshold", "0"}});
    release(acquire());
    server_->ping_delay_ms = 5;
    connpool_lease *lease = nullptr;
    EXPECT_EQ(connpool_pool_acquire(&lease, pool_, 0, nullptr), CONNPOOL_OK);
    release(lease);
    const connpool_stats s = stats_of(pool_);
    EXPECT_EQ(s.health_checks, 2);
    EXPECT_EQ(s.health_check_failures, 0);
    EXPECT_EQ(s.created, 1);
}

TEST_F(PoolTest, ConnectionLeftInATransactionIsResetBeforeReuse) {
    make({{"max_size", "1"}});
    connpool_lease *a = acquire();
    const int id = fake_of(a).id;
    fake_of(a).state = FakeState::in_transaction;
    release(a);
    connpool_lease *b = acquire();  // waits for the background reset
    EXPECT_EQ(fake_of(b).id, id);
    EXPECT_EQ(fake_of(b).state, FakeState::idle);
    EXPECT_EQ(server_->resets.load(), 1);
    release(b);
    EXPECT_EQ(stats_of(pool_).resets, 1);
}

TEST_F(PoolTest, ConnectionThatCannotBeResetIsClosedAndReplaced) {
    make({{"max_size", "1"}});
    server_->reset_fails = true;
    connpool_lease *a = acquire();
    const int id = fake_of(a).id;
    fake_of(a).state = FakeState::in_transaction;
    release(a);
    connpool_lease *b = acquire();
    EXPECT_NE(fake_of(b).id, id);
    release(b);
    EXPECT_EQ(stats_of(pool_).closed_broken, 1);
}

TEST_F(PoolTest, BrokenOrBusyConnectionsAreClosedNotReused) {
    make({{"max_size", "2"}});
    connpool_lease *a = acquire();
    connpool_lease *b = acquire();
    const int id_a = fake_of(a).id, id_b = fake_of(b).id;
    fake_of(a).state = FakeState::broken;
    fake_of(b).state = FakeState::busy;
    release(a);
    release(b);
    connpool_stats s = stats_of(pool_);
    EXPECT_EQ(s.closed_broken, 2);
    EXPECT_EQ(s.total, 0);
    connpool_lease *c = acquire();
    EXPECT_NE(fake_of(c).id, id_a);
    EXPECT_NE(fake_of(c).id, id_b);
    release(c);
}

TEST_F(PoolTest, DeadIdleConnectionIsReplacedTransparently) {
    make({{"max_size", "1"}});
    connpool_lease *a = acquire();
    const int id = fake_of(a).id;
    release(a);
    server_->kill(id);
    connpool_lease *b = acquire();
    ASSERT_NE(b, nullptr);
    EXPECT_NE(fake_of(b).id, id);
    release(b);
    EXPECT_EQ(stats_of(pool_).closed_broken, 1);
}

TEST_F(PoolTest, PrePingRunsOnlyAfterTheIdleThresholdAndReplacesFailures) {
    make({{"max_size", "1"}, {"pre_ping_threshold", "30"}});
    release(acquire());  // fresh connection: no ping
    release(acquire());  // idle for ~0 ms: no ping
    EXPECT_EQ(server_->pings.load(), 0);
    std::this_thread::sleep_for(Millis(40));
    release(acquire());  // idle past the threshold: pinged
    EXPECT_EQ(server_->pings.load(), 1);

    std::this_thread::sleep_for(Millis(40));
    server_->ping_fails = true;
    connpool_lease *lease = nullptr;
    EXPECT_EQ(connpool_pool_acquire(&lease, pool_, 200, nullptr), CONNPOOL_OK);  // new one
    server_->ping_fails = false;
    release(lease);
    const connpool_stats s = stats_of(pool_);
    EXPECT_EQ(s.health_checks, 2);
    EXPECT_EQ(s.health_check_failures, 1);
    EXPECT_EQ(s.created, 2);
}

TEST_F(PoolTest, PrePingOffNeverPings) {
    make({{"max_size", "1"}, {"pre_ping", "off"}, {"pre_ping_threshold", "0"}});
    for (int i = 0; i < 5; ++i) release(acquire());
    EXPECT_EQ(server_->pings.load(), 0);
}

TEST_F(PoolTest, MinSizeIsOpenedInTheBackgroundAndWaitReadyWaitsForIt) {
    server_->connect_delay_ms = 20;
    make({{"min_size", "3"}, {"max_size", "5"}});
    ErrorBox error;
    EXPECT_EQ(connpool_pool_wait_ready(pool_, 2000, error.out()), CONNPOOL_OK) << error.message();
    const connpool_stats s = stats_of(pool_);
    EXPECT_EQ(s.total, 3);
    EXPECT_EQ(s.idle, 3);
}

TEST_F(PoolTest, WaitReadyTimesOutWithTheLastConnectError) {
    server_->refuse = true;
    make({{"min_size", "1"}});
    ErrorBox error;
    const TimePoint start = Clock::now();
    EXPECT_EQ(connpool_pool_wait_ready(pool_, 300, error.out()), CONNPOOL_ERR_CONNECT_FAILED);
    EXPECT_GE(elapsed_ms(start), 300);
    EXPECT_NE(error.message().find("fake server refused"), std::string::npos) << error.message();
    EXPECT_GE(stats_of(pool_).connect_errors, 1);
}

TEST_F(PoolTest, ConnectFailuresBackOffInsteadOfStorming) {
    server_->refuse = true;
    make({{"max_size", "4"}, {"max_concurrent_connects", "4"}});
    connpool_lease *lease = nullptr;
    EXPECT_EQ(connpool_pool_acquire(&lease, pool_, 700, nullptr), CONNPOOL_ERR_CONNECT_FAILED);
    // Backoff 100, 200, 400 ms (+-20%): a handful of attempts in 700 ms, not thousands.
    const int64_t errors = stats_of(pool_).connect_errors;
    EXPECT_GE(errors, 2);
    EXPECT_LE(errors, 8);
    server_->refuse = false;
    EXPECT_EQ(connpool_pool_acquire(&lease, pool_, 3000, nullptr), CONNPOOL_OK);  // heals
    release(lease);
}

TEST_F(PoolTest, ExpiredConnectionsAreClosedAndMinSizeRestored) {
    make({{"min_size", "2"},
          {"max_size", "2"},
          {"max_lifetime", "100"},
          {"maintenance_interval", "10"}});
    ASSERT_EQ(connpool_pool_wait_ready(pool_, 2000, nullptr), CONNPOOL_OK);
    EXPECT_TRUE(eventually([&] {
        const connpool_stats s = stats_of(pool_);
        return s.closed_lifetime >= 2 && s.created >= 4 && s.total == 2;
    }));
}

TEST_F(PoolTest, LeasedConnectionPastItsLifetimeIsClosedOnRelease) {
    make({{"max_size", "1"}, {"max_lifetime", "50"}, {"maintenance_interval", "1000"}});
    connpool_lease *a = acquire();
    const int id = fake_of(a).id;
    std::this_thread::sleep_for(Millis(70));
    release(a);
    EXPECT_EQ(stats_of(pool_).closed_lifetime, 1);
    connpool_lease *b = acquire();
    EXPECT_NE(fake_of(b).id, id);
    release(b);
}

TEST_F(PoolTest, IdleConnectionsAboveMinSizeAreClosedAfterMaxIdle) {
    make(
        {{"min_size", "1"}, {"max_size", "3"}, {"max_idle", "80"}, {"maintenance_interval", "10"}});
    connpool_lease *a = acquire(), *b = acquire(), *c = acquire();
    release(a);
    release(b);
    release(c);
    EXPECT_EQ(stats_of(pool_).total, 3);
    EXPECT_TRUE(eventually([&] { return stats_of(pool_).total == 1; }));
    EXPECT_EQ(stats_of(pool_).closed_idle, 2);
    std::this_thread::sleep_for(Millis(150));
    EXPECT_EQ(stats_of(pool_).total, 1);  // min_size is kept
}

TEST_F(PoolTest, StatsStayConsistentUnderConcurrentLoad) {
    make({{"max_size", "4"}});
    constexpr int kThreads = 8, kCycles = 2000;
    std::atomic<int64_t> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < kCycles; ++i) {
                connpool_lease *lease = nullptr;
                if (connpool_pool_acquire(&lease, pool_, 5000, nullptr) != CONNPOOL_OK) {
                    failures++;
                    continue;
                }
                if (connpool_lease_release(lease, nullptr) != CONNPOOL_OK) failures++;
            }
        });
    }
    std::atomic<bool> done{false};
    std::thread observer([&] {
        while (!done) {
            const connpool_stats s = stats_of(pool_);
            EXPECT_EQ(s.idle + s.in_use, s.total);
            EXPECT_LE(s.total, 4);
        }
    });
    for (auto &t : threads) t.join();
    done = true;
    observer.join();
    EXPECT_EQ(failures.load(), 0);
    const connpool_stats s = stats_of(pool_);
    EXPECT_EQ(s.acquired, kThreads * kCycles);
    EXPECT_EQ(s.released, kThreads * kCycles);
    EXPECT_LE(s.acquired - s.reused,
              s.created);  // fresh acquires; a connection may open for demand that left
    EXPECT_LE(s.created, 4);
    EXPECT_EQ(s.in_use, 0);
    EXPECT_GE(s.acquire_wait_us_total, s.acquire_wait_us_max);
}

TEST_F(PoolTest, FreeWakesWaitersAndLeasesOutlivePool) {
    make({{"max_size", "1"}});
    connpool_lease *held = acquire();
    std::atomic<connpool_status> waiter_status{-1};
    std::atomic<int64_t> waited_ms{0};
    std::thread waiter([&] {
        const TimePoint start = Clock::now();
        connpool_lease *lease = nullptr;
        waiter_status = connpool_pool_acquire(&lease, pool_, 10'000, nullptr);
        waited_ms = elapsed_ms(start);
    });
    ASSERT_TRUE(eventually([&] { return stats_of(pool_).waiting == 1; }));
    const TimePoint start = Clock::now();
    EXPECT_EQ(connpool_pool_free(pool_), CONNPOOL_OK);
    EXPECT_LT(elapsed_ms(start), 1000);
    waiter.join();
    EXPECT_TRUE(waiter_status == CONNPOOL_ERR_POOL_CLOSED ||
                waiter_status == CONNPOOL_ERR_INVALID_HANDLE)
        << connpool_status_name(waiter_status);
    EXPECT_LT(waited_ms.load(), 1000);
    // The handle is gone; the lease still works and its release closes the connection.
    connpool_lease *none = nullptr;
    EXPECT_EQ(connpool_pool_acquire(&none, pool_, 0, nullptr), CONNPOOL_ERR_INVALID_HANDLE);
    EXPECT_EQ(server_->open_connections(), 1);
    EXPECT_EQ(connpool_lease_release(held, nullptr), CONNPOOL_OK);
    EXPECT_EQ(server_->open_connections(), 0);
    EXPECT_EQ(connpool_lease_release(held, nullptr), CONNPOOL_ERR_INVALID_HANDLE);
    pool_ = nullptr;
}

TEST_F(PoolTest, CloseKeepsHandleForStatsAndRefusesAcquire) {
    make({{"min_size", "2"}, {"max_size", "2"}});
    ASSERT_EQ(connpool_pool_wait_ready(pool_, 2000, nullptr), CONNPOOL_OK);
    ASSERT_EQ(connpool_pool_close(pool_, nullptr), CONNPOOL_OK);
    ASSERT_EQ(connpool_pool_close(pool_, nullptr), CONNPOOL_OK);  // idempotent
    connpool_lease *lease = nullptr;
    ErrorBox error;
    EXPECT_EQ(connpool_pool_acquire(&lease, pool_, 100, error.out()), CONNPOOL_ERR_POOL_CLOSED);
    EXPECT_NE(error.message().find("closed"), std::string::npos);
    const connpool_stats s = stats_of(pool_);
    EXPECT_EQ(s.total, 0);
    EXPECT_EQ(s.closed, 2);
    EXPECT_EQ(server_->open_connections(), 0);
    EXPECT_EQ(connpool_pool_wait_ready(pool_, 10, nullptr), CONNPOOL_ERR_POOL_CLOSED);
}

TEST_F(PoolTest, CloseAbandonsASlowConnectInBoundedTime) {
    server_->connect_delay_ms = 60'000;
    make({{"min_size", "1"}, {"max_size", "1"}});
    ASSERT_TRUE(eventually([&] { return stats_of(pool_).opening == 1; }));
    const TimePoint start = Clock::now();
    EXPECT_EQ(connpool_pool_close(pool_, nullptr), CONNPOOL_OK);
    EXPECT_LT(elapsed_ms(start), 500);
    const connpool_stats s = stats_of(pool_);
    EXPECT_EQ(s.connect_errors, 0) << "an abandoned connect is not a server failure";
    EXPECT_EQ(s.breaker_state, 0);
    EXPECT_EQ(s.opening, 0);
}

TEST_F(PoolTest, DoubleReleaseAndStaleLeasesAreDetected) {
    make({{"max_size", "1"}});
    connpool_lease *a = acquire();
    release(a);
    ErrorBox error;
    EXPECT_EQ(connpool_lease_release(a, error.out()), CONNPOOL_ERR_INVALID_HANDLE);
    EXPECT_NE(error.message().find("already released"), std::string::npos) << error.message();
    // The same connection leased again gets a new token; the old one stays dead.
    connpool_lease *b = acquire();
    EXPECT_NE(a, b);
    EXPECT_EQ(connpool_lease_release(a, nullptr), CONNPOOL_ERR_INVALID_HANDLE);
    void *raw = nullptr;
    EXPECT_EQ(connpool_lease_pgconn(&raw, a, nullptr), CONNPOOL_ERR_INVALID_HANDLE);
    connpool_result *result = nullptr;
    EXPECT_EQ(connpool_lease_exec(&result, a, "SELECT 1", 0, nullptr, nullptr),
              CONNPOOL_ERR_INVALID_HANDLE);
    release(b);
    EXPECT_EQ(stats_of(pool_).released, 2);
}

TEST_F(PoolTest, ConcurrentDoubleReleaseHasExactlyOneWinner) {
    make({{"max_size", "1"}});
    for (int round = 0; round < 200; ++round) {
        connpool_lease *lease = acquire();
        std::atomic<int> ok{0}, invalid{0};
        auto racer = [&] {
            const connpool_status s = connpool_lease_release(lease, nullptr);
            (s == CONNPOOL_OK ? ok : invalid)++;
        };
        std::thread t1(racer), t2(racer);
        t1.join();
        t2.join();
        ASSERT_EQ(ok.load(), 1);
        ASSERT_EQ(invalid.load(), 1);
    }
    EXPECT_EQ(stats_of(pool_).released, 200);
}

TEST_F(PoolTest, WrongKindsNullsAndMadeUpHandlesAreRefused) {
    make({{"max_size", "1"}});
    connpool_lease *lease = acquire();
    connpool_lease *out = nullptr;
    // A lease where a pool is expected, and a pool where a lease is expected.
    EXPECT_EQ(connpool_pool_acquire(&out, reinterpret_cast<connpool_pool *>(lease), 0, nullptr),
              CONNPOOL_ERR_INVALID_HANDLE);
    EXPECT_EQ(connpool_lease_release(reinterpret_cast<connpool_lease *>(pool_), nullptr),
              CONNPOOL_ERR_INVALID_HANDLE);
    // Made-up values, including an ordinary address.
    int local = 0;
    for (uintptr_t bogus :
         {uintptr_t{1}, uintptr_t{0xdeadbeef}, reinterpret_cast<uintptr_t>(&local), ~uintptr_t{0},
          uintptr_t{1} << 63}) {
        EXPECT_EQ(connpool_pool_acquire(&out, reinterpret_cast<connpool_pool *>(bogus), 0, nullptr),
                  CONNPOOL_ERR_INVALID_HANDLE);
        EXPECT_EQ(connpool_lease_release(reinterpret_cast<connpool_lease *>(bogus), nullptr),
                  CONNPOOL_ERR_INVALID_HANDLE);
        EXPECT_EQ(connpool_result_row_count(reinterpret_cast<connpool_result *>(bogus)), -1);
    }
    ErrorBox error;
    EXPECT_EQ(connpool_pool_acquire(&out, nullptr, 0, error.out()), CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_NE(error.message().find("\"pool\""), std::string::npos);
    EXPECT_EQ(connpool_pool_acquire(nullptr, pool_, 0, nullptr), CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(connpool_lease_release(nullptr, nullptr), CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(connpool_pool_stats(nullptr, pool_, nullptr), CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(connpool_pool_free(nullptr), CONNPOOL_OK);
    // Fake connections are not libpq connections: exec says so instead of crashing.
    connpool_result *result = nullptr;
    EXPECT_EQ(connpool_lease_exec(&result, lease, "SELECT 1", 0, nullptr, nullptr),
              CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(connpool_lease_exec(&result, lease, "SELECT $1", 1, nullptr, nullptr),
              CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(connpool_lease_exec(&result, lease, "SELECT 1", -1, nullptr, nullptr),
              CONNPOOL_ERR_INVALID_ARGUMENT);
    release(lease);
}

TEST_F(PoolTest, RefusedCallsAreCountedProcessWide) {
    make({{"max_size", "1"}});
    connpool_lease *lease = acquire();
    release(lease);
    const int64_t before = connpool_misuse_count();
    EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_ERR_INVALID_HANDLE);
    EXPECT_EQ(connpool_pool_acquire(nullptr, pool_, 0, nullptr), CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(connpool_result_row_count(reinterpret_cast<connpool_result *>(uintptr_t{7})), -1);
    EXPECT_EQ(connpool_options_free(reinterpret_cast<connpool_options *>(uintptr_t{7})),
              CONNPOOL_ERR_INVALID_HANDLE);
    EXPECT_EQ(connpool_misuse_count() - before, 4);
    release(acquire());  // successful calls do not count
    EXPECT_EQ(connpool_misuse_count() - before, 4);
}

TEST_F(PoolTest, FreedPoolHandleIsDetected) {
    make({{"max_size", "1"}});
    connpool_pool *stale = pool_;
    ASSERT_EQ(connpool_pool_free(pool_), CONNPOOL_OK);
    pool_ = nullptr;
    EXPECT_EQ(connpool_pool_free(stale), CONNPOOL_ERR_INVALID_HANDLE);
    connpool_stats s{};
    s.struct_size = sizeof s;
    EXPECT_EQ(connpool_pool_stats(&s, stale, nullptr), CONNPOOL_ERR_INVALID_HANDLE);
    EXPECT_EQ(connpool_pool_close(stale, nullptr), CONNPOOL_ERR_INVALID_HANDLE);
}

TEST_F(PoolTest, StatsFillOnlyWhatTheCallersStructHolds) {
    make({{"max_size", "3"}});
    // An "old" caller that only knows the first three gauges.
    struct OldStats {
        uint32_t struct_size, reserved0;
        int64_t total, idle, in_use;
        int64_t beyond;  // not part of the caller's idea of the struct
    } old{};
    old.struct_size = offsetof(OldStats, beyond);
    old.beyond = 0x5a5a;
    EXPECT_EQ(connpool_pool_stats(reinterpret_cast<connpool_stats *>(&old), pool_, nullptr),
              CONNPOOL_OK);
    EXPECT_EQ(old.beyond, 0x5a5a);
    EXPECT_EQ(old.struct_size, offsetof(OldStats, beyond));
    connpool_stats tiny{};
    tiny.struct_size = 4;
    EXPECT_EQ(connpool_pool_stats(&tiny, pool_, nullptr), CONNPOOL_ERR_INVALID_ARGUMENT);
}

TEST_F(PoolTest, StatsJsonHasEveryFieldAndEscapesTheName) {
    make({{"max_size", "3"}, {"name", "we\"ird\\name"}});
    release(acquire());
    char *json = nullptr;
    ASSERT_EQ(connpool_pool_stats_json(&json, pool_, nullptr), CONNPOOL_OK);
    const std::string text = json;
    connpool_string_free(json);
    for (const char *key :
         {"\"total\": 1", "\"idle\": 1", "\"in_use\": 0", "\"max_size\": 3", "\"acquired\": 1",
          "\"released\": 1", "\"created\": 1", "\"acquire_wait_us_max\"", "\"closed_pool\": false",
          "\"name\": \"we\\\"ird\\\\name\""}) {
        EXPECT_NE(text.find(key), std::string::npos) << key << " not in " << text;
    }
}

TEST(HandleCells, AreRecycledNotLeaked) {
    auto server = std::make_shared<FakeServer>();
    const size_t before = HandleRegistry::instance().cells_in_use();
    for (int i = 0; i < 20; ++i) {
        connpool_pool *pool = make_fake_pool(server, {{"max_size", "2"}});
        connpool_lease *lease = nullptr;
        ASSERT_EQ(connpool_pool_acquire(&lease, pool, 1000, nullptr), CONNPOOL_OK);
        ASSERT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
        ASSERT_EQ(connpool_pool_free(pool), CONNPOOL_OK);
    }
    EXPECT_EQ(HandleRegistry::instance().cells_in_use(), before);
    EXPECT_EQ(server->open_connections(), 0);
}

}  // namespace
}  // namespace connpool::testing
