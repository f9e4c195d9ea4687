// The host's log callback (connpool_log_set_callback, connpool_pool_set_log_callback): routing,
// levels, the delivery thread, and what a slow host costs the pool (nothing but dropped lines).
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/log_router.hpp"
#include "test_support.hpp"

namespace connpool::testing {
namespace {

struct Line {
    int32_t level;
    std::string pool;
    std::string message;
    std::thread::id thread;
};

// Collects what a callback receives; `delay_ms` makes it a slow host.
struct Collector {
    std::mutex mutex;
    std::vector<Line> lines;
    std::atomic<int> calls{0};
    std::atomic<int> delay_ms{0};

    static void callback(void *user_data, int32_t level, const char *pool, const char *message) {
        auto *self = static_cast<Collector *>(user_data);
        const int delay = self->delay_ms.load();
        if (delay > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay));
        std::lock_guard<std::mutex> lock(self->mutex);
        self->lines.push_back({level, pool, message, std::this_thread::get_id()});
        self->calls++;
    }
    std::vector<Line> snapshot() {
        std::lock_guard<std::mutex> lock(mutex);
        return lines;
    }
    bool has(const std::string &pool, const std::string &fragment) {
        std::lock_guard<std::mutex> lock(mutex);
        for (const Line &line : lines) {
            if (line.pool == pool && line.message.find(fragment) != std::string::npos) return true;
        }
        return false;
    }
    int lowest_level() {
        std::lock_guard<std::mutex> lock(mutex);
        int lowest = CONNPOOL_LOG_OFF;
        for (const Line &line : lines) lowest = std::min<int>(lowest, line.level);
        return lowest;
    }
};

class LogCallbackTest : public ::testing::Test {
  protected:
    void TearDown() override {
        for (connpool_pool *pool : pools_) connpool_pool_free(pool);
        EXPECT_EQ(connpool_log_set_callback(nullptr, nullptr, CONNPOOL_LOG_OFF, nullptr),
                  CONNPOOL_OK);
    }
    connpool_pool *pool(std::initializer_list<Option> options) {
        pools_.push_back(make_fake_pool(server_, options));
        return pools_.back();
    }
    // Leases a connection and returns it broken: the release logs at info, on this thread.
    void release_broken(connpool_pool *p) {
        connpool_lease *lease = nullptr;
        ASSERT_EQ(connpool_pool_acquire(&lease, p, 2000, nullptr), CONNPOOL_OK);
        fake_of(lease).state = FakeState::broken;
        ASSERT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
    }

    // Callbacks' user data outlives the test body: TearDown clears the callbacks first.
    Collector host_, own_;
    std::shared_ptr<FakeServer> server_ = std::make_shared<FakeServer>();
    std::vector<connpool_pool *> pools_;
};

TEST_F(LogCallbackTest, ProcessWideCallbackGetsLevelPoolAndMessageOnItsOwnThread) {
    Collector &host = host_;
    ASSERT_EQ(connpool_log_set_callback(&Collector::callback, &host, CONNPOOL_LOG_DEBUG, nullptr),
              CONNPOOL_OK);
    connpool_pool *p = pool({{"name", "orders"}, {"min_size", "1"}});
    release_broken(p);
    ASSERT_TRUE(eventually([&] { return host.has("orders", "returned connection was broken"); }));
    ASSERT_TRUE(eventually([&] { return host.has("orders", "opened a connection"); }));
    for (const Line &line : host.snapshot()) {
        EXPECT_NE(line.thread, std::this_thread::get_id()) << "called on the caller's thread";
        EXPECT_EQ(line.pool, "orders");
        EXPECT_GE(line.level, CONNPOOL_LOG_DEBUG);
        if (line.message.find("returned connection") != std::string::npos) {
            EXPECT_EQ(line.level, CONNPOOL_LOG_INFO);
            // Just the message: no timestamp or logger name of the stderr pattern.
            EXPECT_EQ(line.message.find("[connpool:"), std::string::npos) << line.message;
        }
    }
}

TEST_F(LogCallbackTest, MinLevelBecomesThePoolsLevelUnlessItsLogLevelIsSet) {
    Collector &host = host_;
    ASSERT_EQ(connpool_log_set_callback(&Collector::callback, &host, CONNPOOL_LOG_INFO, nullptr),
              CONNPOOL_OK);
    server_->refuse = true;
    connpool_pool *follows =
        pool({{"name", "follows"}, {"min_size", "1"}, {"breaker_threshold", "1"}});
    connpool_pool *pinned = pool({{"name", "pinned"},
                                  {"min_size", "1"},
                                  {"breaker_threshold", "1"},
                                  {"log_level", "error"}});
    ASSERT_TRUE(eventually([&] { return host.has("follows", "could not open a connection"); }));
    ASSERT_TRUE(eventually([&] { return host.has("pinned", "circuit breaker opened"); }));
    server_->refuse = false;
    for (connpool_pool *p : {follows, pinned}) {
        ASSERT_TRUE(eventually([&] { return stats_of(p).breaker_state == 0; }, 5000));
    }
    release_broken(follows);  // info: delivered
    release_broken(pinned);   // info: below the pool's own log_level
    ASSERT_TRUE(eventually([&] { return host.has("follows", "returned connection was broken"); }));
    // A flush: everything queued before it has been delivered when it returns.
    ASSERT_EQ(connpool_log_set_callback(&Collector::callback, &host, CONNPOOL_LOG_INFO, nullptr),
              CONNPOOL_OK);
    EXPECT_FALSE(host.has("pinned", "could not open a connection"));  // warn < error
    EXPECT_FALSE(host.has("pinned", "returned connection was broken"));
    EXPECT_FALSE(host.has("follows", "opened a connection"));  // debug < info
    EXPECT_GE(host.lowest_level(), CONNPOOL_LOG_INFO);
}

TEST_F(LogCallbackTest, PoolCallbackOverridesTheProcessWideOneUntilCleared) {
    Collector &everyone = host_, &own = own_;
    ASSERT_EQ(
        connpool_log_set_callback(&Collector::callback, &everyone, CONNPOOL_LOG_INFO, nullptr),
        CONNPOOL_OK);
    connpool_pool *shared = pool({{"name", "shared"}});
    connpool_pool *special = pool({{"name", "special"}});
    ASSERT_EQ(connpool_pool_set_log_callback(special, &Collector::callback, &own,
                                             CONNPOOL_LOG_DEBUG, nullptr),
              CONNPOOL_OK);
    release_broken(shared);
    release_broken(special);
    ASSERT_TRUE(eventually([&] { return everyone.has("shared", "returned connection"); }));
    ASSERT_TRUE(eventually([&] { return own.has("special", "returned connection"); }));
    // Its own min_level applies: debug lines (the replacement connection) reach it.
    ASSERT_TRUE(eventually([&] { return own.has("special", "opened a connection"); }));
    EXPECT_FALSE(everyone.has("special", "returned connection"));
    EXPECT_FALSE(own.has("shared", "returned connection"));

    ASSERT_EQ(connpool_pool_set_log_callback(special, nullptr, nullptr, CONNPOOL_LOG_OFF, nullptr),
              CONNPOOL_OK);
    const int own_calls = own.calls.load();
    release_broken(special);
    ASSERT_TRUE(eventually([&] { return everyone.has("special", "returned connection"); }));
    EXPECT_EQ(own.calls.load(), own_calls);
}

TEST_F(LogCallbackTest, SlowHostDropsLinesInsteadOfStallingThePool) {
    Collector &slow = host_;
    slow.delay_ms = 20;
    ASSERT_EQ(connpool_log_set_callback(&Collector::callback, &slow, CONNPOOL_LOG_INFO, nullptr),
              CONNPOOL_OK);
    connpool_pool *p = pool({{"name", "busy"}, {"max_size", "4"}});
    const int64_t dropped_before = connpool_log_dropped_count();
    // Each cycle logs one line; delivering them all would take 1500 * 20 ms = 30 s.
    constexpr int kCycles = 1500;
    const TimePoint start = Clock::now();
    for (int i = 0; i < kCycles; ++i) release_broken(p);
    EXPECT_LT(elapsed_ms(start), 5000) << "pool threads waited for the host";
    EXPECT_EQ(stats_of(p).closed_broken, kCycles);
    EXPECT_GT(connpool_log_dropped_count(), dropped_before);

    // Clearing waits for the queue only so long, then for the one call in progress.
    const TimePoint clear_start = Clock::now();
    ASSERT_EQ(connpool_log_set_callback(nullptr, nullptr, CONNPOOL_LOG_OFF, nullptr), CONNPOOL_OK);
    EXPECT_LT(elapsed_ms(clear_start), LogRouter::kFlushLimitMs + 500);
    // ...and once it has returned, the old callback is never called again.
    const int calls = slow.calls.load();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_EQ(slow.calls.load(), calls);
    // Every line was either delivered or counted as dropped.
    EXPECT_EQ(calls + (connpool_log_dropped_count() - dropped_before), kCycles);
}

TEST_F(LogCallbackTest, ChangingTheCallbackFirstDeliversWhatWasQueued) {
    Collector &host = host_;
    host.delay_ms = 2;
    ASSERT_EQ(connpool_log_set_callback(&Collector::callback, &host, CONNPOOL_LOG_INFO, nullptr),
              CONNPOOL_OK);
    connpool_pool *p = pool({{"name", "flushed"}});
    const int64_t dropped_before = connpool_log_dropped_count();
    for (int i = 0; i < 40; ++i) release_broken(p);
    ASSERT_EQ(connpool_log_set_callback(nullptr, nullptr, CONNPOOL_LOG_OFF, nullptr), CONNPOOL_OK);
    EXPECT_EQ(host.calls.load(), 40);
    EXPECT_EQ(connpool_log_dropped_count(), dropped_before);
}

// A host may change the routing from its own callback: that must not wait for itself.
TEST_F(LogCallbackTest, CallbackMayClearItselfWithoutDeadlock) {
    struct SelfClearing {
        std::atomic<int> calls{0};
        std::atomic<int> status{-1};
        static void callback(void *user_data, int32_t, const char *, const char *) {
            auto *self = static_cast<SelfClearing *>(user_data);
            if (self->calls++ == 0) {
                self->status = connpool_log_set_callback(nullptr, nullptr, 0, nullptr);
            }
        }
    };
    static SelfClearing host;  // may still be called after the test body
    ASSERT_EQ(connpool_log_set_callback(&SelfClearing::callback, &host, CONNPOOL_LOG_INFO, nullptr),
              CONNPOOL_OK);
    connpool_pool *p = pool({{"name", "selfish"}});
    release_broken(p);
    ASSERT_TRUE(eventually([&] { return host.status.load() == CONNPOOL_OK; }));
    release_broken(p);
    Collector &after = own_;  // the router still works
    ASSERT_EQ(connpool_log_set_callback(&Collector::callback, &after, CONNPOOL_LOG_INFO, nullptr),
              CONNPOOL_OK);
    release_broken(p);
    ASSERT_TRUE(eventually([&] { return after.has("selfish", "returned connection"); }));
}

TEST_F(LogCallbackTest, RefusesBadLevelsAndHandles) {
    Collector &host = host_;
    ErrorBox error;
    EXPECT_EQ(connpool_log_set_callback(&Collector::callback, &host, 7, error.out()),
              CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_NE(error.message().find("min_level 7"), std::string::npos) << error.message();
    EXPECT_EQ(connpool_log_set_callback(&Collector::callback, &host, -1, nullptr),
              CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(connpool_pool_set_log_callback(nullptr, &Collector::callback, &host, 0, error.out()),
              CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_NE(error.message().find("\"pool\""), std::string::npos) << error.message();
    connpool_pool *p = pool({});
    EXPECT_EQ(connpool_pool_set_log_callback(p, &Collector::callback, &host, 9, nullptr),
              CONNPOOL_ERR_INVALID_ARGUMENT);
    pools_.clear();
    ASSERT_EQ(connpool_pool_free(p), CONNPOOL_OK);
    EXPECT_EQ(connpool_pool_set_log_callback(p, &Collector::callback, &host, 0, error.out()),
              CONNPOOL_ERR_INVALID_HANDLE);
}

#if !defined(__SANITIZE_THREAD__)
// TSan does not support starting threads in the child of a multithreaded fork().
TEST_F(LogCallbackTest, ChildAfterForkGetsItsOwnDeliveryThread) {
    Collector &host = host_;
    ASSERT_EQ(connpool_log_set_callback(&Collector::callback, &host, CONNPOOL_LOG_INFO, nullptr),
              CONNPOOL_OK);
    connpool_pool *p = pool({{"name", "parent"}});
    release_broken(p);  // the parent's delivery thread exists now
    ASSERT_TRUE(eventually([&] { return host.has("parent", "returned connection"); }));
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        alarm(30);  // a hang in the child is a failure, not a stuck test
        auto server = std::make_shared<FakeServer>();
        connpool_pool *mine = make_fake_pool(server, {{"name", "child"}});
        connpool_lease *lease = nullptr;
        // Generous: the child's first connect shares a loaded machine (sanitizer builds).
        if (connpool_pool_acquire(&lease, mine, 15000, nullptr) != CONNPOOL_OK) _exit(10);
        fake_of(lease).state = FakeState::broken;
        connpool_lease_release(lease, nullptr);
        if (!eventually([&] { return host.has("child", "returned connection"); })) _exit(11);
        if (connpool_log_set_callback(nullptr, nullptr, 0, nullptr) != CONNPOOL_OK) _exit(12);
        _exit(0);
    }
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
    release_broken(p);  // the parent still delivers
    ASSERT_TRUE(eventually([&] { return host.calls.load() >= 2; }));
}
#endif

}  // namespace
}  // namespace connpool::testing
