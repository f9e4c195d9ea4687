// connpool_pool_try_acquire: an idle connection in one call, or CONNPOOL_ERR_WOULD_BLOCK with no
// side effect (no timeout counted, nobody queued, nothing opened).
#include <thread>

#include "test_support.hpp"

namespace connpool::testing {
namespace {

class TryAcquireTest : public ::testing::Test {
  protected:
    void TearDown() override {
        if (pool_ != nullptr) {
            EXPECT_EQ(connpool_pool_free(pool_), CONNPOOL_OK);
        }
        EXPECT_TRUE(eventually([&] { return server_->open_connections() == 0; }));
    }
    std::shared_ptr<FakeServer> server_ = std::make_shared<FakeServer>();
    connpool_pool *pool_ = nullptr;
};

TEST_F(TryAcquireTest, TakesAnIdleConnectionAndOtherwiseWouldBlockWithoutSideEffects) {
    pool_ = make_fake_pool(server_, {{"min_size", "1"}, {"max_size", "1"}});
    ASSERT_EQ(connpool_pool_wait_ready(pool_, 1000, nullptr), CONNPOOL_OK);
    connpool_lease *lease = nullptr;
    ASSERT_EQ(connpool_pool_try_acquire(&lease, pool_, nullptr), CONNPOOL_OK);
    ASSERT_NE(lease, nullptr);
    EXPECT_EQ(stats_of(pool_).in_use, 1);
    EXPECT_EQ(stats_of(pool_).acquired, 1);

    connpool_lease *second = nullptr;
    connpool_error *err = nullptr;
    EXPECT_EQ(connpool_pool_try_acquire(&second, pool_, &err), CONNPOOL_ERR_WOULD_BLOCK);
    EXPECT_EQ(second, nullptr);
    EXPECT_EQ(err, nullptr) << "WOULD_BLOCK is an answer, not a failure: no error object";
    const connpool_stats s = stats_of(pool_);
    EXPECT_EQ(s.acquire_timeouts, 0);
    EXPECT_EQ(s.waiting, 0);
    EXPECT_EQ(s.acquired, 1);

    EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
    ASSERT_EQ(connpool_pool_try_acquire(&lease, pool_, nullptr), CONNPOOL_OK);
    EXPECT_EQ(stats_of(pool_).reused, 1);
    EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
}

TEST_F(TryAcquireTest, DoesNotStartOpeningConnections) {
    pool_ = make_fake_pool(server_, {{"min_size", "0"}, {"max_size", "2"}});
    connpool_lease *lease = nullptr;
    EXPECT_EQ(connpool_pool_try_acquire(&lease, pool_, nullptr), CONNPOOL_ERR_WOULD_BLOCK);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_EQ(server_->attempts.load(), 0);
    EXPECT_EQ(stats_of(pool_).opening, 0);
    // A real acquire does open one.
    ASSERT_EQ(connpool_pool_acquire(&lease, pool_, 1000, nullptr), CONNPOOL_OK);
    EXPECT_EQ(server_->attempts.load(), 1);
    EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
}

TEST_F(TryAcquireTest, DoesNotTakeTheConnectionAWaiterIsPromised) {
    // Strict FIFO: a release hands its connection to the waiter, never to a try-acquirer.
    pool_ = make_fake_pool(server_,
                           {{"min_size", "1"}, {"max_size", "1"}, {"overtake_window_us", "0"}});
    ASSERT_EQ(connpool_pool_wait_ready(pool_, 1000, nullptr), CONNPOOL_OK);
    connpool_lease *held = nullptr;
    ASSERT_EQ(connpool_pool_try_acquire(&held, pool_, nullptr), CONNPOOL_OK);
    connpool_acquire *request = nullptr;
    ASSERT_EQ(connpool_pool_acquire_async(&request, pool_, 2000, nullptr), CONNPOOL_OK);
    EXPECT_EQ(connpool_lease_release(held, nullptr), CONNPOOL_OK);
    connpool_lease *lease = nullptr;
    EXPECT_EQ(connpool_pool_try_acquire(&lease, pool_, nullptr), CONNPOOL_ERR_WOULD_BLOCK);
    ASSERT_EQ(connpool_acquire_result(&lease, request, nullptr), CONNPOOL_OK);
    EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
    EXPECT_EQ(connpool_acquire_free(request), CONNPOOL_OK);
}

TEST_F(TryAcquireTest, DeadIdleConnectionIsClosedNotHandedOut) {
    pool_ = make_fake_pool(server_, {{"min_size", "1"}, {"max_size", "1"}});
    ASSERT_EQ(connpool_pool_wait_ready(pool_, 1000, nullptr), CONNPOOL_OK);
    server_->kill(1);
    connpool_lease *lease = nullptr;
    EXPECT_EQ(connpool_pool_try_acquire(&lease, pool_, nullptr), CONNPOOL_ERR_WOULD_BLOCK);
    EXPECT_EQ(lease, nullptr);
    EXPECT_EQ(stats_of(pool_).closed_broken, 1);
    // The pool replaces it (min_size) and a later try gets the new one.
    ASSERT_TRUE(eventually([&] { return stats_of(pool_).idle == 1; }));
    ASSERT_EQ(connpool_pool_try_acquire(&lease, pool_, nullptr), CONNPOOL_OK);
    EXPECT_NE(fake_of(lease).id, 1);
    EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
}

TEST_F(TryAcquireTest, BadArgumentsClosedAndFreedPools) {
    pool_ = make_fake_pool(server_, {{"min_size", "1"}, {"max_size", "1"}});
    connpool_lease *lease = nullptr;
    connpool_error *err = nullptr;
    EXPECT_EQ(connpool_pool_try_acquire(nullptr, pool_, &err), CONNPOOL_ERR_INVALID_ARGUMENT);
    ASSERT_NE(err, nullptr);
    EXPECT_NE(std::string(connpool_error_message(err)).find("out"), std::string::npos);
    connpool_error_free(err);
    err = nullptr;
    EXPECT_EQ(connpool_pool_try_acquire(&lease, nullptr, nullptr), CONNPOOL_ERR_INVALID_ARGUMENT);

    ASSERT_EQ(connpool_pool_close(pool_, nullptr), CONNPOOL_OK);
    EXPECT_EQ(connpool_pool_try_acquire(&lease, pool_, &err), CONNPOOL_ERR_POOL_CLOSED);
    ASSERT_NE(err, nullptr);
    EXPECT_NE(std::string(connpool_error_message(err)).find("closed"), std::string::npos);
    connpool_error_free(err);

    ASSERT_EQ(connpool_pool_free(pool_), CONNPOOL_OK);
    EXPECT_EQ(connpool_pool_try_acquire(&lease, pool_, nullptr), CONNPOOL_ERR_INVALID_HANDLE);
    EXPECT_EQ(lease, nullptr);
    pool_ = nullptr;
    EXPECT_STREQ(connpool_status_name(CONNPOOL_ERR_WOULD_BLOCK), "CONNPOOL_ERR_WOULD_BLOCK");
}

}  // namespace
}  // namespace connpool::testing
