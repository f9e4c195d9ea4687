/* Multiplexed statements under load: C callers (threads) run `SELECT 1` through
 * connpool_pool_exec on a pool with multiplexing_connections shared connections, for a fixed
 * time, and the program prints statements per second. For comparison with pgbench -M prepared
 * and pgbench's pipeline mode (docs/BENCHMARKS.md has the commands).
 *
 *   connpool_mux_bench CONNINFO [--callers N] [--connections N] [--seconds S] [--async N]
 *
 * --async N: one thread keeps N statements outstanding with connpool_pool_exec_async instead
 * (an event loop's use: no thread per caller), collecting the oldest first.
 *
 * --raw-sync K: no pool at all, the reference for the multiplexer's own cost: one thread drives
 * --connections libpq connections in pipeline mode, 64 prepared `SELECT 1` in flight on each,
 * written corked as the multiplexer does, with a sync point after every K statements (K = 1: what
 * the multiplexer sends, one sync per statement; K = 10: pgbench's pipeline script). libpq is
 * loaded with dlopen, so that this program links only libconnpool.
 */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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

/* The few libpq calls the --raw-sync reference needs, resolved from libpq.so.5 at run time. */
typedef struct pg_conn PGconn;
typedef struct pg_result PGresult;
static struct {
    PGconn *(*connectdb)(const char *);
    int (*status)(const PGconn *);
    int (*setnonblocking)(PGconn *, int);
    int (*enter_pipeline)(PGconn *);
    int (*pipeline_sync)(PGconn *);
    int (*send_prepare)(PGconn *, const char *, const char *, int, const void *);
    int (*send_query_prepared)(PGconn *, const char *, int, const char *const *, const int *,
                               const int *, int);
    int (*flush)(PGconn *);
    int (*socket)(const PGconn *);
    int (*consume_input)(PGconn *);
    int (*is_busy)(PGconn *);
    PGresult *(*get_result)(PGconn *);
    int (*result_status)(const PGresult *);
    void (*clear)(PGresult *);
    void (*finish)(PGconn *);
} pq;

static int load_libpq(void) {
    void *lib = dlopen("libpq.so.5", RTLD_NOW);
    if (lib == NULL) return 0;
#define PQ_SYM(field, name)                   \
    *(void **)(&pq.field) = dlsym(lib, name); \
    if (!pq.field) return 0
    PQ_SYM(connectdb, "PQconnectdb");
    PQ_SYM(status, "PQstatus");
    PQ_SYM(setnonblocking, "PQsetnonblocking");
    PQ_SYM(enter_pipeline, "PQenterPipelineMode");
    PQ_SYM(pipeline_sync, "PQpipelineSync");
    PQ_SYM(send_prepare, "PQsendPrepare");
    PQ_SYM(send_query_prepared, "PQsendQueryPrepared");
    PQ_SYM(flush, "PQflush");
    PQ_SYM(socket, "PQsocket");
    PQ_SYM(consume_input, "PQconsumeInput");
    PQ_SYM(is_busy, "PQisBusy");
    PQ_SYM(get_result, "PQgetResult");
    PQ_SYM(result_status, "PQresultStatus");
    PQ_SYM(clear, "PQclear");
    PQ_SYM(finish, "PQfinish");
#undef PQ_SYM
    return 1;
}

enum { kRawDepth = 64, kPgresCommandOk = 1, kPgresTuplesOk = 2, kPgresPipelineSync = 10 };

/* Statements this connection has sent and not yet seen answered. */
typedef struct {
    PGconn *conn;
    int in_flight;
    int unsynced; /* sent since the last sync point */
} RawLink;

static void raw_cork(RawLink *link, int on) {
    /* as the multiplexer does: libpq 15 sends at every sync point, corked they leave together */
    (void)setsockopt(pq.socket(link->conn), IPPROTO_TCP, TCP_CORK, &on, sizeof on);
}

static int raw_fill(RawLink *link, int sync_every) {
    if (link->in_flight >= kRawDepth) return 1;
    raw_cork(link, 1);
    while (link->in_flight < kRawDepth) {
        if (!pq.send_query_prepared(link->conn, "s", 0, NULL, NULL, NULL, 0)) return 0;
        ++link->in_flight;
        if (++link->unsynced == sync_every) {
            if (!pq.pipeline_sync(link->conn)) return 0;
            link->unsynced = 0;
        }
    }
    if (link->unsynced > 0) { /* the rest of a group: closed now so that it gets answered */
        if (!pq.pipeline_sync(link->conn)) return 0;
        link->unsynced = 0;
    }
    raw_cork(link, 0);
    return pq.flush(link->conn) >= 0;
}

/* Reads what arrived; counts each SELECT 1 answered. */
static int raw_read(RawLink *link, long long *answered) {
    if (!pq.consume_input(link->conn)) return 0;
    while (link->in_flight > 0 && !pq.is_busy(link->conn)) {
        PGresult *r = pq.get_result(link->conn);
        if (r == NULL) continue; /* the end of one statement's results */
        const int status = pq.result_status(r);
        pq.clear(r);
        if (status == kPgresTuplesOk) {
            --link->in_flight;
            ++*answered;
        } else if (status != kPgresPipelineSync && status != kPgresCommandOk) {
            return 0;
        }
    }
    return 1;
}

static int run_raw(const char *conninfo, int connections, int sync_every, double seconds) {
    if (!load_libpq()) {
        fprintf(stderr, "--raw-sync: could not load libpq.so.5: %s\n", dlerror());
        return 1;
    }
    RawLink *links = calloc((size_t)connections, sizeof *links);
    struct pollfd *fds = calloc((size_t)connections, sizeof *fds);
    for (int i = 0; i < connections; ++i) {
        links[i].conn = pq.connectdb(conninfo);
        if (pq.status(links[i].conn) != 0 || pq.setnonblocking(links[i].conn, 1) != 0 ||
            !pq.enter_pipeline(links[i].conn) ||
            !pq.send_prepare(links[i].conn, "s", "SELECT 1", 0, NULL) ||
            !pq.pipeline_sync(links[i].conn)) {
            fprintf(stderr, "--raw-sync: connection %d failed\n", i);
            return 1;
        }
        links[i].in_flight = 0;
    }
    long long answered = 0;
    int ok = 1;
    const double start = now_seconds(), end = start + seconds;
    while (ok && now_seconds() < end) {
        for (int i = 0; ok && i < connections; ++i) {
            ok = raw_fill(&links[i], sync_every);
            fds[i].fd = pq.socket(links[i].conn);
            fds[i].events = POLLIN;
        }
        if (ok && poll(fds, (nfds_t)connections, 1000) < 0) ok = 0;
        for (int i = 0; ok && i < connections; ++i) {
            if (fds[i].revents != 0) ok = raw_read(&links[i], &answered);
        }
    }
    const double elapsed = now_seconds() - start;
    printf(
        "raw pipeline sync_every=%d connections=%d depth=%d seconds=%.1f statements=%lld "
        "statements_per_s=%.0f%s\n",
        sync_every, connections, kRawDepth, elapsed, answered, (double)answered / elapsed,
        ok ? "" : " (failed)");
    for (int i = 0; i < connections; ++i) pq.finish(links[i].conn);
    free(links);
    free(fds);
    return ok ? 0 : 1;
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
    int callers = 32, connections = 4, async_depth = 0, raw_sync = 0;
    double seconds = 5;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--callers") == 0)
            callers = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--connections") == 0)
            connections = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--seconds") == 0)
            seconds = atof(argv[i + 1]);
        else if (strcmp(argv[i], "--async") == 0)
            async_depth = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--raw-sync") == 0)
            raw_sync = atoi(argv[i + 1]);
    }
    if (callers < 1 || connections < 1 || seconds <= 0) {
        fprintf(stderr, "callers, connections and seconds must be positive\n");
        return 2;
    }
    if (raw_sync > 0) return run_raw(argv[1], connections, raw_sync, seconds);
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
        printf(
            "mux async depth=%d connections=%d seconds=%.1f statements=%lld failed=%lld "
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
    printf(
        "mux callers=%d connections=%d seconds=%.1f statements=%lld failed=%lld "
        "statements_per_s=%.0f\n",
        callers, connections, elapsed, (long long)done, (long long)failed, (double)done / elapsed);
    free(threads);
    connpool_pool_free(pool);
    return failed == 0 ? 0 : 1;
}
