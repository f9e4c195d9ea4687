// Sizing by load under a bursty load: target_utilisation against a fixed min_size of the same
// average size (docs/BENCHMARKS.md, "Sizing by load").
//
//   connpool_sizing_bench [seconds per run (8)] [connect ms (20)] [target percent (60)]
//
// The core pool over a connector without I/O whose connects take `connect ms` (a TCP + auth
// handshake). Clients each loop: acquire (timeout 5 s) -> hold 2 ms -> release -> think 1 ms.
// Every second: 2 clients for 500 ms, then a burst that ramps up to 14 clients over 150 ms and
// stays there for 350 ms. Both pools have max_size 16 and max_idle 300 ms (maintenance every
// 50 ms), so they shrink between bursts.
//   target:  min_size 2, target_utilisation `target percent`
//   fixed:   min_size = the target run's average size (rounded), no policy (grows on demand
//            when callers wait, like any pool)
//   static:  min_size = max_size = that average (never grows)
// Reported: acquires, requests_queued (acquires that had to wait), acquire wait percentiles
// (the pool's histogram), connects, and the average number of open connections (sampled every
// 5 ms).
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/connector.hpp"
#include "core/pool.hpp"

namespace connpool::bench {
namespace {

class SlowConnectConnector final : public Connector {
  public:
    explicit SlowConnectConnector(int connect_ms) : connect_ms_(connect_ms) {}
    std::unique_ptr<Connection> connect(TimePoint, const std::atomic<bool> &,
                                        ConnectFailure &) override {
        std::this_thread::sleep_for(Millis(connect_ms_));
        connects.fetch_add(1, std::memory_order_relaxed);
        return std::make_unique<Connection>();
    }
    bool looks_alive(Connection &) override { return true; }
    bool ping(Connection &, TimePoint) override { return true; }
    ReleaseVerdict verdict_on_release(Connection &) override { return ReleaseVerdict::reuse; }
    bool reset(Connection &, TimePoint) override { return true; }
    std::atomic<int64_t> connects{0};

  private:
    const int connect_ms_;
};

constexpr int kClients = 14;

// How many clients are active `ms` into the run.
int active_clients(int64_t ms) {
    const int64_t phase = ms % 1000;
    if (phase < 500) return 2;
    if (phase < 650) return 2 + static_cast<int>((phase - 500) * (kClients - 2) / 150);
    return kClients;
}

struct Result {
    int64_t acquires = 0, queued = 0, connects = 0, failures = 0;
    int64_t p50_us = 0, p90_us = 0, p99_us = 0, max_us = 0;
    double avg_total = 0;
};

Result run(PoolOptions options, int seconds, int connect_ms) {
    auto connector = std::make_unique<SlowConnectConnector>(connect_ms);
    SlowConnectConnector &conn = *connector;
    options.max_idle_ms = 300;
    options.maintenance_interval_ms = 50;
    options.pre_ping = false;
    std::shared_ptr<Pool> pool = Pool::create(options, std::move(connector));
    pool->wait_ready(10'000, nullptr);
    const TimePoint start = Clock::now();
    const TimePoint end = start + std::chrono::seconds(seconds);
    std::atomic<int64_t> failures{0};
    std::vector<std::thread> clients;
    for (int i = 0; i < kClients; ++i) {
        clients.emplace_back([&, i] {
            for (TimePoint now = Clock::now(); now < end; now = Clock::now()) {
                const auto ms = std::chrono::duration_cast<Millis>(now - start).count();
                if (i >= active_clients(ms)) {
                    std::this_thread::sleep_for(Millis(1));
                    continue;
                }
                Slot *slot = nullptr;
                if (pool->acquire(5000, slot, nullptr) != CONNPOOL_OK) {
                    failures.fetch_add(1);
                    continue;
                }
                std::this_thread::sleep_for(Millis(2));
                pool->release(slot);
                std::this_thread::sleep_for(Millis(1));
            }
        });
    }
    double sum_total = 0;
    int64_t samples = 0;
    while (Clock::now() < end) {
        sum_total += static_cast<double>(pool->stats().total);
        ++samples;
        std::this_thread::sleep_for(Millis(5));
    }
    for (std::thread &t : clients) t.join();
    const PoolStats s = pool->stats();
    Result r;
    r.acquires = s.acquired;
    r.queued = s.requests_queued;
    r.connects = conn.connects.load();
    r.failures = failures.load();
    r.p50_us = s.acquire_wait_p50_ns / 1000;
    r.p90_us = s.acquire_wait_p90_ns / 1000;
    r.p99_us = s.acquire_wait_p99_ns / 1000;
    r.max_us = s.acquire_wait_us_max;
    r.avg_total = samples > 0 ? sum_total / static_cast<double>(samples) : 0;
    return r;
}

void print(const char *name, const Result &r) {
    std::printf(
        "%-34s %8lld %8lld %7.1f%% %8lld %8lld %8lld %8lld %8lld %9.2f %4lld\n", name,
        static_cast<long long>(r.acquires), static_cast<long long>(r.queued),
        r.acquires > 0 ? 100.0 * static_cast<double>(r.queued) / static_cast<double>(r.acquires)
                       : 0.0,
        static_cast<long long>(r.p50_us), static_cast<long long>(r.p90_us),
        static_cast<long long>(r.p99_us), static_cast<long long>(r.max_us),
        static_cast<long long>(r.connects), r.avg_total, static_cast<long long>(r.failures));
}

}  // namespace
}  // namespace connpool::bench

int main(int argc, char **argv) {
    using namespace connpool;
    using namespace connpool::bench;
    const int seconds = argc > 1 ? std::atoi(argv[1]) : 8;
    const int connect_ms = argc > 2 ? std::atoi(argv[2]) : 20;
    const int target = argc > 3 ? std::atoi(argv[3]) : 60;
    std::printf("bursty load: %d s per run, connects take %d ms, max_size 16, max_idle 300 ms\n",
                seconds, connect_ms);
    std::printf("%-34s %8s %8s %8s %8s %8s %8s %8s %8s %9s %4s\n", "pool", "acquires", "queued",
                "queued", "p50_us", "p90_us", "p99_us", "max_us", "connects", "avg_total", "fail");
    PoolOptions targeted;
    targeted.min_size = 2;
    targeted.max_size = 16;
    targeted.target_utilisation = target;
    const Result t = run(targeted, seconds, connect_ms);
    const std::string target_name = "target_utilisation " + std::to_string(target);
    print(target_name.c_str(), t);
    const auto average = static_cast<int64_t>(std::lround(t.avg_total));
    PoolOptions fixed;
    fixed.min_size = average;
    fixed.max_size = 16;
    const std::string fixed_name = "min_size " + std::to_string(average) + ", max_size 16";
    print(fixed_name.c_str(), run(fixed, seconds, connect_ms));
    PoolOptions fixed_static;
    fixed_static.min_size = average;
    fixed_static.max_size = average;
    const std::string static_name = "min_size = max_size = " + std::to_string(average);
    print(static_name.c_str(), run(fixed_static, seconds, connect_ms));
    return 0;
}
