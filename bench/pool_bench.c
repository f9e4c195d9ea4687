/*
 * connpool_pool_bench: libconnpool under load against a real PostgreSQL server.
 *
 *   connpool_pool_bench --conninfo CONNINFO [--seconds S] [--clients LIST] [--pool-size P]
 *                       [--pre-ping on|off] [--pre-ping-threshold MS] [--query SQL]
 *                       [--impl NAME] [--json OUT] [--raw] [--option KEY=VALUE]...
 *   connpool_pool_bench --conninfo CONNINFO --memory N [--json OUT]
 *
 * For each client count N in LIST (default "1,2,8,32"; commas or spaces): creates a pool
 * (max_size = min_size = P, default min(N, 8)), waits until its connections are open, then runs
 * N threads for S seconds (default 3), each looping
 *     acquire -> connpool_lease_exec(QUERY) -> free the result -> release
 * and reports operations per second and the p50/p99 latency of one whole operation. Options
 * not given keep the library's defaults (pre_ping on, pre_ping_threshold 1000 ms).
 *
 * Output: a progress line per point on stderr; with --json, a JSON list of
 *   {"impl", "clients", "ops_per_sec", "p50_us", "p99_us", "mean_us", "ops", "errors",
 *    "pool_size", "pre_ping", "pre_ping_threshold_ms", "health_checks", "connection_switches",
 *    "seconds"}   (connection_switches: fraction of operations that got a different connection
 *    than the same thread's previous operation)
 * ("-" writes to stdout). Exit status 1 if any operation failed.
 *
 * --option KEY=VALUE (repeatable): any other pool option, e.g. --option reset=rollback to compare
 * the session reset modes (issue 14); listed in the JSON as "options": "KEY=VALUE ...".
 *
 * --raw: no pool, the reference for what threads can do: each thread opens its own libpq
 * connection before the clock starts and loops PQexecParams(QUERY) + PQclear, i.e. exactly
 * what connpool_lease_exec does minus the pool (and minus connections moving between threads).
 *
 * --memory N opens N pooled connections and reports the process's heap growth per connection
 * (glibc mallinfo2): libpq's PGconn plus the pool's bookkeeping.
 *
 * C11 against the public header <connpool/connpool.h> (and libpq for --raw), like any user
 * program.
 */
#define _POSIX_C_SOURCE 200809L

#include <connpool/connpool.h>
#include <libpq-fe.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#define MAX_CLIENTS 1024
#define MAX_POINTS 64
#define SAMPLE_CAP (1 << 20) /* per thread; beyond it, reservoir sampling keeps a uniform subset */
#define READY_TIMEOUT_MS 30000
#define ACQUIRE_TIMEOUT_MS 30000
#define MAX_OPTIONS 16

struct config {
    const char *conninfo;
    double seconds;
    int clients[MAX_POINTS];
    int n_points;
    int pool_size; /* 0 = min(clients, 8) */
    const char *pre_ping;           /* NULL = library default */
    const char *pre_ping_threshold; /* NULL = library default */
    const char *query;
    const char *impl;
    const char *json_path;
    int memory_connections;
    int raw;
    const char *options[MAX_OPTIONS]; /* --option KEY=VALUE */
    int n_options;
};

struct shared {
    connpool_pool *pool;
    const char *conninfo; /* --raw */
    const char *query;
    pthread_barrier_t barrier;
    int64_t deadline_ns; /* written before the barrier, read after it */
    atomic_int first_error_reported;
};

struct worker {
    struct shared *shared;
    PGconn *conn; /* --raw: the thread's own connection */
    pthread_t thread;
    uint64_t rng;
    int64_t *samples;
    int64_t n_samples;
    int64_t ops;
    int64_t errors;
    int64_t switches;   /* ops whose connection differed from this thread's previous op */
    uint64_t last_connection; /* connpool_lease_connection_id; ids start at 1 */
};

struct point {
    int clients;
    int pool_size;
    int64_t ops;
    int64_t errors;
    double ops_per_sec;
    double p50_us, p99_us, mean_us;
    int64_t health_checks;
    int64_t switches;
};

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what, connpool_error *err) {
    fprintf(stderr, "connpool_pool_bench: %s: %s: %s\n", what,
            connpool_status_name(connpool_error_status(err)), connpool_error_message(err));
    connpool_error_free(err);
    exit(2);
}

static void usage(void) {
    fprintf(stderr,
            "usage: connpool_pool_bench --conninfo CONNINFO [--seconds S] [--clients LIST]\n"
            "           [--pool-size P] [--pre-ping on|off] [--pre-ping-threshold MS]\n"
            "           [--query SQL] [--impl NAME] [--json OUT] [--raw] [--option KEY=VALUE]...\n"
            "       connpool_pool_bench --conninfo CONNINFO --memory N [--json OUT]\n");
    exit(2);
}

static uint64_t next_random(uint64_t *state) { /* xorshift64 */
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

static void record(struct worker *w, int64_t latency_ns) {
    if (w->n_samples < SAMPLE_CAP) {
        w->samples[w->n_samples++] = latency_ns;
    } else {
        /* Reservoir sampling: the kept samples stay a uniform subset of all ops. */
        const uint64_t slot = next_random(&w->rng) % (uint64_t)(w->ops + 1);
        if (slot < SAMPLE_CAP) w->samples[slot] = latency_ns;
    }
}

static void report_first_error(struct shared *s, const char *what, connpool_error *err) {
    if (atomic_exchange(&s->first_error_reported, 1) == 0) {
        fprintf(stderr, "connpool_pool_bench: %s failed: %s: %s\n", what,
                connpool_status_name(connpool_error_status(err)), connpool_error_message(err));
    }
    connpool_error_free(err);
}

static void *worker_main(void *arg) {
    struct worker *w = arg;
    struct shared *s = w->shared;
    pthread_barrier_wait(&s->barrier);
    const int64_t deadline = s->deadline_ns;
    for (;;) {
        const int64_t t0 = now_ns();
        if (t0 >= deadline) break;
        connpool_lease *lease = NULL;
        connpool_result *result = NULL;
        connpool_error *err = NULL;
        if (connpool_pool_acquire(&lease, s->pool, ACQUIRE_TIMEOUT_MS, &err) != CONNPOOL_OK) {
            report_first_error(s, "acquire", err);
            w->errors++;
            continue;
        }
        /* The connection's id, not its PGconn: taking the raw PGconn marks the session as
         * possibly changed, which costs a reset under reset=auto (the default). */
        uint64_t connection = 0;
        connpool_lease_connection_id(&connection, lease, NULL);
        if (connection != w->last_connection) {
            if (w->last_connection != 0) w->switches++;
            w->last_connection = connection;
        }
        const connpool_status status = connpool_lease_exec(&result, lease, s->query, 0, NULL, &err);
        connpool_result_free(result);
        connpool_lease_release(lease, NULL);
        const int64_t t1 = now_ns();
        if (status != CONNPOOL_OK) {
            report_first_error(s, "exec", err);
            w->errors++;
            continue;
        }
        if (t1 > deadline) break; /* finished outside the window: not counted */
        record(w, t1 - t0);
        w->ops++;
    }
    return NULL;
}

static void *raw_worker_main(void *arg) {
    struct worker *w = arg;
    struct shared *s = w->shared;
    pthread_barrier_wait(&s->barrier);
    const int64_t deadline = s->deadline_ns;
    for (;;) {
        const int64_t t0 = now_ns();
        if (t0 >= deadline) break;
        PGresult *res = PQexecParams(w->conn, s->query, 0, NULL, NULL, NULL, NULL, 0);
        const int ok = PQresultStatus(res) == PGRES_TUPLES_OK || PQresultStatus(res) == PGRES_COMMAND_OK;
        PQclear(res);
        const int64_t t1 = now_ns();
        if (!ok) {
            if (atomic_exchange(&s->first_error_reported, 1) == 0)
                fprintf(stderr, "connpool_pool_bench: query failed: %s", PQerrorMessage(w->conn));
            w->errors++;
            continue;
        }
        if (t1 > deadline) break;
        record(w, t1 - t0);
        w->ops++;
    }
    return NULL;
}

static int compare_i64(const void *a, const void *b) {
    const int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static double percentile_us(const int64_t *sorted, int64_t n, double p) {
    if (n == 0) return 0.0;
    int64_t rank = (int64_t)(p * (double)n);
    if (rank >= n) rank = n - 1;
    return (double)sorted[rank] / 1000.0;
}

static connpool_pool *make_pool(const struct config *cfg, int pool_size) {
    connpool_options *opts = NULL;
    connpool_pool *pool = NULL;
    connpool_error *err = NULL;
    char size[32];
    snprintf(size, sizeof size, "%d", pool_size);
    if (connpool_options_new(&opts, &err) != CONNPOOL_OK) die("options", err);
    if (connpool_options_set(opts, "max_size", size, &err) != CONNPOOL_OK) die("max_size", err);
    if (connpool_options_set(opts, "min_size", size, &err) != CONNPOOL_OK) die("min_size", err);
    if (connpool_options_set(opts, "name", "bench", &err) != CONNPOOL_OK) die("name", err);
    if (cfg->pre_ping && connpool_options_set(opts, "pre_ping", cfg->pre_ping, &err) != CONNPOOL_OK)
        die("pre_ping", err);
    if (cfg->pre_ping_threshold &&
        connpool_options_set(opts, "pre_ping_threshold", cfg->pre_ping_threshold, &err) != CONNPOOL_OK)
        die("pre_ping_threshold", err);
    for (int i = 0; i < cfg->n_options; i++) {
        char key[128];
        const char *eq = strchr(cfg->options[i], '=');
        const size_t len = eq ? (size_t)(eq - cfg->options[i]) : 0;
        if (len == 0 || len >= sizeof key) usage();
        memcpy(key, cfg->options[i], len);
        key[len] = '\0';
        if (connpool_options_set(opts, key, eq + 1, &err) != CONNPOOL_OK) die(key, err);
    }
    if (connpool_pool_create(&pool, cfg->conninfo, opts, &err) != CONNPOOL_OK) die("pool_create", err);
    connpool_options_free(opts);
    if (connpool_pool_wait_ready(pool, READY_TIMEOUT_MS, &err) != CONNPOOL_OK) die("wait_ready", err);
    return pool;
}

static void run_point(const struct config *cfg, int clients, struct point *out) {
    const int pool_size = cfg->raw ? clients : cfg->pool_size > 0 ? cfg->pool_size : (clients < 8 ? clients : 8);
    struct shared s;
    memset(&s, 0, sizeof s);
    s.pool = cfg->raw ? NULL : make_pool(cfg, pool_size);
    s.conninfo = cfg->conninfo;
    s.query = cfg->query;
    atomic_init(&s.first_error_reported, 0);
    pthread_barrier_init(&s.barrier, NULL, (unsigned)clients + 1);

    struct worker *workers = calloc((size_t)clients, sizeof *workers);
    if (!workers) {
        fprintf(stderr, "connpool_pool_bench: out of memory\n");
        exit(2);
    }
    for (int i = 0; i < clients; i++) {
        workers[i].shared = &s;
        workers[i].rng = 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1);
        workers[i].samples = malloc(sizeof(int64_t) * SAMPLE_CAP);
        if (!workers[i].samples) {
            fprintf(stderr, "connpool_pool_bench: out of memory\n");
            exit(2);
        }
        if (cfg->raw) {
            workers[i].conn = PQconnectdb(cfg->conninfo);
            if (PQstatus(workers[i].conn) != CONNECTION_OK) {
                fprintf(stderr, "connpool_pool_bench: connect: %s", PQerrorMessage(workers[i].conn));
                exit(2);
            }
        }
        int rc = pthread_create(&workers[i].thread, NULL, cfg->raw ? raw_worker_main : worker_main,
                                &workers[i]);
        if (rc != 0) {
            fprintf(stderr, "connpool_pool_bench: pthread_create: %s\n", strerror(rc));
            exit(2);
        }
    }
    const int64_t start = now_ns();
    s.deadline_ns = start + (int64_t)(cfg->seconds * 1e9);
    pthread_barrier_wait(&s.barrier);
    int64_t total_samples = 0;
    for (int i = 0; i < clients; i++) {
        pthread_join(workers[i].thread, NULL);
        total_samples += workers[i].n_samples;
    }
    const double window_s = (double)(s.deadline_ns - start) / 1e9;

    int64_t *all = malloc(sizeof(int64_t) * (size_t)(total_samples > 0 ? total_samples : 1));
    int64_t n = 0, ops = 0, errors = 0, switches = 0;
    double sum_ns = 0;
    for (int i = 0; i < clients; i++) {
        memcpy(all + n, workers[i].samples, sizeof(int64_t) * (size_t)workers[i].n_samples);
        n += workers[i].n_samples;
        ops += workers[i].ops;
        errors += workers[i].errors;
        switches += workers[i].switches;
        free(workers[i].samples);
        if (workers[i].conn) PQfinish(workers[i].conn);
    }
    for (int64_t i = 0; i < n; i++) sum_ns += (double)all[i];
    qsort(all, (size_t)n, sizeof *all, compare_i64);

    connpool_stats stats;
    memset(&stats, 0, sizeof stats);
    stats.struct_size = sizeof stats;
    if (s.pool) connpool_pool_stats(&stats, s.pool, NULL);

    out->clients = clients;
    out->pool_size = pool_size;
    out->ops = ops;
    out->errors = errors;
    out->ops_per_sec = (double)ops / window_s;
    out->p50_us = percentile_us(all, n, 0.50);
    out->p99_us = percentile_us(all, n, 0.99);
    out->mean_us = n > 0 ? sum_ns / (double)n / 1000.0 : 0.0;
    out->health_checks = stats.health_checks;
    out->switches = switches;

    free(all);
    free(workers);
    pthread_barrier_destroy(&s.barrier);
    connpool_pool_free(s.pool);
}

static void json_string(FILE *f, const char *text) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p == '"' || *p == '\\') {
            fprintf(f, "\\%c", *p);
        } else if (*p < 0x20) {
            fprintf(f, "\\u%04x", *p);
        } else {
            fputc(*p, f);
        }
    }
    fputc('"', f);
}

static FILE *open_output(const char *path) {
    if (strcmp(path, "-") == 0) return stdout;
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "connpool_pool_bench: cannot write %s: %s\n", path, strerror(errno));
        exit(2);
    }
    return f;
}

static void close_output(FILE *f) {
    if (f != stdout) fclose(f);
}

static void write_json(const struct config *cfg, const struct point *points, int n) {
    FILE *f = open_output(cfg->json_path);
    fputs("[\n", f);
    for (int i = 0; i < n; i++) {
        const struct point *p = &points[i];
        fputs("  {\"impl\": ", f);
        json_string(f, cfg->impl);
        fprintf(f,
                ", \"clients\": %d, \"ops_per_sec\": %.1f, \"p50_us\": %.1f, \"p99_us\": %.1f, "
                "\"mean_us\": %.1f, \"ops\": %lld, \"errors\": %lld, \"pool_size\": %d, "
                "\"pre_ping\": ",
                p->clients, p->ops_per_sec, p->p50_us, p->p99_us, p->mean_us, (long long)p->ops,
                (long long)p->errors, p->pool_size);
        json_string(f, cfg->pre_ping ? cfg->pre_ping : "default");
        fputs(", \"pre_ping_threshold_ms\": ", f);
        if (cfg->pre_ping_threshold) {
            fputs(cfg->pre_ping_threshold, f);
        } else {
            fputs("null", f);
        }
        char options[1024] = "";
        for (int o = 0; o < cfg->n_options; o++) {
            const size_t used = strlen(options);
            snprintf(options + used, sizeof options - used, "%s%s", o > 0 ? " " : "", cfg->options[o]);
        }
        fputs(", \"options\": ", f);
        json_string(f, options);
        fprintf(f, ", \"health_checks\": %lld, \"connection_switches\": %.4f, \"seconds\": %.3f}%s\n",
                (long long)p->health_checks, p->ops > 0 ? (double)p->switches / (double)p->ops : 0.0,
                cfg->seconds, i + 1 < n ? "," : "");
    }
    fputs("]\n", f);
    close_output(f);
}

static int64_t heap_in_use(void) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    struct mallinfo2 m = mallinfo2();
    return (int64_t)(m.uordblks + m.hblkhd);
#else
    return -1;
#endif
}

static int run_memory(const struct config *cfg) {
    const int n = cfg->memory_connections;
    if (heap_in_use() < 0) {
        fprintf(stderr, "connpool_pool_bench: --memory needs glibc's mallinfo2\n");
        return 2;
    }
    /* A first pool warms up the library's process-wide tables (handle cells, libpq's once-only
     * state) so that the figure below is per connection, not per process. */
    connpool_pool *warm = make_pool(cfg, 1);
    connpool_pool_free(warm);
    const int64_t before = heap_in_use();
    connpool_pool *pool = make_pool(cfg, n);
    const int64_t after = heap_in_use();
    connpool_pool_free(pool);
    const double per = (double)(after - before) / n;
    fprintf(stderr, "connpool_pool_bench: %d pooled connections: heap +%lld bytes, %.0f bytes each\n",
            n, (long long)(after - before), per);
    if (cfg->json_path) {
        FILE *f = open_output(cfg->json_path);
        fprintf(f, "{\"connections\": %d, \"heap_bytes\": %lld, \"heap_bytes_per_connection\": %.0f}\n",
                n, (long long)(after - before), per);
        close_output(f);
    }
    return 0;
}

static void parse_clients(struct config *cfg, const char *list) {
    cfg->n_points = 0;
    const char *p = list;
    while (*p) {
        while (*p == ',' || *p == ' ') p++;
        if (!*p) break;
        char *end = NULL;
        long v = strtol(p, &end, 10);
        if (end == p || v < 1 || v > MAX_CLIENTS || cfg->n_points == MAX_POINTS) {
            fprintf(stderr, "connpool_pool_bench: --clients wants numbers from 1 to %d\n", MAX_CLIENTS);
            exit(2);
        }
        cfg->clients[cfg->n_points++] = (int)v;
        p = end;
    }
    if (cfg->n_points == 0) usage();
}

int main(int argc, char **argv) {
    struct config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.conninfo = getenv("CONNPOOL_CONNINFO");
    cfg.seconds = 3.0;
    cfg.query = "SELECT 1";
    cfg.impl = "libconnpool (C)";
    parse_clients(&cfg, "1,2,8,32");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) usage();
        if (!v && strcmp(a, "--raw") != 0) usage();
        i++;
        if (strcmp(a, "--conninfo") == 0) {
            cfg.conninfo = v;
        } else if (strcmp(a, "--seconds") == 0) {
            cfg.seconds = atof(v);
            if (!(cfg.seconds > 0 && cfg.seconds <= 3600)) usage();
        } else if (strcmp(a, "--clients") == 0) {
            parse_clients(&cfg, v);
        } else if (strcmp(a, "--pool-size") == 0) {
            cfg.pool_size = atoi(v);
            if (cfg.pool_size < 0) usage();
        } else if (strcmp(a, "--pre-ping") == 0) {
            cfg.pre_ping = v;
        } else if (strcmp(a, "--pre-ping-threshold") == 0) {
            cfg.pre_ping_threshold = v;
        } else if (strcmp(a, "--query") == 0) {
            cfg.query = v;
        } else if (strcmp(a, "--impl") == 0) {
            cfg.impl = v;
        } else if (strcmp(a, "--json") == 0) {
            cfg.json_path = v;
        } else if (strcmp(a, "--raw") == 0) {
            cfg.raw = 1;
            i--; /* a flag: no value */
        } else if (strcmp(a, "--option") == 0) {
            if (cfg.n_options >= MAX_OPTIONS) usage();
            cfg.options[cfg.n_options++] = v;
        } else if (strcmp(a, "--memory") == 0) {
            cfg.memory_connections = atoi(v);
            if (cfg.memory_connections < 1) usage();
        } else {
            usage();
        }
    }
    if (!cfg.conninfo) usage();
    if (cfg.memory_connections > 0) return run_memory(&cfg);

    struct point points[MAX_POINTS];
    int64_t errors = 0;
    for (int i = 0; i < cfg.n_points; i++) {
        run_point(&cfg, cfg.clients[i], &points[i]);
        const struct point *p = &points[i];
        fprintf(stderr,
                "%s: %3d clients, pool %d: %10.0f ops/s  p50 %7.1f us  p99 %7.1f us  "
                "(%lld errors, %lld pre-pings, %.0f%% of ops on another connection than the "
                "thread's previous one)\n",
                cfg.impl, p->clients, p->pool_size, p->ops_per_sec, p->p50_us, p->p99_us,
                (long long)p->errors, (long long)p->health_checks,
                p->ops > 0 ? 100.0 * (double)p->switches / (double)p->ops : 0.0);
        errors += p->errors;
    }
    if (cfg.json_path) write_json(&cfg, points, cfg.n_points);
    return errors > 0 ? 1 : 0;
}
