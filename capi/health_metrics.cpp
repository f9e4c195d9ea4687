// connpool_pool_health*, connpool_registry_health_json, connpool_pool_metrics and
// connpool_registry_metrics: the C entry points over core/health and core/metrics_text.
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "core/health.hpp"
#include "core/metrics_text.hpp"
#include "core/stats_json.hpp"
#include "handles.hpp"
#include "registry.hpp"

using namespace connpool;
using namespace connpool::capi;

namespace {

char *new_c_string(const std::string &text) {
    char *copy = new char[text.size() + 1];
    std::memcpy(copy, text.c_str(), text.size() + 1);
    return copy;
}

bool known_format(int32_t format) {
    return format == CONNPOOL_METRICS_PROMETHEUS || format == CONNPOOL_METRICS_OPENMETRICS;
}

connpool_status unknown_format(connpool_error **err, const char *function) {
    return fail(err, misuse(CONNPOOL_ERR_INVALID_ARGUMENT),
                fmt::format("{}: unknown format; use CONNPOOL_METRICS_PROMETHEUS (0) or "
                            "CONNPOOL_METRICS_OPENMETRICS (1)",
                            function)
                    .c_str());
}

// Runs `body` with the pool behind a handle, after the checks every pool function makes.
template <class Body>
connpool_status with_pool(connpool_pool *pool, connpool_error **err, const char *function,
                          Body &&body) {
    if (pool == nullptr) return null_argument(err, function, "pool");
    return guarded(err, [&] {
        auto ref = HandleRegistry::instance().lookup(token_of(pool), HandleKind::pool);
        if (!ref) return stale_handle(err, function, "pool");
        const Pool &core = *ref.get<PoolObject>()->pool;
        if (core.forked()) return forked(err, function);
        return body(core);
    });
}

PoolObservation observe(const std::string &name, const Pool &pool) {
    return {name, pool.stats(), pool.histograms()};
}

// The registered pools usable in this process (a pool inherited through fork() is not).
std::vector<RegisteredPool> live_registered_pools() {
    std::vector<RegisteredPool> pools = registered_pools();
    std::erase_if(pools, [](const RegisteredPool &p) { return !p.pool || p.pool->forked(); });
    return pools;
}

std::string registry_health_json(HealthVerdict &overall) {
    overall = HealthVerdict::healthy;
    std::string pools_json, warnings;
    int64_t healthy = 0, total = 0;
    for (const RegisteredPool &entry : live_registered_pools()) {
        const PoolStats stats = entry.pool->stats();
        const HealthReport report = entry.pool->health();
        overall = std::max(overall, report.verdict);
        if (report.verdict == HealthVerdict::healthy) ++healthy;
        pools_json += fmt::format("{}\"{}\": {}", total == 0 ? "" : ", ", json_escape(entry.name),
                                  health_to_json(report, stats, entry.name));
        ++total;
        for (const std::string &reason : report.reasons) {
            warnings += fmt::format("{}\"{}\"", warnings.empty() ? "" : ", ",
                                    json_escape(entry.name + ": " + reason));
        }
    }
    return fmt::format(
        "{{\"status\": \"{}\", \"pools\": {{{}}}, \"healthy_pools\": {}, "
        "\"total_pools\": {}, \"warnings\": [{}]}}",
        health_verdict_name(overall), pools_json, healthy, total, warnings);
}

}  // namespace

extern "C" {

CONNPOOL_API connpool_status connpool_pool_health(int32_t *out_verdict, connpool_pool *pool,
                                                  connpool_error **err) {
    static const char *const kFunction = "connpool_pool_health";
    if (out_verdict == nullptr) return null_argument(err, kFunction, "out_verdict");
    return with_pool(pool, err, kFunction, [&](const Pool &core) {
        *out_verdict = static_cast<int32_t>(core.stats().health);
        return CONNPOOL_OK;
    });
}

CONNPOOL_API connpool_status connpool_pool_health_json(char **out_json, connpool_pool *pool,
                                                       connpool_error **err) {
    static const char *const kFunction = "connpool_pool_health_json";
    if (out_json == nullptr) return null_argument(err, kFunction, "out_json");
    *out_json = nullptr;
    return with_pool(pool, err, kFunction, [&](const Pool &core) {
        *out_json = new_c_string(core.health_json());
        return CONNPOOL_OK;
    });
}

CONNPOOL_API connpool_status connpool_registry_health_json(char **out_json, int32_t *out_verdict,
                                                           connpool_error **err) {
    if (out_json == nullptr) {
        return null_argument(err, "connpool_registry_health_json", "out_json");
    }
    *out_json = nullptr;
    return guarded(err, [&] {
        HealthVerdict overall = HealthVerdict::healthy;
        const std::string json = registry_health_json(overall);
        *out_json = new_c_string(json);
        if (out_verdict != nullptr) *out_verdict = static_cast<int32_t>(overall);
        return CONNPOOL_OK;
    });
}

CONNPOOL_API connpool_status connpool_pool_metrics(char **out_text, connpool_pool *pool,
                                                   int32_t format, connpool_error **err) {
    static const char *const kFunction = "connpool_pool_metrics";
    if (out_text == nullptr) return null_argument(err, kFunction, "out_text");
    *out_text = nullptr;
    if (pool != nullptr && !known_format(format)) return unknown_format(err, kFunction);
    return with_pool(pool, err, kFunction, [&](const Pool &core) {
        const PoolObservation one[] = {observe(core.name(), core)};
        *out_text = new_c_string(render_metrics(one, static_cast<MetricsFormat>(format)));
        return CONNPOOL_OK;
    });
}

CONNPOOL_API connpool_status connpool_registry_metrics(char **out_text, int32_t format,
                                                       connpool_error **err) {
    static const char *const kFunction = "connpool_registry_metrics";
    if (out_text == nullptr) return null_argument(err, kFunction, "out_text");
    *out_text = nullptr;
    if (!known_format(format)) return unknown_format(err, kFunction);
    return guarded(err, [&] {
        std::vector<PoolObservation> pools;
        for (const RegisteredPool &entry : live_registered_pools()) {
            pools.push_back(observe(entry.name, *entry.pool));
        }
        *out_text = new_c_string(render_metrics(pools, static_cast<MetricsFormat>(format)));
        return CONNPOOL_OK;
    });
}

}  // extern "C"
