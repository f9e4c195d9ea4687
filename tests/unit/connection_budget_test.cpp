// The connection budget shared by pools: first ConnectionBudget alone with scripted members,
// then core Pools over the fake connector sharing one budget (no C shim, no server).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "core/connection_budget.hpp"
#include "core/pool.hpp"
#include "fake_connector.hpp"
#include "wait_support.hpp"

namespace connpool::testing {
namespace {

// ----- the budget alone ---------------------------------------------------------------------

struct ScriptedMember final : BudgetMember {
    explicit ScriptedMember(ConnectionBudget &b) : budget(b) {}
    ConnectionBudget &budget;
    int idle = 0;  // idle connections it would give up
    std::atomic<int> gave_up{0}, freed_notices{0};
    bool give_up_idle_connection() override {
        if (idle == 0) return false;
        --idle;
        ++gave_up;
        return true;  // its permit passes to the caller
    }
    void budget_permit_freed() override { ++freed_notices; }
};

TEST(ConnectionBudgetTest, CountsPermitsEvenWithoutALimit) {
    ConnectionBudget budget;
    ScriptedMember a(budget);
    budget.join(a);
    for (int i = 0; i < 5; ++i) EXPECT_TRUE(budget.take(a, false));
    EXPECT_EQ(budget.held(), 5);
    budget.give_back();
    EXPECT_EQ(budget.held(), 4);
    budget.leave(a);
}

TEST(ConnectionBudgetTest, RefusesAtTheLimitAndTellsTheRefusedWhenOneFrees) {
    ConnectionBudget budget;
    budget.set_limit(2);
    ScriptedMember a(budget), b(budget);
    budget.join(a);
    budget.join(b);
    EXPECT_TRUE(budget.take(a, false));
    EXPECT_TRUE(budget.take(a, false));
    EXPECT_FALSE(budget.take(b, false));
    EXPECT_EQ(budget.held(), 2);
    EXPECT_EQ(a.freed_notices.load(), 0);
    budget.give_back();
    EXPECT_EQ(b.freed_notices.load(), 1);  // only the member that was refused
    EXPECT_EQ(a.freed_notices.load(), 0);
    budget.give_back();
    EXPECT_EQ(b.freed_notices.load(), 1);  // told once per refusal
    EXPECT_TRUE(budget.take(b, false));
    budget.leave(a);
    budget.leave(b);
}

TEST(ConnectionBudgetTest, ReclaimsAnotherMembersIdleConnectionOnlyWhenAllowed) {
    ConnectionBudget budget;
    budget.set_limit(1);
    ScriptedMember a(budget), b(budget);
    budget.join(a);
    budget.join(b);
    EXPECT_TRUE(budget.take(a, false));
    a.idle = 1;
    EXPECT_FALSE(budget.take(b, false));  // min_size top-ups do not take from others
    EXPECT_EQ(a.gave_up.load(), 0);
    EXPECT_TRUE(budget.take(b, true));  // acquirers wait: a's idle connection passes to b
    EXPECT_EQ(a.gave_up.load(), 1);
    EXPECT_EQ(budget.held(), 1);         // the permit moved; the count did not
    EXPECT_FALSE(budget.take(b, true));  // nothing idle left anywhere
    budget.leave(a);
    budget.leave(b);
}

TEST(ConnectionBudgetTest, LoweringTheLimitClosesNothingButRefusesUntilBelow) {
    ConnectionBudget budget;
    ScriptedMember a(budget);
    budget.join(a);
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(budget.take(a, false));
    budget.set_limit(2);
    EXPECT_EQ(budget.held(), 4);
    EXPECT_FALSE(budget.take(a, false));
    budget.give_back();
    budget.give_back();
    EXPECT_FALSE(budget.take(a, false));  // 2 open, budget 2
    budget.give_back();
    EXPECT_TRUE(budget.take(a, false));
    // A reclaimed connection while over the limit only brings the count down.
    budget.set_limit(1);
    ScriptedMember b(budget);
    budget.join(b);
    a.idle = 1;
    EXPECT_FALSE(budget.take(b, true));
    EXPECT_EQ(a.gave_up.load(), 1);
    EXPECT_EQ(budget.held(), 1);
    budget.set_limit(0);  // off: the refused member is told
    EXPECT_GE(b.freed_notices.load(), 1);
    budget.leave(a);
    budget.leave(b);
    budget.leave(b);  // idempotent
}

// ----- pools sharing a budget ---------------------------------------------------------------

// Counts the connections open through every connector made from it, exactly, and remembers
// the most that were ever open at once.
struct OpenCounter {
    std::atomic<int> open{0}, most{0};
    void opened() {
        const int now = ++open;
        int seen = most.load();
        while (now > seen && !most.compare_exchange_weak(seen, now)) {
        }
    }
};

class CountedConnection final : public Connection {
  public:
    CountedConnection(std::unique_ptr<Connection> inner, std::shared_ptr<OpenCounter> counter)
        : inner_(std::move(inner)), counter_(std::move(counter)) {
        counter_->opened();
    }
    ~CountedConnection() override {
        inner_.reset();
        --counter_->open;
    }
    Connection &inner() { return *inner_; }

  private:
    std::unique_ptr<Connection> inner_;
    std::shared_ptr<OpenCounter> counter_;
};

class CountingConnector final : public Connector {
  public:
    CountingConnector(std::shared_ptr<FakeServer> server, std::shared_ptr<OpenCounter> counter)
        : fake_(std::move(server)), counter_(std::move(counter)) {}
    std::unique_ptr<Connection> connect(TimePoint deadline, const std::atomic<bool> &abandon,
                                        ConnectFailure &failure) override {
        auto inner = fake_.connect(deadline, abandon, failure);
        if (!inner) return nullptr;
        return std::make_unique<CountedConnection>(std::move(inner), counter_);
    }
    bool looks_alive(Connection &c) override { return fake_.looks_alive(inner(c)); }
    bool ping(Connection &c, TimePoint deadline) override { return fake_.ping(inner(c), deadline); }
    ReleaseVerdict verdict_on_release(Connection &c) override {
        return fake_.verdict_on_release(inner(c));
    }
    bool reset(Connection &c, TimePoint deadline) override {
        return fake_.reset(inner(c), deadline);
    }

  private:
    static Connection &inner(Connection &c) { return static_cast<CountedConnection &>(c).inner(); }
    FakeConnector fake_;
    std::shared_ptr<OpenCounter> counter_;
};

class BudgetPoolTest : public ::testing::Test {
  protected:
    void TearDown() override {
        for (auto &pool : pools_) pool.reset();
        EXPECT_TRUE(eventually([&] { return counter_->open.load() == 0; }));
        EXPECT_EQ(budget_->held(), 0) << "every permit comes back";
    }

    Pool &make(const char *name, int64_t max_size, int64_t min_size = 0, bool with_budget = true) {
        PoolOptions options;
        options.name = name;
        options.max_size = max_size;
        options.min_size = min_size;
        options.pre_ping = false;
        pools_.push_back(Pool::create(std::move(options),
                                      std::make_unique<CountingConnector>(server_, counter_),
                                      with_budget ? budget_ : nullptr));
        return *pools_.back();
    }

    static Slot *acquire(Pool &pool, int64_t timeout_ms = 2000) {
        Slot *slot = nullptr;
        Error error;
        EXPECT_EQ(pool.acquire(timeout_ms, slot, &error), CONNPOOL_OK) << error.message;
        return slot;
    }

    std::shared_ptr<FakeServer> server_ = std::make_shared<FakeServer>();
    std::shared_ptr<OpenCounter> counter_ = std::make_shared<OpenCounter>();
    std::shared_ptr<ConnectionBudget> budget_ = std::make_shared<ConnectionBudget>();
    std::vector<std::shared_ptr<Pool>> pools_;
};

TEST_F(BudgetPoolTest, AcquireTimesOutWhenTheBudgetIsHeldByAnotherPoolsLeases) {
    budget_->set_limit(2);
    Pool &a = make("a", 4);
    Pool &b = make("b", 4);
    Slot *first = acquire(a);
    Slot *second = acquire(a);
    Slot *slot = nullptr;
    Error error;
    const TimePoint start = Clock::now();
    // Long enough for b's worker to have asked the budget (slow under sanitizers).
    EXPECT_EQ(b.acquire(500, slot, &error), CONNPOOL_ERR_TIMEOUT);
    EXPECT_GE(elapsed_ms(start), 490);
    EXPECT_NE(error.message.find("connection budget is spent (2 connection(s) open or opening, "
                                 "budget 2)"),
              std::string::npos)
        << error.message;
    EXPECT_EQ(counter_->most.load(), 2);
    a.release(first);
    a.release(second);
}

TEST_F(BudgetPoolTest, APoolShortOfBudgetClosesAnotherPoolsIdleConnection) {
    budget_->set_limit(2);
    Pool &a = make("a", 4);
    Pool &b = make("b", 4);
    Slot *first = acquire(a);
    Slot *second = acquire(a);
    a.release(first);
    a.release(second);
    ASSERT_EQ(a.stats().idle, 2);
    Slot *from_b = acquire(b, 1000);
    ASSERT_NE(from_b, nullptr);
    EXPECT_EQ(a.stats().total, 1);
    EXPECT_EQ(a.stats().closed, 1);
    EXPECT_EQ(counter_->most.load(), 2);
    b.release(from_b);
}

TEST_F(BudgetPoolTest, AWaitingPoolGetsAConnectionThatGoesIdleElsewhere) {
    budget_->set_limit(1);
    Pool &a = make("a", 2);
    Pool &b = make("b", 2);
    Slot *held = acquire(a);
    auto waiting = std::async(std::launch::async, [&] { return acquire(b, 3000); });
    ASSERT_TRUE(eventually([&] { return b.stats().waiting == 1; }));
    const TimePoint released = Clock::now();
    a.release(held);  // goes idle in a; b's retry finds it there
    Slot *got = waiting.get();
    ASSERT_NE(got, nullptr);
    EXPECT_LT(elapsed_ms(released), 1000);
    EXPECT_EQ(counter_->most.load(), 1);
    b.release(got);
}

TEST_F(BudgetPoolTest, AWaitingPoolIsToldWhenAConnectionCloses) {
    budget_->set_limit(1);
    Pool &a = make("a", 2);
    Pool &b = make("b", 2);
    Slot *held = acquire(a);
    auto waiting = std::async(std::launch::async, [&] { return acquire(b, 3000); });
    ASSERT_TRUE(eventually([&] { return b.stats().waiting == 1; }));
    FakeConnector::fake(static_cast<CountedConnection &>(*held->connection).inner()).state =
        FakeState::broken;
    a.release(held);  // discarded: its permit goes back to the budget
    Slot *got = waiting.get();
    ASSERT_NE(got, nullptr);
    EXPECT_EQ(counter_->most.load(), 1);
    b.release(got);
}

TEST_F(BudgetPoolTest, MinSizeTopUpWaitsForAPermitWithoutTakingFromOthers) {
    budget_->set_limit(2);
    Pool &a = make("a", 2, 2);
    ASSERT_EQ(a.wait_ready(2000, nullptr), CONNPOOL_OK);
    Pool &b = make("b", 2, 1);
    EXPECT_EQ(b.wait_ready(200, nullptr), CONNPOOL_ERR_TIMEOUT);
    EXPECT_EQ(a.stats().total, 2);  // nothing taken from a for a mere top-up
    pools_.front().reset();         // a closes: its permits free, b tops up
    EXPECT_EQ(b.wait_ready(2000, nullptr), CONNPOOL_OK);
    EXPECT_EQ(counter_->most.load(), 2);
}

TEST_F(BudgetPoolTest, PoolsWithoutTheBudgetAreNotCounted) {
    budget_->set_limit(1);
    Pool &a = make("a", 2);
    Pool &outside = make("outside", 2, 0, false);
    Slot *in_budget = acquire(a);
    Slot *first = acquire(outside);
    Slot *second = acquire(outside);
    EXPECT_EQ(budget_->held(), 1);
    EXPECT_EQ(counter_->most.load(), 3);
    outside.release(first);
    outside.release(second);
    a.release(in_budget);
}

TEST_F(BudgetPoolTest, LeasesOutliveTheirClosedPoolAndGiveThePermitBackOnRelease) {
    budget_->set_limit(1);
    Pool &a = make("a", 2);
    Pool &b = make("b", 2);
    Slot *held = acquire(a);
    a.close();
    Slot *slot = nullptr;
    EXPECT_EQ(b.acquire(100, slot, nullptr), CONNPOOL_ERR_TIMEOUT);  // still open: counted
    a.release(held);
    Slot *got = acquire(b, 2000);
    ASSERT_NE(got, nullptr);
    b.release(got);
}

// Many threads on three pools sharing a small budget: the budget holds at every instant, no
// deadlock, every acquire ends in bounded time (TSan runs this too).
TEST_F(BudgetPoolTest, ConcurrentLoadNeverExceedsTheBudget) {
    constexpr int kBudget = 3;
    budget_->set_limit(kBudget);
    std::vector<Pool *> pools = {&make("a", 3), &make("b", 3), &make("c", 3, 1)};
    std::atomic<int> ok{0}, timeouts{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&, t] {
            std::mt19937 random(static_cast<unsigned>(t));
            for (int i = 0; i < 100; ++i) {
                Pool &pool = *pools[random() % pools.size()];
                Slot *slot = nullptr;
                const connpool_status status = pool.acquire(500, slot, nullptr);
                if (status == CONNPOOL_OK) {
                    if (random() % 8 == 0) {
                        FakeConnector::fake(
                            static_cast<CountedConnection &>(*slot->connection).inner())
                            .state = FakeState::broken;
                    }
                    std::this_thread::sleep_for(std::chrono::microseconds(random() % 300));
                    pool.release(slot);
                    ++ok;
                } else {
                    EXPECT_EQ(status, CONNPOOL_ERR_TIMEOUT);
                    ++timeouts;
                }
            }
        });
    }
    for (std::thread &t : threads) t.join();
    EXPECT_LE(counter_->most.load(), kBudget);
    EXPECT_LE(budget_->held(), kBudget);
    EXPECT_GT(ok.load(), 8 * 100 / 2) << timeouts.load() << " timeouts";
}

}  // namespace
}  // namespace connpool::testing
