// Prints a real pool's metrics for the exposition checkers (tests/CMakeLists.txt pipes it into
// `promtool check metrics` and the OpenMetrics parser of python3-prometheus-client).
//
//   connpool_metrics_dump CONNINFO pool|registry prometheus|openmetrics
//
// It runs a few statements (and one acquire that times out) on a pool over the test server so
// that every family has samples, then prints connpool_pool_metrics or
// connpool_registry_metrics. Exit 77 (skipped) when the registry is not implemented in this
// build; 1 on any other failure.
#include <cstdio>
#include <cstring>
#include <string>

#include "connpool/connpool.h"

namespace {

int fail(const char *what, connpool_error *err) {
    std::fprintf(stderr, "metrics_dump: %s: %s\n", what, connpool_error_message(err));
    const bool not_implemented = connpool_error_status(err) == CONNPOOL_ERR_INTERNAL &&
                                 std::strstr(connpool_error_message(err), "not implemented");
    connpool_error_free(err);
    return not_implemented ? 77 : 1;
}

}  // namespace

int main(int argc, char **argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: %s CONNINFO pool|registry prometheus|openmetrics\n", argv[0]);
        return 2;
    }
    const std::string conninfo = argv[1], form = argv[2], format_name = argv[3];
    const int32_t format =
        format_name == "openmetrics" ? CONNPOOL_METRICS_OPENMETRICS : CONNPOOL_METRICS_PROMETHEUS;
    connpool_error *err = nullptr;
    connpool_options *options = nullptr;
    if (connpool_options_new(&options, &err) != CONNPOOL_OK ||
        connpool_options_set(options, "max_size", "2", &err) != CONNPOOL_OK ||
        connpool_options_set(options, "name", "metrics \"dump\"\\1", &err) != CONNPOOL_OK) {
        return fail("options", err);
    }
    connpool_pool *pool = nullptr;
    const connpool_status created =
        form == "registry" ? connpool_registry_get_or_create(&pool, "metrics_dump",
                                                             conninfo.c_str(), options, &err)
                           : connpool_pool_create(&pool, conninfo.c_str(), options, &err);
    connpool_options_free(options);
    if (created != CONNPOOL_OK) return fail("creating the pool", err);

    connpool_lease *leases[2] = {nullptr, nullptr};
    for (int round = 0; round < 5; ++round) {
        for (connpool_lease *&lease : leases) {
            if (connpool_pool_acquire(&lease, pool, 5000, &err) != CONNPOOL_OK) {
                return fail("acquire", err);
            }
            connpool_result *result = nullptr;
            if (connpool_lease_exec(&result, lease, "SELECT 1", 0, nullptr, &err) != CONNPOOL_OK) {
                return fail("SELECT 1", err);
            }
            connpool_result_free(result);
        }
        if (round == 0) {  // both leased: one acquire times out
            connpool_lease *extra = nullptr;
            connpool_pool_acquire(&extra, pool, 1, nullptr);
        }
        for (connpool_lease *&lease : leases) connpool_lease_release(lease, nullptr);
    }

    char *text = nullptr;
    const connpool_status status = form == "registry"
                                       ? connpool_registry_metrics(&text, format, &err)
                                       : connpool_pool_metrics(&text, pool, format, &err);
    if (status != CONNPOOL_OK) return fail("metrics", err);
    std::fputs(text, stdout);
    connpool_string_free(text);
    if (form == "registry") connpool_registry_close_all(nullptr);
    connpool_pool_free(pool);
    return 0;
}
