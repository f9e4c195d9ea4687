// Run-time operations against the real server: resize under load (backends counted in
// pg_stat_activity), pause with waiters, drain with leases out, check finding a backend killed
// while idle, lease info and the connections list.
#include <atomic>
#include <chrono>
#include <future>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "monitor_json.hpp"
#include "pg_support.hpp"

namespace connpool::pgtest {
namespace {

using connpool::testing::parse_json;

int64_t ms_since(Clock::time_point start) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

int64_t unix_us_now() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

class OperationsTest : public RealPoolTest {
  protected:
    std::string backend_pid(connpool_lease *lease) {
        return scalar(lease, "SELECT pg_backend_pid()");
    }
    connpool_lease_info info_of(connpool_lease *lease) {
        connpool_lease_info info{};
        info.struct_size = sizeof info;
        Error error;
        EXPECT_EQ(connpool_lease_get_info(&info, lease, error.out()), CONNPOOL_OK)
            << error.message();
        return info;
    }
    void wait_ready() {
        Error error;
        ASSERT_EQ(connpool_pool_wait_ready(pool_, 10000, error.out()), CONNPOOL_OK)
            << error.message();
    }
    bool backend_alive(Admin &admin, const std::string &pid) {
        return admin.scalar("SELECT count(*) FROM pg_stat_activity WHERE pid = " + pid) == "1";
    }
    bool backend_gone_soon(Admin &admin, const std::string &pid) {
        for (int i = 0; i < 500 && backend_alive(admin, pid); ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        return !backend_alive(admin, pid);
    }
};

TEST_F(OperationsTest, ResizeUnderLoad) {
    make({{"min_size", "2"}, {"max_size", "2"}});
    wait_ready();
    Admin admin;
    EXPECT_EQ(admin.backends_settled(app_, 2), 2);
    std::atomic<bool> stop{false};
    std::atomic<int> failures{0}, cycles{0};
    std::vector<std::thread> load;
    for (int t = 0; t < 4; ++t) {
        load.emplace_back([&] {
            while (!stop.load()) {
                connpool_lease *lease = nullptr;
                if (connpool_pool_acquire(&lease, pool_, 10000, nullptr) != CONNPOOL_OK) {
                    ++failures;
                    continue;
                }
                connpool_result *r = nullptr;
                if (connpool_lease_exec(&r, lease, "SELECT pg_sleep(0.002)", 0, nullptr, nullptr) !=
                    CONNPOOL_OK) {
                    ++failures;
                }
                connpool_result_free(r);
                connpool_lease_release(lease, nullptr);
                ++cycles;
            }
        });
    }
    Error error;
    ASSERT_EQ(connpool_pool_resize(pool_, 5, 5, error.out()), CONNPOOL_OK) << error.message();
    EXPECT_EQ(admin.backends_settled(app_, 5), 5);
    ASSERT_EQ(connpool_pool_resize(pool_, 1, 1, error.out()), CONNPOOL_OK) << error.message();
    EXPECT_EQ(admin.backends_settled(app_, 1), 1);  // leased ones retired as they came back
    const int before = cycles.load();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_GT(cycles.load(), before);  // still serving, on one connection
    EXPECT_EQ(admin.backends(app_), 1);
    ASSERT_EQ(connpool_pool_resize(pool_, 3, 4, error.out()), CONNPOOL_OK) << error.message();
    int grown = admin.backends(app_);
    for (int i = 0; i < 500 && grown < 3; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        grown = admin.backends(app_);
    }
    EXPECT_GE(grown, 3);  // min 3, up to 4 under load
    EXPECT_LE(grown, 4);
    stop = true;
    for (std::thread &t : load) t.join();
    EXPECT_EQ(failures.load(), 0);
    const connpool_stats s = stats();
    EXPECT_EQ(s.min_size, 3);
    EXPECT_EQ(s.max_size, 4);
    EXPECT_EQ(s.resizes, 3);
    EXPECT_LE(admin.backends(app_), 4);

    EXPECT_EQ(connpool_pool_resize(pool_, 5, 4, error.out()), CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_NE(error.message().find("min_size 5"), std::string::npos) << error.message();
}

TEST_F(OperationsTest, PauseWithWaiters) {
    make({{"min_size", "1"}, {"max_size", "1"}});
    wait_ready();
    Error error;
    ASSERT_EQ(connpool_pool_pause(pool_, error.out()), CONNPOOL_OK) << error.message();
    EXPECT_EQ(stats().paused, 1);
    connpool_lease *lease = nullptr;
    EXPECT_EQ(connpool_pool_try_acquire(&lease, pool_, nullptr), CONNPOOL_ERR_WOULD_BLOCK);

    auto patient = std::async(std::launch::async, [&] {
        connpool_lease *got = nullptr;
        const connpool_status status = connpool_pool_acquire(&got, pool_, 10000, nullptr);
        return std::make_pair(status, got);
    });
    for (int i = 0; i < 500 && stats().waiting < 1; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    const auto start = Clock::now();
    Error timeout;
    EXPECT_EQ(connpool_pool_acquire(&lease, pool_, 300, timeout.out()), CONNPOOL_ERR_TIMEOUT);
    const int64_t waited = ms_since(start);
    EXPECT_GE(waited, 295);
    EXPECT_LT(waited, 2000);
    EXPECT_NE(timeout.message().find("paused"), std::string::npos) << timeout.message();
    EXPECT_EQ(patient.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout);

    const auto resumed = Clock::now();
    ASSERT_EQ(connpool_pool_resume(pool_, error.out()), CONNPOOL_OK) << error.message();
    const auto [status, got] = patient.get();
    ASSERT_EQ(status, CONNPOOL_OK);
    EXPECT_LT(ms_since(resumed), 1000);
    EXPECT_EQ(scalar(got, "SELECT 1"), "1");
    EXPECT_EQ(connpool_lease_release(got, nullptr), CONNPOOL_OK);
    EXPECT_EQ(stats().paused, 0);
}

TEST_F(OperationsTest, DrainWithLeasesOut) {
    make({{"min_size", "2"}, {"max_size", "3"}});
    wait_ready();
    connpool_lease *held = acquire();
    const std::string held_pid = backend_pid(held);
    connpool_lease *other = acquire();
    const std::string idle_pid = backend_pid(other);
    ASSERT_EQ(connpool_lease_release(other, nullptr), CONNPOOL_OK);

    Error error;
    ASSERT_EQ(connpool_pool_drain(pool_, error.out()), CONNPOOL_OK) << error.message();
    Admin admin;
    EXPECT_TRUE(backend_gone_soon(admin, idle_pid));  // idle: closed at once
    EXPECT_EQ(backend_pid(held), held_pid);           // the lease goes on
    EXPECT_EQ(admin.backends_settled(app_, 2), 2);    // refilled to min_size
    ASSERT_EQ(connpool_lease_release(held, nullptr), CONNPOOL_OK);
    EXPECT_TRUE(backend_gone_soon(admin, held_pid));  // retired when released
    EXPECT_EQ(admin.backends_settled(app_, 2), 2);

    connpool_lease *a = acquire();
    connpool_lease *b = acquire();
    const std::set<std::string> old = {held_pid, idle_pid};
    EXPECT_EQ(old.count(backend_pid(a)), 0U);
    EXPECT_EQ(old.count(backend_pid(b)), 0U);
    EXPECT_EQ(connpool_lease_release(a, nullptr), CONNPOOL_OK);
    EXPECT_EQ(connpool_lease_release(b, nullptr), CONNPOOL_OK);
    const connpool_stats s = stats();
    EXPECT_EQ(s.drains, 1);
    EXPECT_EQ(s.closed_drained, 2);
    EXPECT_EQ(s.total, 2);
}

TEST_F(OperationsTest, CheckFindsBackendKilledWhileIdle) {
    make({{"min_size", "2"}, {"max_size", "2"}});
    wait_ready();
    Admin admin;
    ASSERT_EQ(admin.backends_settled(app_, 2), 2);
    const std::string victim = admin.scalar(
        "SELECT min(pid) FROM pg_stat_activity WHERE application_name = '" + app_ + "'");
    admin.terminate(victim);
    const int64_t acquired_before = stats().acquired;
    int32_t closed = -1;
    Error error;
    ASSERT_EQ(connpool_pool_check(&closed, pool_, error.out()), CONNPOOL_OK) << error.message();
    EXPECT_EQ(closed, 1);
    EXPECT_EQ(admin.backends_settled(app_, 2), 2);  // replaced
    connpool_stats s = stats();
    EXPECT_EQ(s.acquired, acquired_before);  // no acquire involved
    EXPECT_EQ(s.keepalive_checks, 2);
    EXPECT_EQ(s.keepalive_failures, 1);
    EXPECT_EQ(s.closed_broken, 1);
    // All alive now: nothing closed; NULL out_closed is allowed.
    for (int i = 0; i < 500 && stats().idle < 2; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_EQ(connpool_pool_check(&closed, pool_, nullptr), CONNPOOL_OK);
    EXPECT_EQ(closed, 0);
    ASSERT_EQ(connpool_pool_check(nullptr, pool_, nullptr), CONNPOOL_OK);
    s = stats();
    EXPECT_EQ(s.keepalive_checks, 6);
    EXPECT_EQ(s.keepalive_failures, 1);
}

TEST_F(OperationsTest, LeaseInfoValues) {
    make({{"min_size", "0"}, {"max_size", "1"}});
    const int64_t before_us = unix_us_now();
    connpool_lease *lease = acquire();
    const int64_t after_us = unix_us_now();
    connpool_lease_info info = info_of(lease);
    EXPECT_EQ(std::to_string(info.backend_pid), backend_pid(lease));
    uint64_t id = 0;
    ASSERT_EQ(connpool_lease_connection_id(&id, lease, nullptr), CONNPOOL_OK);
    EXPECT_EQ(info.connection_id, id);
    EXPECT_EQ(info.use_count, 1);
    EXPECT_EQ(info.is_new, 1);
    EXPECT_EQ(info.reserved0, 0);
    EXPECT_GE(info.created_at_us, before_us - 5000);  // clocks converted: allow a few ms
    EXPECT_LE(info.created_at_us, after_us + 5000);
    EXPECT_EQ(info.last_used_at_us, info.created_at_us);
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    const int64_t released_us = unix_us_now();
    ASSERT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
    lease = acquire();
    info = info_of(lease);
    EXPECT_EQ(info.use_count, 2);
    EXPECT_EQ(info.is_new, 0);
    EXPECT_EQ(info.connection_id, id);
    EXPECT_GE(info.last_used_at_us, released_us - 20000);  // the release, coarse clock
    EXPECT_GE(info.last_used_at_us - info.created_at_us, 20000);

    connpool_lease_info small{};
    small.struct_size = 8;
    Error error;
    EXPECT_EQ(connpool_lease_get_info(&small, lease, error.out()), CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_NE(error.message().find("struct_size"), std::string::npos) << error.message();
    ASSERT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
    EXPECT_EQ(connpool_lease_get_info(&info, lease, nullptr), CONNPOOL_ERR_INVALID_HANDLE);
}

TEST_F(OperationsTest, ConnectionsJson) {
    make({{"min_size", "2"}, {"max_size", "3"}, {"name", "opsjson"}});
    wait_ready();
    connpool_lease *lease = acquire();
    const std::string pid = backend_pid(lease);
    ASSERT_EQ(connpool_lease_set_label(lease, "nightly \"job\"", nullptr), CONNPOOL_OK);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    char *json = nullptr;
    Error error;
    ASSERT_EQ(connpool_pool_connections_json(&json, pool_, error.out()), CONNPOOL_OK)
        << error.message();
    const std::string text = json;
    connpool_string_free(json);
    std::string why;
    const auto tree = parse_json(text, &why);
    ASSERT_TRUE(tree) << why << ": " << text;
    EXPECT_EQ(tree->get<std::string>("pool"), "opsjson");
    EXPECT_FALSE(tree->get<bool>("paused"));
    EXPECT_EQ(tree->get<int>("min_size"), 2);
    EXPECT_EQ(tree->get<int>("max_size"), 3);
    Admin admin;
    int in_use = 0, idle = 0;
    for (const auto &[key, c] : tree->get_child("connections")) {
        const std::string state = c.get<std::string>("state");
        const std::string backend = c.get<std::string>("backend_pid");
        EXPECT_TRUE(backend_alive(admin, backend)) << backend;
        if (state == "in_use") {
            ++in_use;
            EXPECT_EQ(backend, pid);
            EXPECT_EQ(c.get<std::string>("label"), "nightly \"job\"");
            EXPECT_GE(c.get<int>("held_ms"), 15);
            EXPECT_EQ(c.get<int>("uses"), 1);
        } else {
            ++idle;
            EXPECT_EQ(state, "idle");
            EXPECT_GE(c.get<int>("idle_ms"), 0);
        }
    }
    EXPECT_EQ(in_use, 1);
    EXPECT_EQ(idle + in_use, 2);
    EXPECT_EQ(text.find("password"), std::string::npos);
    ASSERT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);

    ASSERT_EQ(connpool_pool_close(pool_, nullptr), CONNPOOL_OK);
    EXPECT_EQ(connpool_pool_drain(pool_, error.out()), CONNPOOL_ERR_POOL_CLOSED);
    EXPECT_EQ(connpool_pool_pause(pool_, nullptr), CONNPOOL_ERR_POOL_CLOSED);
    ASSERT_EQ(connpool_pool_connections_json(&json, pool_, nullptr), CONNPOOL_OK);
    EXPECT_NE(std::string(json).find("\"connections\":[]"), std::string::npos) << json;
    connpool_string_free(json);
}

}  // namespace
}  // namespace connpool::pgtest
