// Acquire+release cycles per second over a connector without I/O.
//
//   BM_Cycle_CAPI/pool:P/real_time/threads:T   connpool_pool_acquire + connpool_lease_release,
//       the full C path a user pays (handle lookup, pool mutex, validation, lease token), with
//       pools of 4 and 16 and 1, 2, 8 and 32 threads. items_per_second is the aggregate over
//       all threads (wall clock); Time is one thread's cycle.
//   BM_Cycle_Core   Pool::acquire + Pool::release directly: the core without the C shim.
//   BM_Cycle_FakeConnector   the C path over tests/unit/fake_connector.hpp, whose own mutex
//       shows up under threads (see bench_support.hpp).
//   BM_Floor_*   what the machine charges for the primitives a cycle is made of.
#include <mutex>

#include "bench_support.hpp"
#include "fake_connector.hpp"

namespace connpool::bench {
namespace {

connpool_pool *g_pool = nullptr;  // shared by the threads of the running benchmark
std::shared_ptr<Pool> g_core;     // its core, for BM_Cycle_Core
std::string g_setup_error;

void setup_bench_pool(const benchmark::State &state) {
    g_pool = make_pool(std::make_unique<BenchConnector>(), state.range(0), {}, g_setup_error);
    g_core = g_pool != nullptr ? core_of(g_pool) : nullptr;
}

void setup_fake_pool(const benchmark::State &state) {
    auto server = std::make_shared<testing::FakeServer>();
    g_pool = make_pool(std::make_unique<testing::FakeConnector>(server), state.range(0), {},
                       g_setup_error);
    g_core = nullptr;
}

void teardown_pool(const benchmark::State &) {
    g_core.reset();
    connpool_pool_free(g_pool);
    g_pool = nullptr;
}

void BM_Cycle_CAPI(benchmark::State &state) {
    if (g_pool == nullptr) {
        state.SkipWithError(g_setup_error.c_str());
        return;
    }
    for (auto _ : state) {
        connpool_lease *lease = nullptr;
        if (connpool_pool_acquire(&lease, g_pool, 30'000, nullptr) != CONNPOOL_OK) {
            state.SkipWithError("acquire failed");
            break;
        }
        connpool_lease_release(lease, nullptr);
    }
    state.SetItemsProcessed(state.iterations());
}

void BM_Cycle_Core(benchmark::State &state) {
    if (g_core == nullptr) {
        state.SkipWithError(g_setup_error.c_str());
        return;
    }
    Pool &pool = *g_core;
    for (auto _ : state) {
        Slot *slot = nullptr;
        if (pool.acquire(30'000, slot, nullptr) != CONNPOOL_OK) {
            state.SkipWithError("acquire failed");
            break;
        }
        pool.release(slot);
    }
    state.SetItemsProcessed(state.iterations());
}

BENCHMARK(BM_Cycle_CAPI)
    ->Setup(setup_bench_pool)
    ->Teardown(teardown_pool)
    ->ArgName("pool")
    ->Arg(4)
    ->Arg(16)
    ->Threads(1)
    ->Threads(2)
    ->Threads(8)
    ->Threads(32)
    ->UseRealTime();

BENCHMARK(BM_Cycle_Core)
    ->Setup(setup_bench_pool)
    ->Teardown(teardown_pool)
    ->ArgName("pool")
    ->Arg(4)
    ->Threads(1)
    ->Threads(8)
    ->UseRealTime();

BENCHMARK(BM_Cycle_CAPI)
    ->Name("BM_Cycle_FakeConnector")
    ->Setup(setup_fake_pool)
    ->Teardown(teardown_pool)
    ->ArgName("pool")
    ->Arg(4)
    ->Threads(1)
    ->Threads(8)
    ->UseRealTime();

// ---- floors: the primitives a cycle is built from ------------------------------------------

void BM_Floor_SteadyClockNow(benchmark::State &state) {
    for (auto _ : state) benchmark::DoNotOptimize(Clock::now());
}
BENCHMARK(BM_Floor_SteadyClockNow);

std::mutex g_floor_mutex;
void BM_Floor_MutexLockUnlock(benchmark::State &state) {
    for (auto _ : state) {
        g_floor_mutex.lock();
        benchmark::ClobberMemory();
        g_floor_mutex.unlock();
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Floor_MutexLockUnlock)->Threads(1)->Threads(2)->UseRealTime();

std::atomic<int64_t> g_floor_counter{0};
void BM_Floor_SharedAtomicAdd(benchmark::State &state) {
    for (auto _ : state) g_floor_counter.fetch_add(1, std::memory_order_relaxed);
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Floor_SharedAtomicAdd)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace
}  // namespace connpool::bench
