// The scrape target of the prometheus.scrape test: registers a pool over the test server,
// holds two of its connections in use, serves the monitoring routes with the embedded
// exporter, prints "port <N>" and keeps serving until its standard input closes.
//   prometheus_target CONNINFO
#include <cstdio>
#include <string>

#include "connpool/connpool.h"

namespace {

int fail(const char *what, connpool_error *error) {
    std::fprintf(stderr, "prometheus_target: %s: %s\n", what, connpool_error_message(error));
    connpool_error_free(error);
    return 1;
}

}  // namespace

int main(int argc, char **argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: prometheus_target CONNINFO\n");
        return 2;
    }
    connpool_error *error = nullptr;
    connpool_options *options = nullptr;
    if (connpool_options_new(&options, &error) != CONNPOOL_OK) return fail("options", error);
    connpool_options_set(options, "max_size", "5", nullptr);
    connpool_pool *pool = nullptr;
    const std::string conninfo = std::string(argv[1]) + " application_name=cp_prometheus";
    if (connpool_registry_get_or_create(&pool, "scraped", conninfo.c_str(), options, &error) !=
        CONNPOOL_OK) {
        return fail("connpool_registry_get_or_create", error);
    }
    connpool_options_free(options);
    connpool_lease *leases[2] = {nullptr, nullptr};
    for (connpool_lease *&lease : leases) {
        if (connpool_pool_acquire(&lease, pool, 10000, &error) != CONNPOOL_OK) {
            return fail("connpool_pool_acquire", error);
        }
    }
    connpool_exporter *exporter = nullptr;
    if (connpool_exporter_start(&exporter, "127.0.0.1:0", nullptr, &error) != CONNPOOL_OK) {
        return fail("connpool_exporter_start", error);
    }
    int32_t port = 0;
    connpool_exporter_port(&port, exporter, nullptr);
    std::printf("port %d\n", port);
    std::fflush(stdout);

    while (std::getchar() != EOF) {
    }

    connpool_exporter_stop(exporter);
    for (connpool_lease *lease : leases) connpool_lease_release(lease, nullptr);
    connpool_pool_free(pool);
    return connpool_registry_close_all(nullptr) == CONNPOOL_OK ? 0 : 1;
}
