// The core Pool driven directly over the fake connector: no C shim, no handle registry (so no
// slot tag hooks need be installed), no server.
#include <gtest/gtest.h>

#include <future>
#include <memory>
#include <thread>
#include <vector>

#include "core/pool.hpp"
#include "fake_connector.hpp"
#include "wait_support.hpp"

namespace connpool::testing {
namespace {

class CorePoolTest : public ::testing::Test {
  protected:
    void TearDown() override {
        pool_.reset();  // closes it; freed now (no lease is out at the end of a test)
        EXPECT_TRUE(eventually([&] { return server_->open_connections() == 0; }))
            << server_->open_connections() << " fake connections still open";
    }

    Pool &make(PoolOptions options) {
        options.name = "core-test";
        pool_ = Pool::create(std::move(options), std::make_unique<FakeConnector>(server_));
        return *pool_;
    }
    Pool &make_sized(int64_t max_size) {
        PoolOptions options;
        options.max_size = max_size;
        return make(options);
    }

    Slot *acquire(int64_t timeout_ms = 2000) {
        Slot *slot = nullptr;
        Error error;
        EXPECT_EQ(pool_->acquire(timeout_ms, slot, &error), CONNPOOL_OK) << error.message;
        EXPECT_NE(slot, nullptr);
        return slot;
    }

    // The gauges agree with each other whatever else is going on.
    PoolStats checked_stats() {
        const PoolStats s = pool_->stats();
        EXPECT_EQ(s.idle + s.in_use, s.total);
        EXPECT_GE(s.idle, 0);
        EXPECT_GE(s.in_use, 0);
        return s;
    }

    static int id_of(const Slot *slot) { return FakeConnector::fake(*slot->connection).id; }

    std::shared_ptr<FakeServer> server_ = std::make_shared<FakeServer>();
    std::shared_ptr<Pool> pool_;
};

TEST_F(CorePoolTest, AcquireAndRelease) {
    Pool &pool = make_sized(2);
    Slot *slot = acquire();
    EXPECT_EQ(&slot->pool, &pool);
    PoolStats s = checked_stats();
    EXPECT_EQ(s.total, 1);
    EXPECT_EQ(s.in_use, 1);
    EXPECT_EQ(s.acquired, 1);
    pool.release(slot);
    s = checked_stats();
    EXPECT_EQ(s.idle, 1);
    EXPECT_EQ(s.in_use, 0);
    EXPECT_EQ(s.released, 1);
    EXPECT_EQ(server_->connects.load(), 1);
}

TEST_F(CorePoolTest, ReleasedConnectionIsReused) {
    Pool &pool = make_sized(1);
    Slot *first = acquire();
    const int id = id_of(first);
    pool.release(first);
    Slot *again = acquire();
    EXPECT_EQ(again, first);
    EXPECT_EQ(id_of(again), id);
    pool.release(again);
    const PoolStats s = checked_stats();
    EXPECT_EQ(s.created, 1);
    EXPECT_EQ(s.acquired, 2);
    EXPECT_EQ(s.reused, 1);
}

TEST_F(CorePoolTest, TryAcquireNeverWaitsNorOpens) {
    Pool &pool = make_sized(1);
    Slot *slot = nullptr;
    EXPECT_EQ(pool.try_acquire(slot, nullptr), CONNPOOL_ERR_WOULD_BLOCK);
    EXPECT_EQ(slot, nullptr);
    PoolStats s = checked_stats();
    EXPECT_EQ(s.opening, 0);
    EXPECT_EQ(s.waiting, 0);
    EXPECT_EQ(s.acquire_timeouts, 0);
    EXPECT_EQ(server_->attempts.load(), 0);

    Slot *opened = acquire();
    pool.release(opened);
    EXPECT_EQ(pool.try_acquire(slot, nullptr), CONNPOOL_OK);
    EXPECT_EQ(slot, opened);
    pool.release(slot);
}

TEST_F(CorePoolTest, TimesOutWhenExhausted) {
    Pool &pool = make_sized(1);
    Slot *held = acquire();
    Slot *slot = nullptr;
    Error error;
    const TimePoint start = Clock::now();
    EXPECT_EQ(pool.acquire(50, slot, &error), CONNPOOL_ERR_TIMEOUT);
    EXPECT_GE(Clock::now() - start, Millis(50));
    EXPECT_EQ(slot, nullptr);
    EXPECT_EQ(error.status, CONNPOOL_ERR_TIMEOUT);
    EXPECT_NE(error.message.find("1 in use"), std::string::npos) << error.message;
    const PoolStats s = checked_stats();
    EXPECT_EQ(s.acquire_timeouts, 1);
    EXPECT_EQ(s.waiting, 0);
    EXPECT_EQ(s.total, 1);
    pool.release(held);
}

TEST_F(CorePoolTest, ZeroTimeoutFailsAtOnceWhenExhausted) {
    Pool &pool = make_sized(1);
    Slot *held = acquire();
    Slot *slot = nullptr;
    EXPECT_EQ(pool.acquire(0, slot, nullptr), CONNPOOL_ERR_TIMEOUT);
    EXPECT_EQ(checked_stats().waiting, 0);
    pool.release(held);
}

TEST_F(CorePoolTest, ReleaseHandsTheConnectionToAWaiter) {
    PoolOptions options;
    options.max_size = 1;
    options.overtake_window_us = 0;  // strict FIFO: every release hands over
    Pool &pool = make(options);
    Slot *held = acquire();
    auto waiter = std::async(std::launch::async, [&] {
        Slot *slot = nullptr;
        const connpool_status status = pool.acquire(5000, slot, nullptr);
        return std::make_pair(status, slot);
    });
    ASSERT_TRUE(eventually([&] { return checked_stats().waiting == 1; }));
    pool.release(held);
    const auto [status, slot] = waiter.get();
    EXPECT_EQ(status, CONNPOOL_OK);
    EXPECT_EQ(slot, held);  // the same connection, never idle in between
    const PoolStats s = checked_stats();
    EXPECT_EQ(s.waiting, 0);
    EXPECT_EQ(s.in_use, 1);
    EXPECT_EQ(s.created, 1);
    pool.release(slot);
}

TEST_F(CorePoolTest, WaitersAreServedInOrder) {
    PoolOptions options;
    options.max_size = 1;
    options.overtake_window_us = 0;
    Pool &pool = make(options);
    Slot *held = acquire();
    std::vector<int> served;
    std::mutex served_mutex;
    std::vector<std::thread> threads;
    for (int i = 0; i < 3; ++i) {
        threads.emplace_back([&, i] {
            Slot *slot = nullptr;
            ASSERT_EQ(pool.acquire(5000, slot, nullptr), CONNPOOL_OK);
            {
                std::lock_guard<std::mutex> lock(served_mutex);
                served.push_back(i);
            }
            pool.release(slot);
        });
        // EXPECT, not ASSERT: returning here would leave the threads unjoined.
        EXPECT_TRUE(eventually([&] { return checked_stats().waiting == i + 1; }));
    }
    pool.release(held);
    for (std::thread &t : threads) t.join();
    EXPECT_EQ(served, (std::vector<int>{0, 1, 2}));
}

TEST_F(CorePoolTest, CloseWakesAWaiter) {
    Pool &pool = make_sized(1);
    Slot *held = acquire();
    auto waiter = std::async(std::launch::async, [&] {
        Slot *slot = nullptr;
        Error error;
        const connpool_status status = pool.acquire(30'000, slot, &error);
        EXPECT_EQ(slot, nullptr);
        EXPECT_EQ(error.status, CONNPOOL_ERR_POOL_CLOSED);
        return status;
    });
    ASSERT_TRUE(eventually([&] { return checked_stats().waiting == 1; }));
    const TimePoint start = Clock::now();
    pool.close();
    ASSERT_EQ(waiter.wait_for(std::chrono::seconds(5)), std::future_status::ready);
    EXPECT_EQ(waiter.get(), CONNPOOL_ERR_POOL_CLOSED);
    EXPECT_LT(Clock::now() - start, std::chrono::seconds(5));
    Slot *slot = nullptr;
    EXPECT_EQ(pool.acquire(0, slot, nullptr), CONNPOOL_ERR_POOL_CLOSED);
    pool.release(held);  // a lease out at close is closed when it comes back
    const PoolStats s = checked_stats();
    EXPECT_EQ(s.total, 0);
    EXPECT_EQ(s.waiting, 0);
    EXPECT_EQ(server_->open_connections(), 0);
}

TEST_F(CorePoolTest, StatsGaugesStayConsistent) {
    Pool &pool = make_sized(4);
    std::vector<Slot *> held;
    for (int i = 0; i < 4; ++i) {
        held.push_back(acquire());
        const PoolStats s = checked_stats();
        EXPECT_EQ(s.in_use, i + 1);
        EXPECT_EQ(s.total, i + 1);
    }
    for (int i = 0; i < 4; ++i) {
        pool.release(held[static_cast<size_t>(i)]);
        const PoolStats s = checked_stats();
        EXPECT_EQ(s.idle, i + 1);
        EXPECT_EQ(s.in_use, 3 - i);
    }
    const PoolStats s = checked_stats();
    EXPECT_EQ(s.max_size, 4);
    EXPECT_EQ(s.acquired, 4);
    EXPECT_EQ(s.released, 4);
}

TEST_F(CorePoolTest, OverflowConnectionIsClosedOnRelease) {
    PoolOptions options;
    options.max_size = 1;
    options.max_overflow = 1;
    Pool &pool = make(options);
    Slot *a = acquire();
    Slot *b = acquire();  // beyond max_size: an overflow connection
    PoolStats s = checked_stats();
    EXPECT_EQ(s.total, 2);
    EXPECT_EQ(s.in_use, 2);
    pool.release(b);  // nobody waits: closed rather than kept idle
    s = checked_stats();
    EXPECT_EQ(s.total, 1);
    EXPECT_EQ(s.idle, 0);
    EXPECT_EQ(s.closed_overflow, 1);
    pool.release(a);  // back within max_size: kept
    s = checked_stats();
    EXPECT_EQ(s.total, 1);
    EXPECT_EQ(s.idle, 1);
    EXPECT_EQ(s.closed_overflow, 1);
}

TEST_F(CorePoolTest, DeadIdleConnectionIsReplaced) {
    Pool &pool = make_sized(1);
    Slot *first = acquire();
    const int dead_id = id_of(first);
    pool.release(first);
    server_->kill(dead_id);
    Slot *replacement = acquire();
    EXPECT_NE(id_of(replacement), dead_id);
    pool.release(replacement);
    const PoolStats s = checked_stats();
    EXPECT_EQ(s.closed_broken, 1);
    EXPECT_EQ(s.created, 2);
    EXPECT_EQ(s.total, 1);
    EXPECT_EQ(s.acquired, 2);  // the rejected hand-out does not count
}

TEST_F(CorePoolTest, BrokenConnectionIsClosedOnRelease) {
    Pool &pool = make_sized(1);
    Slot *slot = acquire();
    FakeConnector::fake(*slot->connection).state = FakeState::broken;
    pool.release(slot);
    const PoolStats s = checked_stats();
    EXPECT_EQ(s.total, 0);
    EXPECT_EQ(s.closed_broken, 1);
}

TEST_F(CorePoolTest, ConnectionInATransactionIsResetBeforeReuse) {
    Pool &pool = make_sized(1);
    Slot *slot = acquire();
    FakeConnector::fake(*slot->connection).state = FakeState::in_transaction;
    pool.release(slot);
    Slot *again = acquire();  // waits for the reset if it is still running
    EXPECT_EQ(again, slot);
    EXPECT_EQ(FakeConnector::fake(*again->connection).state, FakeState::idle);
    EXPECT_EQ(server_->resets.load(), 1);
    pool.release(again);
}

TEST_F(CorePoolTest, AsyncAcquireOfAnIdleConnection) {
    Pool &pool = make_sized(1);
    pool.release(acquire());
    AsyncAcquire request(pool_);
    pool.start_async(request, 1000);
    Slot *slot = nullptr;
    EXPECT_EQ(pool.collect_async(request, slot, nullptr), CONNPOOL_OK);
    ASSERT_NE(slot, nullptr);
    EXPECT_EQ(checked_stats().in_use, 1);
    Error error;
    EXPECT_EQ(pool.collect_async(request, slot, &error), CONNPOOL_ERR_INVALID_ARGUMENT);
    pool.release(slot);
}

TEST_F(CorePoolTest, AsyncAcquireWaitsForARelease) {
    Pool &pool = make_sized(1);
    Slot *held = acquire();
    AsyncAcquire request(pool_);
    pool.start_async(request, 5000);
    Slot *slot = nullptr;
    EXPECT_EQ(pool.collect_async(request, slot, nullptr), CONNPOOL_ERR_IN_PROGRESS);
    EXPECT_EQ(checked_stats().waiting, 1);
    pool.release(held);  // an asynchronous waiter is always handed the connection
    EXPECT_EQ(pool.collect_async(request, slot, nullptr), CONNPOOL_OK);
    EXPECT_EQ(slot, held);
    pool.release(slot);
}

TEST_F(CorePoolTest, AsyncCancelLeavesNoWaiter) {
    Pool &pool = make_sized(1);
    Slot *held = acquire();
    AsyncAcquire request(pool_);
    pool.start_async(request, 5000);
    pool.cancel_async(request);
    pool.cancel_async(request);  // idempotent
    Slot *slot = nullptr;
    EXPECT_EQ(pool.collect_async(request, slot, nullptr), CONNPOOL_ERR_CANCELED);
    const PoolStats s = checked_stats();
    EXPECT_EQ(s.waiting, 0);
    EXPECT_EQ(s.canceled, 1);
    pool.release(held);
    EXPECT_EQ(checked_stats().idle, 1);
}

TEST_F(CorePoolTest, AsyncAcquireTimesOut) {
    Pool &pool = make_sized(1);
    Slot *held = acquire();
    AsyncAcquire request(pool_);
    pool.start_async(request, 50);
    Slot *slot = nullptr;
    ASSERT_TRUE(eventually(
        [&] { return pool.collect_async(request, slot, nullptr) != CONNPOOL_ERR_IN_PROGRESS; }));
    EXPECT_EQ(pool.collect_async(request, slot, nullptr), CONNPOOL_ERR_TIMEOUT);
    EXPECT_EQ(checked_stats().acquire_timeouts, 1);
    pool.release(held);
}

TEST_F(CorePoolTest, WaitReadyOpensMinSize) {
    PoolOptions options;
    options.min_size = 3;
    options.max_size = 4;
    Pool &pool = make(options);
    EXPECT_EQ(pool.wait_ready(2000, nullptr), CONNPOOL_OK);
    const PoolStats s = checked_stats();
    EXPECT_GE(s.total, 3);
    EXPECT_EQ(s.idle, s.total);
}

TEST_F(CorePoolTest, TheLastLeaseFreesAnOrphanedPool) {
    make_sized(1);
    Slot *slot = acquire();
    std::weak_ptr<Pool> weak = pool_;
    pool_.reset();  // closed now, freed with the lease
    EXPECT_TRUE(weak.expired());
    EXPECT_EQ(server_->open_connections(), 1);
    slot->pool.release(slot);
    EXPECT_EQ(server_->open_connections(), 0);
}

}  // namespace
}  // namespace connpool::testing
