// Failure behaviour over the fake connector: the circuit breaker, bounded connect attempts
// during an outage, max_waiting, the idle sweep after a dead connection, leak reports, fork.
#include <sys/wait.h>
#include <unistd.h>

#include <thread>
#include <vector>

#include "test_support.hpp"

namespace connpool::testing {
namespace {

class ResilienceTest : public ::testing::Test {
  protected:
    void TearDown() override {
        if (pool_ != nullptr) {
            EXPECT_EQ(connpool_pool_free(pool_), CONNPOOL_OK);
        }
        EXPECT_TRUE(eventually([&] { return server_->open_connections() == 0; }));
    }
    connpool_status try_acquire(int64_t timeout_ms, connpool_lease **out,
                                ErrorBox *error = nullptr) {
        return connpool_pool_acquire(out, pool_, timeout_ms, error ? error->out() : nullptr);
    }
    std::shared_ptr<FakeServer> server_ = std::make_shared<FakeServer>();
    connpool_pool *pool_ = nullptr;
};

TEST_F(ResilienceTest, BreakerOpensAfterConsecutiveFailuresAndWaitersFailFast) {
    server_->refuse = true;
    pool_ = make_fake_pool(server_, {{"max_size", "2"}, {"breaker_threshold", "3"}});
    connpool_lease *lease = nullptr;
    ErrorBox error;
    TimePoint start = Clock::now();
    // Failures at ~0, ~100 and ~300 ms (backoff 100, 200 ms +-20%): the third opens the breaker
    // and the waiter hears it then, not at its 10 s timeout.
    EXPECT_EQ(try_acquire(10'000, &lease, &error), CONNPOOL_ERR_DATABASE_UNAVAILABLE);
    EXPECT_LT(elapsed_ms(start), 1000);
    EXPECT_NE(error.message().find("fake server refused"), std::string::npos) << error.message();
    EXPECT_NE(error.message().find("3 consecutive"), std::string::npos) << error.message();
    connpool_stats s = stats_of(pool_);
    EXPECT_EQ(s.breaker_state, 1);
    EXPECT_EQ(s.breaker_opens, 1);
    // While it is open, nothing to wait for: refused at once.
    start = Clock::now();
    EXPECT_EQ(try_acquire(10'000, &lease), CONNPOOL_ERR_DATABASE_UNAVAILABLE);
    EXPECT_LT(elapsed_ms(start), 50);
    EXPECT_GE(stats_of(pool_).unavailable, 2);
    // The server comes back: the background probe closes the breaker without anyone waiting.
    server_->refuse = false;
    EXPECT_TRUE(eventually(
        [&] {
            connpool_lease *l = nullptr;
            if (try_acquire(0, &l) != CONNPOOL_OK) return false;
            connpool_lease_release(l, nullptr);
            return true;
        },
        8000));
    s = stats_of(pool_);
    EXPECT_EQ(s.breaker_state, 0);
    EXPECT_EQ(s.breaker_opens, 1);
    EXPECT_LE(server_->max_in_flight.load(), 2);
}

TEST_F(ResilienceTest, HalfOpenBreakerProbesOneConnectionAtATime) {
    server_->refuse = true;
    pool_ = make_fake_pool(server_, {{"min_size", "4"},
                                     {"max_size", "4"},
                                     {"breaker_threshold", "1"},
                                     {"max_concurrent_connects", "4"}});
    ASSERT_TRUE(eventually([&] { return stats_of(pool_).breaker_state != 0; }));
    server_->connect_delay_ms = 30;
    const int before = server_->attempts.load();
    server_->max_in_flight = 0;
    std::this_thread::sleep_for(Millis(1500));
    EXPECT_EQ(server_->max_in_flight.load(), 1) << "more than one probe in flight";
    EXPECT_GT(server_->attempts.load(), before) << "no probe at all";
    server_->refuse = false;
    EXPECT_EQ(connpool_pool_wait_ready(pool_, 8000, nullptr), CONNPOOL_OK);
    EXPECT_EQ(stats_of(pool_).breaker_state, 0);
}

TEST_F(ResilienceTest, AuthenticationFailureOpensTheBreakerAtOnceAndHealsWhenFixed) {
    server_->refuse_permanently = true;
    pool_ = make_fake_pool(server_, {{"max_size", "2"}});  // default breaker_threshold 5
    connpool_lease *lease = nullptr;
    ErrorBox error;
    const TimePoint start = Clock::now();
    EXPECT_EQ(try_acquire(5000, &lease, &error), CONNPOOL_ERR_DATABASE_UNAVAILABLE);
    EXPECT_LT(elapsed_ms(start), 200);
    EXPECT_NE(error.message().find("password authentication failed"), std::string::npos);
    EXPECT_EQ(server_->attempts.load(), 1);
    server_->refuse_permanently = false;  // the password was rotated on the server's side
    EXPECT_TRUE(eventually(
        [&] {
            connpool_lease *l = nullptr;
            if (try_acquire(0, &l) != CONNPOOL_OK) return false;
            connpool_lease_release(l, nullptr);
            return true;
        },
        8000));
}

TEST_F(ResilienceTest, AnOutageCostsATrickleOfAttemptsNotAStorm) {
    server_->refuse = true;
    pool_ = make_fake_pool(server_, {{"max_size", "4"},
                                     {"max_concurrent_connects", "2"},
                                     {"breaker_threshold", "0"}});  // keep everyone waiting
    std::vector<connpool_acquire *> waiters(500);
    for (auto &w : waiters) {
        ASSERT_EQ(connpool_pool_acquire_async(&w, pool_, 1600, nullptr), CONNPOOL_OK);
    }
    EXPECT_EQ(stats_of(pool_).waiting, 500);
    for (auto *w : waiters) EXPECT_EQ(connpool_acquire_wait(w, 5000, nullptr), CONNPOOL_OK);
    // Backoff steps in 1.6 s: ~0, 100, 300, 700, 1500 ms: at most 2 attempts per step.
    EXPECT_LE(server_->attempts.load(), 12) << "a retry storm";
    EXPECT_GE(server_->attempts.load(), 3);
    EXPECT_LE(server_->max_in_flight.load(), 2);
    connpool_lease *lease = nullptr;
    for (auto *w : waiters) {
        EXPECT_EQ(connpool_acquire_result(&lease, w, nullptr), CONNPOOL_ERR_CONNECT_FAILED);
        connpool_acquire_free(w);
    }
    EXPECT_EQ(stats_of(pool_).acquire_timeouts, 500);
}

TEST_F(ResilienceTest, MaxWaitingRejectsAtOnce) {
    pool_ = make_fake_pool(server_, {{"max_size", "1"}, {"max_waiting", "2"}});
    connpool_lease *held = nullptr;
    ASSERT_EQ(try_acquire(1000, &held), CONNPOOL_OK);
    connpool_acquire *a = nullptr, *b = nullptr, *c = nullptr;
    ASSERT_EQ(connpool_pool_acquire_async(&a, pool_, 5000, nullptr), CONNPOOL_OK);
    ASSERT_EQ(connpool_pool_acquire_async(&b, pool_, 5000, nullptr), CONNPOOL_OK);
    ASSERT_EQ(connpool_pool_acquire_async(&c, pool_, 5000, nullptr), CONNPOOL_OK);
    connpool_lease *lease = nullptr;
    ErrorBox error;
    EXPECT_EQ(connpool_acquire_result(&lease, c, error.out()), CONNPOOL_ERR_TOO_MANY_WAITERS);
    EXPECT_NE(error.message().find("max_waiting 2"), std::string::npos) << error.message();
    const TimePoint start = Clock::now();
    EXPECT_EQ(try_acquire(5000, &lease), CONNPOOL_ERR_TOO_MANY_WAITERS);
    EXPECT_LT(elapsed_ms(start), 50);
    EXPECT_EQ(try_acquire(0, &lease), CONNPOOL_ERR_TIMEOUT) << "a non-waiting try is not a waiter";
    EXPECT_EQ(stats_of(pool_).waiters_rejected, 2);
    for (auto *r : {a, b, c}) connpool_acquire_free(r);
    EXPECT_EQ(connpool_lease_release(held, nullptr), CONNPOOL_OK);
}

TEST_F(ResilienceTest, OneDeadIdleConnectionTriggersASweepOfTheOthers) {
    pool_ = make_fake_pool(server_, {{"min_size", "4"}, {"max_size", "4"}, {"pre_ping", "off"}});
    ASSERT_EQ(connpool_pool_wait_ready(pool_, 2000, nullptr), CONNPOOL_OK);
    for (int id = 1; id <= 4; ++id) server_->kill(id);  // "the server restarted"
    connpool_lease *lease = nullptr;
    ASSERT_EQ(try_acquire(2000, &lease), CONNPOOL_OK);
    EXPECT_GT(fake_of(lease).id, 4);
    EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
    // The acquirer may discard some dead ones itself before the maintenance thread sweeps the
    // rest: either way all four go, and exactly one sweep runs.
    EXPECT_TRUE(eventually([&] {
        const connpool_stats s = stats_of(pool_);
        return s.closed_broken == 4 && s.sweeps == 1;
    }));
    const connpool_stats s = stats_of(pool_);
    EXPECT_EQ(s.sweeps, 1);
    EXPECT_EQ(s.idle + s.in_use, s.total);
    EXPECT_TRUE(eventually([&] { return stats_of(pool_).total == 4; })) << "refilled to min_size";
}

TEST_F(ResilienceTest, LeaseHeldPastLeakThresholdIsReportedOnce) {
    pool_ = make_fake_pool(
        server_, {{"max_size", "2"}, {"leak_threshold", "60"}, {"maintenance_interval", "1000"}});
    connpool_lease *leaky = nullptr, *quick = nullptr;
    ASSERT_EQ(try_acquire(1000, &leaky), CONNPOOL_OK);
    EXPECT_EQ(connpool_lease_set_label(leaky, "report-job", nullptr), CONNPOOL_OK);
    ASSERT_EQ(try_acquire(1000, &quick), CONNPOOL_OK);
    EXPECT_EQ(connpool_lease_release(quick, nullptr), CONNPOOL_OK);
    const TimePoint since = Clock::now();
    EXPECT_TRUE(eventually([&] { return stats_of(pool_).leaks_detected == 1; }, 1000));
    EXPECT_LT(elapsed_ms(since), 200)
        << "reported within ~2x leak_threshold, not at the 1 s interval";
    std::this_thread::sleep_for(Millis(200));
    EXPECT_EQ(stats_of(pool_).leaks_detected, 1) << "reported once";
    const std::string long_label(300, 'x');
    EXPECT_EQ(connpool_lease_set_label(leaky, long_label.c_str(), nullptr),
              CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(connpool_lease_set_label(leaky, nullptr, nullptr), CONNPOOL_OK);
    EXPECT_EQ(connpool_lease_release(leaky, nullptr), CONNPOOL_OK);
    EXPECT_EQ(connpool_lease_set_label(leaky, "x", nullptr), CONNPOOL_ERR_INVALID_HANDLE);
}

TEST_F(ResilienceTest, ChildAfterForkGetsForkedAndNeverTouchesTheParentsConnections) {
    pool_ = make_fake_pool(server_, {{"min_size", "2"}, {"max_size", "2"}});
    ASSERT_EQ(connpool_pool_wait_ready(pool_, 2000, nullptr), CONNPOOL_OK);
    connpool_lease *held = nullptr, *other = nullptr;
    ASSERT_EQ(try_acquire(1000, &held), CONNPOOL_OK);
    ASSERT_EQ(try_acquire(1000, &other), CONNPOOL_OK);
    // A parent thread blocked in acquire holds a reference on the pool handle at fork time.
    std::thread blocked([&] {
        connpool_lease *l = nullptr;
        if (connpool_pool_acquire(&l, pool_, 5000, nullptr) == CONNPOOL_OK) {
            connpool_lease_release(l, nullptr);
        }
    });
    ASSERT_TRUE(eventually([&] { return stats_of(pool_).waiting == 1; }));
    connpool_acquire *pending = nullptr;  // an asynchronous acquire waiting at fork time
    ASSERT_EQ(connpool_pool_acquire_async(&pending, pool_, 5000, nullptr), CONNPOOL_OK);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        alarm(5);  // a hang in the child is a failure, not a stuck test
        // Exit codes tell the parent which promise broke.
        connpool_lease *lease = nullptr;
        if (connpool_pool_acquire(&lease, pool_, 0, nullptr) != CONNPOOL_ERR_FORKED) _exit(10);
        if (connpool_lease_release(held, nullptr) != CONNPOOL_ERR_FORKED) _exit(11);
        connpool_stats s{};
        s.struct_size = sizeof s;
        if (connpool_pool_stats(&s, pool_, nullptr) != CONNPOOL_ERR_FORKED) _exit(12);
        // These would take the pool's mutex, which a parent thread may have held at fork().
        int32_t fd = 0;
        if (connpool_acquire_fd(&fd, pending, nullptr) != CONNPOOL_ERR_FORKED) _exit(16);
        if (connpool_acquire_wait(pending, 0, nullptr) != CONNPOOL_ERR_FORKED) _exit(17);
        const int open_before = server_->open_connections();
        if (connpool_pool_free(pool_) != CONNPOOL_OK) _exit(13);
        if (server_->open_connections() != open_before) _exit(14);  // nothing closed
        if (connpool_pool_free(pool_) != CONNPOOL_ERR_INVALID_HANDLE) _exit(15);
        _exit(0);
    }
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
    // The parent is unaffected.
    EXPECT_EQ(connpool_acquire_free(pending), CONNPOOL_OK);
    EXPECT_EQ(connpool_lease_release(held, nullptr), CONNPOOL_OK);
    blocked.join();
    EXPECT_EQ(connpool_lease_release(other, nullptr), CONNPOOL_OK);
    connpool_lease *lease = nullptr;
    EXPECT_EQ(try_acquire(1000, &lease), CONNPOOL_OK);
    EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
}

// Found in review: each replaced connection used to restart the wait.
TEST_F(ResilienceTest, ReplacingDeadConnectionsNeverStretchesTheDeadline) {
    server_->ping_delay_ms = 60'000;  // pings never answer (a black-holed peer)
    pool_ = make_fake_pool(server_, {{"min_size", "5"},
                                     {"max_size", "5"},
                                     {"pre_ping_threshold", "0"},
                                     {"health_check_timeout", "500"}});
    ASSERT_EQ(connpool_pool_wait_ready(pool_, 2000, nullptr), CONNPOOL_OK);
    connpool_lease *lease = nullptr;
    const TimePoint start = Clock::now();
    EXPECT_EQ(try_acquire(100, &lease), CONNPOOL_ERR_TIMEOUT);
    EXPECT_GE(elapsed_ms(start), 100);
    EXPECT_LT(elapsed_ms(start), 300) << "the ping must not outlast the acquire's deadline";
    EXPECT_LE(server_->pings.load(), 2);
    connpool_acquire *request = nullptr;  // the same bound for the asynchronous path
    ASSERT_EQ(connpool_pool_acquire_async(&request, pool_, 100, nullptr), CONNPOOL_OK);
    const TimePoint async_start = Clock::now();
    connpool_status s = connpool_acquire_result(&lease, request, nullptr);
    while (s == CONNPOOL_ERR_IN_PROGRESS && elapsed_ms(async_start) < 2000) {
        connpool_acquire_wait(request, 50, nullptr);
        s = connpool_acquire_result(&lease, request, nullptr);
    }
    EXPECT_EQ(s, CONNPOOL_ERR_TIMEOUT);
    EXPECT_LT(elapsed_ms(async_start), 300);
    connpool_acquire_free(request);
}

TEST_F(ResilienceTest, CancelDuringValidationOfADeadGrantIsHonoured) {
    server_->ping_delay_ms = 200;
    server_->ping_fails = true;
    server_->refuse = true;  // no replacement will come
    pool_ = make_fake_pool(server_, {{"min_size", "1"},
                                     {"max_size", "1"},
                                     {"pre_ping_threshold", "0"},
                                     {"breaker_threshold", "0"}});
    server_->refuse = false;
    ASSERT_EQ(connpool_pool_wait_ready(pool_, 2000, nullptr), CONNPOOL_OK);
    server_->refuse = true;
    connpool_acquire *request = nullptr;
    ASSERT_EQ(connpool_pool_acquire_async(&request, pool_, 5000, nullptr), CONNPOOL_OK);
    std::thread canceller([&] {
        std::this_thread::sleep_for(Millis(50));
        EXPECT_EQ(connpool_acquire_cancel(request), CONNPOOL_OK);
        // A second collector while the first validates gets IN_PROGRESS, not a crash.
        connpool_lease *other = nullptr;
        EXPECT_EQ(connpool_acquire_result(&other, request, nullptr), CONNPOOL_ERR_IN_PROGRESS);
    });
    connpool_lease *lease = nullptr;
    EXPECT_EQ(connpool_acquire_result(&lease, request, nullptr), CONNPOOL_ERR_CANCELED);
    canceller.join();
    EXPECT_EQ(connpool_acquire_free(request), CONNPOOL_OK);
    EXPECT_EQ(stats_of(pool_).waiting, 0);
}

TEST_F(ResilienceTest, AsyncDeadlineHoldsAfterADeadGrantRequeuesTheRequest) {
    pool_ = make_fake_pool(server_, {{"min_size", "1"},
                                     {"max_size", "1"},
                                     {"pre_ping", "off"},
                                     {"maintenance_interval", "3000"},
                                     {"breaker_threshold", "0"}});
    ASSERT_EQ(connpool_pool_wait_ready(pool_, 2000, nullptr), CONNPOOL_OK);
    server_->kill(1);
    server_->refuse = true;
    connpool_acquire *request = nullptr;
    const TimePoint start = Clock::now();
    ASSERT_EQ(connpool_pool_acquire_async(&request, pool_, 300, nullptr), CONNPOOL_OK);
    connpool_lease *lease = nullptr;
    EXPECT_EQ(connpool_acquire_result(&lease, request, nullptr), CONNPOOL_ERR_IN_PROGRESS);
    EXPECT_EQ(connpool_acquire_wait(request, 5000, nullptr), CONNPOOL_OK);
    EXPECT_LT(elapsed_ms(start), 600) << "enforced at the deadline, not at the next maintenance";
    EXPECT_EQ(connpool_acquire_result(&lease, request, nullptr), CONNPOOL_ERR_CONNECT_FAILED);
    connpool_acquire_free(request);
}

TEST_F(ResilienceTest, UnusedGrantKeepsItsIdleTimeForPrePing) {
    pool_ = make_fake_pool(server_,
                           {{"min_size", "1"}, {"max_size", "1"}, {"pre_ping_threshold", "100"}});
    ASSERT_EQ(connpool_pool_wait_ready(pool_, 2000, nullptr), CONNPOOL_OK);
    std::this_thread::sleep_for(Millis(150));
    connpool_acquire *request = nullptr;
    ASSERT_EQ(connpool_pool_acquire_async(&request, pool_, 1000, nullptr), CONNPOOL_OK);
    EXPECT_EQ(connpool_acquire_free(request), CONNPOOL_OK);  // granted, never collected
    connpool_lease *lease = nullptr;
    ASSERT_EQ(try_acquire(1000, &lease), CONNPOOL_OK);
    EXPECT_EQ(server_->pings.load(), 1) << "idle 150 ms > threshold: must be pinged";
    EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
}

TEST_F(ResilienceTest, FreeIsNotHeldUpByAThreadWaitingOnTheRequest) {
    pool_ = make_fake_pool(server_, {{"max_size", "1"}});
    connpool_lease *held = nullptr;
    ASSERT_EQ(try_acquire(1000, &held), CONNPOOL_OK);
    connpool_acquire *request = nullptr;
    ASSERT_EQ(connpool_pool_acquire_async(&request, pool_, 4000, nullptr), CONNPOOL_OK);
    std::thread waiter([&] { connpool_acquire_wait(request, -1, nullptr); });
    std::this_thread::sleep_for(Millis(50));
    const TimePoint start = Clock::now();
    EXPECT_EQ(connpool_acquire_free(request), CONNPOOL_OK);
    EXPECT_LT(elapsed_ms(start), 200);
    waiter.join();
    EXPECT_EQ(connpool_lease_release(held, nullptr), CONNPOOL_OK);
}

TEST_F(ResilienceTest, ALabelBelongsToOneLease) {
    pool_ = make_fake_pool(server_, {{"max_size", "1"}});
    connpool_lease *lease = nullptr;
    ASSERT_EQ(try_acquire(1000, &lease), CONNPOOL_OK);
    ASSERT_EQ(connpool_lease_set_label(lease, "first-lease", nullptr), CONNPOOL_OK);
    EXPECT_EQ(label_of(lease), "first-lease");
    ASSERT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
    ASSERT_EQ(try_acquire(1000, &lease), CONNPOOL_OK);
    EXPECT_EQ(label_of(lease), "");
    ASSERT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
}

}  // namespace
}  // namespace connpool::testing
