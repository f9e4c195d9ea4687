// The asynchronous statement API (connpool_lease_send / _socket / _collect / _cancel) against
// the real server: happy path, parameters, errors with SQLSTATE, a backend killed while a
// statement is pending, cancellation, the statement cache on this path, and misuse.
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "connpool/connpool.h"
#include "pg_support.hpp"

namespace {

using namespace connpool::pgtest;

class AsyncStatementTest : public RealPoolTest {
  protected:
    void TearDown() override {
        if (!table_.empty()) {
            Admin admin;
            admin.command("DROP TABLE IF EXISTS " + table_);
        }
        RealPoolTest::TearDown();
    }
    // Waits on the lease's socket as connpool_lease_socket says and collects, for at most
    // `limit`. Counts the IN_PROGRESS answers in `waits`.
    connpool_status collect(connpool_lease *lease, connpool_result **out, Error &error,
                            std::chrono::milliseconds limit = std::chrono::seconds(30),
                            int *waits = nullptr) {
        const auto deadline = Clock::now() + limit;
        for (;;) {
            const connpool_status s = connpool_lease_collect(out, lease, error.out());
            if (s != CONNPOOL_ERR_IN_PROGRESS) return s;
            EXPECT_EQ(*out, nullptr);
            if (waits != nullptr) ++*waits;
            int32_t fd = -1, events = 0;
            EXPECT_EQ(connpool_lease_socket(&fd, &events, lease, nullptr), CONNPOOL_OK);
            EXPECT_GE(fd, 0);
            EXPECT_NE(events & CONNPOOL_WAIT_READ, 0);
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            if (left.count() <= 0) return CONNPOOL_ERR_TIMEOUT;
            pollfd p{
                fd, static_cast<short>(POLLIN | ((events & CONNPOOL_WAIT_WRITE) ? POLLOUT : 0)), 0};
            poll(&p, 1, static_cast<int>(left.count()));
        }
    }
    std::string backend_pid(connpool_lease *lease) {
        return scalar(lease, "SELECT pg_backend_pid()");
    }
    std::string table_;
};

TEST_F(AsyncStatementTest, SendThenCollectWithParameters) {
    make({{"max_size", "1"}});
    connpool_lease *lease = acquire();
    int32_t fd = -2, events = -1;
    ASSERT_EQ(connpool_lease_socket(&fd, &events, lease, nullptr), CONNPOOL_OK);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(events, 0) << "nothing pending yet";
    for (int i = 0; i < 12; ++i) {  // crosses the default prepare_threshold (5)
        const std::string n = std::to_string(i);
        const char *params[] = {n.c_str(), nullptr, "héllo"};
        Error error;
        ASSERT_EQ(connpool_lease_send(lease, "SELECT $1::int * 2, $2::text, $3::text", 3, params,
                                      error.out()),
                  CONNPOOL_OK)
            << error.message();
        int32_t events_now = 0;
        EXPECT_EQ(connpool_lease_socket(&fd, &events_now, lease, nullptr), CONNPOOL_OK);
        EXPECT_NE(events_now & CONNPOOL_WAIT_READ, 0);
        connpool_result *r = nullptr;
        ASSERT_EQ(collect(lease, &r, error), CONNPOOL_OK) << error.message();
        EXPECT_STREQ(connpool_result_value(r, 0, 0), std::to_string(2 * i).c_str());
        EXPECT_EQ(connpool_result_is_null(r, 0, 1), 1);
        EXPECT_STREQ(connpool_result_value(r, 0, 2), "héllo");
        EXPECT_EQ(connpool_result_free(r), CONNPOOL_OK);
        EXPECT_EQ(connpool_lease_socket(&fd, &events_now, lease, nullptr), CONNPOOL_OK);
        EXPECT_EQ(events_now, 0) << "collected: nothing pending";
    }
    // The statement was prepared on the way (default prepare_threshold).
    EXPECT_EQ(scalar(lease,
                     "SELECT count(*) FROM pg_prepared_statements WHERE statement = "
                     "'SELECT $1::int * 2, $2::text, $3::text'"),
              "1");
    EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
    EXPECT_EQ(stats().closed_broken, 0);
}

TEST_F(AsyncStatementTest, QueryErrorCarriesSqlstateAndLeavesLeaseUsable) {
    make({{"max_size", "1"}});
    connpool_lease *lease = acquire();
    Error error;
    ASSERT_EQ(connpool_lease_send(lease, "SELECT 1/0", 0, nullptr, error.out()), CONNPOOL_OK);
    connpool_result *r = nullptr;
    EXPECT_EQ(collect(lease, &r, error), CONNPOOL_ERR_QUERY_FAILED);
    EXPECT_EQ(error.sqlstate(), "22012");
    ASSERT_NE(r, nullptr);
    EXPECT_STREQ(connpool_result_sqlstate(r), "22012");
    connpool_result_free(r);
    EXPECT_EQ(scalar(lease, "SELECT 'still fine'"), "still fine");
    EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
    EXPECT_EQ(stats().closed_broken, 0);
}

TEST_F(AsyncStatementTest, CachedPlanChangeIsRetriedThroughCollect) {
    table_ = "async_alter_" + std::to_string(::getpid());
    {
        Admin admin;
        admin.command("CREATE TABLE " + table_ + " (a int)");
        admin.command("INSERT INTO " + table_ + " VALUES (7)");
    }
    make({{"max_size", "1"}, {"prepare_threshold", "0"}});
    connpool_lease *lease = acquire();
    const std::string select = "SELECT a FROM " + table_;
    EXPECT_EQ(scalar(lease, select.c_str()), "7");
    {
        Admin admin;
        admin.command("ALTER TABLE " + table_ + " ALTER a TYPE text USING 'v' || a");
    }
    Error error;
    ASSERT_EQ(connpool_lease_send(lease, select.c_str(), 0, nullptr, error.out()), CONNPOOL_OK);
    connpool_result *r = nullptr;
    ASSERT_EQ(collect(lease, &r, error), CONNPOOL_OK) << error.message();
    EXPECT_STREQ(connpool_result_value(r, 0, 0), "v7");
    connpool_result_free(r);
    EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
}

TEST_F(AsyncStatementTest, BackendTerminatedWhilePendingIsBrokenAndClosedOnRelease) {
    make({{"max_size", "1"}});
    connpool_lease *lease = acquire();
    const std::string pid = backend_pid(lease);
    Error error;
    ASSERT_EQ(connpool_lease_send(lease, "SELECT pg_sleep(30)", 0, nullptr, error.out()),
              CONNPOOL_OK);
    connpool_result *r = nullptr;
    EXPECT_EQ(connpool_lease_collect(&r, lease, nullptr), CONNPOOL_ERR_IN_PROGRESS);
    const auto start = Clock::now();
    Admin().terminate(pid);
    EXPECT_EQ(collect(lease, &r, error, std::chrono::seconds(20)), CONNPOOL_ERR_CONNECTION_BROKEN)
        << error.message();
    EXPECT_EQ(r, nullptr);
    EXPECT_EQ(error.sqlstate(), "57P01");
    EXPECT_LT(Clock::now() - start, std::chrono::seconds(15));
    EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
    EXPECT_EQ(stats().closed_broken, 1);
    lease = acquire();  // a fresh connection
    EXPECT_NE(backend_pid(lease), pid);
    EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
}

TEST_F(AsyncStatementTest, CancelStopsTheStatementAndTheLeaseStaysUsable) {
    make({{"max_size", "1"}});
    connpool_lease *lease = acquire();
    const std::string pid = backend_pid(lease);
    Error error;
    ASSERT_EQ(connpool_lease_send(lease, "SELECT pg_sleep(30)", 0, nullptr, error.out()),
              CONNPOOL_OK);
    const auto start = Clock::now();
    {
        // A cancel that reaches the backend before it starts the statement is ignored: wait
        // until it runs.
        Admin admin;
        for (int i = 0; i < 1000 && admin.scalar("SELECT state FROM pg_stat_activity WHERE pid = " +
                                                 pid) != "active";
             ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    }
    // From another thread, as the header allows.
    std::thread canceller([&] { EXPECT_EQ(connpool_lease_cancel(lease, nullptr), CONNPOOL_OK); });
    connpool_result *r = nullptr;
    EXPECT_EQ(collect(lease, &r, error, std::chrono::seconds(20)), CONNPOOL_ERR_QUERY_FAILED);
    canceller.join();
    EXPECT_EQ(error.sqlstate(), "57014");
    EXPECT_LT(Clock::now() - start, std::chrono::seconds(10));
    connpool_result_free(r);
    EXPECT_EQ(scalar(lease, "SELECT 1"), "1");
    // Nothing running: a cancel is harmless.
    EXPECT_EQ(connpool_lease_cancel(lease, nullptr), CONNPOOL_OK);
    EXPECT_EQ(scalar(lease, "SELECT 2"), "2");
    EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
    EXPECT_EQ(stats().closed_broken, 0);
}

TEST_F(AsyncStatementTest, TransactionStatus) {
    make({{"max_size", "1"}});
    connpool_lease *lease = acquire();
    int32_t tx = -1;
    ASSERT_EQ(connpool_lease_transaction_status(&tx, lease, nullptr), CONNPOOL_OK);
    EXPECT_EQ(tx, CONNPOOL_TRANSACTION_IDLE);
    scalar(lease, "BEGIN");
    EXPECT_EQ(connpool_lease_transaction_status(&tx, lease, nullptr), CONNPOOL_OK);
    EXPECT_EQ(tx, CONNPOOL_TRANSACTION_INTRANS);
    ASSERT_EQ(connpool_lease_send(lease, "SELECT 1/0", 0, nullptr, nullptr), CONNPOOL_OK);
    EXPECT_EQ(connpool_lease_transaction_status(&tx, lease, nullptr), CONNPOOL_OK);
    EXPECT_EQ(tx, CONNPOOL_TRANSACTION_ACTIVE);
    connpool_result *r = nullptr;
    Error error;
    EXPECT_EQ(collect(lease, &r, error), CONNPOOL_ERR_QUERY_FAILED);
    connpool_result_free(r);
    EXPECT_EQ(connpool_lease_transaction_status(&tx, lease, nullptr), CONNPOOL_OK);
    EXPECT_EQ(tx, CONNPOOL_TRANSACTION_INERROR);
    EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);  // rolled back by the pool
    EXPECT_EQ(connpool_lease_transaction_status(&tx, lease, nullptr), CONNPOOL_ERR_INVALID_HANDLE);
    EXPECT_EQ(connpool_lease_transaction_status(nullptr, lease, nullptr),
              CONNPOOL_ERR_INVALID_ARGUMENT);
}

TEST_F(AsyncStatementTest, MisuseIsAClearErrorNeverACrash) {
    make({{"max_size", "1"}});
    connpool_lease *lease = acquire();
    const std::string pid = backend_pid(lease);
    uint64_t id = 0, same = 0;
    ASSERT_EQ(connpool_lease_connection_id(&id, lease, nullptr), CONNPOOL_OK);
    EXPECT_NE(id, 0u);
    EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
    lease = acquire();  // the same connection, the same id
    ASSERT_EQ(connpool_lease_connection_id(&same, lease, nullptr), CONNPOOL_OK);
    EXPECT_EQ(same, id);
    EXPECT_EQ(connpool_lease_connection_id(nullptr, lease, nullptr), CONNPOOL_ERR_INVALID_ARGUMENT);
    Error error;
    connpool_result *r = nullptr;
    // Collect without send.
    EXPECT_EQ(connpool_lease_collect(&r, lease, error.out()), CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_NE(error.message().find("no statement is pending"), std::string::npos);
    EXPECT_EQ(r, nullptr);
    // NULL arguments.
    EXPECT_EQ(connpool_lease_send(nullptr, "SELECT 1", 0, nullptr, nullptr),
              CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(connpool_lease_send(lease, nullptr, 0, nullptr, nullptr),
              CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(connpool_lease_send(lease, "SELECT $1", 1, nullptr, nullptr),
              CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(connpool_lease_send(lease, "SELECT 1", -1, nullptr, nullptr),
              CONNPOOL_ERR_INVALID_ARGUMENT);
    int32_t fd = 0, events = 0;
    EXPECT_EQ(connpool_lease_socket(nullptr, &events, lease, nullptr),
              CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(connpool_lease_socket(&fd, nullptr, lease, nullptr), CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(connpool_lease_collect(nullptr, lease, nullptr), CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(connpool_lease_cancel(nullptr, nullptr), CONNPOOL_ERR_INVALID_ARGUMENT);
    // Made-up handle.
    auto *fake = reinterpret_cast<connpool_lease *>(uintptr_t{0x8000000000001234});
    EXPECT_EQ(connpool_lease_send(fake, "SELECT 1", 0, nullptr, nullptr),
              CONNPOOL_ERR_INVALID_HANDLE);
    EXPECT_EQ(connpool_lease_collect(&r, fake, nullptr), CONNPOOL_ERR_INVALID_HANDLE);
    EXPECT_EQ(connpool_lease_socket(&fd, &events, fake, nullptr), CONNPOOL_ERR_INVALID_HANDLE);
    EXPECT_EQ(connpool_lease_cancel(fake, nullptr), CONNPOOL_ERR_INVALID_HANDLE);

    // A statement pending: a second send and an exec are refused; the first still completes.
    ASSERT_EQ(connpool_lease_send(lease, "SELECT 'first'", 0, nullptr, nullptr), CONNPOOL_OK);
    EXPECT_EQ(connpool_lease_send(lease, "SELECT 'second'", 0, nullptr, error.out()),
              CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_NE(error.message().find("still pending"), std::string::npos) << error.message();
    EXPECT_EQ(connpool_lease_exec(&r, lease, "SELECT 'third'", 0, nullptr, error.out()),
              CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(r, nullptr);
    ASSERT_EQ(collect(lease, &r, error), CONNPOOL_OK) << error.message();
    EXPECT_STREQ(connpool_result_value(r, 0, 0), "first");
    connpool_result_free(r);
    EXPECT_EQ(connpool_lease_collect(&r, lease, nullptr), CONNPOOL_ERR_INVALID_ARGUMENT);

    // Released with a statement pending: the connection is closed, never reused.
    ASSERT_EQ(connpool_lease_send(lease, "SELECT pg_sleep(0.2)", 0, nullptr, nullptr), CONNPOOL_OK);
    EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
    EXPECT_EQ(connpool_lease_send(lease, "SELECT 1", 0, nullptr, nullptr),
              CONNPOOL_ERR_INVALID_HANDLE);
    EXPECT_EQ(connpool_lease_collect(&r, lease, nullptr), CONNPOOL_ERR_INVALID_HANDLE);
    EXPECT_EQ(stats().closed_broken, 1);
    lease = acquire();
    EXPECT_NE(backend_pid(lease), pid);
    uint64_t fresh = 0;
    ASSERT_EQ(connpool_lease_connection_id(&fresh, lease, nullptr), CONNPOOL_OK);
    EXPECT_NE(fresh, id) << "a new connection gets a new id";
    EXPECT_EQ(scalar(lease, "SELECT 'clean'"), "clean");
    EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
}

TEST_F(AsyncStatementTest, LargeParameterIsFlushedThroughWriteReadiness) {
    make({{"max_size", "1"}});
    connpool_lease *lease = acquire();
    const std::string big(8 << 20, 'x');  // larger than any socket buffer
    const char *params[] = {big.c_str()};
    Error error;
    ASSERT_EQ(connpool_lease_send(lease, "SELECT length($1::text)", 1, params, error.out()),
              CONNPOOL_OK)
        << error.message();
    connpool_result *r = nullptr;
    ASSERT_EQ(collect(lease, &r, error), CONNPOOL_OK) << error.message();
    EXPECT_STREQ(connpool_result_value(r, 0, 0), std::to_string(big.size()).c_str());
    connpool_result_free(r);
    EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
    EXPECT_EQ(stats().closed_broken, 0);
}

}  // namespace
