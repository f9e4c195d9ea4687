// The per-connection prepared-statement cache behind connpool_lease_exec, against the real
// server: what is prepared where (pg_prepared_statements of that very backend), eviction,
// everything that can make the server forget statements, and the options.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <unistd.h>

#include <string>
#include <vector>

#include "connpool/connpool.h"
#include "pg_support.hpp"

namespace {

using namespace connpool::pgtest;

class StatementCacheTest : public RealPoolTest {
  protected:
    void TearDown() override {
        if (!table_.empty()) {
            Admin admin;
            admin.command("DROP TABLE IF EXISTS " + table_);
        }
        RealPoolTest::TearDown();
    }
    // The cache's statements on the lease's backend, read through the raw PGconn with the
    // simple protocol (so that the read itself prepares nothing).
    int prepared_on_backend(connpool_lease *lease) {
        void *raw = nullptr;
        EXPECT_EQ(connpool_lease_pgconn(&raw, lease, nullptr), CONNPOOL_OK);
        PGresult *r = PQexec(static_cast<PGconn *>(raw),
                             "SELECT count(*) FROM pg_prepared_statements "
                             "WHERE name LIKE '\\_connpool\\_%'");
        EXPECT_EQ(PQresultStatus(r), PGRES_TUPLES_OK);
        const int n = PQntuples(r) == 1 ? std::stoi(PQgetvalue(r, 0, 0)) : -1;
        PQclear(r);
        return n;
    }
    // Same, without touching the raw connection: a statement through the cache.
    std::string prepared_texts(connpool_lease *lease) {
        return scalar(lease,
                      "SELECT coalesce(string_agg(statement, ' | ' ORDER BY statement), '') "
                      "FROM pg_prepared_statements WHERE name LIKE '\\_connpool\\_%' AND "
                      "statement NOT LIKE '%pg_prepared_statements%'");
    }
    connpool_status exec(connpool_lease *lease, const std::string &sql, Error &error,
                         std::string *value = nullptr) {
        connpool_result *r = nullptr;
        const connpool_status s =
            connpool_lease_exec(&r, lease, sql.c_str(), 0, nullptr, error.out());
        if (value != nullptr && r != nullptr && connpool_result_row_count(r) > 0) {
            *value = connpool_result_value(r, 0, 0);
        }
        connpool_result_free(r);
        return s;
    }
    std::string table_;
};

TEST_F(StatementCacheTest, PreparesAfterThresholdOnThatBackend) {
    make({{"max_size", "1"}, {"prepare_threshold", "2"}});
    connpool_lease *lease = acquire();
    EXPECT_EQ(scalar(lease, "SELECT $1::int + 1", {"1"}), "2");
    EXPECT_EQ(scalar(lease, "SELECT $1::int + 1", {"2"}), "3");
    EXPECT_EQ(prepared_texts(lease), "") << "prepared before the threshold";
    EXPECT_EQ(scalar(lease, "SELECT $1::int + 1", {"3"}), "4");  // third run: prepared
    EXPECT_EQ(scalar(lease, "SELECT $1::int + 1", {nullptr}), "");
    EXPECT_EQ(scalar(lease, "SELECT $1::int + 1", {"5"}), "6");
    EXPECT_EQ(prepared_texts(lease), "SELECT $1::int + 1");
    EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
    // Still prepared on the same connection for the next lease.
    lease = acquire();
    EXPECT_EQ(scalar(lease, "SELECT $1::int + 1", {"9"}), "10");
    EXPECT_EQ(prepared_on_backend(lease), 1);
    EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
}

// Names are unique in the process, not per connection: behind a proxy that shares server
// sessions, another connection's statement of the same name must never run in place of ours.
TEST_F(StatementCacheTest, StatementNamesDifferAcrossConnections) {
    make({{"max_size", "2"}, {"prepare_threshold", "0"}});
    connpool_lease *a = acquire();
    connpool_lease *b = acquire();
    const std::string names =
        "SELECT string_agg(name, ',') FROM pg_prepared_statements WHERE name LIKE "
        "'\\_connpool\\_%' "
        "AND statement NOT LIKE '%pg_prepared_statements%'";
    EXPECT_EQ(scalar(a, "SELECT 11"), "11");
    EXPECT_EQ(scalar(b, "SELECT 11"), "11");
    void *raw_a = nullptr, *raw_b = nullptr;
    ASSERT_EQ(connpool_lease_pgconn(&raw_a, a, nullptr), CONNPOOL_OK);
    ASSERT_EQ(connpool_lease_pgconn(&raw_b, b, nullptr), CONNPOOL_OK);
    auto name_on = [&](void *raw) {
        PGresult *r = PQexec(static_cast<PGconn *>(raw), names.c_str());
        std::string n = PQresultStatus(r) == PGRES_TUPLES_OK ? PQgetvalue(r, 0, 0) : "?";
        PQclear(r);
        return n;
    };
    const std::string name_a = name_on(raw_a), name_b = name_on(raw_b);
    EXPECT_FALSE(name_a.empty());
    EXPECT_FALSE(name_b.empty());
    EXPECT_NE(name_a, name_b);
    EXPECT_EQ(connpool_lease_release(a, nullptr), CONNPOOL_OK);
    EXPECT_EQ(connpool_lease_release(b, nullptr), CONNPOOL_OK);
}

TEST_F(StatementCacheTest, EvictionKeepsAtMostCacheSize) {
    make({{"max_size", "1"}, {"prepare_threshold", "0"}, {"statement_cache_size", "3"}});
    connpool_lease *lease = acquire();
    for (int i = 0; i < 10; ++i) {
        const std::string sql = "SELECT " + std::to_string(i) + " + $1::int";
        EXPECT_EQ(scalar(lease, sql.c_str(), {"100"}), std::to_string(100 + i));
    }
    // One more run of a cached statement sends the pending DEALLOCATEs in its round trip.
    EXPECT_EQ(scalar(lease, "SELECT 9 + $1::int", {"1"}), "10");
    EXPECT_EQ(prepared_on_backend(lease), 3);
    // The raw PGconn use made the cache forget; its statements are deallocated next time.
    EXPECT_EQ(scalar(lease, "SELECT 8 + $1::int", {"1"}), "9");
    EXPECT_EQ(scalar(lease, "SELECT 8 + $1::int", {"1"}), "9");
    EXPECT_EQ(prepared_on_backend(lease), 1);
    EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
}

TEST_F(StatementCacheTest, ZeroSizeNeverPrepares) {
    make({{"max_size", "1"}, {"prepare_threshold", "0"}, {"statement_cache_size", "0"}});
    connpool_lease *lease = acquire();
    for (int i = 0; i < 5; ++i) EXPECT_EQ(scalar(lease, "SELECT $1::int", {"1"}), "1");
    EXPECT_EQ(prepared_on_backend(lease), 0);
    EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
}

TEST_F(StatementCacheTest, ResetQueryDiscardAllThenReuse) {
    make({{"max_size", "1"}, {"prepare_threshold", "0"}, {"reset_query", "DISCARD ALL"}});
    for (int round = 0; round < 3; ++round) {
        connpool_lease *lease = acquire();
        EXPECT_EQ(scalar(lease, "SELECT $1::int * 2", {"21"}), "42") << "round " << round;
        EXPECT_EQ(scalar(lease, "SELECT $1::int * 2", {"22"}), "44") << "round " << round;
        EXPECT_EQ(prepared_texts(lease), "SELECT $1::int * 2");
        EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
    }
    EXPECT_EQ(stats().created, 1) << "the connection was reused, not replaced";
    EXPECT_EQ(stats().closed_broken, 0);
}

TEST_F(StatementCacheTest, UserDiscardAndDeallocateAllAreSurvived) {
    make({{"max_size", "1"}, {"prepare_threshold", "0"}});
    connpool_lease *lease = acquire();
    Error error;
    EXPECT_EQ(scalar(lease, "SELECT $1::int", {"1"}), "1");
    EXPECT_EQ(exec(lease, "DEALLOCATE ALL", error), CONNPOOL_OK) << error.message();
    EXPECT_EQ(scalar(lease, "SELECT $1::int", {"2"}), "2");
    EXPECT_EQ(exec(lease, "DISCARD ALL", error), CONNPOOL_OK) << error.message();
    // Even inside a transaction block (where a failed statement would abort it).
    EXPECT_EQ(exec(lease, "BEGIN", error), CONNPOOL_OK);
    EXPECT_EQ(scalar(lease, "SELECT $1::int", {"3"}), "3");
    EXPECT_EQ(exec(lease, "DEALLOCATE ALL", error), CONNPOOL_OK);
    EXPECT_EQ(scalar(lease, "SELECT $1::int", {"4"}), "4");
    EXPECT_EQ(exec(lease, "COMMIT", error), CONNPOOL_OK);
    // DEALLOCATE ALL through the raw connection.
    void *raw = nullptr;
    ASSERT_EQ(connpool_lease_pgconn(&raw, lease, nullptr), CONNPOOL_OK);
    PQclear(PQexec(static_cast<PGconn *>(raw), "DEALLOCATE ALL"));
    EXPECT_EQ(scalar(lease, "SELECT $1::int", {"5"}), "5");
    EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
    EXPECT_EQ(stats().closed_broken, 0);
}

TEST_F(StatementCacheTest, StatementDroppedUnnoticedIsRerunOutsideTransactionsOnly) {
    make({{"max_size", "1"}, {"prepare_threshold", "0"}});
    connpool_lease *lease = acquire();
    Error error;
    EXPECT_EQ(scalar(lease, "SELECT $1::int + 10", {"1"}), "11");
    // A DO block deallocates behind the cache's back (its command tag says DO).
    const char *drop = "DO $$ BEGIN EXECUTE 'DEALLOCATE ALL'; END $$";
    EXPECT_EQ(exec(lease, drop, error), CONNPOOL_OK) << error.message();
    EXPECT_EQ(scalar(lease, "SELECT $1::int + 10", {"2"}), "12");  // 26000 -> re-run
    EXPECT_EQ(scalar(lease, "SELECT $1::int + 10", {"3"}), "13");
    // Inside a transaction block the error is returned (the block is aborted anyway).
    EXPECT_EQ(exec(lease, "BEGIN", error), CONNPOOL_OK);
    EXPECT_EQ(exec(lease, drop, error), CONNPOOL_OK) << error.message();
    connpool_result *r = nullptr;
    const char *params[] = {"4"};
    EXPECT_EQ(connpool_lease_exec(&r, lease, "SELECT $1::int + 10", 1, params, error.out()),
              CONNPOOL_ERR_QUERY_FAILED);
    EXPECT_EQ(error.sqlstate(), "26000");
    connpool_result_free(r);
    EXPECT_EQ(exec(lease, "ROLLBACK", error), CONNPOOL_OK);
    EXPECT_EQ(scalar(lease, "SELECT $1::int + 10", {"5"}), "15");
    EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
}

TEST_F(StatementCacheTest, ChangedResultTypeIsHandled) {
    table_ = "cache_alter_" + std::to_string(::getpid());
    {
        Admin admin;
        admin.command("CREATE TABLE " + table_ + " (a int)");
        admin.command("INSERT INTO " + table_ + " VALUES (1)");
    }
    make({{"max_size", "1"}, {"prepare_threshold", "0"}});
    connpool_lease *lease = acquire();
    const std::string select = "SELECT * FROM " + table_;
    Error error;
    std::string value;
    EXPECT_EQ(exec(lease, select, error, &value), CONNPOOL_OK);
    EXPECT_EQ(value, "1");
    {
        Admin admin;
        admin.command("ALTER TABLE " + table_ + " ALTER a TYPE text USING 'x' || a");
    }
    // Outside a transaction: the stale plan is dropped and the statement re-run.
    connpool_result *r = nullptr;
    ASSERT_EQ(connpool_lease_exec(&r, lease, select.c_str(), 0, nullptr, error.out()), CONNPOOL_OK)
        << error.message();
    EXPECT_EQ(connpool_result_column_type(r, 0), 25u);
    EXPECT_STREQ(connpool_result_value(r, 0, 0), "x1");
    connpool_result_free(r);
    EXPECT_EQ(exec(lease, select, error, &value), CONNPOOL_OK);  // prepared again
    // Inside a transaction block the server's error is returned.
    EXPECT_EQ(exec(lease, "BEGIN", error), CONNPOOL_OK);
    EXPECT_EQ(exec(lease, "ALTER TABLE " + table_ + " ADD b int", error), CONNPOOL_OK);
    EXPECT_EQ(exec(lease, select, error), CONNPOOL_ERR_QUERY_FAILED);
    EXPECT_EQ(error.sqlstate(), "0A000");
    EXPECT_EQ(exec(lease, "ROLLBACK", error), CONNPOOL_OK);
    EXPECT_EQ(exec(lease, select, error, &value), CONNPOOL_OK) << error.message();
    EXPECT_EQ(value, "x1");
    EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
}

TEST_F(StatementCacheTest, FailedPrepareLeavesNothingBehind) {
    make({{"max_size", "1"}, {"prepare_threshold", "0"}});
    connpool_lease *lease = acquire();
    Error error;
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(exec(lease, "SELEC 1", error), CONNPOOL_ERR_QUERY_FAILED);
        EXPECT_EQ(error.sqlstate(), "42601");
    }
    EXPECT_EQ(prepared_on_backend(lease), 0);
    EXPECT_EQ(scalar(lease, "SELECT 1"), "1");
    EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
    EXPECT_EQ(stats().closed_broken, 0);
}

TEST(StatementCacheOptions, ValidatedWithClearMessages) {
    connpool_options *opts = nullptr;
    ASSERT_EQ(connpool_options_new(&opts, nullptr), CONNPOOL_OK);
    Error error;
    EXPECT_EQ(connpool_options_set(opts, "statement_cache_size", "-1", error.out()),
              CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_NE(error.message().find("statement_cache_size"), std::string::npos) << error.message();
    EXPECT_NE(error.message().find("0 to 10000"), std::string::npos) << error.message();
    EXPECT_EQ(connpool_options_set(opts, "prepare_threshold", "five", error.out()),
              CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_NE(error.message().find("prepare_threshold"), std::string::npos) << error.message();
    EXPECT_EQ(connpool_options_set(opts, "statement_cache_size", "0", nullptr), CONNPOOL_OK);
    EXPECT_EQ(connpool_options_set(opts, "prepare_threshold", "0", nullptr), CONNPOOL_OK);
    EXPECT_EQ(connpool_options_free(opts), CONNPOOL_OK);
}

}  // namespace
