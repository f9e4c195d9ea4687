// Shared pieces of the microbenchmarks: a connector without I/O and pools built over it through
// the same C API path the library uses (connpool::capi::create_pool).
//
// Why not tests/unit/fake_connector.hpp: its looks_alive() takes a process-wide std::mutex and
// searches a std::set on every acquire, so 8 threads would measure contention on the *fake
// server's* lock, not the pool's. BenchConnector does no I/O, takes no lock and touches no
// shared cache line on the acquire/release path, so what is measured is the pool (and the C
// shim around it) alone. BM_Cycle_FakeConnector keeps the test fake's cost visible.
#pragma once

#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "connpool/connpool.h"
#include "core/connector.hpp"
#include "core/pool.hpp"
#include "handles.hpp"

namespace connpool::bench {

class BenchConnection final : public Connection {
  public:
    uint64_t id = 0;
};

class BenchConnector final : public Connector {
  public:
    std::unique_ptr<Connection> connect(TimePoint, const std::atomic<bool> &,
                                        ConnectFailure &) override {
        auto c = std::make_unique<BenchConnection>();
        c->id = connects.fetch_add(1, std::memory_order_relaxed) + 1;
        return c;
    }
    bool looks_alive(Connection &) override { return true; }
    bool ping(Connection &, TimePoint) override { return true; }
    ReleaseVerdict verdict_on_release(Connection &) override { return ReleaseVerdict::reuse; }
    bool reset(Connection &, TimePoint) override { return true; }

    std::atomic<uint64_t> connects{0};
};

using Options = std::vector<std::pair<std::string, std::string>>;

// A pool over `connector`, created through the C API and warmed up: min_size == max_size
// connections are open when this returns. Returns nullptr (with `why` set) on failure.
inline connpool_pool *make_pool(std::unique_ptr<Connector> connector, int64_t size,
                                const Options &extra, std::string &why) {
    connpool_options *opts = nullptr;
    connpool_error *err = nullptr;
    connpool_pool *pool = nullptr;
    auto failed = [&](const char *what) -> connpool_pool * {
        why = std::string(what) + ": " + connpool_error_message(err);
        connpool_error_free(err);
        connpool_options_free(opts);
        connpool_pool_free(pool);
        return nullptr;
    };
    if (connpool_options_new(&opts, &err) != CONNPOOL_OK) return failed("options_new");
    Options all = {
        {"max_size", std::to_string(size)}, {"min_size", std::to_string(size)}, {"name", "bench"}};
    all.insert(all.end(), extra.begin(), extra.end());
    for (const auto &[key, value] : all) {
        if (connpool_options_set(opts, key.c_str(), value.c_str(), &err) != CONNPOOL_OK) {
            return failed(key.c_str());
        }
    }
    if (capi::create_pool(&pool, std::move(connector), opts, &err) != CONNPOOL_OK) {
        return failed("create_pool");
    }
    connpool_options_free(opts);
    opts = nullptr;
    if (connpool_pool_wait_ready(pool, 10'000, &err) != CONNPOOL_OK) return failed("wait_ready");
    return pool;
}

// The C++ core behind a C pool handle (benchmarks only).
inline std::shared_ptr<Pool> core_of(connpool_pool *pool) {
    auto ref = HandleRegistry::instance().lookup(capi::token_of(pool), HandleKind::pool);
    return ref ? ref.get<capi::PoolObject>()->pool : nullptr;
}

inline int64_t env_int(const char *name, int64_t fallback) {
    const char *text = std::getenv(name);
    if (text == nullptr || *text == '\0') return fallback;
    char *end = nullptr;
    const long long value = std::strtoll(text, &end, 10);
    return (end != nullptr && *end == '\0' && value > 0) ? value : fallback;
}

}  // namespace connpool::bench
