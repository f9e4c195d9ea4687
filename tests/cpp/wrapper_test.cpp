// The C++17 wrapper (include/connpool/connpool.hpp) against the real server of the CTest fixture
// `postgres`: RAII release and free, exceptions with status and SQLSTATE, NULLs, row iteration,
// moves, try_acquire and try_exec, statistics. Every test checks at its end that its backends
// are gone and no file descriptor leaked, and that the wrapper misused no handle.
#include <gtest/gtest.h>
#include <connpool/connpool.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <iterator>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "pg_support.hpp"

namespace {

using namespace std::chrono_literals;
using connpool::pgtest::Admin;
using connpool::pgtest::conninfo_for;
using connpool::pgtest::open_fds;

static_assert(!std::is_copy_constructible_v<connpool::pool>);
static_assert(!std::is_copy_constructible_v<connpool::lease>);
static_assert(!std::is_copy_constructible_v<connpool::result>);
static_assert(!std::is_copy_constructible_v<connpool::options>);
static_assert(std::is_nothrow_move_constructible_v<connpool::pool>);
static_assert(std::is_nothrow_move_constructible_v<connpool::lease>);
static_assert(std::is_nothrow_move_constructible_v<connpool::result>);
static_assert(std::is_nothrow_move_assignable_v<connpool::lease>);
static_assert(std::is_base_of_v<std::runtime_error, connpool::error>);

class CppWrapperTest : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_FALSE(connpool::pgtest::base_conninfo().empty())
            << "no server: run through ctest (fixture) or set CONNPOOL_TEST_CONNINFO";
        app_ =
            std::string("cpp_") + ::testing::UnitTest::GetInstance()->current_test_info()->name();
        fds_at_start_ = open_fds();
        misuse_at_start_ = connpool_misuse_count();
    }
    void TearDown() override {
        EXPECT_EQ(connpool_misuse_count(), misuse_at_start_ + expected_misuse_)
            << "the wrapper passed a NULL or stale handle to the C API";
        {
            Admin admin;  // its own connection is closed before the descriptors are counted
            EXPECT_EQ(admin.backends_settled(app_, 0), 0) << "a connection outlived its pool";
        }
        EXPECT_EQ(open_fds(), fds_at_start_) << "file descriptors leaked";
    }

    connpool::pool make_pool(int max_size = 2) {
        return connpool::pool(conninfo_for(app_),
                              connpool::options().set("name", "cpp").set("max_size", max_size));
    }

    std::string app_;
    int fds_at_start_ = 0;
    std::int64_t misuse_at_start_ = 0;
    std::int64_t expected_misuse_ = 0;
};

TEST_F(CppWrapperTest, LeaseAndResultAreReleasedByTheirDestructors) {
    connpool::pool pool = make_pool(1);
    std::uint64_t first_connection = 0;
    {
        connpool::lease lease = pool.acquire(10s);
        connpool::result res = lease.exec("SELECT 40 + 2");
        EXPECT_EQ(res.scalar(), "42");
        first_connection = lease.connection_id();
        EXPECT_EQ(pool.statistics().in_use, 1);
    }
    const connpool::stats after = pool.statistics();
    EXPECT_EQ(after.in_use, 0);
    EXPECT_EQ(after.released, 1);
    // max_size 1: the connection came back, so it can be taken again without waiting.
    connpool::lease again = pool.acquire(0ms);
    EXPECT_EQ(again.connection_id(), first_connection);
}

TEST_F(CppWrapperTest, ExplicitReleaseEmptiesTheLease) {
    connpool::pool pool = make_pool(1);
    connpool::lease lease = pool.acquire();
    lease.release();
    EXPECT_FALSE(lease);
    EXPECT_EQ(pool.statistics().released, 1);
    // Using the empty lease is a misuse the C API reports (and counts).
    try {
        lease.exec("SELECT 1");
        ADD_FAILURE() << "exec on a released lease did not throw";
    } catch (const connpool::error &e) {
        EXPECT_EQ(e.status(), CONNPOOL_ERR_INVALID_ARGUMENT);
    }
    expected_misuse_ = 1;
}

TEST_F(CppWrapperTest, RejectedStatementThrowsWithStatusMessageAndSqlstate) {
    connpool::pool pool = make_pool();
    connpool::lease lease = pool.acquire();
    try {
        lease.exec("SELECT 1 / $1::int", 0);
        ADD_FAILURE() << "division by zero did not throw";
    } catch (const connpool::error &e) {
        EXPECT_EQ(e.status(), CONNPOOL_ERR_QUERY_FAILED);
        EXPECT_EQ(e.sqlstate(), "22012");
        EXPECT_NE(e.message().find("division by zero"), std::string::npos) << e.message();
        EXPECT_EQ(std::string_view(e.what()).substr(0, 26), "CONNPOOL_ERR_QUERY_FAILED:");
        EXPECT_EQ(e.status_name(), "CONNPOOL_ERR_QUERY_FAILED");
        EXPECT_EQ(e.code(), std::error_code(CONNPOOL_ERR_QUERY_FAILED, connpool::category()));
        EXPECT_STREQ(e.code().category().name(), "connpool");
    }
    // The connection stays usable; a unique violation carries its own SQLSTATE.
    lease.exec("CREATE TEMP TABLE t (id int PRIMARY KEY)");
    lease.exec("INSERT INTO t VALUES ($1)", 1);
    try {
        lease.exec("INSERT INTO t VALUES ($1)", 1);
        ADD_FAILURE() << "duplicate key did not throw";
    } catch (const connpool::error &e) {
        EXPECT_EQ(e.sqlstate(), "23505");
    }
}

TEST_F(CppWrapperTest, TryExecReturnsARejectedStatementAsAValue) {
    connpool::pool pool = make_pool();
    connpool::lease lease = pool.acquire();
    connpool::result res = lease.try_exec("SELECT * FROM no_such_table");
    ASSERT_TRUE(res);
    EXPECT_FALSE(res.ok());
    EXPECT_EQ(res.status(), CONNPOOL_ERR_QUERY_FAILED);
    EXPECT_EQ(res.sqlstate(), "42P01");
    EXPECT_NE(res.error_message().find("no_such_table"), std::string_view::npos);
    EXPECT_TRUE(res.empty());
    connpool::result good = lease.try_exec("SELECT $1::text", "fine");
    EXPECT_TRUE(good.ok());
    EXPECT_EQ(good.sqlstate(), "");
    EXPECT_EQ(good.scalar(), "fine");
}

TEST_F(CppWrapperTest, FailuresOutsideStatementsThrowToo) {
    try {
        connpool::options().set("no_such_option", 1);
        ADD_FAILURE() << "an unknown option was accepted";
    } catch (const connpool::error &e) {
        EXPECT_EQ(e.status(), CONNPOOL_ERR_UNKNOWN_OPTION);
        EXPECT_EQ(e.sqlstate(), "");
    }
    try {
        connpool::options().set("max_size", 0);
        ADD_FAILURE() << "max_size 0 was accepted";
    } catch (const connpool::error &e) {
        EXPECT_EQ(e.status(), CONNPOOL_ERR_INVALID_ARGUMENT);
        EXPECT_NE(e.message().find("max_size"), std::string::npos) << e.message();
    }
    connpool::pool pool = make_pool(1);
    connpool::lease held = pool.acquire();
    try {
        pool.acquire(50ms);
        ADD_FAILURE() << "a second acquire on max_size 1 did not time out";
    } catch (const connpool::error &e) {
        EXPECT_EQ(e.status(), CONNPOOL_ERR_TIMEOUT);
    }
    expected_misuse_ = 1;  // max_size 0 (an unknown key is not counted as misuse)
}

TEST_F(CppWrapperTest, NullParametersAndValues) {
    connpool::pool pool = make_pool();
    connpool::lease lease = pool.acquire();
    const std::optional<std::string_view> no_text;
    const std::optional<int> five = 5;
    connpool::result res =
        lease.exec("SELECT $1::text, $2::text, $3::text, $4::int, $5::text", std::nullopt, "",
                   no_text, five, static_cast<const char *>(nullptr));
    ASSERT_EQ(res.size(), 1U);
    connpool::row row = res[0];
    EXPECT_EQ(row[0], std::nullopt);
    EXPECT_TRUE(row.is_null(0));
    ASSERT_TRUE(row[1].has_value());  // an empty string is not NULL
    EXPECT_EQ(*row[1], "");
    EXPECT_EQ(row[2], std::nullopt);
    EXPECT_EQ(row[3], "5");
    EXPECT_EQ(row[4], std::nullopt);
    EXPECT_EQ(row.text(0), "");

    const connpool::param null_param(std::nullopt);
    EXPECT_TRUE(null_param.is_null());
    EXPECT_EQ(null_param.text(), "");
    EXPECT_FALSE(connpool::param("").is_null());
}

TEST_F(CppWrapperTest, ParametersOfEveryKind) {
    connpool::pool pool = make_pool();
    connpool::lease lease = pool.acquire();
    const std::string owned = "owned";
    const std::int64_t big = std::numeric_limits<std::int64_t>::max();
    connpool::result res = lease.exec("SELECT $1::text, $2::int8, $3::int, $4::bool, $5::text",
                                      owned, big, -7, true, std::string_view("view"));
    connpool::row row = res[0];
    EXPECT_EQ(row[0], "owned");
    EXPECT_EQ(row[1], std::to_string(big));
    EXPECT_EQ(row[2], "-7");
    EXPECT_EQ(row[3], "t");
    EXPECT_EQ(row[4], "view");

    // A parameter list built at run time.
    std::vector<connpool::param> params;
    for (int i = 1; i <= 3; ++i) params.emplace_back(i * 10);
    params.emplace_back(std::nullopt);
    connpool::result sum =
        lease.exec("SELECT $1::int + $2::int + $3::int, $4::int IS NULL", params);
    EXPECT_EQ(sum[0][0], "60");
    EXPECT_EQ(sum[0][1], "t");
}

TEST_F(CppWrapperTest, IteratesRowsAndNamesColumns) {
    connpool::pool pool = make_pool();
    connpool::lease lease = pool.acquire();
    connpool::result res =
        lease.exec("SELECT g AS n, g * g AS square FROM generate_series(1, $1::int) AS g", 5);
    EXPECT_EQ(res.columns(), 2);
    EXPECT_EQ(res.column_names(), (std::vector<std::string_view>{"n", "square"}));
    EXPECT_EQ(res.column_type(0), 23U);  // int4
    EXPECT_EQ(std::distance(res.begin(), res.end()), 5);

    std::vector<std::string> squares;
    std::int64_t expected_index = 0;
    for (connpool::row row : res) {
        EXPECT_EQ(row.index(), expected_index++);
        EXPECT_EQ(row.size(), 2);
        squares.emplace_back(row["square"].value());
    }
    EXPECT_EQ(squares, (std::vector<std::string>{"1", "4", "9", "16", "25"}));
    EXPECT_THROW(res[0]["no_such_column"], std::out_of_range);
    EXPECT_THROW(res[0][2], std::out_of_range);
    EXPECT_THROW(res[5], std::out_of_range);
    EXPECT_THROW(res.column_name(2), std::out_of_range);

    lease.exec("CREATE TEMP TABLE items (n int)");
    connpool::result insert = lease.exec("INSERT INTO items SELECT generate_series(1, 3)");
    EXPECT_TRUE(insert.empty());
    EXPECT_EQ(insert.columns(), 0);
    EXPECT_EQ(insert.affected_rows(), 3);
    EXPECT_EQ(lease.exec("CREATE INDEX ON items (n)").affected_rows(), std::nullopt);
    int rows_seen = 0;
    for (connpool::row row : insert) rows_seen += row.size();
    EXPECT_EQ(rows_seen, 0);
}

TEST_F(CppWrapperTest, MovesTransferOwnership) {
    connpool::pool first = make_pool(2);
    connpool::pool pool = std::move(first);
    EXPECT_FALSE(first);  // NOLINT(bugprone-use-after-move): moved-from state is specified
    EXPECT_TRUE(pool);

    connpool::lease a = pool.acquire();
    connpool::lease b = std::move(a);
    EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move)
    EXPECT_EQ(b.exec("SELECT 1").scalar(), "1");
    EXPECT_EQ(pool.statistics().released, 0);

    // Move-assigning over a live lease releases the one it held.
    connpool::lease c = pool.acquire();
    EXPECT_EQ(pool.statistics().in_use, 2);
    c = std::move(b);
    EXPECT_EQ(pool.statistics().released, 1);
    EXPECT_EQ(pool.statistics().in_use, 1);

    connpool::result r1 = c.exec("SELECT 'kept'");
    connpool::result r2;
    r2 = std::move(r1);
    EXPECT_FALSE(r1);  // NOLINT(bugprone-use-after-move)
    // An empty result answers without calling the library (the misuse count stays unchanged).
    EXPECT_EQ(r1.size(), 0U);  // NOLINT(bugprone-use-after-move)
    EXPECT_EQ(r1.status(), CONNPOOL_ERR_INVALID_HANDLE);
    EXPECT_EQ(r1.begin(), r1.end());
    EXPECT_EQ(r2.scalar(), "kept");

    // Leases are returned from functions and kept in containers.
    std::vector<connpool::lease> leases;
    leases.push_back(std::move(c));
    leases.clear();
    EXPECT_EQ(pool.statistics().in_use, 0);
}

TEST_F(CppWrapperTest, ResultsOutliveTheirLeaseAndPool) {
    connpool::result res;
    {
        connpool::pool pool = make_pool();
        connpool::lease lease = pool.acquire();
        res = lease.exec("SELECT 'still here' AS greeting");
    }
    EXPECT_EQ(res[0]["greeting"], "still here");
}

TEST_F(CppWrapperTest, TryAcquireNeverWaits) {
    connpool::pool pool = make_pool(1);
    // A new pool (min_size 0) has no idle connection: no lease, no exception, no wait.
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(pool.try_acquire(), std::nullopt);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
    EXPECT_EQ(pool.statistics().acquire_timeouts, 0);

    std::uint64_t id = 0;
    {
        connpool::lease lease = pool.acquire();
        id = lease.connection_id();
        EXPECT_EQ(pool.try_acquire(), std::nullopt) << "max_size 1 and it is in use";
    }
    std::optional<connpool::lease> again = pool.try_acquire();
    ASSERT_TRUE(again.has_value());
    EXPECT_EQ(again->connection_id(), id);
    EXPECT_EQ(again->exec("SELECT 2").scalar(), "2");
    again.reset();

    pool.close();
    try {
        (void)pool.try_acquire();
        ADD_FAILURE() << "try_acquire on a closed pool did not throw";
    } catch (const connpool::error &e) {
        EXPECT_EQ(e.status(), CONNPOOL_ERR_POOL_CLOSED);
    }
}

TEST_F(CppWrapperTest, StatisticsByStructJsonAndName) {
    connpool::pool pool(conninfo_for(app_), connpool::options()
                                                .set("name", "cpp")
                                                .set("min_size", 2)
                                                .set("max_size", 3)
                                                .set("pre_ping", false)
                                                .set("max_idle", std::chrono::minutes(5)));
    pool.wait_ready(10s);
    for (int i = 0; i < 3; ++i) pool.acquire().exec("SELECT 1");
    const connpool::stats snapshot = pool.statistics();
    EXPECT_GE(snapshot.total, 2);
    EXPECT_EQ(snapshot.acquired, 3);
    EXPECT_EQ(connpool::stat(snapshot, "acquired"), 3);
    EXPECT_EQ(connpool::stat(snapshot, "min_size"), 2);
    EXPECT_EQ(connpool::stat(snapshot, "no_such_statistic"), std::nullopt);
    const std::string json = pool.statistics_json();
    EXPECT_NE(json.find("\"name\": \"cpp\""), std::string::npos) << json;
    EXPECT_NE(json.find("\"acquired\": 3"), std::string::npos) << json;
}

TEST_F(CppWrapperTest, CancelFromAnotherThread) {
    connpool::pool pool = make_pool(1);
    connpool::lease lease = pool.acquire();
    std::atomic<bool> done{false};
    // Cancel until the statement has ended: a request that arrives before it started is lost.
    std::thread canceller([&lease, &done] {
        while (!done.load()) {
            std::this_thread::sleep_for(100ms);
            if (!done.load()) lease.cancel();
        }
    });
    connpool::result res = lease.try_exec("SELECT pg_sleep(30)");
    done = true;
    canceller.join();
    EXPECT_EQ(res.sqlstate(), "57014");  // query_canceled
    EXPECT_EQ(lease.transaction_status(), CONNPOOL_TRANSACTION_IDLE);
}

}  // namespace
