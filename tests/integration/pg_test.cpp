// libconnpool.so against a real PostgreSQL 15 (the CTest fixture starts a throwaway server;
// CONNPOOL_TEST_CONNINFO points the tests at another one). Only the public API is used, plus
// plain libpq for the test's own admin connection.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <initializer_list>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "connpool/connpool.h"
#include "pg_support.hpp"

namespace {

using namespace connpool::pgtest;

class PgTest : public RealPoolTest {};

TEST_F(PgTest, QueryWithParametersNullsNamesAndTypes) {
    make({{"max_size", "1"}});
    connpool_lease *lease = acquire();
    const char *params[] = {"42", nullptr, "héllo"};
    connpool_result *r = nullptr;
    Error error;
    ASSERT_EQ(
        connpool_lease_exec(&r, lease,
                            "SELECT $1::int AS answer, $2::text AS nothing, $3::text AS word, "
                            "''::text AS empty FROM generate_series(1, 3)",
                            3, params, error.out()),
        CONNPOOL_OK)
        << error.message();
    EXPECT_EQ(connpool_result_status(r), CONNPOOL_OK);
    EXPECT_EQ(connpool_result_row_count(r), 3);
    EXPECT_EQ(connpool_result_column_count(r), 4);
    EXPECT_STREQ(connpool_result_column_name(r, 0), "answer");
    EXPECT_STREQ(connpool_result_column_name(r, 2), "word");
    EXPECT_EQ(connpool_result_column_name(r, 4), nullptr);
    EXPECT_EQ(connpool_result_column_type(r, 0), 23u);  // int4
    EXPECT_EQ(connpool_result_column_type(r, 1), 25u);  // text
    EXPECT_STREQ(connpool_result_value(r, 2, 0), "42");
    EXPECT_EQ(connpool_result_is_null(r, 0, 0), 0);
    EXPECT_EQ(connpool_result_is_null(r, 0, 1), 1);
    EXPECT_STREQ(connpool_result_value(r, 0, 1), "");
    EXPECT_EQ(connpool_result_is_null(r, 0, 3), 0);  // '' is not NULL
    EXPECT_STREQ(connpool_result_value(r, 0, 2), "héllo");
    EXPECT_EQ(connpool_result_value_length(r, 0, 2), 6);
    EXPECT_EQ(connpool_result_value(r, 3, 0), nullptr);  // row out of range
    EXPECT_EQ(connpool_result_is_null(r, 0, -1), -1);    // column out of range
    EXPECT_EQ(connpool_result_affected_rows(r), 3);
    EXPECT_STREQ(connpool_result_sqlstate(r), "");
    EXPECT_EQ(connpool_result_free(r), CONNPOOL_OK);
    EXPECT_EQ(connpool_result_free(r), CONNPOOL_ERR_INVALID_HANDLE);  // double free detected
    EXPECT_EQ(connpool_result_row_count(r), -1);
    EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
}

TEST_F(PgTest, ConnectionsAreReusedAcrossLeases) {
    make({{"max_size", "1"}});
    connpool_lease *a = acquire();
    const std::string pid = scalar(a, "SELECT pg_backend_pid()");
    ASSERT_EQ(connpool_lease_release(a, nullptr), CONNPOOL_OK);
    for (int i = 0; i < 5; ++i) {
        connpool_lease *b = acquire();
        EXPECT_EQ(scalar(b, "SELECT pg_backend_pid()"), pid);
        ASSERT_EQ(connpool_lease_release(b, nullptr), CONNPOOL_OK);
    }
    const connpool_stats s = stats();
    EXPECT_EQ(s.created, 1);
    EXPECT_EQ(s.reused, 5);
    Admin admin;
    EXPECT_EQ(admin.backends(app_), 1);
}

TEST_F(PgTest, OpenTransactionIsRolledBackOnRelease) {
    make({{"max_size", "1"}});
    connpool_lease *a = acquire();
    scalar(a, "CREATE TABLE IF NOT EXISTS rollback_probe (v int)");
    scalar(a, "TRUNCATE rollback_probe");
    scalar(a, "BEGIN");
    scalar(a, "INSERT INTO rollback_probe VALUES (1)");
    const std::string pid = scalar(a, "SELECT pg_backend_pid()");
    ASSERT_EQ(connpool_lease_release(a, nullptr), CONNPOOL_OK);
    connpool_lease *b = acquire();
    EXPECT_EQ(scalar(b, "SELECT pg_backend_pid()"), pid) << "same connection, reset and reused";
    EXPECT_EQ(scalar(b, "SELECT count(*) FROM rollback_probe"), "0");
    void *raw = nullptr;
    ASSERT_EQ(connpool_lease_pgconn(&raw, b, nullptr), CONNPOOL_OK);
    EXPECT_EQ(PQtransactionStatus(static_cast<PGconn *>(raw)), PQTRANS_IDLE);
    // A failed transaction is rolled back too.
    scalar(b, "BEGIN");
    connpool_result *r = nullptr;
    EXPECT_EQ(connpool_lease_exec(&r, b, "SELECT 1/0", 0, nullptr, nullptr),
              CONNPOOL_ERR_QUERY_FAILED);
    connpool_result_free(r);
    ASSERT_EQ(connpool_lease_release(b, nullptr), CONNPOOL_OK);
    connpool_lease *c = acquire();
    EXPECT_EQ(scalar(c, "SELECT 1"), "1");
    scalar(c, "DROP TABLE rollback_probe");
    ASSERT_EQ(connpool_lease_release(c, nullptr), CONNPOOL_OK);
    EXPECT_EQ(stats().resets, 2);
}

TEST_F(PgTest, QueryErrorCarriesSqlstateAndLeavesConnectionUsable) {
    make({{"max_size", "1"}});
    connpool_lease *lease = acquire();
    connpool_result *r = nullptr;
    Error error;
    EXPECT_EQ(connpool_lease_exec(&r, lease, "SELECT 1/0", 0, nullptr, error.out()),
              CONNPOOL_ERR_QUERY_FAILED);
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(connpool_result_status(r), CONNPOOL_ERR_QUERY_FAILED);
    EXPECT_STREQ(connpool_result_sqlstate(r), "22012");
    EXPECT_NE(std::string(connpool_result_error_message(r)).find("division by zero"),
              std::string::npos);
    EXPECT_EQ(error.sqlstate(), "22012");
    EXPECT_NE(error.message().find("division by zero"), std::string::npos);
    connpool_result_free(r);
    EXPECT_EQ(
        connpool_lease_exec(&r, lease, "SELECT * FROM no_such_table", 0, nullptr, error.out()),
        CONNPOOL_ERR_QUERY_FAILED);
    EXPECT_EQ(error.sqlstate(), "42P01");
    connpool_result_free(r);
    EXPECT_EQ(scalar(lease, "SELECT 'still fine'"), "still fine");
    ASSERT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
}

TEST_F(PgTest, KilledIdleBackendIsReplacedTransparently) {
    make({{"max_size", "1"}});
    connpool_lease *a = acquire();
    const std::string pid = scalar(a, "SELECT pg_backend_pid()");
    ASSERT_EQ(connpool_lease_release(a, nullptr), CONNPOOL_OK);
    Admin admin;
    admin.terminate(pid);
    connpool_lease *b = acquire();  // no error reaches the caller
    const std::string new_pid = scalar(b, "SELECT pg_backend_pid()");
    EXPECT_NE(new_pid, pid);
    ASSERT_EQ(connpool_lease_release(b, nullptr), CONNPOOL_OK);
    EXPECT_EQ(stats().closed_broken, 1);
    EXPECT_EQ(stats().created, 2);
}

TEST_F(PgTest, KilledBackendInUseIsReportedThenClosedOnRelease) {
    make({{"max_size", "1"}});
    connpool_lease *a = acquire();
    const std::string pid = scalar(a, "SELECT pg_backend_pid()");
    Admin admin;
    admin.terminate(pid);
    connpool_result *r = nullptr;
    Error error;
    EXPECT_EQ(connpool_lease_exec(&r, a, "SELECT 1", 0, nullptr, error.out()),
              CONNPOOL_ERR_CONNECTION_BROKEN);
    EXPECT_EQ(r, nullptr);
    EXPECT_FALSE(error.message().empty());
    ASSERT_EQ(connpool_lease_release(a, nullptr), CONNPOOL_OK);
    EXPECT_EQ(stats().closed_broken, 1);
    connpool_lease *b = acquire();
    EXPECT_NE(scalar(b, "SELECT pg_backend_pid()"), pid);
    ASSERT_EQ(connpool_lease_release(b, nullptr), CONNPOOL_OK);
}

TEST_F(PgTest, ManyThreadsOnASmallPoolKeepExactCounts) {
    make({{"max_size", "4"}});
    constexpr int kThreads = 16, kCycles = 100;
    std::atomic<int> failures{0};
    std::atomic<int> max_backends_seen{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < kCycles; ++i) {
                connpool_lease *lease = nullptr;
                if (connpool_pool_acquire(&lease, pool_, 30000, nullptr) != CONNPOOL_OK) {
                    failures++;
                    continue;
                }
                const std::string expected = std::to_string(t * kCycles + i);
                const char *params[] = {expected.c_str()};
                connpool_result *r = nullptr;
                if (connpool_lease_exec(&r, lease, "SELECT $1::int", 1, params, nullptr) !=
                        CONNPOOL_OK ||
                    expected != connpool_result_value(r, 0, 0)) {
                    failures++;
                }
                connpool_result_free(r);
                if (connpool_lease_release(lease, nullptr) != CONNPOOL_OK) failures++;
            }
        });
    }
    std::atomic<bool> done{false};
    std::thread watcher([&] {
        Admin admin;
        while (!done) {
            max_backends_seen = std::max(max_backends_seen.load(), admin.backends(app_));
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    });
    for (auto &t : threads) t.join();
    done = true;
    watcher.join();
    EXPECT_EQ(failures.load(), 0);
    const connpool_stats s = stats();
    EXPECT_EQ(s.acquired, kThreads * kCycles);
    EXPECT_EQ(s.released, kThreads * kCycles);
    EXPECT_LE(s.acquired - s.reused,
              s.created);  // fresh acquires; a connection may open for demand that left
    EXPECT_LE(s.created, 4);
    EXPECT_EQ(s.in_use, 0);
    EXPECT_EQ(s.idle, s.total);
    EXPECT_LE(max_backends_seen.load(), 4);
}

TEST_F(PgTest, WaitReadyOpensMinSize) {
    make({{"min_size", "3"}, {"max_size", "5"}});
    Error error;
    ASSERT_EQ(connpool_pool_wait_ready(pool_, 10000, error.out()), CONNPOOL_OK) << error.message();
    EXPECT_EQ(stats().total, 3);
    Admin admin;
    EXPECT_EQ(admin.backends(app_), 3);
}

TEST_F(PgTest, UnreachableServerTimesOutWithTheConnectError) {
    // Port 1 on loopback: connection refused at once.
    make({{"max_size", "1"}, {"connect_timeout", "2000"}},
         "host=127.0.0.1 port=1 dbname=postgres user=postgres connect_timeout=2");
    connpool_lease *lease = nullptr;
    Error error;
    const auto start = Clock::now();
    EXPECT_EQ(connpool_pool_acquire(&lease, pool_, 500, error.out()), CONNPOOL_ERR_CONNECT_FAILED);
    const auto waited =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
    EXPECT_GE(waited, 500);
    EXPECT_LT(waited, 1500);
    EXPECT_NE(error.message().find("last connect error"), std::string::npos) << error.message();
    EXPECT_NE(error.message().find("refused"), std::string::npos) << error.message();
    EXPECT_GE(stats().connect_errors, 1);
}

TEST_F(PgTest, WrongPasswordIsReportedWithoutThePassword) {
    const std::string tcp = fixture_file("conninfo_tcp");
    if (tcp.empty() || std::getenv("CONNPOOL_TEST_CONNINFO") != nullptr) {
        GTEST_SKIP() << "needs the fixture's TCP listener with scram-sha-256";
    }
    const std::string secret = "Wr0ng-S3cret-xyzzy";
    make({{"max_size", "1"}}, tcp + " password=" + secret + " application_name=" + app_);
    connpool_lease *lease = nullptr;
    Error error;
    // An authentication failure opens the circuit breaker at once: the waiter is told within
    // one connect attempt instead of sitting out its 5 s timeout.
    const auto start = Clock::now();
    EXPECT_EQ(connpool_pool_acquire(&lease, pool_, 5000, error.out()),
              CONNPOOL_ERR_DATABASE_UNAVAILABLE);
    EXPECT_LT(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count(),
              1000);
    EXPECT_NE(error.message().find("password authentication failed"), std::string::npos)
        << error.message();
    EXPECT_EQ(error.message().find("LOCATION"), std::string::npos) << error.message();
    EXPECT_EQ(stats().breaker_state, 1);
    EXPECT_EQ(stats().breaker_opens, 1);
    EXPECT_EQ(error.message().find(secret), std::string::npos) << error.message();
    char *json = nullptr;
    ASSERT_EQ(connpool_pool_stats_json(&json, pool_, nullptr), CONNPOOL_OK);
    EXPECT_EQ(std::string(json).find(secret), std::string::npos);
    connpool_string_free(json);
}

TEST_F(PgTest, RightPasswordOverTcpWorks) {
    const std::string tcp = fixture_file("conninfo_tcp");
    if (tcp.empty() || std::getenv("CONNPOOL_TEST_CONNINFO") != nullptr) {
        GTEST_SKIP() << "needs the fixture's TCP listener with scram-sha-256";
    }
    make({{"max_size", "1"}}, tcp + " application_name=" + app_);
    connpool_lease *lease = acquire();
    EXPECT_EQ(scalar(lease, "SELECT current_user"), "postgres");
    ASSERT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
}

TEST_F(PgTest, MalformedConninfoNeverEchoesThePassword) {
    const std::string secret = "Pa55-w0rd-plugh";
    for (const std::string &bad : {"host=localhost password=" + secret + " bogus_key=1",
                                   "host=localhost password='" + secret, "host=localhost " + secret,
                                   "postgresql://u:" + secret + "@[bad"}) {
        connpool_pool *pool = nullptr;
        Error error;
        EXPECT_EQ(connpool_pool_create(&pool, bad.c_str(), nullptr, error.out()),
                  CONNPOOL_ERR_INVALID_ARGUMENT)
            << bad;
        EXPECT_EQ(pool, nullptr);
        EXPECT_EQ(error.message().find(secret), std::string::npos) << error.message();
        EXPECT_NE(error.message().find("conninfo"), std::string::npos) << error.message();
    }
}

TEST_F(PgTest, RawPgconnIsUsable) {
    make({{"max_size", "1"}});
    connpool_lease *lease = acquire();
    void *raw = nullptr;
    ASSERT_EQ(connpool_lease_pgconn(&raw, lease, nullptr), CONNPOOL_OK);
    PGconn *conn = static_cast<PGconn *>(raw);
    PGresult *r = PQexec(conn, "SELECT 7");
    EXPECT_STREQ(PQgetvalue(r, 0, 0), "7");
    PQclear(r);
    ASSERT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
    EXPECT_EQ(connpool_lease_pgconn(&raw, lease, nullptr), CONNPOOL_ERR_INVALID_HANDLE);
}

TEST_F(PgTest, ResetQueryRunsOnEveryReturn) {
    make({{"max_size", "1"}, {"reset_query", "RESET ALL"}});
    connpool_lease *a = acquire();
    scalar(a, "SET work_mem = '77MB'");
    ASSERT_EQ(connpool_lease_release(a, nullptr), CONNPOOL_OK);
    connpool_lease *b = acquire();
    EXPECT_NE(scalar(b, "SHOW work_mem"), "77MB");
    ASSERT_EQ(connpool_lease_release(b, nullptr), CONNPOOL_OK);
    EXPECT_GE(stats().resets, 1);
}

// With reset=rollback the session guard closes the connection; by default the full reset
// undoes the change instead (session_reset_test.cpp, SessionAuthorizationDoesNotLeak).
TEST_F(PgTest, ChangedSessionAuthorizationIsNeverReused) {
    make({{"max_size", "1"}, {"reset", "rollback"}});
    connpool_lease *a = acquire();
    scalar(a,
           "DO $$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'cp_guard_role') "
           "THEN CREATE ROLE cp_guard_role; END IF; END$$");
    const std::string pid = scalar(a, "SELECT pg_backend_pid()");
    scalar(a, "SET SESSION AUTHORIZATION cp_guard_role");
    EXPECT_EQ(scalar(a, "SELECT session_user"), "cp_guard_role");
    ASSERT_EQ(connpool_lease_release(a, nullptr), CONNPOOL_OK);
    connpool_lease *b = acquire();
    EXPECT_NE(scalar(b, "SELECT pg_backend_pid()"), pid) << "the guarded connection was closed";
    EXPECT_EQ(scalar(b, "SELECT session_user"), "postgres");
    ASSERT_EQ(connpool_lease_release(b, nullptr), CONNPOOL_OK);
    EXPECT_EQ(stats().closed_broken, 1);
}

TEST_F(PgTest, FreeWithLeaseOutClosesItsBackendOnRelease) {
    make({{"max_size", "2"}});
    connpool_lease *a = acquire();
    connpool_lease *b = acquire();
    ASSERT_EQ(connpool_lease_release(b, nullptr), CONNPOOL_OK);
    ASSERT_EQ(connpool_pool_free(pool_), CONNPOOL_OK);
    pool_ = nullptr;
    EXPECT_EQ(scalar(a, "SELECT 5"), "5") << "a lease outlives its freed pool";
    Admin admin;
    EXPECT_EQ(admin.backends_settled(app_, 1), 1) << "the idle connection was closed";
    ASSERT_EQ(connpool_lease_release(a, nullptr), CONNPOOL_OK);
    EXPECT_EQ(connpool_lease_release(a, nullptr), CONNPOOL_ERR_INVALID_HANDLE);
}

}  // namespace
