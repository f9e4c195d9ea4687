// Multiplexed statements (connpool_pool_exec, connpool_pool_exec_async) against the real
// server: many callers' values routed back right, one statement's error isolated from its
// batch, timeouts, a backend killed mid-batch, refused session statements, the option off,
// and no thread, file descriptor or backend left after the pool is freed.
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <poll.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "connpool/connpool.h"
#include "pg_support.hpp"

namespace {

using namespace connpool::pgtest;

int process_threads() {
    int n = 0;
    for (const auto &entry : std::filesystem::directory_iterator("/proc/self/task")) {
        (void)entry;
        ++n;
    }
    return n;
}

class MultiplexTest : public RealPoolTest {
  protected:
    void SetUp() override {
        RealPoolTest::SetUp();
        // A first thread makes sanitizer runtimes start their own background thread (TSan's
        // starts with the first pthread_create), which must not count as a leak.
        std::thread([] {}).join();
        threads_at_start_ = process_threads();
    }
    void TearDown() override {
        RealPoolTest::TearDown();  // frees the pool
        // Pool threads end with connpool_pool_free; the multiplexer's are joined there.
        int threads = process_threads();
        for (int i = 0; i < 300 && threads != threads_at_start_; ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
            threads = process_threads();
        }
        EXPECT_EQ(threads, threads_at_start_) << "threads leaked";
    }
    // Runs `sql` multiplexed; returns the status, and the first value in `value`.
    connpool_status exec(const char *sql, std::vector<const char *> params, std::string *value,
                         Error &error, int64_t timeout_ms = 10'000) {
        connpool_result *r = nullptr;
        const connpool_status s =
            connpool_pool_exec(&r, pool_, sql, static_cast<int32_t>(params.size()), params.data(),
                               timeout_ms, error.out());
        if (value != nullptr && r != nullptr && connpool_result_row_count(r) > 0) {
            *value = connpool_result_value(r, 0, 0);
        }
        connpool_result_free(r);
        return s;
    }
    int threads_at_start_ = 0;
};

TEST_F(MultiplexTest, ManyThreadsGetTheirOwnValues) {
    make({{"max_size", "4"}, {"multiplexing_connections", "2"}});
    constexpr int kThreads = 16;
    constexpr int kStatements = 200;
    std::atomic<int> wrong{0};
    std::atomic<int> failed{0};
    std::vector<std::thread> callers;
    for (int t = 0; t < kThreads; ++t) {
        callers.emplace_back([&, t] {
            for (int i = 0; i < kStatements; ++i) {
                const std::string mine = std::to_string(t * 100'000 + i);
                std::string value;
                Error error;
                if (exec("SELECT $1::int", {mine.c_str()}, &value, error) != CONNPOOL_OK) {
                    ++failed;
                } else if (value != mine) {
                    ++wrong;
                }
            }
        });
    }
    for (auto &caller : callers) caller.join();
    EXPECT_EQ(failed.load(), 0);
    EXPECT_EQ(wrong.load(), 0);
    // Only the shared connections were used: the rest of the pool stayed free.
    EXPECT_EQ(stats().in_use, 2);
}

TEST_F(MultiplexTest, AnErrorStaysWithItsStatement) {
    make({{"max_size", "2"}, {"multiplexing_connections", "1"}});
    // Submitted together so that they share one batch on the single shared connection.
    std::vector<connpool_statement *> statements;
    for (int i = 0; i < 30; ++i) {
        const std::string n = std::to_string(i);
        const char *params[] = {n.c_str()};
        const char *sql = i == 15 ? "SELECT 1 / ($1::int - 15)" : "SELECT $1::int + 1";
        connpool_statement *statement = nullptr;
        Error error;
        ASSERT_EQ(connpool_pool_exec_async(&statement, pool_, sql, 1, params, 10'000, error.out()),
                  CONNPOOL_OK)
            << error.message();
        statements.push_back(statement);
    }
    for (int i = 0; i < 30; ++i) {
        ASSERT_EQ(connpool_statement_wait(statements[i], -1, nullptr), CONNPOOL_OK);
        connpool_result *r = nullptr;
        Error error;
        const connpool_status s = connpool_statement_result(&r, statements[i], error.out());
        if (i == 15) {
            EXPECT_EQ(s, CONNPOOL_ERR_QUERY_FAILED);
            EXPECT_EQ(error.sqlstate(), "22012");  // division_by_zero
            EXPECT_STREQ(connpool_result_sqlstate(r), "22012");
        } else {
            ASSERT_EQ(s, CONNPOOL_OK) << i << ": " << error.message();
            EXPECT_STREQ(connpool_result_value(r, 0, 0), std::to_string(i + 1).c_str());
        }
        connpool_result_free(r);
        EXPECT_EQ(connpool_statement_free(statements[i]), CONNPOOL_OK);
    }
}

// Over TCP each batch is written corked (one segment for many statements): values and an
// error in the middle of a batch still reach their own callers, from many threads at once.
TEST_F(MultiplexTest, CorkedTcpBatchesKeepValuesAndErrorsApart) {
    const std::string tcp = fixture_file("conninfo_tcp");
    if (tcp.empty()) GTEST_SKIP() << "the fixture server has no TCP conninfo";
    make({{"max_size", "2"}, {"multiplexing_connections", "2"}}, tcp + " application_name=" + app_);
    constexpr int kThreads = 12;
    constexpr int kStatements = 150;
    std::atomic<int> wrong{0};
    std::vector<std::thread> callers;
    for (int t = 0; t < kThreads; ++t) {
        callers.emplace_back([&, t] {
            for (int i = 0; i < kStatements; ++i) {
                const std::string mine = std::to_string(t * 1'000 + i);
                const bool fail = i % 10 == 5;  // a division by zero now and then
                std::string value;
                Error error;
                const connpool_status s = exec(fail ? "SELECT 1 / ($1::int * 0)" : "SELECT $1::int",
                                               {mine.c_str()}, &value, error);
                if (fail ? s != CONNPOOL_ERR_QUERY_FAILED || error.sqlstate() != "22012"
                         : s != CONNPOOL_OK || value != mine) {
                    ++wrong;
                }
            }
        });
    }
    for (auto &caller : callers) caller.join();
    EXPECT_EQ(wrong.load(), 0);
}

// A worker whose connection is busy is not woken per statement, but an idle (parked) one is: a
// statement submitted while one shared connection runs a long statement is answered by the
// other at once.
TEST_F(MultiplexTest, IdleConnectionTakesStatementsWhileAnotherIsBusy) {
    make({{"max_size", "2"}, {"multiplexing_connections", "2"}});
    std::string value;
    Error error;
    ASSERT_EQ(exec("SELECT 1", {}, &value, error), CONNPOOL_OK) << error.message();
    connpool_statement *sleeper = nullptr;
    ASSERT_EQ(connpool_pool_exec_async(&sleeper, pool_, "SELECT pg_sleep(2)", 0, nullptr, 20'000,
                                       nullptr),
              CONNPOOL_OK);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the sleeper is sent
    for (int i = 0; i < 20; ++i) {
        const auto start = std::chrono::steady_clock::now();
        const std::string n = std::to_string(i);
        ASSERT_EQ(exec("SELECT $1::int", {n.c_str()}, &value, error, 1'000), CONNPOOL_OK)
            << i << ": " << error.message();
        EXPECT_EQ(value, n);
        EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(500)) << i;
    }
    EXPECT_EQ(connpool_statement_wait(sleeper, 0, nullptr), CONNPOOL_ERR_IN_PROGRESS);
    connpool_statement_free(sleeper);
}

TEST_F(MultiplexTest, AsyncFdBecomesReadableAndResultIsCollectedOnce) {
    make({{"max_size", "2"}, {"multiplexing_connections", "1"}});
    connpool_statement *statement = nullptr;
    const char *params[] = {"41"};
    ASSERT_EQ(connpool_pool_exec_async(&statement, pool_, "SELECT $1::int + 1", 1, params, 10'000,
                                       nullptr),
              CONNPOOL_OK);
    int32_t fd = -1;
    ASSERT_EQ(connpool_statement_fd(&fd, statement, nullptr), CONNPOOL_OK);
    pollfd p{fd, POLLIN, 0};
    ASSERT_EQ(poll(&p, 1, 10'000), 1);
    connpool_result *r = nullptr;
    ASSERT_EQ(connpool_statement_result(&r, statement, nullptr), CONNPOOL_OK);
    EXPECT_STREQ(connpool_result_value(r, 0, 0), "42");
    connpool_result_free(r);
    connpool_result *again = nullptr;
    EXPECT_EQ(connpool_statement_result(&again, statement, nullptr), CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(again, nullptr);
    EXPECT_EQ(connpool_statement_free(statement), CONNPOOL_OK);
    EXPECT_EQ(connpool_statement_free(statement), CONNPOOL_ERR_INVALID_HANDLE);
}

TEST_F(MultiplexTest, TimeoutAnswersInTimeAndOthersGoOn) {
    make({{"max_size", "2"}, {"multiplexing_connections", "1"}});
    std::string value;
    Error error;
    ASSERT_EQ(exec("SELECT 1", {}, &value, error), CONNPOOL_OK) << error.message();
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(exec("SELECT pg_sleep(1)", {}, nullptr, error, 100), CONNPOOL_ERR_TIMEOUT);
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_LT(took, std::chrono::milliseconds(900)) << "the timeout did not answer in time";
    EXPECT_NE(error.message().find("timed out"), std::string::npos) << error.message();
    // The shared connection was not cancelled: the next statement runs after the sleep.
    ASSERT_EQ(exec("SELECT $1::int", {"7"}, &value, error), CONNPOOL_OK) << error.message();
    EXPECT_EQ(value, "7");
}

TEST_F(MultiplexTest, CancelledStatementFinishesAtOnce) {
    make({{"max_size", "2"}, {"multiplexing_connections", "1"}});
    connpool_statement *sleeper = nullptr;
    ASSERT_EQ(connpool_pool_exec_async(&sleeper, pool_, "SELECT pg_sleep(0.3)", 0, nullptr, 10'000,
                                       nullptr),
              CONNPOOL_OK);
    EXPECT_EQ(connpool_statement_cancel(sleeper), CONNPOOL_OK);
    EXPECT_EQ(connpool_statement_wait(sleeper, 0, nullptr), CONNPOOL_OK);
    connpool_result *r = nullptr;
    EXPECT_EQ(connpool_statement_result(&r, sleeper, nullptr), CONNPOOL_ERR_CANCELED);
    EXPECT_EQ(r, nullptr);
    EXPECT_EQ(connpool_statement_free(sleeper), CONNPOOL_OK);
    std::string value;
    Error error;
    ASSERT_EQ(exec("SELECT $1::int", {"8"}, &value, error), CONNPOOL_OK) << error.message();
    EXPECT_EQ(value, "8");
}

TEST_F(MultiplexTest, KilledBackendFailsOnlyItsInFlightStatements) {
    make({{"max_size", "4"}, {"multiplexing_connections", "1"}});
    std::string pid;
    Error error;
    ASSERT_EQ(exec("SELECT pg_backend_pid()", {}, &pid, error), CONNPOOL_OK) << error.message();
    // A batch in flight behind a sleeping statement; the backend is killed under it. The
    // connection is kept busy first, so that the ten are queued meanwhile and written together
    // when its answer arrives (a busy connection does not take statements on a mere tick).
    connpool_statement *blocker = nullptr;
    ASSERT_EQ(connpool_pool_exec_async(&blocker, pool_, "SELECT pg_sleep(0.3)", 0, nullptr, 20'000,
                                       nullptr),
              CONNPOOL_OK);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the blocker is sent
    std::vector<connpool_statement *> batch;
    for (int i = 0; i < 10; ++i) {
        connpool_statement *statement = nullptr;
        const char *sql = i == 0 ? "SELECT pg_sleep(5)" : "SELECT 1";
        ASSERT_EQ(connpool_pool_exec_async(&statement, pool_, sql, 0, nullptr, 20'000, nullptr),
                  CONNPOOL_OK);
        batch.push_back(statement);
    }
    Admin admin;
    for (int i = 0; i < 500 && admin.scalar("SELECT count(*) FROM pg_stat_activity WHERE pid = " +
                                            pid + " AND query LIKE '%pg_sleep(5)%'") != "1";
         ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    admin.terminate(pid);
    connpool_result *blocker_result = nullptr;
    ASSERT_EQ(connpool_statement_wait(blocker, -1, nullptr), CONNPOOL_OK);
    EXPECT_EQ(connpool_statement_result(&blocker_result, blocker, nullptr), CONNPOOL_OK);
    connpool_result_free(blocker_result);
    connpool_statement_free(blocker);
    for (connpool_statement *statement : batch) {
        ASSERT_EQ(connpool_statement_wait(statement, -1, nullptr), CONNPOOL_OK);
        connpool_result *r = nullptr;
        Error e;
        EXPECT_EQ(connpool_statement_result(&r, statement, e.out()), CONNPOOL_ERR_CONNECTION_BROKEN)
            << e.message();
        EXPECT_EQ(r, nullptr);
        connpool_statement_free(statement);
    }
    // The next statements run on a replacement connection.
    std::string new_pid;
    ASSERT_EQ(exec("SELECT pg_backend_pid()", {}, &new_pid, error), CONNPOOL_OK) << error.message();
    EXPECT_NE(new_pid, pid);
    std::string value;
    ASSERT_EQ(exec("SELECT $1::int", {"9"}, &value, error), CONNPOOL_OK) << error.message();
    EXPECT_EQ(value, "9");
}

TEST_F(MultiplexTest, SessionStatementsAreRefused) {
    make({{"max_size", "2"}, {"multiplexing_connections", "1"}});
    for (const char *sql : {"BEGIN", "  begin isolation level serializable", "SET search_path = x",
                            "-- c\n/* c */ COMMIT", "LISTEN x", "start transaction"}) {
        Error error;
        EXPECT_EQ(exec(sql, {}, nullptr, error), CONNPOOL_ERR_INVALID_ARGUMENT) << sql;
        EXPECT_NE(error.message().find("lease"), std::string::npos) << error.message();
    }
    Error error;
    std::string value;
    EXPECT_EQ(exec("SELECT 'BEGIN'", {}, &value, error), CONNPOOL_OK) << error.message();
    EXPECT_EQ(value, "BEGIN");
}

TEST_F(MultiplexTest, OptionOffGivesAClearError) {
    make({{"max_size", "2"}});
    Error error;
    EXPECT_EQ(exec("SELECT 1", {}, nullptr, error), CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_NE(error.message().find("multiplexing_connections"), std::string::npos)
        << error.message();
    connpool_statement *statement = nullptr;
    EXPECT_EQ(connpool_pool_exec_async(&statement, pool_, "SELECT 1", 0, nullptr, 1000, nullptr),
              CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(statement, nullptr);
}

TEST_F(MultiplexTest, BadArgumentsAreRefused) {
    make({{"max_size", "2"}, {"multiplexing_connections", "1"}});
    connpool_result *r = nullptr;
    EXPECT_EQ(connpool_pool_exec(nullptr, pool_, "SELECT 1", 0, nullptr, 1000, nullptr),
              CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(connpool_pool_exec(&r, nullptr, "SELECT 1", 0, nullptr, 1000, nullptr),
              CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(connpool_pool_exec(&r, pool_, nullptr, 0, nullptr, 1000, nullptr),
              CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(connpool_pool_exec(&r, pool_, "SELECT $1", 1, nullptr, 1000, nullptr),
              CONNPOOL_ERR_INVALID_ARGUMENT);
    Error error;
    EXPECT_EQ(connpool_pool_exec(&r, pool_, "SELECT 1", 0, nullptr, 0, error.out()),
              CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_NE(error.message().find("timeout_ms"), std::string::npos);
    EXPECT_EQ(connpool_statement_free(nullptr), CONNPOOL_OK);
}

TEST_F(MultiplexTest, ClosingThePoolFinishesPendingStatements) {
    make({{"max_size", "2"}, {"multiplexing_connections", "1"}});
    connpool_statement *sleeper = nullptr;
    ASSERT_EQ(connpool_pool_exec_async(&sleeper, pool_, "SELECT pg_sleep(1)", 0, nullptr, 20'000,
                                       nullptr),
              CONNPOOL_OK);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(connpool_pool_close(pool_, nullptr), CONNPOOL_OK);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
    EXPECT_EQ(connpool_statement_wait(sleeper, 0, nullptr), CONNPOOL_OK);
    connpool_result *r = nullptr;
    EXPECT_EQ(connpool_statement_result(&r, sleeper, nullptr), CONNPOOL_ERR_POOL_CLOSED);
    connpool_statement_free(sleeper);
    Error error;
    EXPECT_EQ(exec("SELECT 1", {}, nullptr, error), CONNPOOL_ERR_POOL_CLOSED);
}

}  // namespace
