// Issue 14: an allocation failure inside a pool thread (a connect, a keepalive check) never
// reaches std::terminate. It is counted in alloc_failures, the step backs off and is retried,
// and the pool works again once allocation does.
#include <string>

#include "test_support.hpp"

namespace connpool::testing {
namespace {

class AllocFailureTest : public ::testing::Test {
  protected:
    void TearDown() override {
        if (pool_ != nullptr) {
            EXPECT_EQ(connpool_pool_free(pool_), CONNPOOL_OK);
        }
        EXPECT_TRUE(eventually([&] { return server_->open_connections() == 0; }));
    }
    bool lease_works(int64_t timeout_ms) {
        connpool_lease *lease = nullptr;
        if (connpool_pool_acquire(&lease, pool_, timeout_ms, nullptr) != CONNPOOL_OK) return false;
        return connpool_lease_release(lease, nullptr) == CONNPOOL_OK;
    }
    std::shared_ptr<FakeServer> server_ = std::make_shared<FakeServer>();
    connpool_pool *pool_ = nullptr;
};

TEST_F(AllocFailureTest, ConnectThrowingBadAllocIsCountedRetriedAndRecovers) {
    server_->connect_bad_alloc = true;
    pool_ = make_fake_pool(server_, {{"min_size", "2"}, {"max_size", "2"}});
    // Retried with backoff by the worker threads, which survive every failure.
    ASSERT_TRUE(eventually([&] { return stats_of(pool_).alloc_failures >= 3; }, 5000));
    EXPECT_EQ(server_->open_connections(), 0);
    connpool_lease *lease = nullptr;
    ErrorBox error;
    EXPECT_NE(connpool_pool_acquire(&lease, pool_, 100, error.out()), CONNPOOL_OK);
    EXPECT_NE(error.message().find("out of memory while connecting"), std::string::npos)
        << error.message();
    EXPECT_GE(stats_of(pool_).connect_errors, 3);  // counted as failed connects too

    // Memory is back: the pool fills up and serves, without being recreated.
    server_->connect_bad_alloc = false;
    EXPECT_EQ(connpool_pool_wait_ready(pool_, 10'000, nullptr), CONNPOOL_OK);
    EXPECT_TRUE(lease_works(1000));
    EXPECT_EQ(server_->open_connections(), 2);
    const int64_t failures = stats_of(pool_).alloc_failures;
    EXPECT_TRUE(lease_works(1000));
    EXPECT_EQ(stats_of(pool_).alloc_failures, failures);  // no longer counting
}

TEST_F(AllocFailureTest, KeepaliveCheckThrowingBadAllocIsCountedAndReplaced) {
    pool_ = make_fake_pool(server_, {{"min_size", "2"},
                                     {"max_size", "2"},
                                     {"keepalive_interval", "20"},
                                     {"maintenance_interval", "10"}});
    ASSERT_EQ(connpool_pool_wait_ready(pool_, 5000, nullptr), CONNPOOL_OK);
    // The maintenance thread's keepalive check throws: counted, the connection (state unknown)
    // closed, and the thread carries on checking.
    server_->alive_bad_alloc = true;
    ASSERT_TRUE(eventually([&] { return stats_of(pool_).alloc_failures >= 3; }, 5000));
    EXPECT_GE(stats_of(pool_).keepalive_failures, 3);
    server_->alive_bad_alloc = false;
    EXPECT_TRUE(eventually([&] { return lease_works(0); }, 5000));
    EXPECT_EQ(connpool_pool_wait_ready(pool_, 5000, nullptr), CONNPOOL_OK);
    EXPECT_TRUE(eventually([&] { return server_->open_connections() == 2; }));
    const connpool_stats s = stats_of(pool_);
    EXPECT_EQ(s.idle + s.in_use, 2);
}

TEST_F(AllocFailureTest, AcquireCheckThrowingBadAllocClosesAndReplaces) {
    pool_ = make_fake_pool(server_, {{"min_size", "3"}, {"max_size", "3"}});
    ASSERT_EQ(connpool_pool_wait_ready(pool_, 5000, nullptr), CONNPOOL_OK);
    // Connections whose liveness check throws are never handed out unchecked: closed (and
    // swept) instead; once checks work again the pool is whole, nothing lost.
    server_->alive_bad_alloc = true;
    connpool_lease *lease = nullptr;
    EXPECT_NE(connpool_pool_acquire(&lease, pool_, 0, nullptr), CONNPOOL_OK);
    EXPECT_GE(stats_of(pool_).alloc_failures, 1);
    server_->alive_bad_alloc = false;
    EXPECT_TRUE(eventually([&] { return lease_works(0); }, 5000));
    EXPECT_EQ(connpool_pool_wait_ready(pool_, 5000, nullptr), CONNPOOL_OK);
    EXPECT_TRUE(eventually([&] {
        const connpool_stats s = stats_of(pool_);
        return s.idle == 3 && server_->open_connections() == 3;
    }));
}

}  // namespace
}  // namespace connpool::testing
