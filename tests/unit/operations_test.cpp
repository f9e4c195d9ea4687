// Run-time operations of the core Pool over the fake connector: resize, pause/resume, drain,
// check, lease info and the connections list.
#include <gtest/gtest.h>

#include <future>
#include <memory>
#include <set>
#include <thread>

#include "core/pool.hpp"
#include "fake_connector.hpp"
#include "monitor_json.hpp"
#include "wait_support.hpp"

namespace connpool::testing {
namespace {

class OperationsTest : public ::testing::Test {
  protected:
    void TearDown() override {
        pool_.reset();
        EXPECT_TRUE(eventually([&] { return server_->open_connections() == 0; }))
            << server_->open_connections() << " fake connections still open";
    }

    Pool &make(int64_t min_size, int64_t max_size) {
        PoolOptions options;
        options.name = "ops-test";
        options.min_size = min_size;
        options.max_size = max_size;
        pool_ = Pool::create(std::move(options), std::make_unique<FakeConnector>(server_));
        if (min_size > 0) {
            Error error;
            EXPECT_EQ(pool_->wait_ready(2000, &error), CONNPOOL_OK) << error.message;
        }
        return *pool_;
    }

    Slot *acquire(int64_t timeout_ms = 2000) {
        Slot *slot = nullptr;
        Error error;
        EXPECT_EQ(pool_->acquire(timeout_ms, slot, &error), CONNPOOL_OK) << error.message;
        return slot;
    }

    // An acquire on another thread; its outcome with how long it took.
    struct Outcome {
        connpool_status status;
        Slot *slot;
        std::string message;
        int64_t waited_ms;
    };
    std::future<Outcome> acquire_later(int64_t timeout_ms) {
        return std::async(std::launch::async, [this, timeout_ms] {
            const TimePoint start = Clock::now();
            Slot *slot = nullptr;
            Error error;
            const connpool_status status = pool_->acquire(timeout_ms, slot, &error);
            return Outcome{status, slot, error.message, elapsed_ms(start)};
        });
    }

    static int id_of(const Slot *slot) { return FakeConnector::fake(*slot->connection).id; }

    std::shared_ptr<FakeServer> server_ = std::make_shared<FakeServer>();
    std::shared_ptr<Pool> pool_;
};

// ----- resize -------------------------------------------------------------------------------

TEST_F(OperationsTest, GrowingServesAWaiterAndOpensUpToTheNewMin) {
    Pool &pool = make(0, 1);
    Slot *held = acquire();
    auto waiter = acquire_later(3000);
    ASSERT_TRUE(eventually([&] { return pool.stats().waiting == 1; }));
    ASSERT_EQ(pool.resize(3, 4, nullptr), CONNPOOL_OK);
    const Outcome got = waiter.get();
    ASSERT_EQ(got.status, CONNPOOL_OK) << got.message;
    EXPECT_LT(got.waited_ms, 1000);
    EXPECT_TRUE(eventually([&] { return pool.stats().total == 3; }));
    const PoolStats s = pool.stats();
    EXPECT_EQ(s.min_size, 3);
    EXPECT_EQ(s.max_size, 4);
    EXPECT_EQ(s.resizes, 1);
    EXPECT_EQ(pool.resize(3, 4, nullptr), CONNPOOL_OK);  // no change: not counted
    EXPECT_EQ(pool.stats().resizes, 1);
    pool.release(got.slot);
    pool.release(held);
}

TEST_F(OperationsTest, ShrinkingClosesIdleNowAndLeasedOnRelease) {
    Pool &pool = make(0, 4);
    Slot *slots[4];
    for (Slot *&slot : slots) slot = acquire();
    pool.release(slots[2]);
    pool.release(slots[3]);
    ASSERT_EQ(pool.stats().idle, 2);
    ASSERT_EQ(pool.resize(0, 1, nullptr), CONNPOOL_OK);
    PoolStats s = pool.stats();
    EXPECT_EQ(s.idle, 0);  // the idle ones closed at once
    EXPECT_EQ(s.total, 2);
    EXPECT_EQ(server_->open_connections(), 2);
    EXPECT_EQ(s.max_size, 1);
    pool.release(slots[0]);  // above the new max: retired
    s = pool.stats();
    EXPECT_EQ(s.total, 1);
    EXPECT_EQ(s.closed_overflow, 3);
    pool.release(slots[1]);  // within it: kept
    s = pool.stats();
    EXPECT_EQ(s.total, 1);
    EXPECT_EQ(s.idle, 1);
    // The new max holds for acquires: a second one waits and times out.
    Slot *one = acquire();
    Slot *none = nullptr;
    EXPECT_EQ(pool.acquire(50, none, nullptr), CONNPOOL_ERR_TIMEOUT);
    pool.release(one);
}

TEST_F(OperationsTest, ResizeRefusesBadSizesNamingThem) {
    Pool &pool = make(0, 2);
    struct Bad {
        int64_t min_size, max_size;
        const char *named;
    };
    const Bad bad[] = {{-1, 2, "min_size -1"},
                       {3, 2, "min_size 3 must not exceed max_size 2"},
                       {0, 0, "max_size 0"},
                       {0, 10001, "max_size 10001"}};
    for (const Bad &b : bad) {
        Error error;
        EXPECT_EQ(pool.resize(b.min_size, b.max_size, &error), CONNPOOL_ERR_INVALID_ARGUMENT);
        EXPECT_NE(error.message.find(b.named), std::string::npos) << error.message;
    }
    const PoolStats s = pool.stats();
    EXPECT_EQ(s.max_size, 2);
    EXPECT_EQ(s.resizes, 0);
}

// ----- pause / resume -----------------------------------------------------------------------

TEST_F(OperationsTest, PausedPoolMakesAcquiresWaitWithinTheirDeadlines) {
    Pool &pool = make(1, 1);
    Slot *out_before = acquire();
    ASSERT_EQ(pool.pause(nullptr), CONNPOOL_OK);
    ASSERT_EQ(pool.pause(nullptr), CONNPOOL_OK);  // idempotent
    EXPECT_EQ(pool.stats().paused, 1);
    pool.release(out_before);  // a lease already out comes back as usual
    ASSERT_EQ(pool.stats().idle, 1);

    Slot *slot = nullptr;
    EXPECT_EQ(pool.try_acquire(slot, nullptr), CONNPOOL_ERR_WOULD_BLOCK);

    auto patient = acquire_later(5000);
    ASSERT_TRUE(eventually([&] { return pool.stats().waiting == 1; }));
    auto hasty = acquire_later(300);
    const Outcome timed_out = hasty.get();
    EXPECT_EQ(timed_out.status, CONNPOOL_ERR_TIMEOUT);
    EXPECT_GE(timed_out.waited_ms, 290);
    EXPECT_LT(timed_out.waited_ms, 2000);
    EXPECT_NE(timed_out.message.find("paused"), std::string::npos) << timed_out.message;
    EXPECT_EQ(patient.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout);
    EXPECT_EQ(pool.stats().idle, 1);  // nothing was handed out

    const TimePoint resumed = Clock::now();
    ASSERT_EQ(pool.resume(nullptr), CONNPOOL_OK);
    const Outcome served = patient.get();
    ASSERT_EQ(served.status, CONNPOOL_OK) << served.message;
    EXPECT_LT(elapsed_ms(resumed), 500);
    EXPECT_EQ(pool.stats().paused, 0);
    pool.release(served.slot);
    EXPECT_EQ(pool.resume(nullptr), CONNPOOL_OK);  // idempotent
}

TEST_F(OperationsTest, ResumeServesWaitersInTheirOrder) {
    Pool &pool = make(2, 2);
    ASSERT_EQ(pool.pause(nullptr), CONNPOOL_OK);
    Slot *first_slot = nullptr;
    auto first = acquire_later(5000);
    ASSERT_TRUE(eventually([&] { return pool.stats().waiting == 1; }));
    auto second = acquire_later(5000);
    ASSERT_TRUE(eventually([&] { return pool.stats().waiting == 2; }));
    auto third = acquire_later(5000);
    ASSERT_TRUE(eventually([&] { return pool.stats().waiting == 3; }));
    ASSERT_EQ(pool.resume(nullptr), CONNPOOL_OK);
    // Two connections for three waiters: the first two in line get them.
    const Outcome a = first.get();
    const Outcome b = second.get();
    ASSERT_EQ(a.status, CONNPOOL_OK);
    ASSERT_EQ(b.status, CONNPOOL_OK);
    EXPECT_EQ(third.wait_for(std::chrono::milliseconds(100)), std::future_status::timeout);
    first_slot = a.slot;
    pool.release(first_slot);
    const Outcome c = third.get();
    ASSERT_EQ(c.status, CONNPOOL_OK);
    pool.release(b.slot);
    pool.release(c.slot);
}

TEST_F(OperationsTest, AsynchronousAcquiresWaitForTheResume) {
    Pool &pool = make(1, 1);
    ASSERT_EQ(pool.pause(nullptr), CONNPOOL_OK);
    AsyncAcquire request(pool_);
    pool.start_async(request, 5000);
    Slot *slot = nullptr;
    std::this_thread::sleep_for(Millis(50));
    EXPECT_EQ(pool.collect_async(request, slot, nullptr), CONNPOOL_ERR_IN_PROGRESS);
    ASSERT_EQ(pool.resume(nullptr), CONNPOOL_OK);
    EXPECT_EQ(pool.collect_async(request, slot, nullptr), CONNPOOL_OK);
    ASSERT_NE(slot, nullptr);
    pool.release(slot);

    // And time out as paused.
    ASSERT_EQ(pool.pause(nullptr), CONNPOOL_OK);
    AsyncAcquire late(pool_);
    pool.start_async(late, 100);
    Error error;
    ASSERT_TRUE(eventually(
        [&] { return pool.collect_async(late, slot, &error) != CONNPOOL_ERR_IN_PROGRESS; }));
    EXPECT_EQ(pool.collect_async(late, slot, &error), CONNPOOL_ERR_TIMEOUT);
    EXPECT_NE(error.message.find("paused"), std::string::npos) << error.message;
}

// ----- drain --------------------------------------------------------------------------------

TEST_F(OperationsTest, DrainReplacesIdleNowAndLeasedOnRelease) {
    Pool &pool = make(2, 3);
    Slot *leased = acquire();
    std::set<int> before = {id_of(leased)};
    Slot *other = acquire();
    before.insert(id_of(other));
    pool.release(other);
    ASSERT_EQ(pool.drain(nullptr), CONNPOOL_OK);
    EXPECT_EQ(server_->closes.load(), 1);  // the idle one, at once
    // Refilled to min_size (the lease counts) while the lease is still out.
    ASSERT_TRUE(eventually([&] { return pool.stats().idle == 1 && pool.stats().total == 2; }));
    pool.release(leased);  // retired
    const PoolStats s = pool.stats();
    EXPECT_EQ(s.drains, 1);
    EXPECT_EQ(s.closed_drained, 2);
    EXPECT_TRUE(eventually([&] { return pool.stats().total == 2; }));
    Slot *a = acquire();
    Slot *b = acquire();
    EXPECT_EQ(before.count(id_of(a)), 0U);
    EXPECT_EQ(before.count(id_of(b)), 0U);
    pool.release(a);
    pool.release(b);
    EXPECT_EQ(pool.stats().total, 2);  // new connections are not retired
}

// ----- check --------------------------------------------------------------------------------

TEST_F(OperationsTest, CheckClosesDeadIdleConnectionsAndLeavesLeasedOnes) {
    Pool &pool = make(3, 4);
    Slot *leased = acquire();
    server_->kill(id_of(leased));  // leased: not checked
    Slot *idle = acquire();
    const int dead_id = id_of(idle);
    pool.release(idle);
    server_->kill(dead_id);
    const int pings_before = server_->pings.load();
    int64_t closed = -1;
    ASSERT_EQ(pool.check(closed, nullptr), CONNPOOL_OK);
    EXPECT_EQ(closed, 1);
    EXPECT_EQ(server_->pings.load() - pings_before, 1);  // the live idle one (dead: local check)
    PoolStats s = pool.stats();
    EXPECT_EQ(s.keepalive_checks, 2);
    EXPECT_EQ(s.keepalive_failures, 1);
    EXPECT_EQ(s.in_use, 1);
    EXPECT_TRUE(eventually([&] { return pool.stats().total == 3; }));  // replaced

    server_->ping_fails = true;  // a ping that fails also counts as dead
    ASSERT_EQ(pool.check(closed, nullptr), CONNPOOL_OK);
    EXPECT_EQ(closed, 2);
    server_->ping_fails = false;
    pool.release(leased);
}

TEST_F(OperationsTest, OperationsOnAClosedPoolSaySo) {
    Pool &pool = make(0, 1);
    pool.close();
    int64_t closed = 0;
    EXPECT_EQ(pool.resize(0, 2, nullptr), CONNPOOL_ERR_POOL_CLOSED);
    EXPECT_EQ(pool.pause(nullptr), CONNPOOL_ERR_POOL_CLOSED);
    EXPECT_EQ(pool.resume(nullptr), CONNPOOL_ERR_POOL_CLOSED);
    EXPECT_EQ(pool.drain(nullptr), CONNPOOL_ERR_POOL_CLOSED);
    EXPECT_EQ(pool.check(closed, nullptr), CONNPOOL_ERR_POOL_CLOSED);
    const auto tree = parse_json(pool.connections_json());
    ASSERT_TRUE(tree);
    EXPECT_EQ(tree->get_child("connections").size(), 0U);
}

// ----- metadata -----------------------------------------------------------------------------

TEST_F(OperationsTest, LeaseInfoCountsUsesOfAConnection) {
    Pool &pool = make(0, 1);
    Slot *slot = acquire();
    LeaseInfo info = pool.lease_info(*slot);
    EXPECT_EQ(info.connection_id, static_cast<uint64_t>(id_of(slot)));
    EXPECT_EQ(info.backend_pid, 1000 + id_of(slot));
    EXPECT_EQ(info.use_count, 1);
    EXPECT_TRUE(info.is_new);
    EXPECT_EQ(info.last_used_at, info.created_at);
    std::this_thread::sleep_for(Millis(20));
    pool.release(slot);
    slot = acquire();
    info = pool.lease_info(*slot);
    EXPECT_EQ(info.use_count, 2);
    EXPECT_FALSE(info.is_new);
    EXPECT_GE(info.last_used_at - info.created_at, Millis(10));
    pool.release(slot);
}

TEST_F(OperationsTest, ConnectionsListShowsStatesLabelsAndUses) {
    Pool &pool = make(2, 2);
    Slot *slot = acquire();
    pool.set_label(*slot, "report \"daily\"");
    std::this_thread::sleep_for(Millis(30));
    ASSERT_EQ(pool.pause(nullptr), CONNPOOL_OK);
    std::string why;
    const auto tree = parse_json(pool.connections_json(), &why);
    ASSERT_TRUE(tree) << why;
    EXPECT_EQ(tree->get<std::string>("pool"), "ops-test");
    EXPECT_EQ(tree->get<bool>("paused"), true);
    EXPECT_EQ(tree->get<int>("min_size"), 2);
    EXPECT_EQ(tree->get<int>("max_size"), 2);
    EXPECT_EQ(tree->get<int>("opening"), 0);
    int idle = 0, in_use = 0;
    for (const auto &[key, c] : tree->get_child("connections")) {
        EXPECT_EQ(c.get<int>("backend_pid"), 1000 + c.get<int>("id"));
        if (c.get<std::string>("state") == "in_use") {
            ++in_use;
            EXPECT_EQ(c.get<int>("id"), id_of(slot));
            EXPECT_EQ(c.get<std::string>("label"), "report \"daily\"");
            EXPECT_GE(c.get<int>("held_ms"), 25);
            EXPECT_EQ(c.get<int>("uses"), 1);
            EXPECT_EQ(c.get<int>("idle_ms"), 0);
        } else {
            ++idle;
            EXPECT_EQ(c.get<std::string>("state"), "idle");
            EXPECT_EQ(c.get<int>("uses"), 0);
            EXPECT_GE(c.get<int>("idle_ms"), 25);
            EXPECT_EQ(c.get<int>("held_ms"), 0);
        }
        EXPECT_GE(c.get<int>("age_ms"), 25);
    }
    EXPECT_EQ(idle, 1);
    EXPECT_EQ(in_use, 1);
    ASSERT_EQ(pool.resume(nullptr), CONNPOOL_OK);
    pool.release(slot);
}

}  // namespace
}  // namespace connpool::testing
