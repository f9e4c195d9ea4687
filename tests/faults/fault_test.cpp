// Real faults against a real PostgreSQL 15 (its own throwaway server: these tests restart and
// stop it). Each asserts the observable promise: the status, a time bound checked on both sides
// (not before the deadline, not later than deadline + slack), the stats, and that nothing leaked
// (backends by application_name, file descriptors; sanitizers check memory).
#include <atomic>
#include <cstdlib>
#include <thread>
#include <vector>

#include "fault_proxy.hpp"
#include "pg_support.hpp"

namespace connpool::pgtest {
namespace {

using faults::FaultProxy;

// Slack for "not later than the deadline + slack", scaled under sanitizers
// (CONNPOOL_TEST_SLACK_SCALE).
int64_t slack_ms(int64_t base = 50) {
    const char *scale = std::getenv("CONNPOOL_TEST_SLACK_SCALE");
    return base * (scale != nullptr ? std::max(1, std::atoi(scale)) : 1);
}

int64_t ms_since(Clock::time_point start) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

// Drives the fault fixture's server through scripts/pg-server.
void server(const char *action) {
    const std::string command = std::string(CONNPOOL_PG_SERVER_SCRIPT) + " " + action + " " +
                                std::getenv("CONNPOOL_TEST_PG_DIR");
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
}

int tcp_port() {
    const std::string tcp = fixture_file("conninfo_tcp");
    return std::stoi(tcp.substr(tcp.find("port=") + 5));
}

class FaultTest : public RealPoolTest {
  protected:
    void SetUp() override {
        if (std::getenv("CONNPOOL_TEST_PG_DIR") == nullptr ||
            std::getenv("CONNPOOL_TEST_CONNINFO")) {
            GTEST_SKIP() << "fault tests restart their server: they need the throwaway one that "
                            "ctest starts, not CONNPOOL_TEST_CONNINFO";
        }
        RealPoolTest::SetUp();
    }
    void TearDown() override {
        if (!IsSkipped()) RealPoolTest::TearDown();
    }
    // Acquires with `timeout_ms` and checks the outcome and when it came.
    connpool_status timed_acquire(int64_t timeout_ms, connpool_lease **lease, int64_t &took_ms,
                                  std::string *message = nullptr) {
        Error error;
        const auto start = Clock::now();
        const connpool_status status = connpool_pool_acquire(lease, pool_, timeout_ms, error.out());
        took_ms = ms_since(start);
        if (message != nullptr) *message = error.message();
        return status;
    }
    // A conninfo through `proxy` (TCP, with the fixture's password).
    std::string via(const FaultProxy &proxy) {
        std::string tcp = fixture_file("conninfo_tcp");
        tcp.replace(tcp.find("port=") + 5, std::to_string(tcp_port()).size(),
                    std::to_string(proxy.port()));
        return tcp + " application_name=" + app_;
    }
};

TEST_F(FaultTest, RestartWithIdleConnectionsCostsCallersNothing) {
    make({{"min_size", "3"}, {"max_size", "3"}, {"pre_ping", "off"}});
    ASSERT_EQ(connpool_pool_wait_ready(pool_, 10000, nullptr), CONNPOOL_OK);
    server("restart");
    connpool_lease *lease = nullptr;
    int64_t took = 0;
    ASSERT_EQ(timed_acquire(10000, &lease, took), CONNPOOL_OK);  // dead ones replaced unseen
    EXPECT_EQ(scalar(lease, "SELECT 1"), "1");
    ASSERT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
    // One dead connection found triggers one sweep for the rest: not one failure each.
    EXPECT_TRUE([&] {
        for (int i = 0; i < 300; ++i) {
            if (stats().closed_broken == 3) return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        return false;
    }());
    const connpool_stats s = stats();
    // At most one sweep. (Seen once in CI under load: 0 sweeps with all three closed as broken
    // and the acquire served; not yet explained, see the session 6 closing note.)
    EXPECT_LE(s.sweeps, 1);
    EXPECT_EQ(s.idle + s.in_use, s.total);
}

TEST_F(FaultTest, RestartWithALeaseOutReportsBrokenThenHeals) {
    make({{"max_size", "1"}});
    connpool_lease *lease = acquire();
    server("restart");
    connpool_result *r = nullptr;
    EXPECT_EQ(connpool_lease_exec(&r, lease, "SELECT 1", 0, nullptr, nullptr),
              CONNPOOL_ERR_CONNECTION_BROKEN);
    ASSERT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
    EXPECT_EQ(stats().closed_broken, 1);
    connpool_lease *next = acquire();
    EXPECT_EQ(scalar(next, "SELECT 2"), "2");
    ASSERT_EQ(connpool_lease_release(next, nullptr), CONNPOOL_OK);
}

TEST_F(FaultTest, RestartWhileAThreadWaitsServesItAFreshConnection) {
    make({{"max_size", "1"}});
    connpool_lease *held = acquire();
    std::atomic<connpool_status> waiter_status{-1};
    std::string waiter_value;
    std::thread waiter([&] {
        connpool_lease *lease = nullptr;
        waiter_status = connpool_pool_acquire(&lease, pool_, 20000, nullptr);
        if (waiter_status == CONNPOOL_OK) {
            waiter_value = scalar(lease, "SELECT 'fresh'");
            connpool_lease_release(lease, nullptr);
        }
    });
    while (stats().waiting != 1) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    server("restart");
    ASSERT_EQ(connpool_lease_release(held, nullptr), CONNPOOL_OK);  // dead: closed, not handed on
    waiter.join();
    EXPECT_EQ(waiter_status.load(), CONNPOOL_OK);
    EXPECT_EQ(waiter_value, "fresh");
}

TEST_F(FaultTest, StoppedServerFailsByTheDeadlineOrFastAndHealsWhenBack) {
    make({{"max_size", "2"}, {"breaker_threshold", "4"}});
    server("halt");
    connpool_lease *lease = nullptr;
    int64_t took = 0;
    std::string message;
    // Before the breaker opens: the acquire ends at its deadline, not before, not much after.
    EXPECT_EQ(timed_acquire(250, &lease, took, &message), CONNPOOL_ERR_CONNECT_FAILED) << message;
    EXPECT_GE(took, 250);
    EXPECT_LE(took, 250 + slack_ms());
    EXPECT_NE(message.find("last connect error"), std::string::npos) << message;
    // Once it has opened (4 failures: ~1.5 s of backoff), acquires fail at once.
    connpool_status status = CONNPOOL_ERR_CONNECT_FAILED;
    for (int i = 0; i < 40 && status != CONNPOOL_ERR_DATABASE_UNAVAILABLE; ++i) {
        status = timed_acquire(100, &lease, took);
    }
    ASSERT_EQ(status, CONNPOOL_ERR_DATABASE_UNAVAILABLE);
    EXPECT_EQ(timed_acquire(5000, &lease, took, &message), CONNPOOL_ERR_DATABASE_UNAVAILABLE);
    EXPECT_LE(took, slack_ms());
    EXPECT_NE(message.find("database unavailable"), std::string::npos) << message;
    EXPECT_EQ(stats().breaker_state, 1);
    server("resume");
    // The pool heals by itself: the background probe closes the breaker (backoff <= 5 s).
    status = CONNPOOL_ERR_DATABASE_UNAVAILABLE;
    const auto start = Clock::now();
    while (status != CONNPOOL_OK && ms_since(start) < 15000) {
        status = timed_acquire(200, &lease, took);
        if (status != CONNPOOL_OK) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_EQ(status, CONNPOOL_OK);
    EXPECT_EQ(scalar(lease, "SELECT 3"), "3");
    ASSERT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
    EXPECT_EQ(stats().breaker_state, 0);
}

TEST_F(FaultTest, FiveHundredWaitersDuringAnOutageCauseATrickleOfAttempts) {
    make({{"max_size", "4"}, {"max_concurrent_connects", "2"}, {"breaker_threshold", "0"}});
    server("halt");
    std::vector<connpool_acquire *> waiters(500);
    for (auto &w : waiters)
        ASSERT_EQ(connpool_pool_acquire_async(&w, pool_, 1600, nullptr), CONNPOOL_OK);
    for (auto *w : waiters) EXPECT_EQ(connpool_acquire_wait(w, 10000, nullptr), CONNPOOL_OK);
    // Backoff steps in 1.6 s (~0, 100, 300, 700, 1500 ms), at most 2 attempts each.
    EXPECT_LE(stats().connect_errors, 12);
    EXPECT_GE(stats().connect_errors, 3);
    connpool_lease *lease = nullptr;
    for (auto *w : waiters) {
        EXPECT_EQ(connpool_acquire_result(&lease, w, nullptr), CONNPOOL_ERR_CONNECT_FAILED);
        connpool_acquire_free(w);
    }
    server("resume");
}

TEST_F(FaultTest, PreAuthDelayIsCutByConnectTimeout) {
    Admin admin;  // opened before the delay applies; new connections would wait 3 s
    admin.command("ALTER SYSTEM SET pre_auth_delay = '3s'");
    admin.scalar("SELECT pg_reload_conf()");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    make({{"max_size", "1"}, {"connect_timeout", "400"}, {"breaker_threshold", "0"}});
    connpool_lease *lease = nullptr;
    int64_t took = 0;
    std::string message;
    EXPECT_EQ(timed_acquire(700, &lease, took, &message), CONNPOOL_ERR_CONNECT_FAILED) << message;
    EXPECT_GE(took, 700);
    EXPECT_LE(took, 700 + slack_ms());
    EXPECT_NE(message.find("connect_timeout"), std::string::npos) << message;
    admin.command("ALTER SYSTEM RESET pre_auth_delay");
    admin.scalar("SELECT pg_reload_conf()");
    // Backends still sitting in the delay have no application_name yet and leave when it ends.
}

TEST_F(FaultTest, SilentResetAndRefusingPeersFailWithinBounds) {
    FaultProxy proxy(tcp_port());
    make({{"max_size", "1"}, {"connect_timeout", "300"}, {"breaker_threshold", "0"}}, via(proxy));
    for (FaultProxy::Mode mode :
         {FaultProxy::Mode::silent, FaultProxy::Mode::reset, FaultProxy::Mode::refuse}) {
        proxy.set_mode(mode);
        std::this_thread::sleep_for(std::chrono::milliseconds(30));
        connpool_lease *lease = nullptr;
        int64_t took = 0;
        std::string message;
        EXPECT_EQ(timed_acquire(500, &lease, took, &message), CONNPOOL_ERR_CONNECT_FAILED)
            << static_cast<int>(mode) << ": " << message;
        EXPECT_GE(took, 500);
        EXPECT_LE(took, 500 + slack_ms());
    }
    proxy.set_mode(FaultProxy::Mode::pass);
    connpool_lease *lease = nullptr;
    int64_t took = 0;
    ASSERT_EQ(timed_acquire(10000, &lease, took), CONNPOOL_OK);  // heals when the path heals
    EXPECT_EQ(scalar(lease, "SELECT 4"), "4");
    ASSERT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
}

TEST_F(FaultTest, SlowLinkStillWorksAndStalledIdleConnectionFailsItsPing) {
    FaultProxy proxy(tcp_port());
    make({{"max_size", "1"},
          {"pre_ping_threshold", "0"},
          {"health_check_timeout", "300"},
          {"connect_timeout", "300"},
          {"breaker_threshold", "0"}},
         via(proxy));
    proxy.set_mode(FaultProxy::Mode::delay, 20);
    connpool_lease *lease = acquire();
    EXPECT_EQ(scalar(lease, "SELECT 5"), "5");
    ASSERT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
    // Black hole: the idle connection's ping gets no answer; it must not hang the caller.
    proxy.set_mode(FaultProxy::Mode::stall);
    int64_t took = 0;
    EXPECT_EQ(timed_acquire(1000, &lease, took), CONNPOOL_ERR_CONNECT_FAILED);
    EXPECT_GE(took, 1000);
    EXPECT_LE(took, 1000 + slack_ms(100));
    EXPECT_EQ(stats().health_check_failures, 1);
    proxy.set_mode(FaultProxy::Mode::pass);
    ASSERT_EQ(timed_acquire(10000, &lease, took), CONNPOOL_OK);
    ASSERT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
}

TEST_F(FaultTest, RoleConnectionLimitIsReportedAndTheRestKeepsWorking) {
    {
        Admin admin;
        admin.command("DROP ROLE IF EXISTS cp_limited");
        admin.command("CREATE ROLE cp_limited LOGIN CONNECTION LIMIT 1");
    }
    make({{"max_size", "2"}, {"breaker_threshold", "0"}},
         base_conninfo() + " user=cp_limited application_name=" + app_);
    connpool_lease *first = acquire();
    connpool_lease *second = nullptr;
    int64_t took = 0;
    std::string message;
    EXPECT_EQ(timed_acquire(400, &second, took, &message), CONNPOOL_ERR_CONNECT_FAILED);
    EXPECT_NE(message.find("too many connections for role"), std::string::npos) << message;
    ASSERT_EQ(connpool_lease_release(first, nullptr), CONNPOOL_OK);
    connpool_lease *again = acquire();  // the one connection still serves
    ASSERT_EQ(connpool_lease_release(again, nullptr), CONNPOOL_OK);
}

TEST_F(FaultTest, UnknownDatabaseFailsFast) {
    make({{"max_size", "1"}}, base_conninfo() + " dbname=no_such_db application_name=" + app_);
    connpool_lease *lease = nullptr;
    int64_t took = 0;
    std::string message;
    EXPECT_EQ(timed_acquire(5000, &lease, took, &message), CONNPOOL_ERR_DATABASE_UNAVAILABLE);
    EXPECT_LT(took, 1000);
    EXPECT_NE(message.find("no_such_db"), std::string::npos) << message;
}

TEST_F(FaultTest, CopyOrPipelineLeftOpenIsClosedNotReused) {
    make({{"max_size", "1"}});
    connpool_lease *lease = acquire();
    const std::string pid = scalar(lease, "SELECT pg_backend_pid()");
    void *raw = nullptr;
    ASSERT_EQ(connpool_lease_pgconn(&raw, lease, nullptr), CONNPOOL_OK);
    PGresult *r = PQexec(static_cast<PGconn *>(raw), "COPY (SELECT 1) TO STDOUT");
    EXPECT_EQ(PQresultStatus(r), PGRES_COPY_OUT);
    PQclear(r);
    ASSERT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
    lease = acquire();
    EXPECT_NE(scalar(lease, "SELECT pg_backend_pid()"), pid);
    ASSERT_EQ(connpool_lease_pgconn(&raw, lease, nullptr), CONNPOOL_OK);
    EXPECT_EQ(PQenterPipelineMode(static_cast<PGconn *>(raw)), 1);
    ASSERT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
    EXPECT_EQ(stats().closed_broken, 2);
    lease = acquire();
    EXPECT_EQ(scalar(lease, "SELECT 6"), "6");
    ASSERT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
}

TEST_F(FaultTest, TwoThousandThreadsOnAPoolOfFourStayBounded) {
    make({{"max_size", "4"}, {"max_waiting", "1500"}});
    constexpr int kThreads = 2000;
    constexpr int64_t kTimeoutMs = 300;
    std::atomic<int> ok{0}, timed_out{0}, rejected{0}, other{0}, late{0};
    std::atomic<int> max_backends{0};
    std::atomic<bool> done{false};
    std::thread watcher([&] {
        Admin admin;
        while (!done) {
            max_backends = std::max(max_backends.load(), admin.backends(app_));
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    });
    std::vector<std::thread> threads;
    threads.reserve(kThreads);
    for (int i = 0; i < kThreads; ++i) {
        threads.emplace_back([&] {
            connpool_lease *lease = nullptr;
            const auto start = Clock::now();
            const connpool_status s = connpool_pool_acquire(&lease, pool_, kTimeoutMs, nullptr);
            if (ms_since(start) > kTimeoutMs + slack_ms(200)) late++;
            if (s == CONNPOOL_OK) {
                connpool_result *r = nullptr;
                connpool_lease_exec(&r, lease, "SELECT 1", 0, nullptr, nullptr);
                connpool_result_free(r);
                connpool_lease_release(lease, nullptr);
                ok++;
            } else if (s == CONNPOOL_ERR_TIMEOUT) {
                timed_out++;
            } else if (s == CONNPOOL_ERR_TOO_MANY_WAITERS) {
                rejected++;
            } else {
                other++;
            }
        });
    }
    for (auto &t : threads) t.join();
    done = true;
    watcher.join();
    EXPECT_EQ(ok + timed_out + rejected, kThreads);
    EXPECT_EQ(other.load(), 0);
    EXPECT_EQ(late.load(), 0) << "acquires that ended after their deadline + slack";
    EXPECT_GT(ok.load(), 0);
    EXPECT_LE(max_backends.load(), 4);
    const connpool_stats s = stats();
    EXPECT_EQ(s.acquired, ok.load());
    EXPECT_EQ(s.acquire_timeouts, timed_out.load());
    EXPECT_EQ(s.waiters_rejected, rejected.load());
    EXPECT_EQ(s.waiting, 0);
}

TEST_F(FaultTest, FreeWhileLeasesOutAndThreadsWait) {
    make({{"max_size", "2"}});
    connpool_lease *a = acquire();
    connpool_lease *b = acquire();
    std::vector<std::thread> waiters;
    std::atomic<int> closed{0};
    for (int i = 0; i < 8; ++i) {
        waiters.emplace_back([&] {
            connpool_lease *lease = nullptr;
            const connpool_status s = connpool_pool_acquire(&lease, pool_, 20000, nullptr);
            if (s == CONNPOOL_ERR_POOL_CLOSED || s == CONNPOOL_ERR_INVALID_HANDLE) closed++;
        });
    }
    while (stats().waiting != 8) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    const auto start = Clock::now();
    ASSERT_EQ(connpool_pool_free(pool_), CONNPOOL_OK);
    pool_ = nullptr;
    EXPECT_LE(ms_since(start), slack_ms(500));
    for (auto &t : waiters) t.join();
    EXPECT_EQ(closed.load(), 8);
    EXPECT_EQ(scalar(a, "SELECT 7"), "7") << "leases outlive the freed pool";
    ASSERT_EQ(connpool_lease_release(a, nullptr), CONNPOOL_OK);
    ASSERT_EQ(connpool_lease_release(b, nullptr), CONNPOOL_OK);
}

}  // namespace
}  // namespace connpool::pgtest
