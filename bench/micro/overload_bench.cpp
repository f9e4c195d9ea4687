// Acquire latency and fairness when clients outnumber connections 8 to 1.
//
//   BM_Overload/pool:P/clients:N/hold_us:H
//
// N threads share a pool of P connections (no I/O). Each thread loops: acquire (timed) ->
// hold the connection for H µs (a sleep, as if waiting on the server) -> release. Runs for
// $CONNPOOL_BENCH_OVERLOAD_MS (default 2000) ms; the first 10 % is warm-up and not recorded.
//
// Counters (all waits are the time spent inside connpool_pool_acquire):
//   p50_us, p99_us, max_us, mean_us   acquire wait percentiles
//   fair_us        the FIFO fair share of waiting: by Little's law each of N clients cycling
//                  through P busy connections waits N / throughput - hold per acquire (the same
//                  as mean_us if the measurements agree)
//   p99_over_fair  goal: <= 2 (p99 acquire wait within 2x of the fair share; checked by bench/run)
//   max_over_mean  a fairness figure: the worst single wait against the mean wait
//   min_share      fewest acquires by one thread / mean per thread (1.0 = perfectly even)
//   ops_per_sec    cycles per second over all threads
#include <sys/prctl.h>

#include <algorithm>
#include <latch>
#include <numeric>
#include <thread>

#include "bench_support.hpp"

namespace connpool::bench {
namespace {

struct ThreadLog {
    std::vector<int64_t> waits_ns;
    int64_t ops = 0;
    int64_t hold_ns = 0;
    bool failed = false;
};

int64_t ns_since(TimePoint origin, TimePoint t) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t - origin).count();
}

double percentile_us(const std::vector<int64_t> &sorted, double p) {
    if (sorted.empty()) return 0.0;
    size_t rank = static_cast<size_t>(p * static_cast<double>(sorted.size()));
    rank = std::min(rank, sorted.size() - 1);
    return static_cast<double>(sorted[rank]) / 1000.0;
}

void BM_Overload(benchmark::State &state) {
    const int64_t pool_size = state.range(0);
    const int64_t clients = state.range(1);
    const int64_t hold_us = state.range(2);
    const int64_t duration_ms = env_int("CONNPOOL_BENCH_OVERLOAD_MS", 2000);

    std::string why;
    connpool_pool *pool = make_pool(std::make_unique<BenchConnector>(), pool_size, {}, why);
    if (pool == nullptr) {
        state.SkipWithError(why.c_str());
        return;
    }
    std::vector<ThreadLog> logs(static_cast<size_t>(clients));
    double window_s = 0;
    for (auto _ : state) {
        std::atomic<bool> stop{false};
        std::latch start(clients + 1);
        const TimePoint origin = Clock::now();
        const TimePoint measure_from = origin + Millis(duration_ms / 10);
        const TimePoint measure_until = origin + Millis(duration_ms);
        std::vector<std::thread> threads;
        for (int64_t i = 0; i < clients; ++i) {
            threads.emplace_back([&, i] {
                prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);  // make the hold sleep precise
                ThreadLog &log = logs[static_cast<size_t>(i)];
                log.waits_ns.reserve(1 << 16);
                start.arrive_and_wait();
                while (!stop.load(std::memory_order_relaxed)) {
                    const TimePoint t0 = Clock::now();
                    connpool_lease *lease = nullptr;
                    if (connpool_pool_acquire(&lease, pool, 30'000, nullptr) != CONNPOOL_OK) {
                        log.failed = true;
                        return;
                    }
                    const TimePoint t1 = Clock::now();
                    if (hold_us > 0)
                        std::this_thread::sleep_for(std::chrono::microseconds(hold_us));
                    const TimePoint t2 = Clock::now();
                    connpool_lease_release(lease, nullptr);
                    if (t0 >= measure_from && t2 <= measure_until) {
                        log.waits_ns.push_back(ns_since(t0, t1));
                        log.hold_ns += ns_since(t1, t2);
                        ++log.ops;
                    }
                }
            });
        }
        start.arrive_and_wait();
        std::this_thread::sleep_until(measure_until);
        stop.store(true);
        for (std::thread &t : threads) t.join();
        window_s = std::chrono::duration<double>(measure_until - measure_from).count();
    }
    connpool_pool_free(pool);

    std::vector<int64_t> waits;
    int64_t ops = 0, hold_ns = 0, min_ops = INT64_MAX;
    for (const ThreadLog &log : logs) {
        if (log.failed) {
            state.SkipWithError("an acquire failed");
            return;
        }
        waits.insert(waits.end(), log.waits_ns.begin(), log.waits_ns.end());
        ops += log.ops;
        hold_ns += log.hold_ns;
        min_ops = std::min(min_ops, log.ops);
    }
    if (ops == 0) {
        state.SkipWithError("no cycle completed");
        return;
    }
    std::sort(waits.begin(), waits.end());
    const double mean_us =
        static_cast<double>(std::accumulate(waits.begin(), waits.end(), int64_t{0})) /
        static_cast<double>(waits.size()) / 1000.0;
    const double ops_per_sec = static_cast<double>(ops) / window_s;
    const double mean_hold_us = static_cast<double>(hold_ns) / static_cast<double>(ops) / 1000.0;
    // Little's law: cycle time = clients / throughput = wait + hold (+ release, negligible).
    const double fair_us =
        std::max(static_cast<double>(clients) / ops_per_sec * 1e6 - mean_hold_us, 1e-3);
    const double p99 = percentile_us(waits, 0.99);
    const double max_us = static_cast<double>(waits.back()) / 1000.0;

    state.counters["ops_per_sec"] = ops_per_sec;
    state.counters["p50_us"] = percentile_us(waits, 0.50);
    state.counters["p99_us"] = p99;
    state.counters["max_us"] = max_us;
    state.counters["mean_us"] = mean_us;
    state.counters["hold_mean_us"] = mean_hold_us;
    state.counters["fair_us"] = fair_us;
    state.counters["p99_over_fair"] = p99 / fair_us;
    state.counters["max_over_mean"] = mean_us > 0 ? max_us / mean_us : 0.0;
    state.counters["min_share"] =
        static_cast<double>(min_ops) / (static_cast<double>(ops) / static_cast<double>(clients));
}

BENCHMARK(BM_Overload)
    ->ArgNames({"pool", "clients", "hold_us"})
    ->Args({4, 32, 50})
    ->Args({4, 32, 0})
    ->Args({16, 128, 50})
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace connpool::bench
