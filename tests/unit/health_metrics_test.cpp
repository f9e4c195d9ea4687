// Latency histograms, the health verdict and the metrics exposition, over the fake connector.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/health.hpp"
#include "core/histogram.hpp"
#include "core/metrics_text.hpp"
#include "test_support.hpp"

namespace connpool::testing {
namespace {

// ---- histogram ----------------------------------------------------------------------------------

TEST(HistogramTest, EveryValueFallsInABucketAtMostAnEighthWide) {
    for (int64_t v : {0L, 1L, 7L, 8L, 9L, 15L, 16L, 17L, 100L, 1000L, 123456L, 999999999L,
                      (1L << 40) + 5, (1L << 41) - 1}) {
        const int i = LatencyHistogram::bucket_of(v);
        ASSERT_GE(i, 0);
        ASSERT_LT(i, LatencyHistogram::kBuckets);
        EXPECT_LE(LatencyHistogram::lower_bound(i), v) << v;
        if (i + 1 < LatencyHistogram::kBuckets) {
            const int64_t upper = LatencyHistogram::lower_bound(i + 1);
            EXPECT_LT(v, upper) << v;
            const int64_t lower = LatencyHistogram::lower_bound(i);
            EXPECT_LE((upper - lower) * 8, std::max<int64_t>(lower, 8)) << v;
        }
    }
    EXPECT_EQ(LatencyHistogram::bucket_of(-5), 0);
    EXPECT_EQ(LatencyHistogram::bucket_of(int64_t{1} << 50), LatencyHistogram::kBuckets - 1);
    for (int i = 0; i + 1 < LatencyHistogram::kBuckets; ++i) {
        ASSERT_LT(LatencyHistogram::lower_bound(i), LatencyHistogram::lower_bound(i + 1));
        ASSERT_EQ(LatencyHistogram::bucket_of(LatencyHistogram::lower_bound(i)), i);
    }
}

// The true q-quantile of `values` (sorted): the smallest value with at least q of all at or
// below it.
int64_t true_quantile(const std::vector<int64_t> &sorted, double q) {
    const auto rank = static_cast<size_t>(std::ceil(q * static_cast<double>(sorted.size())));
    return sorted[std::max<size_t>(rank, 1) - 1];
}

void expect_within_resolution(const HistogramSnapshot &h, const std::vector<int64_t> &sorted) {
    for (double q : {0.5, 0.9, 0.99, 0.999}) {
        const int64_t want = true_quantile(sorted, q);
        const int64_t got = h.percentile_ns(q);
        EXPECT_LE(std::llabs(got - want), want / 8 + 1) << "q=" << q << " want " << want;
    }
}

TEST(HistogramTest, PercentilesOfKnownDistributionsAreWithinTheBucketResolution) {
    {  // uniform 1 µs .. 10 ms
        LatencyHistogram h;
        std::vector<int64_t> values;
        for (int64_t i = 1; i <= 10'000; ++i) values.push_back(i * 1000);
        for (int64_t v : values) h.record(v);
        expect_within_resolution(h.snapshot(), values);
    }
    {  // long tail: 990 at 50 µs, 9 at 20 ms, 1 at 2 s
        LatencyHistogram h;
        std::vector<int64_t> values(990, 50'000);
        values.insert(values.end(), 9, 20'000'000);
        values.push_back(2'000'000'000);
        for (int64_t v : values) h.record_serialised(v);
        const HistogramSnapshot s = h.snapshot();
        expect_within_resolution(s, values);
        EXPECT_EQ(s.count, 1000);
        EXPECT_EQ(s.max_ns, 2'000'000'000);
        EXPECT_EQ(s.sum_ns, 990 * 50'000LL + 9 * 20'000'000LL + 2'000'000'000LL);
        EXPECT_EQ(s.percentile_ns(1.0), 2'000'000'000);  // capped at the largest value
    }
    {  // one value: every percentile is near it and never above it
        LatencyHistogram h;
        h.record(777'777);
        const HistogramSnapshot s = h.snapshot();
        for (double q : {0.5, 0.999}) {
            EXPECT_LE(s.percentile_ns(q), 777'777);
            EXPECT_GE(s.percentile_ns(q), 777'777 - 777'777 / 8);
        }
    }
    EXPECT_EQ(LatencyHistogram().snapshot().percentile_ns(0.5), 0);
}

TEST(HistogramTest, CountsBelowABucketBoundAreExact) {
    LatencyHistogram h;
    h.record(1023);
    h.record(1024);
    h.record(4095);
    h.record(4096);
    const HistogramSnapshot s = h.snapshot();
    EXPECT_EQ(s.count_below(1024), 1);
    EXPECT_EQ(s.count_below(4096), 3);
    EXPECT_EQ(s.count_below(int64_t{1} << 36), 4);
}

// ---- the pool's latency statistics
// ----------------------------------------------------------------

class PoolLatencyTest : public ::testing::Test {
  protected:
    void TearDown() override { connpool_pool_free(pool_); }
    connpool_lease *acquire(int64_t timeout_ms = 1000) {
        connpool_lease *lease = nullptr;
        ErrorBox error;
        EXPECT_EQ(connpool_pool_acquire(&lease, pool_, timeout_ms, error.out()), CONNPOOL_OK)
            << error.message();
        return lease;
    }
    std::shared_ptr<Pool> core() {
        auto ref = HandleRegistry::instance().lookup(capi::token_of(pool_), HandleKind::pool);
        return ref.get<capi::PoolObject>()->pool;
    }
    std::shared_ptr<FakeServer> server_ = std::make_shared<FakeServer>();
    connpool_pool *pool_ = nullptr;
};

TEST_F(PoolLatencyTest, EveryAcquireIsRecordedAlsoWithoutWaiting) {
    pool_ = make_fake_pool(server_, {{"max_size", "2"}, {"min_size", "2"}});
    ASSERT_EQ(connpool_pool_wait_ready(pool_, 2000, nullptr), CONNPOOL_OK);
    constexpr int kAcquires = 50'000;
    for (int i = 0; i < kAcquires; ++i) connpool_lease_release(acquire(0), nullptr);
    const PoolHistograms h = core()->histograms();
    EXPECT_EQ(h.acquire_wait.count, kAcquires);
    EXPECT_EQ(h.lease_hold.count, kAcquires);
    EXPECT_GT(h.acquire_wait.sum_ns, 0);  // measured, not assumed to be zero
    const connpool_stats s = stats_of(pool_);
    EXPECT_GT(s.acquire_wait_us_total, 0);
    EXPECT_EQ(s.requests_queued, 0);
    EXPECT_GT(s.acquire_wait_p50_ns, 0);
    EXPECT_LT(s.acquire_wait_p50_ns, 1'000'000);  // no acquire here waits for a millisecond...
    EXPECT_LE(s.acquire_wait_p50_ns, s.acquire_wait_p99_ns);
    EXPECT_LE(s.acquire_wait_p99_ns, s.acquire_wait_p999_ns);
    EXPECT_EQ(h.connect.count, 2);
}

TEST_F(PoolLatencyTest, HoldAndWaitTimesOfControlledLeases) {
    pool_ = make_fake_pool(server_, {{"max_size", "1"}, {"min_size", "1"}});
    ASSERT_EQ(connpool_pool_wait_ready(pool_, 2000, nullptr), CONNPOOL_OK);
    constexpr int64_t kHoldMs = 40;
    for (int i = 0; i < 5; ++i) {
        connpool_lease *lease = acquire();
        std::this_thread::sleep_for(Millis(kHoldMs));
        connpool_lease_release(lease, nullptr);
    }
    // One waiter behind a lease held for kHoldMs: its acquire waits about that long.
    connpool_lease *held = acquire();
    std::thread waiter([&] { connpool_lease_release(acquire(5000), nullptr); });
    std::this_thread::sleep_for(Millis(kHoldMs));
    connpool_lease_release(held, nullptr);
    waiter.join();

    const connpool_stats s = stats_of(pool_);
    EXPECT_EQ(s.requests_queued, 1);
    const int64_t hold_ns = kHoldMs * 1'000'000;
    // sleep_for sleeps at least as long; a loaded machine may add a few ms.
    EXPECT_GE(s.lease_hold_p50_ns, hold_ns - hold_ns / 8);
    EXPECT_LE(s.lease_hold_p50_ns, hold_ns + hold_ns / 2);
    EXPECT_GE(s.usage_ms, 6 * kHoldMs - 1);
    // 7 acquires: 6 at once and the waiter's, the slowest (p99 of 7 is the largest).
    EXPECT_GE(s.acquire_wait_p99_ns, (kHoldMs - 5) * 1'000'000);
    EXPECT_GE(s.acquire_wait_us_max, (kHoldMs - 5) * 1000);
    EXPECT_LT(s.acquire_wait_p50_ns, 1'000'000);
}

// ---- health verdict -----------------------------------------------------------------------------

class HealthTest : public PoolLatencyTest {
  protected:
    int32_t verdict() {
        int32_t v = -1;
        ErrorBox error;
        EXPECT_EQ(connpool_pool_health(&v, pool_, error.out()), CONNPOOL_OK) << error.message();
        return v;
    }
    std::string health_json() {
        char *json = nullptr;
        EXPECT_EQ(connpool_pool_health_json(&json, pool_, nullptr), CONNPOOL_OK);
        std::string text = json != nullptr ? json : "";
        connpool_string_free(json);
        return text;
    }
    // Acquires that time out at once, each an error of the window.
    void time_out(int n) {
        for (int i = 0; i < n; ++i) {
            connpool_lease *lease = nullptr;
            ASSERT_EQ(connpool_pool_acquire(&lease, pool_, 0, nullptr), CONNPOOL_ERR_TIMEOUT);
        }
    }
};

TEST_F(HealthTest, UtilisationThresholds) {
    pool_ = make_fake_pool(server_, {{"max_size", "8"}, {"max_overflow", "2"}});
    std::vector<connpool_lease *> leases;
    for (int i = 0; i < 7; ++i) leases.push_back(acquire());
    EXPECT_EQ(stats_of(pool_).utilisation_percent, 70);
    EXPECT_EQ(verdict(), CONNPOOL_HEALTH_HEALTHY);
    EXPECT_NE(health_json().find("\"reasons\": []"), std::string::npos) << health_json();
    leases.push_back(acquire());  // 8 of 10: at the degraded threshold
    EXPECT_EQ(stats_of(pool_).utilisation_percent, 80);
    EXPECT_EQ(verdict(), CONNPOOL_HEALTH_DEGRADED);
    EXPECT_NE(health_json().find("Utilisation is 80 %, at or above 80 %"), std::string::npos)
        << health_json();
    leases.push_back(acquire());
    leases.push_back(acquire());  // 10 of 10: above 95 %
    EXPECT_EQ(verdict(), CONNPOOL_HEALTH_UNHEALTHY);
    EXPECT_NE(health_json().find("\"status\": \"unhealthy\""), std::string::npos);
    for (connpool_lease *lease : leases) connpool_lease_release(lease, nullptr);
    EXPECT_EQ(verdict(), CONNPOOL_HEALTH_HEALTHY);
    EXPECT_EQ(stats_of(pool_).health, CONNPOOL_HEALTH_HEALTHY);
}

TEST_F(HealthTest, ErrorsInTheWindowDegradeThenMakeUnhealthyAndAgeOut) {
    pool_ = make_fake_pool(server_, {{"max_size", "1"},
                                     {"health_degraded_utilisation", "100"},
                                     {"health_unhealthy_utilisation", "100"},
                                     {"health_error_window", "1000"},
                                     {"health_unhealthy_errors", "3"}});
    connpool_lease *held = acquire();
    EXPECT_EQ(verdict(), CONNPOOL_HEALTH_DEGRADED);  // 100 % in use, at the degraded threshold
    time_out(1);
    EXPECT_EQ(stats_of(pool_).recent_errors, 1);
    EXPECT_EQ(verdict(), CONNPOOL_HEALTH_DEGRADED);
    EXPECT_NE(health_json().find("1 error (failed connects"), std::string::npos) << health_json();
    time_out(2);
    EXPECT_EQ(verdict(), CONNPOOL_HEALTH_DEGRADED);  // 3: not more than 3
    time_out(1);
    EXPECT_EQ(verdict(), CONNPOOL_HEALTH_UNHEALTHY);
    EXPECT_NE(health_json().find("4 errors"), std::string::npos) << health_json();
    connpool_lease_release(held, nullptr);
    // The window is 1 s (20 slices of 50 ms): the errors leave it within 1.05 s.
    EXPECT_TRUE(eventually([&] { return verdict() == CONNPOOL_HEALTH_HEALTHY; }, 1500));
    EXPECT_EQ(stats_of(pool_).recent_errors, 0);
    EXPECT_EQ(stats_of(pool_).acquire_timeouts, 4);  // the counter keeps them
}

TEST_F(HealthTest, BrokenConnectionsCountAsErrors) {
    pool_ = make_fake_pool(server_, {{"max_size", "2"}});
    connpool_lease *lease = acquire();
    fake_of(lease).state = FakeState::broken;
    connpool_lease_release(lease, nullptr);
    EXPECT_EQ(stats_of(pool_).closed_broken, 1);
    EXPECT_EQ(stats_of(pool_).recent_errors, 1);
    EXPECT_EQ(verdict(), CONNPOOL_HEALTH_DEGRADED);
}

TEST_F(HealthTest, OpenBreakerIsUnhealthy) {
    server_->refuse = true;
    pool_ =
        make_fake_pool(server_, {{"max_size", "2"}, {"min_size", "1"}, {"breaker_threshold", "1"}});
    ASSERT_TRUE(eventually([&] { return stats_of(pool_).breaker_state == 1; }));
    EXPECT_EQ(verdict(), CONNPOOL_HEALTH_UNHEALTHY);
    EXPECT_NE(health_json().find("The circuit breaker is open"), std::string::npos)
        << health_json();
}

TEST_F(HealthTest, ClosedPoolIsUnhealthy) {
    pool_ = make_fake_pool(server_, {{"max_size", "2"}});
    EXPECT_EQ(verdict(), CONNPOOL_HEALTH_HEALTHY);
    ASSERT_EQ(connpool_pool_close(pool_, nullptr), CONNPOOL_OK);
    EXPECT_EQ(verdict(), CONNPOOL_HEALTH_UNHEALTHY);
    EXPECT_NE(health_json().find("The pool is closed."), std::string::npos);
}

TEST_F(HealthTest, ThresholdsAreValidatedTogether) {
    connpool_options *opts = make_options(
        {{"health_degraded_utilisation", "90"}, {"health_unhealthy_utilisation", "50"}});
    connpool_pool *pool = nullptr;
    ErrorBox error;
    EXPECT_EQ(capi::create_pool(&pool, std::make_unique<FakeConnector>(server_), opts, error.out()),
              CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_NE(error.message().find("health_degraded_utilisation"), std::string::npos)
        << error.message();
    connpool_options_free(opts);
}

TEST_F(HealthTest, RefusesBadArguments) {
    pool_ = make_fake_pool(server_, {});
    int32_t v = 0;
    char *text = nullptr;
    EXPECT_EQ(connpool_pool_health(nullptr, pool_, nullptr), CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(connpool_pool_health(&v, nullptr, nullptr), CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(connpool_pool_health_json(nullptr, pool_, nullptr), CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(connpool_pool_metrics(&text, pool_, 7, nullptr), CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(text, nullptr);
    EXPECT_EQ(connpool_registry_metrics(&text, -1, nullptr), CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(connpool_registry_metrics(nullptr, 0, nullptr), CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(connpool_registry_health_json(nullptr, &v, nullptr), CONNPOOL_ERR_INVALID_ARGUMENT);
}

// ---- metrics exposition -------------------------------------------------------------------------

std::vector<std::string> lines_of(const std::string &text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

PoolObservation observation(const std::string &name, int64_t in_use) {
    PoolObservation p;
    p.name = name;
    p.stats.max_size = 10;
    p.stats.in_use = in_use;
    p.stats.idle = 2;
    p.stats.total = in_use + 2;
    p.stats.acquire_timeouts = 3;
    p.stats.acquire_wait_us_total = 1'500'000;  // 1.5 s
    p.stats.utilisation_percent = in_use * 10;
    LatencyHistogram wait;
    wait.record(500);            // below the first bound (1.024 µs)
    wait.record(2'000'000);      // 2 ms
    wait.record(3'000'000'000);  // 3 s
    p.histograms.acquire_wait = wait.snapshot();
    return p;
}

TEST(MetricsTextTest, PrometheusFamiliesOnceSeriesPerPoolAndEscapedNames) {
    const std::vector<PoolObservation> pools = {observation("main", 4),
                                                observation("we\"ird\\na\nme", 1)};
    const std::string text = render_metrics(pools, MetricsFormat::prometheus);
    std::map<std::string, int> type_lines;
    for (const std::string &line : lines_of(text)) {
        if (line.rfind("# TYPE ", 0) == 0) ++type_lines[line.substr(7, line.find(' ', 7) - 7)];
    }
    for (const auto &[name, n] : type_lines) EXPECT_EQ(n, 1) << name;
    EXPECT_EQ(type_lines.count("db_client_connection_timeouts_total"), 1u);
    EXPECT_EQ(type_lines.count("connpool_acquire_wait_seconds_total"), 1u);
    EXPECT_EQ(type_lines.count("connpool_utilisation_ratio"), 1u);
    EXPECT_EQ(type_lines.count("connpool_health"), 1u);
    EXPECT_EQ(type_lines.count("connpool_total"), 0u);  // shown by db_client_connections_usage
    EXPECT_NE(text.find("db_client_connections_usage{pool_name=\"main\",state=\"used\"} 4\n"),
              std::string::npos);
    EXPECT_NE(text.find("db_client_connections_usage{pool_name=\"we\\\"ird\\\\na\\nme\","
                        "state=\"idle\"} 2\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("db_client_connection_timeouts_total{pool_name=\"main\"} 3\n"),
              std::string::npos);
    EXPECT_NE(text.find("connpool_acquire_wait_seconds_total{pool_name=\"main\"} 1.5\n"),
              std::string::npos);
    EXPECT_NE(text.find("connpool_utilisation_ratio{pool_name=\"main\"} 0.4\n"), std::string::npos);
    EXPECT_EQ(text.find("# EOF"), std::string::npos);
}

TEST(MetricsTextTest, HistogramBucketsAreCumulativeAndExact) {
    const std::vector<PoolObservation> pools = {observation("main", 1)};
    const std::string text = render_metrics(pools, MetricsFormat::prometheus);
    const std::string prefix = "db_client_connection_wait_time_seconds_bucket{pool_name=\"main\",";
    EXPECT_NE(text.find(prefix + "le=\"1.024e-06\"} 1\n"), std::string::npos) << text;
    EXPECT_NE(text.find(prefix + "le=\"0.004194304\"} 2\n"), std::string::npos) << text;
    EXPECT_NE(text.find(prefix + "le=\"4.294967296\"} 3\n"), std::string::npos) << text;
    EXPECT_NE(text.find(prefix + "le=\"+Inf\"} 3\n"), std::string::npos);
    EXPECT_NE(text.find("db_client_connection_wait_time_seconds_count{pool_name=\"main\"} 3\n"),
              std::string::npos);
    EXPECT_NE(
        text.find("db_client_connection_wait_time_seconds_sum{pool_name=\"main\"} 3.0020005\n"),
        std::string::npos)
        << text;
    int64_t previous = -1;
    for (const std::string &line : lines_of(text)) {
        if (line.rfind(prefix, 0) != 0) continue;
        const int64_t n = std::stoll(line.substr(line.rfind(' ') + 1));
        EXPECT_GE(n, previous) << line;
        previous = n;
    }
}

TEST(MetricsTextTest, OpenMetricsHasUnitsTotalsAndEof) {
    const std::vector<PoolObservation> pools = {observation("main", 1)};
    const std::string text = render_metrics(pools, MetricsFormat::openmetrics);
    EXPECT_EQ(text.substr(text.size() - 6), "# EOF\n");
    EXPECT_NE(text.find("# TYPE db_client_connection_timeouts counter\n"), std::string::npos);
    EXPECT_NE(text.find("db_client_connection_timeouts_total{pool_name=\"main\"} 3\n"),
              std::string::npos);
    EXPECT_NE(text.find("# UNIT db_client_connection_wait_time_seconds seconds\n"),
              std::string::npos);
    EXPECT_NE(text.find("# UNIT connpool_acquire_wait_p50_seconds seconds\n"), std::string::npos);
    EXPECT_EQ(render_metrics({}, MetricsFormat::openmetrics), "# EOF\n");
    EXPECT_EQ(render_metrics({}, MetricsFormat::prometheus), "");
}

TEST(MetricsTextTest, EveryStatisticAppears) {
    const std::vector<PoolObservation> pools = {observation("main", 1)};
    const std::string text = render_metrics(pools, MetricsFormat::prometheus);
    for (const StatField &field : kStatFields) {
        const std::string name = field.name;
        if (name == "total" || name == "idle" || name == "in_use" || name == "waiting" ||
            name == "max_size" || name == "min_size" || name == "acquire_timeouts") {
            continue;  // OpenTelemetry families
        }
        std::string stem = name.substr(0, name.find("_us"));
        stem = stem.substr(0, stem.find("_ns"));
        stem = stem.substr(0, stem.find("_ms"));
        stem = stem.substr(0, stem.find("_percent"));
        EXPECT_NE(text.find("\nconnpool_" + stem), std::string::npos) << name;
    }
}

}  // namespace
}  // namespace connpool::testing
