// The asynchronous acquire: pollable completion, deadlines enforced without a waiting thread,
// cancellation, FIFO together with blocking acquirers, and many waiters with no threads.
#include <poll.h>

#include <filesystem>
#include <thread>
#include <vector>

#include "test_support.hpp"

namespace connpool::testing {
namespace {

bool readable(connpool_acquire *request, int timeout_ms = 0) {
    int32_t fd = -1;
    EXPECT_EQ(connpool_acquire_fd(&fd, request, nullptr), CONNPOOL_OK);
    pollfd p{fd, POLLIN, 0};
    return poll(&p, 1, timeout_ms) == 1;
}

class AsyncTest : public ::testing::Test {
  protected:
    void TearDown() override {
        if (pool_ != nullptr) {
            EXPECT_EQ(connpool_pool_free(pool_), CONNPOOL_OK);
        }
        EXPECT_TRUE(eventually([&] { return server_->open_connections() == 0; }));
    }
    connpool_acquire *start(int64_t timeout_ms) {
        connpool_acquire *request = nullptr;
        EXPECT_EQ(connpool_pool_acquire_async(&request, pool_, timeout_ms, nullptr), CONNPOOL_OK);
        return request;
    }
    connpool_lease *acquire() {
        connpool_lease *lease = nullptr;
        EXPECT_EQ(connpool_pool_acquire(&lease, pool_, 1000, nullptr), CONNPOOL_OK);
        return lease;
    }
    std::shared_ptr<FakeServer> server_ = std::make_shared<FakeServer>();
    connpool_pool *pool_ = nullptr;
};

TEST_F(AsyncTest, IdleConnectionIsGrantedAtOnce) {
    pool_ = make_fake_pool(server_, {{"min_size", "1"}, {"max_size", "1"}});
    ASSERT_EQ(connpool_pool_wait_ready(pool_, 1000, nullptr), CONNPOOL_OK);
    connpool_acquire *request = start(1000);
    EXPECT_TRUE(readable(request));
    connpool_lease *lease = nullptr;
    EXPECT_EQ(connpool_acquire_result(&lease, request, nullptr), CONNPOOL_OK);
    ASSERT_NE(lease, nullptr);
    connpool_lease *again = nullptr;
    EXPECT_EQ(connpool_acquire_result(&again, request, nullptr), CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(connpool_acquire_free(request), CONNPOOL_OK);  // the lease is not affected
    EXPECT_EQ(stats_of(pool_).in_use, 1);
    EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
    EXPECT_EQ(connpool_acquire_free(request), CONNPOOL_ERR_INVALID_HANDLE);
}

int open_fds() {
    int n = 0;
    for (const auto &entry : std::filesystem::directory_iterator("/proc/self/fd")) {
        (void)entry;
        ++n;
    }
    return n;
}

TEST_F(AsyncTest, ImmediateGrantCostsNoFileDescriptor) {
    pool_ = make_fake_pool(server_, {{"min_size", "1"}, {"max_size", "1"}});
    ASSERT_EQ(connpool_pool_wait_ready(pool_, 1000, nullptr), CONNPOOL_OK);
    const int before = open_fds();
    connpool_acquire *request = start(1000);
    connpool_lease *lease = nullptr;
    EXPECT_EQ(connpool_acquire_result(&lease, request, nullptr), CONNPOOL_OK);
    EXPECT_EQ(open_fds(), before) << "an eventfd was created for a request granted at once";
    EXPECT_TRUE(readable(request)) << "asked for later, the fd is already readable";
    EXPECT_EQ(open_fds(), before + 1);
    EXPECT_EQ(connpool_acquire_free(request), CONNPOOL_OK);
    EXPECT_EQ(open_fds(), before);
    EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
}

TEST_F(AsyncTest, WaitsUntilAConnectionIsReleased) {
    pool_ = make_fake_pool(server_, {{"max_size", "1"}});
    connpool_lease *held = acquire();
    connpool_acquire *request = start(5000);
    EXPECT_FALSE(readable(request, 20));
    connpool_lease *lease = nullptr;
    EXPECT_EQ(connpool_acquire_result(&lease, request, nullptr), CONNPOOL_ERR_IN_PROGRESS);
    EXPECT_EQ(stats_of(pool_).waiting, 1);
    EXPECT_EQ(connpool_lease_release(held, nullptr), CONNPOOL_OK);
    EXPECT_TRUE(readable(request));
    EXPECT_EQ(connpool_acquire_result(&lease, request, nullptr), CONNPOOL_OK);
    EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
    EXPECT_EQ(connpool_acquire_free(request), CONNPOOL_OK);
    EXPECT_EQ(stats_of(pool_).acquired, 2);
}

TEST_F(AsyncTest, DeadlineIsEnforcedWithoutAWaitingThread) {
    pool_ = make_fake_pool(server_, {{"max_size", "1"}, {"maintenance_interval", "5000"}});
    connpool_lease *held = acquire();
    const TimePoint begin = Clock::now();
    connpool_acquire *request = start(150);
    EXPECT_EQ(connpool_acquire_wait(request, -1, nullptr), CONNPOOL_OK);
    EXPECT_GE(elapsed_ms(begin), 150);
    EXPECT_LT(elapsed_ms(begin), 450);
    connpool_lease *lease = nullptr;
    ErrorBox error;
    EXPECT_EQ(connpool_acquire_result(&lease, request, error.out()), CONNPOOL_ERR_TIMEOUT);
    EXPECT_NE(error.message().find("timed out after 150 ms"), std::string::npos) << error.message();
    EXPECT_EQ(connpool_acquire_free(request), CONNPOOL_OK);
    EXPECT_EQ(connpool_lease_release(held, nullptr), CONNPOOL_OK);
    EXPECT_EQ(stats_of(pool_).acquire_timeouts, 1);
    EXPECT_EQ(stats_of(pool_).waiting, 0);
}

TEST_F(AsyncTest, ZeroTimeoutFinishesAtOnce) {
    pool_ = make_fake_pool(server_, {{"max_size", "1"}});
    connpool_lease *held = acquire();
    connpool_acquire *request = start(0);
    EXPECT_TRUE(readable(request));
    connpool_lease *lease = nullptr;
    EXPECT_EQ(connpool_acquire_result(&lease, request, nullptr), CONNPOOL_ERR_TIMEOUT);
    EXPECT_EQ(connpool_acquire_free(request), CONNPOOL_OK);
    EXPECT_EQ(connpool_lease_release(held, nullptr), CONNPOOL_OK);
}

TEST_F(AsyncTest, CancelWhileWaitingFinishesPromptly) {
    pool_ = make_fake_pool(server_, {{"max_size", "1"}});
    connpool_lease *held = acquire();
    connpool_acquire *request = start(10'000);
    EXPECT_EQ(stats_of(pool_).waiting, 1);
    std::thread canceller([&] { EXPECT_EQ(connpool_acquire_cancel(request), CONNPOOL_OK); });
    const TimePoint begin = Clock::now();
    EXPECT_EQ(connpool_acquire_wait(request, 2000, nullptr), CONNPOOL_OK);
    EXPECT_LT(elapsed_ms(begin), 100);
    canceller.join();
    connpool_lease *lease = nullptr;
    EXPECT_EQ(connpool_acquire_result(&lease, request, nullptr), CONNPOOL_ERR_CANCELED);
    EXPECT_EQ(connpool_acquire_cancel(request), CONNPOOL_OK);  // idempotent
    EXPECT_EQ(stats_of(pool_).waiting, 0);
    EXPECT_EQ(connpool_acquire_free(request), CONNPOOL_OK);
    EXPECT_EQ(connpool_lease_release(held, nullptr), CONNPOOL_OK);
    EXPECT_EQ(stats_of(pool_).idle, 1) << "the release did not go to the cancelled request";
}

TEST_F(AsyncTest, UncollectedGrantGoesBackToThePool) {
    pool_ = make_fake_pool(server_, {{"max_size", "1"}});
    connpool_lease *held = acquire();
    connpool_acquire *first = start(5000);
    connpool_acquire *second = start(5000);
    EXPECT_EQ(connpool_lease_release(held, nullptr), CONNPOOL_OK);
    EXPECT_TRUE(readable(first));
    EXPECT_FALSE(readable(second));
    EXPECT_EQ(connpool_acquire_free(first), CONNPOOL_OK);  // granted, never collected
    EXPECT_TRUE(readable(second, 1000)) << "the grant moved on to the next waiter";
    connpool_lease *lease = nullptr;
    EXPECT_EQ(connpool_acquire_result(&lease, second, nullptr), CONNPOOL_OK);
    EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
    EXPECT_EQ(connpool_acquire_free(second), CONNPOOL_OK);
    EXPECT_EQ(stats_of(pool_).total, 1);
    EXPECT_EQ(stats_of(pool_).idle, 1);
}

TEST_F(AsyncTest, AsyncAndBlockingWaitersShareOneFifoQueue) {
    pool_ = make_fake_pool(server_, {{"max_size", "1"}});
    connpool_lease *held = acquire();
    connpool_acquire *request = start(5000);  // first in line
    std::atomic<bool> blocking_done{false};
    std::thread blocking([&] {
        connpool_lease *lease = nullptr;
        EXPECT_EQ(connpool_pool_acquire(&lease, pool_, 5000, nullptr), CONNPOOL_OK);
        blocking_done = true;
        EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
    });
    ASSERT_TRUE(eventually([&] { return stats_of(pool_).waiting == 2; }));
    EXPECT_EQ(connpool_lease_release(held, nullptr), CONNPOOL_OK);
    EXPECT_TRUE(readable(request, 1000));
    std::this_thread::sleep_for(Millis(20));
    EXPECT_FALSE(blocking_done.load()) << "the blocking waiter jumped the queue";
    connpool_lease *lease = nullptr;
    EXPECT_EQ(connpool_acquire_result(&lease, request, nullptr), CONNPOOL_OK);
    EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
    blocking.join();
    EXPECT_TRUE(blocking_done.load());
    EXPECT_EQ(connpool_acquire_free(request), CONNPOOL_OK);
}

TEST_F(AsyncTest, DeadGrantedConnectionIsReplacedAndTheRequestKeepsWaiting) {
    pool_ = make_fake_pool(server_, {{"min_size", "1"}, {"max_size", "1"}});
    ASSERT_EQ(connpool_pool_wait_ready(pool_, 1000, nullptr), CONNPOOL_OK);
    server_->kill(1);  // the idle connection's server side is gone
    connpool_acquire *request = start(2000);
    connpool_lease *lease = nullptr;
    connpool_status status = connpool_acquire_result(&lease, request, nullptr);
    if (status == CONNPOOL_ERR_IN_PROGRESS) {  // a replacement is being opened
        ASSERT_EQ(connpool_acquire_wait(request, 2000, nullptr), CONNPOOL_OK);
        status = connpool_acquire_result(&lease, request, nullptr);
    }
    ASSERT_EQ(status, CONNPOOL_OK);
    EXPECT_NE(fake_of(lease).id, 1);
    EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
    EXPECT_EQ(connpool_acquire_free(request), CONNPOOL_OK);
    EXPECT_EQ(stats_of(pool_).closed_broken, 1);
}

TEST_F(AsyncTest, CloseFinishesPendingRequestsWithPoolClosed) {
    pool_ = make_fake_pool(server_, {{"max_size", "1"}});
    connpool_lease *held = acquire();
    connpool_acquire *request = start(10'000);
    EXPECT_EQ(connpool_pool_close(pool_, nullptr), CONNPOOL_OK);
    EXPECT_TRUE(readable(request));
    connpool_lease *lease = nullptr;
    EXPECT_EQ(connpool_acquire_result(&lease, request, nullptr), CONNPOOL_ERR_POOL_CLOSED);
    EXPECT_EQ(connpool_acquire_free(request), CONNPOOL_OK);
    connpool_acquire *late = start(100);  // a closed pool still hands out a finished request
    EXPECT_EQ(connpool_acquire_result(&lease, late, nullptr), CONNPOOL_ERR_POOL_CLOSED);
    EXPECT_EQ(connpool_acquire_free(late), CONNPOOL_OK);
    EXPECT_EQ(connpool_lease_release(held, nullptr), CONNPOOL_OK);
}

TEST_F(AsyncTest, AThousandWaitersNeedNoThreads) {
    pool_ = make_fake_pool(server_, {{"max_size", "4"}});
    constexpr int kRequests = 1000;
    std::vector<connpool_acquire *> requests(kRequests);
    for (auto &r : requests) r = start(30'000);
    // One thread drives everything with poll(), like an event loop.
    int done = 0;
    std::vector<bool> finished(kRequests, false);
    const TimePoint begin = Clock::now();
    while (done < kRequests && elapsed_ms(begin) < 20'000) {
        std::vector<pollfd> fds;
        std::vector<int> index;
        for (int i = 0; i < kRequests; ++i) {
            if (finished[i]) continue;
            int32_t fd = -1;
            connpool_acquire_fd(&fd, requests[i], nullptr);
            fds.push_back({fd, POLLIN, 0});
            index.push_back(i);
        }
        ASSERT_GT(poll(fds.data(), fds.size(), 1000), 0);
        for (size_t k = 0; k < fds.size(); ++k) {
            if (!(fds[k].revents & POLLIN)) continue;
            connpool_lease *lease = nullptr;
            const connpool_status s = connpool_acquire_result(&lease, requests[index[k]], nullptr);
            if (s == CONNPOOL_ERR_IN_PROGRESS) continue;
            ASSERT_EQ(s, CONNPOOL_OK);
            EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
            finished[index[k]] = true;
            ++done;
        }
    }
    EXPECT_EQ(done, kRequests);
    for (auto *r : requests) EXPECT_EQ(connpool_acquire_free(r), CONNPOOL_OK);
    const connpool_stats s = stats_of(pool_);
    EXPECT_EQ(s.acquired, kRequests);
    EXPECT_LE(s.created, 4);
    EXPECT_EQ(s.waiting, 0);
}

TEST_F(AsyncTest, BadHandlesAndArguments) {
    pool_ = make_fake_pool(server_, {{"max_size", "1"}});
    connpool_acquire *request = nullptr;
    EXPECT_EQ(connpool_pool_acquire_async(&request, nullptr, 0, nullptr),
              CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(connpool_pool_acquire_async(nullptr, pool_, 0, nullptr),
              CONNPOOL_ERR_INVALID_ARGUMENT);
    auto *bogus = reinterpret_cast<connpool_acquire *>(uintptr_t{0xdeadbeef});
    int32_t fd = 0;
    EXPECT_EQ(connpool_acquire_fd(&fd, bogus, nullptr), CONNPOOL_ERR_INVALID_HANDLE);
    EXPECT_EQ(fd, -1);
    connpool_lease *lease = nullptr;
    EXPECT_EQ(connpool_acquire_result(&lease, bogus, nullptr), CONNPOOL_ERR_INVALID_HANDLE);
    EXPECT_EQ(connpool_acquire_wait(bogus, 0, nullptr), CONNPOOL_ERR_INVALID_HANDLE);
    EXPECT_EQ(connpool_acquire_cancel(bogus), CONNPOOL_ERR_INVALID_HANDLE);
    EXPECT_EQ(connpool_acquire_free(bogus), CONNPOOL_ERR_INVALID_HANDLE);
    EXPECT_EQ(connpool_acquire_free(nullptr), CONNPOOL_OK);
}

}  // namespace
}  // namespace connpool::testing
