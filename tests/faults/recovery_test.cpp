// Fast recovery after an outage (recovery_probe_interval): callers wait while the server is
// down; the time from the server being back to their first successful acquire is measured.
// Without the short probe interval it was the rest of a backoff step (up to 5 s).
#include <atomic>
#include <cstdlib>
#include <iostream>
#include <thread>
#include <vector>

#include "pg_support.hpp"

namespace connpool::pgtest {
namespace {

void server(const char *action) {
    const std::string command = std::string(CONNPOOL_PG_SERVER_SCRIPT) + " " + action + " " +
                                std::getenv("CONNPOOL_TEST_PG_DIR");
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
}

int64_t ms_between(Clock::time_point from, Clock::time_point to) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(to - from).count();
}

class RecoveryTest : public RealPoolTest {
  protected:
    void SetUp() override {
        if (std::getenv("CONNPOOL_TEST_PG_DIR") == nullptr ||
            std::getenv("CONNPOOL_TEST_CONNINFO")) {
            GTEST_SKIP() << "fault tests restart their server: they need the throwaway one";
        }
        RealPoolTest::SetUp();
    }
    void TearDown() override {
        if (!IsSkipped()) RealPoolTest::TearDown();
    }
};

TEST_F(RecoveryTest, WaitersAreServedWithinASecondOfTheServerComingBack) {
    // breaker_threshold 0: the waiters keep waiting through the outage (an open breaker would
    // refuse them once no connection is left).
    make({{"max_size", "2"}, {"breaker_threshold", "0"}, {"recovery_probe_interval", "250"}});
    server("halt");
    std::atomic<int64_t> served_at_ns{0};
    std::atomic<int> ok{0};
    std::vector<std::thread> waiters;
    for (int i = 0; i < 3; ++i) {
        waiters.emplace_back([&] {
            connpool_lease *lease = nullptr;
            Error error;
            if (connpool_pool_acquire(&lease, pool_, 30000, error.out()) != CONNPOOL_OK) {
                ADD_FAILURE() << error.message();
                return;
            }
            int64_t expected = 0;
            served_at_ns.compare_exchange_strong(expected, Clock::now().time_since_epoch().count());
            EXPECT_EQ(scalar(lease, "SELECT 1"), "1");
            ++ok;
            connpool_lease_release(lease, nullptr);
        });
    }
    // Long enough for the backoff to reach steps of 1.6-3.2 s.
    std::this_thread::sleep_for(std::chrono::milliseconds(3500));
    ASSERT_EQ(ok.load(), 0);
    const auto resume_start = Clock::now();
    server("resume");  // returns once the server accepts connections
    const auto back = Clock::now();
    for (std::thread &t : waiters) t.join();
    ASSERT_EQ(ok.load(), 3);
    const Clock::time_point served{Clock::duration(served_at_ns.load())};
    // pg_ctl polls for readiness, so the pool may be served before `back`: the time since the
    // start command began (server start-up included) is the upper bound asserted.
    const int64_t recovery = ms_between(resume_start, served);
    std::cout << "recovery: first acquire served " << recovery
              << " ms after the server start began (pg_ctl start -w returned after "
              << ms_between(resume_start, back) << " ms, " << ms_between(back, served)
              << " ms from then); connect errors during the outage: " << stats().connect_errors
              << "\n";
    EXPECT_LT(recovery, 1500);
}

}  // namespace
}  // namespace connpool::pgtest
