// Issue 14, promise 2: a connection the server has already closed is never handed out, not
// even within 1 ms of its last statement. With max_size=1 every lease gets the same backend
// unless the pool notices it is gone; the admin connection terminates it right after release
// and waits until it has left pg_stat_activity, so the next lease's first statement must run on
// a fresh connection. Over the Unix socket and over TCP.
#include <gtest/gtest.h>

#include <string>

#include "pg_support.hpp"

namespace connpool::pgtest {
namespace {

constexpr int kRounds = 60;

class DeadConnectionTest : public RealPoolTest {
  protected:
    // Returns how many leases' first statement failed.
    int kill_after_every_release() {
        Admin admin;
        int failed = 0;
        for (int round = 0; round < kRounds; ++round) {
            connpool_lease *lease = acquire();
            if (lease == nullptr) return kRounds;
            connpool_result *r = nullptr;
            Error error;
            std::string pid;
            if (connpool_lease_exec(&r, lease, "SELECT pg_backend_pid()", 0, nullptr,
                                    error.out()) == CONNPOOL_OK) {
                pid = connpool_result_value(r, 0, 0);
                connpool_result_free(r);
            } else {
                ++failed;
                ADD_FAILURE() << "round " << round << ": first statement failed ("
                              << error.sqlstate() << "): " << error.message();
            }
            EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
            if (!pid.empty()) admin.terminate(pid);  // waits until it left pg_stat_activity
        }
        return failed;
    }
};

TEST_F(DeadConnectionTest, KilledRightAfterReleaseIsNeverHandedOutUnixSocket) {
    make({{"max_size", "1"}, {"min_size", "1"}});
    EXPECT_EQ(kill_after_every_release(), 0);
    const connpool_stats s = stats();
    // Every round after the first found its connection dead and replaced it.
    EXPECT_GE(s.closed_broken, kRounds - 1);
    EXPECT_EQ(s.dead_replaced, 0);  // no lease was moved: the dead one was never handed out
}

TEST_F(DeadConnectionTest, KilledRightAfterReleaseIsNeverHandedOutTcp) {
    const std::string tcp = fixture_file("conninfo_tcp");
    if (tcp.empty() || std::getenv("CONNPOOL_TEST_CONNINFO") != nullptr) {
        GTEST_SKIP() << "needs the fixture's TCP listener";
    }
    make({{"max_size", "1"}, {"min_size", "1"}}, tcp + " application_name=" + app_);
    EXPECT_EQ(kill_after_every_release(), 0);
    EXPECT_GE(stats().closed_broken, kRounds - 1);
}

}  // namespace
}  // namespace connpool::pgtest
