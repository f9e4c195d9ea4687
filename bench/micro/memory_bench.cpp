// Heap bytes per pooled connection beyond the connection object itself.
//
//   BM_MemoryPerConnection/connections:N
//
// Measured with glibc's mallinfo2() (in-use bytes of every arena plus mmapped blocks) around:
//   conn   N bare connector connections (what libpq's PGconn stands for here);
//   empty  a pool with max_size N and no connection (its fixed cost, incl. the idle stack's
//          capacity, which is reserved up front);
//   full   a pool with min_size = max_size = N, all open.
// Counters:
//   bytes_per_conn_cold  (full - empty) / N - conn / N the first time: includes the growth of the
//                        process-wide handle registry (cells are never freed, only recycled)
//   bytes_per_conn_warm  the same for a second pool, whose lease cells are recycled
//   conn_object_bytes    conn / N: the connector's own object, excluded from the above
//   pool_fixed_bytes     empty: per pool, whatever its size (logger, threads' bookkeeping...)
//   idle_stack_bytes_per_conn  part of pool_fixed_bytes that scales with max_size
// Not heap, so not counted: each pool's 3 background threads' stacks (8 MiB virtual each,
// a few KiB resident).
#include <malloc.h>

#include "bench_support.hpp"

namespace connpool::bench {
namespace {

int64_t heap_in_use() {
    const struct mallinfo2 m = mallinfo2();
    return static_cast<int64_t>(m.uordblks + m.hblkhd);
}

// Heap growth while a pool of `size` connections (min_size `min_size`) is open.
int64_t pool_heap(int64_t size, int64_t min_size, std::string &why) {
    const int64_t before = heap_in_use();
    connpool_pool *pool = make_pool(std::make_unique<BenchConnector>(), size,
                                    {{"min_size", std::to_string(min_size)}}, why);
    if (pool == nullptr) return -1;
    const int64_t grown = heap_in_use() - before;
    connpool_pool_free(pool);
    return grown;
}

void BM_MemoryPerConnection(benchmark::State &state) {
    const int64_t n = state.range(0);
    std::string why;
    int64_t conn = 0, full_cold = 0, full_warm = 0, empty = 0;
    for (auto _ : state) {
        {
            BenchConnector connector;
            std::vector<std::unique_ptr<Connection>> connections;
            connections.reserve(static_cast<size_t>(n));
            ConnectFailure failure;
            std::atomic<bool> abandon{false};
            const int64_t before = heap_in_use();
            for (int64_t i = 0; i < n; ++i) {
                connections.push_back(connector.connect(TimePoint::max(), abandon, failure));
            }
            conn = heap_in_use() - before;
        }
        full_cold = pool_heap(n, n, why);
        empty = pool_heap(n, 0, why);
        full_warm = pool_heap(n, n, why);
        if (full_cold < 0 || empty < 0 || full_warm < 0) {
            state.SkipWithError(why.c_str());
            return;
        }
    }
    const double per = static_cast<double>(n);
    state.counters["bytes_per_conn_cold"] = static_cast<double>(full_cold - empty - conn) / per;
    state.counters["bytes_per_conn_warm"] = static_cast<double>(full_warm - empty - conn) / per;
    state.counters["conn_object_bytes"] = static_cast<double>(conn) / per;
    state.counters["pool_fixed_bytes"] = static_cast<double>(empty);
    state.counters["idle_stack_bytes_per_conn"] = static_cast<double>(sizeof(Slot *));
    state.counters["sizeof_Slot"] = static_cast<double>(sizeof(Slot));
}

BENCHMARK(BM_MemoryPerConnection)
    ->ArgName("connections")
    ->Arg(8192)
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace connpool::bench
