// Session reset (issue 14): whatever a lease changed in its session does not reach the next
// lease, by default. One test per kind of session state, each on a pool of max_size 1 so that
// the next lease surely gets the same backend (asserted through its pid); then the modes, a
// failing reset, init_sql, and the hot path (a clean lease owes no reset).
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <chrono>
#include <initializer_list>
#include <string>
#include <thread>
#include <vector>

#include "connpool/connpool.h"
#include "pg_support.hpp"

namespace {

using namespace connpool::pgtest;

constexpr const char *kRole = "cp_reset_role";

class SessionResetTest : public RealPoolTest {
  protected:
    static void SetUpTestSuite() {
        Admin admin;
        admin.command(
            std::string("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '") +
            kRole + "') THEN CREATE ROLE " + kRole + " NOLOGIN; END IF; END $$");
    }
    void TearDown() override {
        RealPoolTest::TearDown();
        Admin admin;
        for (const std::string &sql : cleanup_) admin.command(sql);
    }
    std::vector<std::string> cleanup_;  // run by the admin connection when the test ends
    connpool_pool *make_pool(std::initializer_list<Option> extra = {}) {
        std::vector<Option> options{{"max_size", "1"}};
        options.insert(options.end(), extra.begin(), extra.end());
        connpool_options *opts = nullptr;
        EXPECT_EQ(connpool_options_new(&opts, nullptr), CONNPOOL_OK);
        for (const auto &[k, v] : options) {
            EXPECT_EQ(connpool_options_set(opts, k, v, nullptr), CONNPOOL_OK) << k;
        }
        Error error;
        EXPECT_EQ(connpool_pool_create(&pool_, conninfo_for(app_).c_str(), opts, error.out()),
                  CONNPOOL_OK)
            << error.message();
        connpool_options_free(opts);
        return pool_;
    }
    void release(connpool_lease *lease) {
        EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
    }
    // Runs `statements` on one lease and returns its backend's pid.
    std::string lease_running(std::initializer_list<const char *> statements) {
        connpool_lease *lease = acquire();
        const std::string pid = scalar(lease, "SELECT pg_backend_pid()");
        for (const char *sql : statements) {
            connpool_result *r = nullptr;
            Error error;
            EXPECT_EQ(connpool_lease_exec(&r, lease, sql, 0, nullptr, error.out()), CONNPOOL_OK)
                << sql << ": " << error.message();
            connpool_result_free(r);
        }
        release(lease);
        return pid;
    }
    // What `sql` returns on the next lease, which must be on backend `pid`.
    std::string next_lease_sees(const std::string &pid, const char *sql) {
        connpool_lease *lease = acquire();
        EXPECT_EQ(scalar(lease, "SELECT pg_backend_pid()"), pid) << "not the same backend";
        std::string value = scalar(lease, sql);
        release(lease);
        return value;
    }
};

TEST_F(SessionResetTest, SetRoleDoesNotLeak) {
    make_pool();
    const std::string pid = lease_running({"SET ROLE cp_reset_role"});
    EXPECT_EQ(next_lease_sees(pid, "SELECT current_user"), "postgres");
}

TEST_F(SessionResetTest, SessionAuthorizationDoesNotLeak) {
    make_pool();
    const std::string pid = lease_running({"SET SESSION AUTHORIZATION cp_reset_role"});
    EXPECT_EQ(next_lease_sees(pid, "SELECT session_user || '/' || current_user"),
              "postgres/postgres");
}

TEST_F(SessionResetTest, SearchPathDoesNotLeak) {
    make_pool();
    const std::string pid = lease_running({"SET search_path = cp_nowhere"});
    EXPECT_EQ(next_lease_sees(pid, "SHOW search_path"), "\"$user\", public");
}

TEST_F(SessionResetTest, StatementTimeoutDoesNotLeak) {
    make_pool();
    const std::string pid = lease_running({"SET statement_timeout = '4321ms'"});
    EXPECT_EQ(next_lease_sees(pid, "SHOW statement_timeout"), "0");
}

TEST_F(SessionResetTest, SetConfigInsideSelectDoesNotLeak) {
    make_pool();
    const std::string pid = lease_running({"SELECT set_config('work_mem', '7MB', false)"});
    EXPECT_EQ(next_lease_sees(pid, "SHOW work_mem"), "4MB");
}

TEST_F(SessionResetTest, TemporaryTableDoesNotLeak) {
    make_pool();
    const std::string pid = lease_running({"CREATE TEMP TABLE cp_tmp (x int)"});
    EXPECT_EQ(next_lease_sees(pid,
                              "SELECT count(*) FROM pg_class WHERE relname = 'cp_tmp' "
                              "AND relpersistence = 't'"),
              "0");
}

TEST_F(SessionResetTest, SessionAdvisoryLockIsReleased) {
    make_pool();
    const std::string pid = lease_running({"SELECT pg_advisory_lock(4242001)"});
    EXPECT_EQ(next_lease_sees(pid,
                              "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                              "AND pid = pg_backend_pid()"),
              "0");
    Admin admin;  // another session can take it now
    EXPECT_EQ(admin.scalar("SELECT pg_try_advisory_lock(4242001)"), "t");
    EXPECT_EQ(admin.scalar("SELECT pg_advisory_unlock(4242001)"), "t");
}

TEST_F(SessionResetTest, ListenDoesNotLeak) {
    make_pool();
    const std::string pid = lease_running({"LISTEN cp_channel"});
    EXPECT_EQ(next_lease_sees(pid, "SELECT count(*) FROM pg_listening_channels()"), "0");
}

TEST_F(SessionResetTest, WithHoldCursorIsClosed) {
    make_pool();
    const std::string pid =
        lease_running({"BEGIN", "DECLARE cp_cursor CURSOR WITH HOLD FOR SELECT 1", "COMMIT"});
    // (pg_cursors also lists the unnamed portal running the query itself.)
    EXPECT_EQ(next_lease_sees(pid, "SELECT count(*) FROM pg_cursors WHERE name = 'cp_cursor'"),
              "0");
}

TEST_F(SessionResetTest, CallersPreparedStatementGoesCachesStay) {
    make_pool({{"prepare_threshold", "0"}});
    connpool_lease *lease = acquire();
    const std::string pid = scalar(lease, "SELECT pg_backend_pid()");
    EXPECT_EQ(scalar(lease, "SELECT 41 + 1"), "42");  // prepared by the cache at once
    const char *cached_at =
        "SELECT prepare_time::text FROM pg_prepared_statements WHERE statement = 'SELECT 41 + 1' "
        "AND left(name, 10) = '_connpool_'";
    const std::string prepared_time = scalar(lease, cached_at);
    EXPECT_FALSE(prepared_time.empty());
    scalar(lease, "PREPARE cp_mine AS SELECT 1");
    release(lease);

    lease = acquire();
    EXPECT_EQ(scalar(lease, "SELECT pg_backend_pid()"), pid);
    EXPECT_EQ(scalar(lease, "SELECT count(*) FROM pg_prepared_statements WHERE name = 'cp_mine'"),
              "0");
    // The cache's statement survived and is executed again without a new prepare.
    EXPECT_EQ(scalar(lease, "SELECT 41 + 1"), "42");
    EXPECT_EQ(scalar(lease, cached_at), prepared_time);
    release(lease);
}

TEST_F(SessionResetTest, SessionReplicationRoleDoesNotLeak) {
    make_pool();
    const std::string pid = lease_running({"SET session_replication_role = replica"});
    EXPECT_EQ(next_lease_sees(pid, "SHOW session_replication_role"), "origin");
}

TEST_F(SessionResetTest, RawPgconnUseIsReset) {
    make_pool();
    connpool_lease *lease = acquire();
    const std::string pid = scalar(lease, "SELECT pg_backend_pid()");
    void *raw = nullptr;
    ASSERT_EQ(connpool_lease_pgconn(&raw, lease, nullptr), CONNPOOL_OK);
    PQclear(PQexec(static_cast<PGconn *>(raw), "SET search_path = cp_raw"));
    release(lease);
    EXPECT_EQ(next_lease_sees(pid, "SHOW search_path"), "\"$user\", public");
}

// reset=rollback keeps the behaviour from before the option: SET state does leak. Documents
// the choice (the README says so).
TEST_F(SessionResetTest, RollbackModeLetsSettingsLeak) {
    make_pool({{"reset", "rollback"}});
    const std::string pid = lease_running({"SET search_path = cp_nowhere"});
    EXPECT_EQ(next_lease_sees(pid, "SHOW search_path"), "cp_nowhere");
    EXPECT_EQ(stats().resets, 0);
}

// auto cannot see inside a view or function: the honest limit, which reset=always covers.
TEST_F(SessionResetTest, AutoMissesChangesHiddenInAViewAlwaysDoesNot) {
    {
        Admin admin;
        admin.command(
            "CREATE OR REPLACE FUNCTION cp_sneaky() RETURNS text LANGUAGE sql AS "
            "$$ SELECT set_config('work_mem', '9MB', false) $$");
        admin.command("CREATE OR REPLACE VIEW cp_sneaky_view AS SELECT cp_sneaky() AS v");
        cleanup_ = {"DROP VIEW cp_sneaky_view", "DROP FUNCTION cp_sneaky()"};
    }
    make_pool();
    std::string pid = lease_running({"SELECT v FROM cp_sneaky_view"});
    EXPECT_EQ(next_lease_sees(pid, "SHOW work_mem"), "9MB");
    EXPECT_EQ(connpool_pool_free(pool_), CONNPOOL_OK);
    pool_ = nullptr;

    make_pool({{"reset", "always"}});
    pid = lease_running({"SELECT v FROM cp_sneaky_view"});
    EXPECT_EQ(next_lease_sees(pid, "SHOW work_mem"), "4MB");
    EXPECT_GE(stats().resets, 1);  // after a lease the scanner found neutral
}

TEST_F(SessionResetTest, FailingResetClosesTheConnectionAndCounts) {
    {
        Admin admin;
        admin.command(
            "CREATE OR REPLACE FUNCTION cp_reset_gate() RETURNS int LANGUAGE sql AS "
            "$$ SELECT 1 $$");
        cleanup_ = {"DROP FUNCTION cp_reset_gate()"};
    }
    make_pool({{"init_sql", "SELECT public.cp_reset_gate()"}});
    connpool_lease *lease = acquire();
    const std::string pid = scalar(lease, "SELECT pg_backend_pid()");
    scalar(lease, "SET search_path = cp_nowhere");
    {
        // The reset re-applies init_sql, which now fails.
        Admin admin;
        admin.command(
            "CREATE OR REPLACE FUNCTION cp_reset_gate() RETURNS int LANGUAGE plpgsql "
            "AS $$ BEGIN RAISE EXCEPTION 'gate closed'; END $$");
    }
    release(lease);
    // The reset runs on a pool worker: the gate reopens only once it has run (and failed).
    for (int i = 0; i < 500 && stats().resets == 0; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    {
        Admin admin;
        admin.command(
            "CREATE OR REPLACE FUNCTION cp_reset_gate() RETURNS int LANGUAGE sql AS "
            "$$ SELECT 1 $$");
    }
    lease = acquire();
    EXPECT_NE(scalar(lease, "SELECT pg_backend_pid()"), pid) << "a failed reset must close";
    EXPECT_EQ(scalar(lease, "SHOW search_path"), "\"$user\", public");
    release(lease);
    const connpool_stats s = stats();
    EXPECT_EQ(s.reset_failures, 1);
    EXPECT_EQ(s.resets, 1);
}

TEST_F(SessionResetTest, InitSqlStateSurvivesTheReset) {
    make_pool({{"init_sql", "SET work_mem = '3MB'"}});
    const std::string pid = lease_running({"SET work_mem = '5MB'", "SET search_path = cp_x"});
    EXPECT_EQ(next_lease_sees(pid, "SHOW work_mem"), "3MB");
    EXPECT_EQ(next_lease_sees(pid, "SHOW search_path"), "\"$user\", public");
}

// Setup done through a lease (the bindings' configure / AfterConnect hooks) is kept by
// connpool_lease_keep_session: the reset restores those settings, role included, and undoes
// only what later leases changed; what is not a setting (a temporary table) still goes.
TEST_F(SessionResetTest, KeptSessionSettingsSurviveTheReset) {
    make_pool();
    connpool_lease *setup = acquire();
    const std::string pid = scalar(setup, "SELECT pg_backend_pid()");
    for (const char *sql : {"SET search_path = cp_kept, public", "SET ROLE cp_reset_role",
                            "SELECT set_config('application_name', 'cp_kept_app', false)",
                            "CREATE TEMP TABLE cp_setup_temp(x int)"}) {
        connpool_result *r = nullptr;
        ASSERT_EQ(connpool_lease_exec(&r, setup, sql, 0, nullptr, nullptr), CONNPOOL_OK) << sql;
        connpool_result_free(r);
    }
    Error error;
    ASSERT_EQ(connpool_lease_keep_session(setup, error.out()), CONNPOOL_OK) << error.message();
    release(setup);
    EXPECT_EQ(stats().resets, 0) << "the setup lease counts as clean once kept";
    lease_running({"SET search_path = cp_elsewhere", "SET statement_timeout = '7s'", "RESET ROLE"});
    EXPECT_EQ(next_lease_sees(pid, "SHOW search_path"), "cp_kept, public");
    EXPECT_EQ(stats().resets, 1);
    EXPECT_EQ(next_lease_sees(pid, "SELECT current_user"), kRole);
    EXPECT_EQ(next_lease_sees(pid, "SHOW application_name"), "cp_kept_app");
    EXPECT_EQ(next_lease_sees(pid, "SHOW statement_timeout"), "0");
    EXPECT_EQ(next_lease_sees(pid,
                              "SELECT count(*) FROM pg_tables WHERE tablename = "
                              "'cp_setup_temp'"),
              "0");
}

// Misuse is a clear error: a pending statement, NULL.
TEST_F(SessionResetTest, KeepSessionRefusesAPendingStatementAndNull) {
    make_pool();
    connpool_lease *lease = acquire();
    ASSERT_EQ(connpool_lease_send(lease, "SELECT pg_sleep(0.05)", 0, nullptr, nullptr),
              CONNPOOL_OK);
    Error error;
    EXPECT_EQ(connpool_lease_keep_session(lease, error.out()), CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_NE(error.message().find("pending"), std::string::npos) << error.message();
    EXPECT_EQ(connpool_lease_keep_session(nullptr, nullptr), CONNPOOL_ERR_INVALID_ARGUMENT);
    release(lease);
}

// The hot path: a lease whose statements are all neutral owes no reset, so no statement is
// sent for it between leases (the resets counter counts every reset exchange).
TEST_F(SessionResetTest, CleanLeaseOwesNoReset) {
    make_pool();
    for (int i = 0; i < 10; ++i) {
        lease_running({"SELECT 1", "SELECT count(*) FROM pg_class WHERE relname = $$x$$"});
    }
    EXPECT_EQ(stats().resets, 0);
    lease_running({"SET search_path = cp_nowhere"});
    lease_running({"SELECT 1"});
    EXPECT_EQ(stats().resets, 1);
}

}  // namespace
