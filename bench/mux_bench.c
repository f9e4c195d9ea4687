/* Multiplexed statements under load: C callers (threads) run `SELECT 1` through
 * connpool_pool_exec on a pool with multiplexing_connections shared connections, for a fixed
 * time, and the program prints statements per second. For comparison with pgbench -M prepared
 * and pgbench's pipeline mode (docs/BENCHMARKS.md has the commands).
 *
 *   connpool_mux_bench CONNINFO [--callers N] [--connections N] [--seconds S] [--async N]
 *
 * --async N: one thread keeps N statements outstanding with connpool_pool_exec_async instead
 * (an event loop's use: no thread per caller), collecting the oldest first.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "connpool/connpool.h"

static connpool_pool *pool;
static atomic_int stop;
static atomic_llong done, failed;

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *caller(void *arg) {
    (void)arg;
    long long mine = 0, bad = 0;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        connpool_result *r = NULL;
        if (connpool_pool_exec(&r, pool, "SELECT 1", 0, NULL, 10000, NULL) == CONNPOOL_OK &&
            strcmp(connpool_result_value(r, 0, 0), "1") == 0) {
            ++mine;
        } else {
            ++bad;
        }
        connpool_result_free(r);
    }
    atomic_fetch_add(&done, mine);
    atomic_fetch_add(&failed, bad);
    return NULL;
}

/* One thread, `depth` statements in flight: submit, then collect the oldest and resubmit. */
static void run_async(int depth, double seconds) {
    connpool_statement **ring = calloc((size_t)depth, sizeof *ring);
    const double end = now_seconds() + seconds;
    long long mine = 0, bad = 0;
    for (int i = 0; i < depth; ++i) {
        if (connpool_pool_exec_async(&ring[i], pool, "SELECT 1", 0, NULL, 10000, NULL) !=
            CONNPOOL_OK)
            ++bad;
    }
    for (int i = 0;; i = (i + 1) % depth) {
        if (ring[i] != NULL) {
            connpool_result *r = NULL;
            connpool_statement_wait(ring[i], -1, NULL);
            if (connpool_statement_result(&r, ring[i], NULL) == CONNPOOL_OK &&
                strcmp(connpool_result_value(r, 0, 0), "1") == 0) {
                ++mine;
            } else {
                ++bad;
            }
            connpool_result_free(r);
            connpool_statement_free(ring[i]);
            ring[i] = NULL;
        }
        if (now_seconds() >= end) {
            int left = 0;
            for (int j = 0; j < depth; ++j) left += ring[j] != NULL;
            if (left == 0) break;
            continue;
        }
        if (connpool_pool_exec_async(&ring[i], pool, "SELECT 1", 0, NULL, 10000, NULL) !=
            CONNPOOL_OK)
            ++bad;
    }
    done = mine;
    failed = bad;
    free(ring);
}

static int set(connpool_options *opts, const char *key, const char *value) {
    connpool_error *err = NULL;
    if (connpool_options_set(opts, key, value, &err) != CONNPOOL_OK) {
        fprintf(stderr, "option %s: %s\n", key, connpool_error_message(err));
        connpool_error_free(err);
        return 0;
    }
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s CONNINFO [--callers N] [--connections N] [--seconds S]\n",
                argv[0]);
        return 2;
    }
    int callers = 32, connections = 4, async_depth = 0;
    double seconds = 5;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--callers") == 0) callers = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--connections") == 0) connections = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--seconds") == 0) seconds = atof(argv[i + 1]);
        else if (strcmp(argv[i], "--async") == 0) async_depth = atoi(argv[i + 1]);
    }
    if (callers < 1 || connections < 1 || seconds <= 0) {
        fprintf(stderr, "callers, connections and seconds must be positive\n");
        return 2;
    }
    char text[32];
    connpool_options *opts = NULL;
    connpool_options_new(&opts, NULL);
    snprintf(text, sizeof text, "%d", connections);
    int ok = set(opts, "max_size", text) && set(opts, "min_size", text) &&
             set(opts, "multiplexing_connections", text);
    connpool_error *err = NULL;
    if (!ok || connpool_pool_create(&pool, argv[1], opts, &err) != CONNPOOL_OK ||
        connpool_pool_wait_ready(pool, 10000, &err) != CONNPOOL_OK) {
        fprintf(stderr, "pool: %s\n", err ? connpool_error_message(err) : "bad options");
        return 1;
    }
    connpool_options_free(opts);
    /* Warm-up: starts the multiplexer and prepares the statement on every connection. */
    for (int i = 0; i < 100; ++i) {
        connpool_result *r = NULL;
        connpool_pool_exec(&r, pool, "SELECT 1", 0, NULL, 10000, NULL);
        connpool_result_free(r);
    }
    if (async_depth > 0) {
        const double start = now_seconds();
        run_async(async_depth, seconds);
        const double elapsed = now_seconds() - start;
        printf("mux async depth=%d connections=%d seconds=%.1f statements=%lld failed=%lld "
               "statements_per_s=%.0f\n",
               async_depth, connections, elapsed, (long long)done, (long long)failed,
               (double)done / elapsed);
        connpool_pool_free(pool);
        return failed == 0 ? 0 : 1;
    }
    pthread_t *threads = calloc((size_t)callers, sizeof *threads);
    const double start = now_seconds();
    for (int i = 0; i < callers; ++i) pthread_create(&threads[i], NULL, caller, NULL);
    struct timespec nap = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&nap, NULL);
    atomic_store(&stop, 1);
    for (int i = 0; i < callers; ++i) pthread_join(threads[i], NULL);
    const double elapsed = now_seconds() - start;
    printf("mux callers=%d connections=%d seconds=%.1f statements=%lld failed=%lld "
           "statements_per_s=%.0f\n",
           callers, connections, elapsed, (long long)done, (long long)failed,
           (double)done / elapsed);
    free(threads);
    connpool_pool_free(pool);
    return failed == 0 ? 0 : 1;
}
