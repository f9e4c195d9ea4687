// The sizing policies against the real server: keepalive finding a backend killed while idle
// (no acquire involved), and the idle order seen through the backends that serve leases.
#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "pg_support.hpp"

namespace connpool::pgtest {
namespace {

class SizingPgTest : public RealPoolTest {
  protected:
    // The pids of this test's backends, as the server sees them.
    std::vector<std::string> backend_pids(Admin &admin) {
        std::vector<std::string> pids;
        const std::string list = admin.scalar(
            "SELECT coalesce(string_agg(pid::text, ',' ORDER BY pid), '') FROM pg_stat_activity "
            "WHERE application_name = '" +
            app_ + "'");
        size_t start = 0;
        while (start < list.size()) {
            const size_t comma = list.find(',', start);
            const size_t end = comma == std::string::npos ? list.size() : comma;
            pids.push_back(list.substr(start, end - start));
            start = end + 1;
        }
        return pids;
    }
    // The backend pid behind each of `n` acquire/release cycles, one after another.
    std::vector<std::string> pids_of_cycles(int n) {
        std::vector<std::string> pids;
        for (int i = 0; i < n; ++i) {
            connpool_lease *lease = acquire();
            pids.push_back(scalar(lease, "SELECT pg_backend_pid()"));
            EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
        }
        return pids;
    }
};

TEST_F(SizingPgTest, KeepaliveReplacesABackendKilledWhileIdleWithoutAnyAcquire) {
    make({{"min_size", "2"},
          {"max_size", "2"},
          {"pre_ping", "off"},
          {"keepalive_interval", "100"},
          {"maintenance_interval", "50"}});
    ASSERT_EQ(connpool_pool_wait_ready(pool_, 10000, nullptr), CONNPOOL_OK);
    Admin admin;
    const std::vector<std::string> before = backend_pids(admin);
    ASSERT_EQ(before.size(), 2U);
    admin.terminate(before[0]);
    // The pool notices by itself: closed, counted, replaced.
    for (int i = 0; i < 500 && (stats().keepalive_failures == 0 || stats().keepalive_checks < 2);
         ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_EQ(admin.backends_settled(app_, 2), 2);
    // The server sees the replacement's backend before the pool has finished opening it.
    for (int i = 0; i < 500 && (stats().total != 2 || stats().created != 3); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    const std::vector<std::string> after = backend_pids(admin);
    EXPECT_EQ(std::count(after.begin(), after.end(), before[0]), 0) << "the killed one is gone";
    EXPECT_EQ(std::count(after.begin(), after.end(), before[1]), 1) << "the live one stays";
    const connpool_stats s = stats();
    EXPECT_EQ(s.keepalive_failures, 1);
    EXPECT_GE(s.keepalive_checks, 2);
    EXPECT_EQ(s.created, 3);
    EXPECT_EQ(s.closed_broken, 1);
    EXPECT_EQ(s.acquired, 0) << "no acquire was involved";
    EXPECT_EQ(s.total, 2);
}

TEST_F(SizingPgTest, LifoReusesOneBackendFifoRotatesThroughAll) {
    make({{"min_size", "3"}, {"max_size", "3"}});
    ASSERT_EQ(connpool_pool_wait_ready(pool_, 10000, nullptr), CONNPOOL_OK);
    const std::vector<std::string> lifo = pids_of_cycles(6);
    EXPECT_EQ(std::set<std::string>(lifo.begin(), lifo.end()).size(), 1U)
        << "lifo: one connection stays warm";
    EXPECT_EQ(connpool_pool_free(pool_), CONNPOOL_OK);
    pool_ = nullptr;

    make({{"min_size", "3"}, {"max_size", "3"}, {"idle_order", "fifo"}});
    ASSERT_EQ(connpool_pool_wait_ready(pool_, 10000, nullptr), CONNPOOL_OK);
    const std::vector<std::string> fifo = pids_of_cycles(6);
    EXPECT_EQ(std::set<std::string>(fifo.begin(), fifo.begin() + 3).size(), 3U)
        << "fifo: every connection in turn";
    EXPECT_EQ(std::vector<std::string>(fifo.begin(), fifo.begin() + 3),
              std::vector<std::string>(fifo.begin() + 3, fifo.end()))
        << "the same rotation again";
}

}  // namespace
}  // namespace connpool::pgtest
