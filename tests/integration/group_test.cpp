// Pool groups against a real primary with streaming standbys (scripts/pg-cluster): read-only
// leases on standbys, read-write on the primary, spreading, per-node statistics, and a standby
// stopped and started again. The read-only tests share the postgres_cluster fixture; the tests
// that stop nodes start their own cluster.
#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "pg_support.hpp"

namespace connpool::pgtest {
namespace {

int64_t slack_scale() {
    const char *scale = std::getenv("CONNPOOL_TEST_SLACK_SCALE");
    return scale != nullptr ? std::max(1, std::atoi(scale)) : 1;
}

size_t count_of(const std::string &text, const std::string &what) {
    size_t n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
}

std::string cluster_file(const std::string &dir, const std::string &name) {
    return read_file(dir + "/" + name);
}

// A throwaway primary + standbys for tests that stop nodes; removed when the object goes.
class OwnCluster {
  public:
    explicit OwnCluster(int standbys) {
        char templ[] = "/tmp/connpool-group.XXXXXX";
        const char *made = mkdtemp(templ);
        dir_ = made != nullptr ? made : "";
        run("start " + dir_ + " --standbys " + std::to_string(standbys) + " >/dev/null");
    }
    ~OwnCluster() { run("stop-all " + dir_); }
    OwnCluster(const OwnCluster &) = delete;
    OwnCluster &operator=(const OwnCluster &) = delete;
    void run(const std::string &args) {
        const std::string command = std::string(CONNPOOL_PG_CLUSTER_SCRIPT) + " " + args;
        EXPECT_EQ(std::system(command.c_str()), 0) << command;
    }
    void node(const std::string &action, int node) {
        run(action + " " + dir_ + " node" + std::to_string(node));
    }
    const std::string &dir() const { return dir_; }

  private:
    std::string dir_;
};

class GroupTest : public ::testing::Test {
  protected:
    void SetUp() override {
        app_ = std::string("cp_group_") +
               ::testing::UnitTest::GetInstance()->current_test_info()->name();
        fds_at_start_ = open_fds();
    }
    void TearDown() override {
        if (group_ != nullptr) {
            EXPECT_EQ(connpool_group_free(group_), CONNPOOL_OK);
        }
        EXPECT_EQ(open_fds(), fds_at_start_) << "file descriptors leaked";
    }
    static std::string shared_dir() {
        const char *dir = std::getenv("CONNPOOL_TEST_CLUSTER_DIR");
        return dir != nullptr ? dir : "";
    }
    void make(const std::string &dir, std::initializer_list<Option> options = {}) {
        ASSERT_FALSE(dir.empty()) << "no cluster: run through ctest (fixture postgres_cluster)";
        dir_ = dir;
        connpool_options *opts = nullptr;
        ASSERT_EQ(connpool_options_new(&opts, nullptr), CONNPOOL_OK);
        EXPECT_EQ(connpool_options_set(opts, "replica_check_interval", "200", nullptr),
                  CONNPOOL_OK);
        EXPECT_EQ(connpool_options_set(opts, "connect_timeout", "2000", nullptr), CONNPOOL_OK);
        for (const auto &[k, v] : options) {
            EXPECT_EQ(connpool_options_set(opts, k, v, nullptr), CONNPOOL_OK) << k;
        }
        const std::string conninfo = cluster_file(dir, "conninfo") + " application_name=" + app_;
        Error error;
        ASSERT_EQ(connpool_group_create(&group_, conninfo.c_str(), opts, error.out()), CONNPOOL_OK)
            << error.message();
        connpool_options_free(opts);
        ASSERT_EQ(connpool_group_wait_ready(group_, 10'000 * slack_scale(), error.out()),
                  CONNPOOL_OK)
            << error.message();
    }
    std::string port_of(int node) const {
        const std::string c = cluster_file(dir_, "node" + std::to_string(node) + ".conninfo");
        const size_t at = c.find("port=") + 5;
        return c.substr(at, c.find(' ', at) - at);
    }
    connpool_status acquire(connpool_lease **lease, int32_t mode, int64_t timeout_ms,
                            std::string *message = nullptr) {
        Error error;
        const connpool_status status =
            connpool_group_acquire(lease, group_, mode, timeout_ms, error.out());
        if (message != nullptr && status != CONNPOOL_OK) *message = error.message();
        return status;
    }
    static std::string scalar(connpool_lease *lease, const char *sql) {
        connpool_result *r = nullptr;
        Error error;
        EXPECT_EQ(connpool_lease_exec(&r, lease, sql, 0, nullptr, error.out()), CONNPOOL_OK)
            << sql << ": " << error.message();
        std::string value;
        if (r != nullptr && connpool_result_row_count(r) > 0) {
            value = connpool_result_value(r, 0, 0);
        }
        connpool_result_free(r);
        return value;
    }
    // The port of the server that serves one lease of `mode` ("" if none within timeout_ms).
    std::string served_by(int32_t mode, int64_t timeout_ms = 5'000, bool must = true) {
        connpool_lease *lease = nullptr;
        std::string message;
        if (acquire(&lease, mode, timeout_ms, &message) != CONNPOOL_OK) {
            if (must) ADD_FAILURE() << message;
            return "";
        }
        std::string port = scalar(lease, "SELECT current_setting('port')");
        EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
        return port;
    }
    std::string stats() const {
        char *json = nullptr;
        EXPECT_EQ(connpool_group_stats_json(&json, group_, nullptr), CONNPOOL_OK);
        std::string text = json != nullptr ? json : "";
        connpool_string_free(json);
        return text;
    }
    // Waits (bounded) until `done()`; false if it never became true.
    template <class Done>
    static bool eventually(Done done, int64_t within_ms) {
        const auto deadline = Clock::now() + std::chrono::milliseconds(within_ms * slack_scale());
        while (!done()) {
            if (Clock::now() > deadline) return false;
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        return true;
    }

    std::string app_;
    std::string dir_;
    connpool_group *group_ = nullptr;
    int fds_at_start_ = 0;
};

TEST_F(GroupTest, ReadOnlyOnStandbyReadWriteOnPrimary) {
    make(shared_dir());
    connpool_lease *ro = nullptr;
    ASSERT_EQ(acquire(&ro, CONNPOOL_ROUTE_READ_ONLY, 5'000), CONNPOOL_OK);
    EXPECT_EQ(scalar(ro, "SELECT pg_is_in_recovery()"), "t");
    EXPECT_NE(scalar(ro, "SELECT current_setting('port')"), port_of(0));
    EXPECT_EQ(connpool_lease_release(ro, nullptr), CONNPOOL_OK);

    connpool_lease *rw = nullptr;
    ASSERT_EQ(acquire(&rw, CONNPOOL_ROUTE_READ_WRITE, 5'000), CONNPOOL_OK);
    EXPECT_EQ(scalar(rw, "SELECT pg_is_in_recovery()"), "f");
    EXPECT_EQ(scalar(rw, "SELECT current_setting('port')"), port_of(0));
    scalar(rw, "CREATE TEMP TABLE t AS SELECT 1 AS v");
    EXPECT_EQ(scalar(rw, "SELECT count(*) FROM t"), "1");
    EXPECT_EQ(connpool_lease_release(rw, nullptr), CONNPOOL_OK);
}

TEST_F(GroupTest, ReadOnlyLeasesSpreadOverBothStandbys) {
    make(shared_dir());
    // Held at the same time and one after the other: both standbys serve, the primary never.
    std::vector<connpool_lease *> held(4);
    std::multiset<std::string> ports;
    for (auto &lease : held) {
        ASSERT_EQ(acquire(&lease, CONNPOOL_ROUTE_READ_ONLY, 5'000), CONNPOOL_OK);
        ports.insert(scalar(lease, "SELECT current_setting('port')"));
    }
    for (auto *lease : held) EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
    for (int i = 0; i < 10; ++i) ports.insert(served_by(CONNPOOL_ROUTE_READ_ONLY));
    EXPECT_EQ(ports.count(port_of(0)), 0U);
    EXPECT_GE(ports.count(port_of(1)), 4U);
    EXPECT_GE(ports.count(port_of(2)), 4U);
}

TEST_F(GroupTest, StatsPerNode) {
    make(shared_dir());
    EXPECT_EQ(served_by(CONNPOOL_ROUTE_READ_WRITE), port_of(0));
    EXPECT_NE(served_by(CONNPOOL_ROUTE_READ_ONLY), port_of(0));
    const std::string json = stats();
    EXPECT_EQ(count_of(json, "\"role\": \"primary\""), 1U) << json;
    EXPECT_EQ(count_of(json, "\"role\": \"standby\""), 2U) << json;
    EXPECT_EQ(count_of(json, "\"healthy\": true"), 3U) << json;
    EXPECT_EQ(count_of(json, "\"port\": \"" + port_of(2) + "\""), 1U) << json;
    EXPECT_NE(json.find("\"read_write_acquires\": 1,"), std::string::npos) << json;
    EXPECT_NE(json.find("\"read_only_acquires\": 1,"), std::string::npos) << json;
    EXPECT_NE(json.find("\"read_only_on_primary\": 0,"), std::string::npos) << json;
    EXPECT_EQ(count_of(json, "\"stats\": {\"name\": \"pool@"), 3U) << json;
    EXPECT_EQ(json.find("connpool-test-secret"), std::string::npos);
}

TEST_F(GroupTest, BadArgumentsAreRefusedClearly) {
    connpool_group *group = nullptr;
    Error error;
    EXPECT_EQ(connpool_group_create(&group, "host=a,b,c port=1,2 dbname=x", nullptr, error.out()),
              CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_NE(error.message().find("one per host"), std::string::npos) << error.message();
    EXPECT_EQ(
        connpool_group_create(&group, "host=a password=hunter2 bogus=1", nullptr, error.out()),
        CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(error.message().find("hunter2"), std::string::npos) << error.message();
    EXPECT_EQ(group, nullptr);
    connpool_lease *lease = nullptr;
    EXPECT_EQ(connpool_group_acquire(&lease, nullptr, CONNPOOL_ROUTE_READ_ONLY, 0, nullptr),
              CONNPOOL_ERR_INVALID_ARGUMENT);
    make(shared_dir());
    EXPECT_EQ(connpool_group_acquire(&lease, group_, 7, 0, error.out()),
              CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_NE(error.message().find("CONNPOOL_ROUTE_READ_ONLY"), std::string::npos);
    EXPECT_EQ(connpool_group_close(group_, nullptr), CONNPOOL_OK);
    EXPECT_EQ(connpool_group_acquire(&lease, group_, CONNPOOL_ROUTE_READ_ONLY, 100, nullptr),
              CONNPOOL_ERR_POOL_CLOSED);
}

// A standby stops: read-only leases go to the other one; both stop: to the primary; one starts
// again: it serves again. Then the primary stops: read-write leases fail clearly.
TEST_F(GroupTest, StandbyStoppedAndStartedAgain) {
    OwnCluster cluster(2);
    make(cluster.dir());
    const std::string p0 = port_of(0), p1 = port_of(1), p2 = port_of(2);

    cluster.node("stop", 1);
    // Every read-only acquire from the moment node1 stopped is served (by node2 or, while
    // node1 is not yet known to be down, by a retry within the same acquire).
    for (int i = 0; i < 10; ++i) EXPECT_EQ(served_by(CONNPOOL_ROUTE_READ_ONLY), p2);
    EXPECT_TRUE(eventually([&] { return count_of(stats(), "\"healthy\": false") == 1; }, 5'000))
        << stats();

    cluster.node("stop", 2);
    EXPECT_TRUE(eventually([&] { return served_by(CONNPOOL_ROUTE_READ_ONLY) == p0; }, 5'000));
    EXPECT_EQ(served_by(CONNPOOL_ROUTE_READ_ONLY), p0);
    EXPECT_EQ(count_of(stats(), "\"read_only_on_primary\": 0,"), 0U) << stats();

    cluster.node("start-node", 1);
    EXPECT_TRUE(eventually([&] { return served_by(CONNPOOL_ROUTE_READ_ONLY) == p1; }, 15'000))
        << stats();
    EXPECT_EQ(served_by(CONNPOOL_ROUTE_READ_WRITE), p0);

    cluster.node("stop", 0);
    EXPECT_TRUE(eventually([&] { return count_of(stats(), "\"healthy\": false") == 2; }, 5'000));
    connpool_lease *lease = nullptr;
    std::string message;
    const auto started = Clock::now();
    const connpool_status status = acquire(&lease, CONNPOOL_ROUTE_READ_WRITE, 500, &message);
    EXPECT_TRUE(status == CONNPOOL_ERR_DATABASE_UNAVAILABLE || status == CONNPOOL_ERR_TIMEOUT)
        << status;
    EXPECT_LT(Clock::now() - started, std::chrono::milliseconds(3'000 * slack_scale()));
    EXPECT_NE(message.find("read-write"), std::string::npos) << message;
    EXPECT_NE(message.find(p0), std::string::npos) << message;
    // Reads still work on the standby that is up.
    EXPECT_EQ(served_by(CONNPOOL_ROUTE_READ_ONLY), p1);
}

// A promoted standby is a primary at its next check; a standby whose replay is paused lags and
// is skipped by read-only leases when replica_max_lag bounds the lag.
TEST_F(GroupTest, PromotionAndReplicaLagAreSeen) {
    OwnCluster cluster(2);
    make(cluster.dir(), {{"replica_max_lag", "300"}});
    const std::string p1 = port_of(1), p2 = port_of(2);

    // Pause node1's replay (after it replayed a first commit) and write on the primary: node1
    // receives WAL it does not replay.
    connpool_lease *lease = nullptr;
    ASSERT_EQ(acquire(&lease, CONNPOOL_ROUTE_READ_WRITE, 5'000), CONNPOOL_OK);
    scalar(lease, "CREATE TABLE lag_probe AS SELECT 1 AS v");
    PGconn *admin1 = PQconnectdb(cluster_file(dir_, "node1.conninfo").c_str());
    ASSERT_EQ(PQstatus(admin1), CONNECTION_OK);
    const auto on_node1 = [&](const char *sql) {
        PGresult *r = PQexec(admin1, sql);
        std::string value = PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "";
        PQclear(r);
        return value;
    };
    EXPECT_TRUE(eventually(
        [&] { return on_node1("SELECT to_regclass('lag_probe') IS NOT NULL") == "t"; }, 5'000));
    on_node1("SELECT pg_wal_replay_pause()");
    EXPECT_TRUE(eventually(
        [&] {
            scalar(lease, "INSERT INTO lag_probe VALUES (2)");
            return std::set<std::string>{served_by(CONNPOOL_ROUTE_READ_ONLY),
                                         served_by(CONNPOOL_ROUTE_READ_ONLY)} ==
                   std::set<std::string>{p2};
        },
        5'000))
        << stats();
    EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
    on_node1("SELECT pg_wal_replay_resume()");
    PQfinish(admin1);
    EXPECT_TRUE(eventually([&] { return served_by(CONNPOOL_ROUTE_READ_ONLY) == p1; }, 5'000))
        << stats();

    // Promotion: node2 becomes a primary (node0 stopped first, as a failover would).
    cluster.node("stop", 0);
    cluster.node("promote", 2);
    EXPECT_TRUE(
        eventually([&] { return served_by(CONNPOOL_ROUTE_READ_WRITE, 500, false) == p2; }, 5'000))
        << stats();
}

}  // namespace
}  // namespace connpool::pgtest
