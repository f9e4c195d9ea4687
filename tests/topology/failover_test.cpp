// Failover with a real standby (scripts/pg-cluster): a pool over a multi-host conninfo with
// target_session_attrs=read-write, callers writing all along, while the primary goes away or
// turns read-only and the standby is promoted. Each test starts its own cluster (they promote
// and stop nodes) and measures the time from the promotion to the first write that succeeds
// through the pool, printing it ("failover: ...") and asserting a bound.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "pg_support.hpp"

namespace connpool::pgtest {
namespace {

int64_t ms_between(Clock::time_point from, Clock::time_point to) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(to - from).count();
}

// The bound asserted on the failover time, scaled under sanitizers.
int64_t failover_bound_ms() {
    const char *scale = std::getenv("CONNPOOL_TEST_SLACK_SCALE");
    return 5000 * (scale != nullptr ? std::max(1, std::atoi(scale)) : 1);
}

// A throwaway primary + standbys, removed when the object goes.
class Cluster {
  public:
    explicit Cluster(int standbys) {
        char templ[] = "/tmp/connpool-failover.XXXXXX";
        const char *made = mkdtemp(templ);
        EXPECT_NE(made, nullptr);
        dir_ = made != nullptr ? made : "";
        run("start " + dir_ + " --standbys " + std::to_string(standbys) + " >/dev/null");
    }
    ~Cluster() { run("stop-all " + dir_); }
    Cluster(const Cluster &) = delete;
    Cluster &operator=(const Cluster &) = delete;

    bool ok() const { return ok_; }
    void run(const std::string &args) {
        const std::string command = std::string(CONNPOOL_PG_CLUSTER_SCRIPT) + " " + args;
        const int rc = std::system(command.c_str());
        EXPECT_EQ(rc, 0) << command;
        ok_ = ok_ && rc == 0;
    }
    // `action` (stop, promote, start-node) on one node.
    void node(const std::string &action, int node) {
        run(action + " " + dir_ + " node" + std::to_string(node));
    }
    std::string conninfo() const { return read_file(dir_ + "/conninfo"); }
    std::string node_conninfo(int node) const {
        return read_file(dir_ + "/node" + std::to_string(node) + ".conninfo");
    }
    std::string port(int node) const {
        const std::string c = node_conninfo(node);
        const size_t at = c.find("port=") + 5;
        return c.substr(at, c.find(' ', at) - at);
    }
    // One statement on one node, outside any pool; "" on failure.
    std::string scalar(int node, const std::string &sql) const {
        PGconn *conn = PQconnectdb((node_conninfo(node) + " connect_timeout=5").c_str());
        std::string value;
        PGresult *r = PQexec(conn, sql.c_str());
        if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0) value = PQgetvalue(r, 0, 0);
        EXPECT_TRUE(PQresultStatus(r) == PGRES_TUPLES_OK || PQresultStatus(r) == PGRES_COMMAND_OK)
            << sql << ": " << PQerrorMessage(conn);
        PQclear(r);
        PQfinish(conn);
        return value;
    }

  private:
    std::string dir_;
    bool ok_ = true;
};

// What the writers saw, by time.
struct Outcomes {
    std::mutex mutex;
    std::vector<std::pair<Clock::time_point, std::string>> writes;  // when, server port
    std::vector<Clock::time_point> read_only_errors;                // SQLSTATE 25006
    int other_errors = 0;
    std::string last_error;

    // The first write on `port` at or after `since`.
    bool first_write_on(const std::string &port, Clock::time_point since, Clock::time_point &at) {
        std::lock_guard<std::mutex> lock(mutex);
        for (const auto &[when, where] : writes) {
            if (where == port && when >= since) {
                at = when;
                return true;
            }
        }
        return false;
    }
    size_t writes_on(const std::string &port) {
        std::lock_guard<std::mutex> lock(mutex);
        size_t n = 0;
        for (const auto &w : writes) n += w.second == port ? 1 : 0;
        return n;
    }
    size_t read_only_after(Clock::time_point since) {
        std::lock_guard<std::mutex> lock(mutex);
        size_t n = 0;
        for (const auto &t : read_only_errors) n += t >= since ? 1 : 0;
        return n;
    }
};

class FailoverTest : public ::testing::Test {
  protected:
    static constexpr int kWriters = 4;

    void TearDown() override {
        stop_writers();
        if (pool_ != nullptr) {
            EXPECT_EQ(connpool_pool_free(pool_), CONNPOOL_OK);
        }
    }

    void make_pool(const std::string &conninfo) {
        connpool_options *opts = nullptr;
        ASSERT_EQ(connpool_options_new(&opts, nullptr), CONNPOOL_OK);
        for (const auto &[k, v] :
             {Option{"name", "failover"}, Option{"min_size", "4"}, Option{"max_size", "4"},
              Option{"connect_timeout", "2000"}, Option{"pre_ping", "off"}}) {
            ASSERT_EQ(connpool_options_set(opts, k, v, nullptr), CONNPOOL_OK) << k;
        }
        Error error;
        ASSERT_EQ(connpool_pool_create(&pool_, conninfo.c_str(), opts, error.out()), CONNPOOL_OK)
            << error.message();
        connpool_options_free(opts);
        ASSERT_EQ(connpool_pool_wait_ready(pool_, 10000, error.out()), CONNPOOL_OK)
            << error.message();
    }

    // One write through the pool; records where it landed or how it failed.
    void write_once() {
        connpool_lease *lease = nullptr;
        Error error;
        if (connpool_pool_acquire(&lease, pool_, 1000, error.out()) != CONNPOOL_OK) {
            std::lock_guard<std::mutex> lock(seen_.mutex);
            ++seen_.other_errors;
            seen_.last_error = error.message();
            return;
        }
        connpool_result *r = nullptr;
        const connpool_status status = connpool_lease_exec(
            &r, lease,
            "INSERT INTO failover_log(port) VALUES (current_setting('port')::int) "
            "RETURNING port",
            0, nullptr, error.out());
        const auto now = Clock::now();
        {
            std::lock_guard<std::mutex> lock(seen_.mutex);
            if (status == CONNPOOL_OK) {
                seen_.writes.emplace_back(now, connpool_result_value(r, 0, 0));
            } else if (error.sqlstate() == "25006") {
                seen_.read_only_errors.push_back(now);
            } else {
                ++seen_.other_errors;
                seen_.last_error = error.message();
            }
        }
        if (r != nullptr) connpool_result_free(r);
        connpool_lease_release(lease, nullptr);
        // A failed write is retried by the caller after a short pause, as an application would.
        if (status != CONNPOOL_OK) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }

    void start_writers() {
        for (int i = 0; i < kWriters; ++i) {
            writers_.emplace_back([this] {
                while (!stop_.load()) write_once();
            });
        }
    }
    void stop_writers() {
        stop_.store(true);
        for (auto &t : writers_) t.join();
        writers_.clear();
    }

    // Waits (at most `limit_ms`) for a write on `port` after `since`.
    bool await_write_on(const std::string &port, Clock::time_point since, Clock::time_point &at,
                        int64_t limit_ms) {
        const auto give_up = Clock::now() + std::chrono::milliseconds(limit_ms);
        while (Clock::now() < give_up) {
            if (seen_.first_write_on(port, since, at)) return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        return false;
    }

    void stop_then_promote(int64_t outage_ms);

    connpool_pool *pool_ = nullptr;
    Outcomes seen_;
    std::atomic<bool> stop_{false};
    std::vector<std::thread> writers_;
};

const char *const kCreateLog = "CREATE TABLE failover_log(id bigserial, port int); SELECT 1";

// The primary stops (fast shutdown), and `outage_ms` later the standby is promoted (a failover
// manager takes a while to decide): the pool serves writes from the new primary soon after the
// promotion, and no write ever reaches a read-only server.
void FailoverTest::stop_then_promote(int64_t outage_ms) {
    Cluster cluster(1);
    ASSERT_TRUE(cluster.ok());
    cluster.scalar(0, kCreateLog);
    const std::string old_primary = cluster.port(0), standby = cluster.port(1);
    make_pool(cluster.conninfo() + " target_session_attrs=read-write application_name=cp_fo");

    start_writers();
    Clock::time_point at;
    ASSERT_TRUE(await_write_on(old_primary, Clock::now(), at, 5000)) << seen_.last_error;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));

    const auto stopping = Clock::now();
    cluster.node("stop", 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(outage_ms));
    const auto promoting = Clock::now();
    cluster.node("promote", 1);
    const auto promoted = Clock::now();

    Clock::time_point first;
    ASSERT_TRUE(await_write_on(standby, stopping, first, 15000))
        << "no write reached the promoted standby; last error: " << seen_.last_error;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    stop_writers();

    // Measured from the moment the promotion was requested: `pg_ctl promote -w` returns only
    // after polling the server, and a write may already have landed by then.
    const int64_t failover_ms = ms_between(promoting, first);
    std::printf(
        "failover (primary stopped, standby promoted %lld ms later): first write "
        "through the pool %lld ms after the promotion was requested (pg_ctl promote "
        "returned after %lld ms), %lld ms after the stop began\n",
        static_cast<long long>(ms_between(stopping, promoting)),
        static_cast<long long>(failover_ms),
        static_cast<long long>(ms_between(promoting, promoted)),
        static_cast<long long>(ms_between(stopping, first)));
    RecordProperty("failover_ms", std::to_string(failover_ms));
    // The server's own promotion (slow on a loaded machine) is not the pool's to bound.
    EXPECT_LT(failover_ms, failover_bound_ms() + ms_between(promoting, promoted));
    // libpq never connects to the standby while it is read-only, and the pool never reuses a
    // connection to it: not a single write was refused as read-only.
    EXPECT_EQ(seen_.read_only_after(Clock::time_point{}), 0U);
    EXPECT_GT(seen_.writes_on(standby), 0U);
    // Every write acknowledged by the new primary is there.
    EXPECT_EQ(cluster.scalar(1, "SELECT count(*) FROM failover_log WHERE port = " + standby),
              std::to_string(seen_.writes_on(standby)));
}

TEST_F(FailoverTest, StopPrimaryThenPromoteStandby) {
    stop_then_promote(0);
}

// Two seconds without any primary: connects fail meanwhile (the pool backs off, the breaker
// opens); the promotion must still be picked up within the bound.
TEST_F(FailoverTest, StopPrimaryThenPromoteStandbyAfterAnOutage) {
    stop_then_promote(2000);
}

// The primary stays up but turns read-only (default_transaction_read_only on, as an operator
// fences it before a switchover), then the standby is promoted. libpq's role check happens only
// at connect: without the pool's eviction every pooled connection would keep failing with
// 25006 for as long as the old primary runs. Each connection may fail one write in flight,
// then the pool drops all of them and serves from the new primary.
TEST_F(FailoverTest, PrimaryTurnsReadOnlyThenStandbyPromoted) {
    Cluster cluster(1);
    ASSERT_TRUE(cluster.ok());
    cluster.scalar(0, kCreateLog);
    const std::string old_primary = cluster.port(0), standby = cluster.port(1);
    make_pool(cluster.conninfo() + " target_session_attrs=read-write application_name=cp_fo");

    start_writers();
    Clock::time_point at;
    ASSERT_TRUE(await_write_on(old_primary, Clock::now(), at, 5000)) << seen_.last_error;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));

    const auto fencing = Clock::now();
    cluster.scalar(0, "ALTER SYSTEM SET default_transaction_read_only = on");
    cluster.scalar(0, "SELECT pg_reload_conf()");
    const auto promoting = Clock::now();
    cluster.node("promote", 1);

    Clock::time_point first;
    ASSERT_TRUE(await_write_on(standby, fencing, first, 15000))
        << "no write reached the promoted standby; 25006 seen " << seen_.read_only_after(fencing)
        << " times; last error: " << seen_.last_error;
    // Settle, then a window in which every write must land on the new primary.
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    const auto window = Clock::now();
    const size_t before = seen_.writes_on(standby);
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    stop_writers();

    const int64_t failover_ms = ms_between(promoting, first);
    std::printf(
        "failover (primary fenced read-only, standby promoted): first write through the "
        "pool %lld ms after the promotion was requested; %zu write(s) refused with 25006 "
        "in flight\n",
        static_cast<long long>(failover_ms), seen_.read_only_after(fencing));
    RecordProperty("failover_ms", std::to_string(failover_ms));
    EXPECT_LT(failover_ms, failover_bound_ms());
    // At most one refused write per pooled connection (those in flight at the switch)...
    EXPECT_LE(seen_.read_only_after(fencing), static_cast<size_t>(kWriters));
    // ...and none once the pool has moved: every write in the window reached the new primary.
    EXPECT_EQ(seen_.read_only_after(window), 0U);
    EXPECT_GT(seen_.writes_on(standby), before);
    EXPECT_EQ(seen_.writes_on(old_primary),
              static_cast<size_t>(std::stoll(cluster.scalar(
                  0, "SELECT count(*) FROM failover_log WHERE port = " + old_primary))));
}

// A 25006 caused by the session itself (a READ ONLY transaction) says nothing about the server:
// the connection stays in the pool and nothing is fenced.
TEST_F(FailoverTest, ReadOnlyTransactionKeepsTheConnection) {
    Cluster cluster(0);
    ASSERT_TRUE(cluster.ok());
    cluster.scalar(0, kCreateLog);
    make_pool(cluster.conninfo() + " target_session_attrs=read-write application_name=cp_fo");
    connpool_lease *lease = nullptr;
    Error error;
    ASSERT_EQ(connpool_pool_acquire(&lease, pool_, 5000, error.out()), CONNPOOL_OK);
    uint64_t id = 0;
    ASSERT_EQ(connpool_lease_connection_id(&id, lease, nullptr), CONNPOOL_OK);
    connpool_result *r = nullptr;
    ASSERT_EQ(connpool_lease_exec(&r, lease, "BEGIN READ ONLY", 0, nullptr, error.out()),
              CONNPOOL_OK);
    connpool_result_free(r);
    EXPECT_NE(connpool_lease_exec(&r, lease, "INSERT INTO failover_log(port) VALUES (1)", 0,
                                  nullptr, error.out()),
              CONNPOOL_OK);
    EXPECT_EQ(error.sqlstate(), "25006");
    if (r != nullptr) connpool_result_free(r);
    connpool_lease_release(lease, nullptr);

    // The same connection comes back (the pool holds 4; LIFO hands out the one just used,
    // once its rollback is done) and writes.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    ASSERT_EQ(connpool_pool_acquire(&lease, pool_, 5000, error.out()), CONNPOOL_OK);
    uint64_t again = 0;
    ASSERT_EQ(connpool_lease_connection_id(&again, lease, nullptr), CONNPOOL_OK);
    EXPECT_EQ(again, id);
    EXPECT_EQ(connpool_lease_exec(&r, lease, "INSERT INTO failover_log(port) VALUES (1)", 0,
                                  nullptr, error.out()),
              CONNPOOL_OK)
        << error.message();
    if (r != nullptr) connpool_result_free(r);
    connpool_lease_release(lease, nullptr);
}

}  // namespace
}  // namespace connpool::pgtest
