// The pool behind PgBouncer 1.18 in transaction mode (scripts/pgbouncer-server in front of the
// `postgres` fixture's server): statements, transactions, the statement cache, cancellation and
// a server connection dying under PgBouncer. In transaction mode each transaction may run on a
// different server session, so prepared statements vanish between transactions: the pool must
// notice, keep every statement working, and say once that statement_cache_size=0 is the setting.
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "pg_support.hpp"

namespace connpool::pgtest {
namespace {

// $CONNPOOL_TEST_PGBOUNCER_DIR, else the directory of the ctest fixture `pgbouncer`.
std::string bouncer_conninfo() {
    const char *dir = std::getenv("CONNPOOL_TEST_PGBOUNCER_DIR");
    return read_file(std::string(dir != nullptr ? dir : CONNPOOL_PGBOUNCER_DIR) + "/conninfo");
}

// Collects the pool's log lines.
struct LogLines {
    std::mutex mutex;
    std::vector<std::string> lines;
    static void callback(void *self, int32_t /*level*/, const char * /*pool*/, const char *msg) {
        auto *me = static_cast<LogLines *>(self);
        std::lock_guard<std::mutex> lock(me->mutex);
        me->lines.emplace_back(msg);
    }
    size_t containing(const std::string &needle) {
        std::lock_guard<std::mutex> lock(mutex);
        size_t n = 0;
        for (const auto &l : lines) n += l.find(needle) != std::string::npos ? 1 : 0;
        return n;
    }
};

class PgBouncerTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (bouncer_conninfo().empty()) {
            GTEST_SKIP() << "no PgBouncer: run through ctest (fixture pgbouncer)";
        }
    }
    void TearDown() override {
        if (pool_ != nullptr) {
            EXPECT_EQ(connpool_pool_free(pool_), CONNPOOL_OK);
        }
    }
    void make(std::initializer_list<Option> options) {
        connpool_options *opts = nullptr;
        ASSERT_EQ(connpool_options_new(&opts, nullptr), CONNPOOL_OK);
        for (const auto &[k, v] : options) {
            ASSERT_EQ(connpool_options_set(opts, k, v, nullptr), CONNPOOL_OK) << k;
        }
        Error error;
        const std::string conninfo = bouncer_conninfo() + " application_name=cp_bouncer";
        ASSERT_EQ(connpool_pool_create(&pool_, conninfo.c_str(), opts, error.out()), CONNPOOL_OK)
            << error.message();
        connpool_options_free(opts);
        ASSERT_EQ(connpool_pool_set_log_callback(pool_, &LogLines::callback, &log_,
                                                 CONNPOOL_LOG_WARN, nullptr),
                  CONNPOOL_OK);
    }
    connpool_lease *acquire() {
        connpool_lease *lease = nullptr;
        Error error;
        EXPECT_EQ(connpool_pool_acquire(&lease, pool_, 10000, error.out()), CONNPOOL_OK)
            << error.message();
        return lease;
    }
    // Runs `sql`; the first value, or "ERROR <sqlstate>: <message>".
    static std::string run(connpool_lease *lease, const std::string &sql,
                           std::vector<const char *> params = {}) {
        connpool_result *r = nullptr;
        Error error;
        const connpool_status status =
            connpool_lease_exec(&r, lease, sql.c_str(), static_cast<int32_t>(params.size()),
                                params.data(), error.out());
        std::string value;
        if (status != CONNPOOL_OK) {
            value = "ERROR " + error.sqlstate() + ": " + error.message();
        } else if (connpool_result_row_count(r) > 0) {
            value = connpool_result_value(r, 0, 0);
        }
        if (r != nullptr) connpool_result_free(r);
        return value;
    }
    static void release(connpool_lease *lease) {
        EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
    }

    connpool_pool *pool_ = nullptr;
    LogLines log_;
};

TEST_F(PgBouncerTest, StatementsParametersAndErrors) {
    make({{"max_size", "2"}, {"statement_cache_size", "0"}});
    connpool_lease *lease = acquire();
    EXPECT_EQ(run(lease, "SELECT $1::int + $2::int", {"40", "2"}), "42");
    EXPECT_EQ(run(lease, "SELECT $1::text IS NULL", {nullptr}), "t");
    const std::string failed = run(lease, "SELEC 1");
    EXPECT_EQ(failed.rfind("ERROR 42601", 0), 0U) << failed;
    // The connection (to PgBouncer) is still fine after a statement error.
    EXPECT_EQ(run(lease, "SELECT 'after'"), "after");
    release(lease);
}

// A transaction keeps one server session from BEGIN to COMMIT, even in transaction mode; an
// open transaction at release is rolled back through PgBouncer, and the next lease is clean.
TEST_F(PgBouncerTest, TransactionsStayOnOneServerSessionAndRollBackOnRelease) {
    make({{"max_size", "2"}, {"statement_cache_size", "0"}});
    Admin admin;  // direct to the server
    admin.command("CREATE TABLE IF NOT EXISTS bouncer_tx(v int)");
    admin.command("TRUNCATE bouncer_tx");
    connpool_lease *lease = acquire();
    EXPECT_EQ(run(lease, "BEGIN"), "");
    const std::string pid = run(lease, "SELECT pg_backend_pid()");
    EXPECT_EQ(run(lease, "INSERT INTO bouncer_tx VALUES (1) RETURNING v"), "1");
    EXPECT_EQ(run(lease, "SELECT pg_backend_pid()"), pid);
    EXPECT_EQ(run(lease, "COMMIT"), "");
    EXPECT_EQ(run(lease, "BEGIN"), "");
    EXPECT_EQ(run(lease, "INSERT INTO bouncer_tx VALUES (2) RETURNING v"), "2");
    release(lease);  // open transaction: the pool rolls it back

    lease = acquire();
    int32_t tx = -1;
    EXPECT_EQ(connpool_lease_transaction_status(&tx, lease, nullptr), CONNPOOL_OK);
    EXPECT_EQ(tx, 0);  // PQTRANS_IDLE
    EXPECT_EQ(run(lease, "SELECT string_agg(v::text, ',') FROM bouncer_tx"), "1");
    release(lease);
    admin.command("DROP TABLE bouncer_tx");
}

// The statement cache on (prepare at once), many callers: statements land on other server
// sessions than the one they were prepared on. Every statement still succeeds (the pool re-runs
// a vanished one unprepared), the pool concludes that a transaction pooler is in between, stops
// preparing, and logs that once, naming statement_cache_size=0.
TEST_F(PgBouncerTest, StatementCacheDetectsTransactionPooling) {
    constexpr int kThreads = 6, kRounds = 150;
    make({{"max_size", "6"}, {"prepare_threshold", "0"}, {"statement_cache_size", "20"}});
    std::atomic<int> failures{0}, wrong{0};
    std::mutex first_failure_mutex;
    std::string first_failure;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < kRounds; ++i) {
                connpool_lease *lease = acquire();
                if (lease == nullptr) {
                    ++failures;
                    continue;
                }
                // Several texts, so that names and texts differ between callers.
                const std::string sql = "SELECT $1::int * " + std::to_string(1 + (i + t) % 5);
                const std::string arg = std::to_string(i);
                const std::string got = run(lease, sql, {arg.c_str()});
                if (got.rfind("ERROR", 0) == 0) {
                    if (failures++ == 0) {
                        std::lock_guard<std::mutex> lock(first_failure_mutex);
                        first_failure = got;
                    }
                } else if (got != std::to_string(i * (1 + (i + t) % 5))) {
                    ++wrong;
                }
                release(lease);
            }
        });
    }
    for (auto &th : threads) th.join();
    EXPECT_EQ(failures.load(), 0) << first_failure;
    EXPECT_EQ(wrong.load(), 0);
    // The verdict is logged once (the delivery thread may lag a little).
    for (int i = 0; i < 200 && log_.containing("statement_cache_size=0") == 0; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_EQ(log_.containing("statement_cache_size=0"), 1U);
    EXPECT_EQ(log_.containing("PgBouncer"), 1U);
}

// With statement_cache_size=0, as documented for PgBouncer < 1.21: nothing is prepared, no
// statement ever vanishes, nothing is logged.
TEST_F(PgBouncerTest, StatementCacheSizeZeroIsQuiet) {
    make({{"max_size", "4"}, {"statement_cache_size", "0"}});
    std::vector<std::thread> threads;
    std::atomic<int> failures{0};
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 100; ++i) {
                connpool_lease *lease = acquire();
                const std::string arg = std::to_string(i);
                if (run(lease, "SELECT $1::int + 1", {arg.c_str()}) != std::to_string(i + 1)) {
                    ++failures;
                }
                release(lease);
            }
        });
    }
    for (auto &th : threads) th.join();
    EXPECT_EQ(failures.load(), 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_EQ(log_.containing("statement_cache_size"), 0U);
}

// Cancellation goes through PgBouncer (it forwards the cancel request to the right server).
TEST_F(PgBouncerTest, CancelReachesTheServer) {
    make({{"max_size", "1"}, {"statement_cache_size", "0"}});
    connpool_lease *lease = acquire();
    Error error;
    ASSERT_EQ(connpool_lease_send(lease, "SELECT pg_sleep(20)", 0, nullptr, error.out()),
              CONNPOOL_OK);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const auto start = Clock::now();
    ASSERT_EQ(connpool_lease_cancel(lease, error.out()), CONNPOOL_OK) << error.message();
    connpool_status status = CONNPOOL_ERR_IN_PROGRESS;
    connpool_result *r = nullptr;
    while (status == CONNPOOL_ERR_IN_PROGRESS && Clock::now() - start < std::chrono::seconds(5)) {
        status = connpool_lease_collect(&r, lease, error.out());
        if (status == CONNPOOL_ERR_IN_PROGRESS) {
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    }
    EXPECT_EQ(status, CONNPOOL_ERR_QUERY_FAILED);
    EXPECT_EQ(error.sqlstate(), "57014");
    EXPECT_LT(Clock::now() - start, std::chrono::seconds(3));
    if (r != nullptr) connpool_result_free(r);
    EXPECT_EQ(run(lease, "SELECT 1"), "1");
    release(lease);
}

// The server terminates PgBouncer's server connections: PgBouncer opens new ones, and the pool
// keeps serving (a lease whose statement was in flight may fail; the next ones succeed).
TEST_F(PgBouncerTest, ServerConnectionsTerminatedBehindPgBouncer) {
    make({{"max_size", "2"}, {"statement_cache_size", "0"}});
    connpool_lease *lease = acquire();
    EXPECT_EQ(run(lease, "SELECT 1"), "1");
    release(lease);
    Admin admin;
    admin.scalar(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE application_name = 'cp_bouncer' AND pid <> pg_backend_pid()");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    int ok = 0;
    for (int i = 0; i < 10; ++i) {
        lease = acquire();
        if (lease == nullptr) continue;
        ok += run(lease, "SELECT 7") == "7" ? 1 : 0;
        release(lease);
    }
    EXPECT_GE(ok, 8);
    lease = acquire();
    EXPECT_EQ(run(lease, "SELECT 8"), "8");
    release(lease);
}

}  // namespace
}  // namespace connpool::pgtest
