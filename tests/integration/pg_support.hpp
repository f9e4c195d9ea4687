// Shared by the tests that run against a real PostgreSQL: where the server is, error boxes,
// and the tests' own admin connection (plain libpq, outside any pool).
#pragma once

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <utility>

#include "connpool/connpool.h"

namespace connpool::pgtest {

using Clock = std::chrono::steady_clock;
using Option = std::pair<const char *, const char *>;

inline std::string read_file(const std::string &path) {
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    return line;
}

inline std::string fixture_file(const char *name) {
    const char *dir = std::getenv("CONNPOOL_TEST_PG_DIR");
    return dir != nullptr ? read_file(std::string(dir) + "/" + name) : "";
}

// The unix-socket conninfo of the server under test.
inline std::string base_conninfo() {
    if (const char *env = std::getenv("CONNPOOL_TEST_CONNINFO")) return env;
    return fixture_file("conninfo");
}

// Every test tags its connections so that it can count its own backends.
inline std::string conninfo_for(const std::string &app) {
    return base_conninfo() + " application_name=" + app;
}

class Error {
  public:
    ~Error() { connpool_error_free(e_); }
    connpool_error **out() {
        connpool_error_free(e_);
        e_ = nullptr;
        return &e_;
    }
    std::string message() const { return connpool_error_message(e_); }
    std::string sqlstate() const { return connpool_error_sqlstate(e_); }

  private:
    connpool_error *e_ = nullptr;
};

// The test's own connection, outside the pool, for inspecting and sabotaging the server.
class Admin {
  public:
    Admin() : conn_(PQconnectdb(base_conninfo().c_str())) {
        EXPECT_EQ(PQstatus(conn_), CONNECTION_OK) << PQerrorMessage(conn_);
    }
    ~Admin() { PQfinish(conn_); }
    std::string scalar(const std::string &sql) {
        PGresult *r = PQexec(conn_, sql.c_str());
        EXPECT_EQ(PQresultStatus(r), PGRES_TUPLES_OK) << PQerrorMessage(conn_);
        std::string value = PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "";
        PQclear(r);
        return value;
    }
    void command(const std::string &sql) {
        PGresult *r = PQexec(conn_, sql.c_str());
        EXPECT_EQ(PQresultStatus(r), PGRES_COMMAND_OK) << sql << ": " << PQerrorMessage(conn_);
        PQclear(r);
    }
    int backends(const std::string &app) {
        return std::stoi(
            scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = '" + app + "'"));
    }
    // The number of backends once it has settled at `expected` (a closed connection's backend
    // exits asynchronously), or whatever it is after five seconds.
    int backends_settled(const std::string &app, int expected) {
        int n = backends(app);
        for (int i = 0; i < 500 && n != expected; ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
            n = backends(app);
        }
        return n;
    }
    void terminate(const std::string &pid) {
        EXPECT_EQ(scalar("SELECT pg_terminate_backend(" + pid + ")"), "t");
        // Wait until the backend is really gone.
        for (int i = 0;
             i < 500 && scalar("SELECT count(*) FROM pg_stat_activity WHERE pid = " + pid) != "0";
             ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }

  private:
    PGconn *conn_;
};

// Open file descriptors of this process (for leak checks).
inline int open_fds() {
    int n = 0;
    for (const auto &entry : std::filesystem::directory_iterator("/proc/self/fd")) {
        (void)entry;
        ++n;
    }
    return n;
}

// A test that builds one pool (pool_) over the real server and checks, when it ends, that the
// pool's backends are gone (by application_name) and no file descriptor leaked.
class RealPoolTest : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_FALSE(base_conninfo().empty())
            << "no server: run through ctest (fixture) or set CONNPOOL_TEST_CONNINFO";
        app_ = std::string("cp_") + ::testing::UnitTest::GetInstance()->current_test_info()->name();
        fds_at_start_ = open_fds();
    }
    void TearDown() override {
        if (pool_ != nullptr) {
            EXPECT_EQ(connpool_pool_free(pool_), CONNPOOL_OK);
        }
        {
            // Nothing leaks: every backend this test opened is gone once the pool is freed.
            Admin admin;
            for (int i = 0; i < 300 && admin.backends(app_) != 0; ++i) {
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            }
            EXPECT_EQ(admin.backends(app_), 0);
        }
        EXPECT_EQ(open_fds(), fds_at_start_) << "file descriptors leaked";
    }
    connpool_pool *make(std::initializer_list<Option> options, std::string conninfo = "") {
        if (conninfo.empty()) conninfo = conninfo_for(app_);
        connpool_options *opts = nullptr;
        EXPECT_EQ(connpool_options_new(&opts, nullptr), CONNPOOL_OK);
        for (const auto &[k, v] : options)
            EXPECT_EQ(connpool_options_set(opts, k, v, nullptr), CONNPOOL_OK) << k;
        Error error;
        EXPECT_EQ(connpool_pool_create(&pool_, conninfo.c_str(), opts, error.out()), CONNPOOL_OK)
            << error.message();
        connpool_options_free(opts);
        return pool_;
    }
    connpool_lease *acquire(int64_t timeout_ms = 10000) {
        connpool_lease *lease = nullptr;
        Error error;
        EXPECT_EQ(connpool_pool_acquire(&lease, pool_, timeout_ms, error.out()), CONNPOOL_OK)
            << error.message();
        return lease;
    }
    // Runs a statement expected to succeed and returns the first value ("" if no rows).
    std::string scalar(connpool_lease *lease, const char *sql,
                       std::initializer_list<const char *> params = {}) {
        std::vector<const char *> p(params);
        connpool_result *r = nullptr;
        Error error;
        EXPECT_EQ(connpool_lease_exec(&r, lease, sql, static_cast<int32_t>(p.size()), p.data(),
                                      error.out()),
                  CONNPOOL_OK)
            << sql << ": " << error.message();
        std::string value;
        if (connpool_result_row_count(r) > 0) value = connpool_result_value(r, 0, 0);
        EXPECT_EQ(connpool_result_free(r), CONNPOOL_OK);
        return value;
    }
    connpool_stats stats() {
        connpool_stats s{};
        s.struct_size = sizeof s;
        EXPECT_EQ(connpool_pool_stats(&s, pool_, nullptr), CONNPOOL_OK);
        return s;
    }

    std::string app_;
    connpool_pool *pool_ = nullptr;
    int fds_at_start_ = 0;
};

}  // namespace connpool::pgtest
