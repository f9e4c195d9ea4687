// The health verdict driven by real faults against the test server: a wrong port (connect
// errors, then the breaker), leases held (utilisation), and the metrics of a real pool.
#include <string>
#include <vector>

#include "pg_support.hpp"

namespace connpool::pgtest {
namespace {

connpool_pool *make_pool(const std::string &conninfo, std::initializer_list<Option> options) {
    connpool_options *opts = nullptr;
    EXPECT_EQ(connpool_options_new(&opts, nullptr), CONNPOOL_OK);
    for (const auto &[key, value] : options) {
        EXPECT_EQ(connpool_options_set(opts, key, value, nullptr), CONNPOOL_OK) << key;
    }
    connpool_pool *pool = nullptr;
    Error error;
    EXPECT_EQ(connpool_pool_create(&pool, conninfo.c_str(), opts, error.out()), CONNPOOL_OK)
        << error.message();
    connpool_options_free(opts);
    return pool;
}

int32_t verdict_of(connpool_pool *pool) {
    int32_t verdict = -1;
    EXPECT_EQ(connpool_pool_health(&verdict, pool, nullptr), CONNPOOL_OK);
    return verdict;
}

std::string health_json_of(connpool_pool *pool) {
    char *json = nullptr;
    EXPECT_EQ(connpool_pool_health_json(&json, pool, nullptr), CONNPOOL_OK);
    std::string text = json != nullptr ? json : "";
    connpool_string_free(json);
    return text;
}

TEST(HealthPgTest, WrongPortMakesThePoolUnhealthyWithItsReasons) {
    // A port nobody listens on: every connect fails at once. min_size 0: nothing connects
    // before the first verdict (a background connect could fail first and degrade it).
    const std::string conninfo = "host=127.0.0.1 port=1 dbname=postgres";
    connpool_pool *pool = make_pool(conninfo, {{"max_size", "2"},
                                               {"min_size", "0"},
                                               {"breaker_threshold", "0"},
                                               {"health_unhealthy_errors", "3"}});
    EXPECT_EQ(verdict_of(pool), CONNPOOL_HEALTH_HEALTHY);
    // Now keep one connection wanted, so connects go on failing in the background.
    ASSERT_EQ(connpool_pool_resize(pool, 1, 2, nullptr), CONNPOOL_OK);
    connpool_lease *lease = nullptr;
    EXPECT_EQ(connpool_pool_acquire(&lease, pool, 300, nullptr), CONNPOOL_ERR_CONNECT_FAILED);
    // The failed connects and the timed-out acquire are errors of the window.
    const auto until = Clock::now() + std::chrono::seconds(10);
    while (verdict_of(pool) != CONNPOOL_HEALTH_UNHEALTHY && Clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_EQ(verdict_of(pool), CONNPOOL_HEALTH_UNHEALTHY);
    const std::string json = health_json_of(pool);
    EXPECT_NE(json.find("\"status\": \"unhealthy\""), std::string::npos) << json;
    EXPECT_NE(json.find("errors (failed connects, acquire timeouts"), std::string::npos) << json;
    connpool_pool_free(pool);
}

TEST(HealthPgTest, WrongPortOpensTheBreakerWhichIsUnhealthy) {
    connpool_pool *pool = make_pool("host=127.0.0.1 port=1 dbname=postgres",
                                    {{"min_size", "1"}, {"breaker_threshold", "2"}});
    const auto until = Clock::now() + std::chrono::seconds(10);
    while (health_json_of(pool).find("circuit breaker is open") == std::string::npos &&
           Clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_EQ(verdict_of(pool), CONNPOOL_HEALTH_UNHEALTHY);
    EXPECT_NE(health_json_of(pool).find("circuit breaker is open"), std::string::npos);
    connpool_pool_free(pool);
}

TEST(HealthPgTest, LeasesHeldDegradeThenMakeUnhealthy) {
    connpool_pool *pool = make_pool(conninfo_for("health_leases"), {{"max_size", "5"}});
    std::vector<connpool_lease *> leases;
    auto take = [&] {
        connpool_lease *lease = nullptr;
        Error error;
        ASSERT_EQ(connpool_pool_acquire(&lease, pool, 10'000, error.out()), CONNPOOL_OK)
            << error.message();
        connpool_result *result = nullptr;
        ASSERT_EQ(connpool_lease_exec(&result, lease, "SELECT 1", 0, nullptr, nullptr),
                  CONNPOOL_OK);
        connpool_result_free(result);
        leases.push_back(lease);
    };
    for (int i = 0; i < 3; ++i) take();
    EXPECT_EQ(verdict_of(pool), CONNPOOL_HEALTH_HEALTHY);  // 60 %
    take();
    EXPECT_EQ(verdict_of(pool), CONNPOOL_HEALTH_DEGRADED);  // 80 %
    take();
    EXPECT_EQ(verdict_of(pool), CONNPOOL_HEALTH_UNHEALTHY);  // 100 %
    EXPECT_NE(health_json_of(pool).find("Utilisation is 100 %"), std::string::npos);
    for (connpool_lease *lease : leases) connpool_lease_release(lease, nullptr);
    EXPECT_EQ(verdict_of(pool), CONNPOOL_HEALTH_HEALTHY);

    connpool_stats s{};
    s.struct_size = sizeof s;
    ASSERT_EQ(connpool_pool_stats(&s, pool, nullptr), CONNPOOL_OK);
    EXPECT_GT(s.lease_hold_p50_ns, 0);
    EXPECT_GT(s.acquire_wait_p50_ns, 0);
    EXPECT_GT(s.acquire_wait_us_total, 0);
    char *text = nullptr;
    ASSERT_EQ(connpool_pool_metrics(&text, pool, CONNPOOL_METRICS_PROMETHEUS, nullptr),
              CONNPOOL_OK);
    const std::string metrics = text;
    connpool_string_free(text);
    EXPECT_NE(metrics.find("db_client_connection_use_time_seconds_count{pool_name=\"pool\"} 5\n"),
              std::string::npos)
        << metrics;
    EXPECT_NE(metrics.find("db_client_connection_create_time_seconds_count{pool_name=\"pool\"} 5"),
              std::string::npos);
    connpool_pool_free(pool);
}

}  // namespace
}  // namespace connpool::pgtest
