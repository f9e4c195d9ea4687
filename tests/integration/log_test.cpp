// The host's log callback against the real server: what the library logs about connections
// (the redacted conninfo, libpq's failures) reaches the callback, and a password never does.
#include <algorithm>
#include <mutex>
#include <string>
#include <vector>

#include "pg_support.hpp"

namespace connpool::pgtest {
namespace {

struct Lines {
    std::mutex mutex;
    std::vector<std::string> all;  // "pool|message"

    static void callback(void *user_data, int32_t, const char *pool, const char *message) {
        auto *self = static_cast<Lines *>(user_data);
        std::lock_guard<std::mutex> lock(self->mutex);
        self->all.push_back(std::string(pool) + "|" + message);
    }
    bool contains(const std::string &fragment) {
        std::lock_guard<std::mutex> lock(mutex);
        return std::any_of(all.begin(), all.end(), [&](const std::string &line) {
            return line.find(fragment) != std::string::npos;
        });
    }
    bool eventually_contains(const std::string &fragment) {
        for (int i = 0; i < 500; ++i) {
            if (contains(fragment)) return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        return false;
    }
};

class LogTest : public RealPoolTest {
  protected:
    void TearDown() override {
        RealPoolTest::TearDown();
        EXPECT_EQ(connpool_log_set_callback(nullptr, nullptr, CONNPOOL_LOG_OFF, nullptr),
                  CONNPOOL_OK);
    }
    // Callbacks' user data outlives the test body: TearDown frees the pool, then clears.
    Lines lines_, own_;
};

TEST_F(LogTest, PlantedPasswordNeverReachesTheCallback) {
    const std::string tcp = fixture_file("conninfo_tcp");
    if (tcp.empty() || std::getenv("CONNPOOL_TEST_CONNINFO") != nullptr) {
        GTEST_SKIP() << "needs the fixture's TCP listener with scram-sha-256";
    }
    const std::string planted = "Pl4nted-S3cret-quux";
    const std::string real = tcp.substr(tcp.find("password=") + 9);
    Lines &lines = lines_;
    ASSERT_EQ(connpool_log_set_callback(&Lines::callback, &lines, CONNPOOL_LOG_TRACE, nullptr),
              CONNPOOL_OK);
    {
        // The right password: the pool's creation line shows the conninfo, masked.
        connpool_pool *good =
            make({{"name", "good"}, {"min_size", "1"}}, tcp + " application_name=" + app_);
        ASSERT_EQ(connpool_pool_wait_ready(good, 10000, nullptr), CONNPOOL_OK);
        ASSERT_TRUE(lines.eventually_contains("good|pool created for"));
        ASSERT_TRUE(lines.eventually_contains("password=********"));
        ASSERT_EQ(connpool_pool_free(good), CONNPOOL_OK);
        pool_ = nullptr;
    }
    // A wrong password: the server refuses, the library logs libpq's reason and the breaker.
    make({{"name", "bad"}, {"min_size", "1"}},
         tcp + " password=" + planted + " application_name=" + app_);
    ASSERT_TRUE(lines.eventually_contains("bad|could not open a connection"));
    ASSERT_TRUE(lines.eventually_contains("password authentication failed"));
    ASSERT_TRUE(lines.eventually_contains("bad|circuit breaker opened"));
    // A flush: every line queued so far has been delivered when it returns.
    ASSERT_EQ(connpool_log_set_callback(&Lines::callback, &lines, CONNPOOL_LOG_TRACE, nullptr),
              CONNPOOL_OK);
    EXPECT_FALSE(lines.contains(planted));
    EXPECT_FALSE(lines.contains(real));
    std::lock_guard<std::mutex> lock(lines.mutex);
    for (const std::string &line : lines.all) {
        EXPECT_EQ(line.find(planted), std::string::npos) << line;
        EXPECT_EQ(line.find(real), std::string::npos) << line;
    }
}

TEST_F(LogTest, PoolCallbackHearsOnlyItsPool) {
    Lines &everyone = lines_, &own = own_;
    ASSERT_EQ(connpool_log_set_callback(&Lines::callback, &everyone, CONNPOOL_LOG_DEBUG, nullptr),
              CONNPOOL_OK);
    make({{"name", "mine"}, {"max_size", "2"}});
    ASSERT_EQ(
        connpool_pool_set_log_callback(pool_, &Lines::callback, &own, CONNPOOL_LOG_DEBUG, nullptr),
        CONNPOOL_OK);
    connpool_lease *lease = acquire();
    EXPECT_EQ(scalar(lease, "SELECT 1"), "1");
    ASSERT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
    ASSERT_TRUE(own.eventually_contains("mine|opened a connection"));
    // Clearing flushes: nothing of "mine" reached the process-wide callback after the switch.
    ASSERT_EQ(connpool_pool_set_log_callback(pool_, nullptr, nullptr, 0, nullptr), CONNPOOL_OK);
    EXPECT_FALSE(everyone.contains("mine|opened a connection"));
}

}  // namespace
}  // namespace connpool::pgtest
