/*
 * connpool_demo: pooled (libconnpool) versus unpooled (plain libpq) round trips.
 *
 *   connpool_demo CONNINFO [--threads N] [--seconds S] [--pool-size P] [--short]
 *
 * Phase 1 "pooled":   N threads, each op = acquire + SELECT $1::int + release.
 * Phase 2 "unpooled": N threads, each op = PQconnectdb + the same query + PQfinish.
 * Prints throughput and latency percentiles of both, their ratio and the pool's statistics.
 *
 * C99 against the public header <connpool/connpool.h> (plus libpq for the baseline).
 */
#define _POSIX_C_SOURCE 200809L

#include <connpool/connpool.h>

/* libpq for the unpooled baseline. CMake puts its include directory on the path; the fallback
 * lets a plain `cc -Iinclude` find Debian's /usr/include/postgresql/libpq-fe.h too. */
#if defined(__has_include)
#if __has_include(<libpq-fe.h>)
#include <libpq-fe.h>
#elif __has_include(<postgresql/libpq-fe.h>)
#include <postgresql/libpq-fe.h>
#else
#include <libpq-fe.h>
#endif
#else
#include <libpq-fe.h>
#endif

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_THREADS 8
#define DEFAULT_SECONDS 3
#define DEFAULT_POOL_SIZE 4
#define MAX_THREADS 512
#define ACQUIRE_TIMEOUT_MS 10000
#define WAIT_READY_TIMEOUT_MS 10000
/* Latency samples kept per thread; beyond this, reservoir sampling keeps a uniform subset. */
#define SAMPLE_CAP 65536
#define QUERY "SELECT $1::int"

enum phase_kind { PHASE_POOLED, PHASE_UNPOOLED };

struct worker {
    /* set before the thread starts, read-only afterwards */
    int id;
    enum phase_kind kind;
    connpool_pool *pool;
    const char *conninfo;
    int64_t deadline_ns;

    /* owned by the worker thread while it runs */
    int64_t *samples; /* latencies in ns, SAMPLE_CAP entries */
    int64_t n_samples;
    uint64_t rng;
    char error[1600]; /* fits "connpool_lease_release: " and a 1536-byte description */

    /* shared with the progress reporter: guarded by lock */
    pthread_mutex_t lock;
    int64_t ops;
    int failed;
};

/* Set when any worker fails, so that the others stop early. Guarded by g_abort_lock. */
static pthread_mutex_t g_abort_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_abort = 0;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_ms(long ms) {
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int aborted(void) {
    int a;
    pthread_mutex_lock(&g_abort_lock);
    a = g_abort;
    pthread_mutex_unlock(&g_abort_lock);
    return a;
}

static void set_aborted(void) {
    pthread_mutex_lock(&g_abort_lock);
    g_abort = 1;
    pthread_mutex_unlock(&g_abort_lock);
}

/* The library's message for a failed call (err may be NULL, e.g. when it had no memory). */
static const char *describe(connpool_status st, const connpool_error *err, char *buf, size_t len) {
    const char *msg = err != NULL ? connpool_error_message(err) : "";
    const char *sqlstate = err != NULL ? connpool_error_sqlstate(err) : "";
    if (sqlstate[0] != '\0') {
        snprintf(buf, len, "%s [SQLSTATE %s]: %s", connpool_status_name(st), sqlstate, msg);
    } else {
        snprintf(buf, len, "%s: %s", connpool_status_name(st), msg);
    }
    return buf;
}

/* Reports a failed library call made on the main thread and frees its error. */
static void report(const char *what, connpool_status st, connpool_error *err) {
    char buf[2048];
    fprintf(stderr, "connpool_demo: %s failed: %s\n", what, describe(st, err, buf, sizeof buf));
    connpool_error_free(err);
}

static uint64_t next_random(uint64_t *state) { /* xorshift64 */
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return x;
}

static void record(struct worker *w, int64_t latency_ns, int64_t op_index) {
    if (w->n_samples < SAMPLE_CAP) {
        w->samples[w->n_samples++] = latency_ns;
    } else {
        /* reservoir sampling: op number op_index (0-based) replaces a slot with p = CAP/(i+1) */
        uint64_t j = next_random(&w->rng) % (uint64_t)(op_index + 1);
        if (j < SAMPLE_CAP) {
            w->samples[j] = latency_ns;
        }
    }
}

static void worker_fail(struct worker *w) {
    pthread_mutex_lock(&w->lock);
    w->failed = 1;
    pthread_mutex_unlock(&w->lock);
    set_aborted();
}

/* The value thread `id` sends as $1 in its op number `op`. */
static long param_value(int id, int64_t op) {
    return (long)(((int64_t)id * 1000003 + op) % 1000000000);
}

/* One pooled op; returns 0 on success, -1 with w->error set. */
static int pooled_op(struct worker *w, int64_t op) {
    connpool_error *err = NULL;
    connpool_lease *lease = NULL;
    connpool_result *res = NULL;
    connpool_status st;
    char param[32], buf[1536];
    const char *params[1];
    const char *value;
    int rc = 0;

    snprintf(param, sizeof param, "%ld", param_value(w->id, op));
    params[0] = param;

    st = connpool_pool_acquire(&lease, w->pool, ACQUIRE_TIMEOUT_MS, &err);
    if (st != CONNPOOL_OK) {
        snprintf(w->error, sizeof w->error, "connpool_pool_acquire: %s",
                 describe(st, err, buf, sizeof buf));
        connpool_error_free(err);
        return -1;
    }

    st = connpool_lease_exec(&res, lease, QUERY, 1, params, &err);
    if (st != CONNPOOL_OK) {
        snprintf(w->error, sizeof w->error, "connpool_lease_exec: %s",
                 describe(st, err, buf, sizeof buf));
        connpool_error_free(err);
        err = NULL;
        rc = -1;
    } else if (connpool_result_status(res) != CONNPOOL_OK || connpool_result_row_count(res) != 1 ||
               connpool_result_column_count(res) != 1) {
        snprintf(w->error, sizeof w->error,
                 "unexpected result shape: status %d, %lld row(s), %d column(s)",
                 (int)connpool_result_status(res), (long long)connpool_result_row_count(res),
                 (int)connpool_result_column_count(res));
        rc = -1;
    } else if ((value = connpool_result_value(res, 0, 0)) == NULL || strcmp(value, param) != 0) {
        snprintf(w->error, sizeof w->error, "wrong value: sent %s, got %s", param,
                 value != NULL ? value : "(null)");
        rc = -1;
    }

    if (res != NULL) { /* set even for CONNPOOL_ERR_QUERY_FAILED */
        st = connpool_result_free(res);
        if (st != CONNPOOL_OK && rc == 0) {
            snprintf(w->error, sizeof w->error, "connpool_result_free: %s",
                     connpool_status_name(st));
            rc = -1;
        }
    }

    st = connpool_lease_release(lease, &err);
    if (st != CONNPOOL_OK) {
        if (rc == 0) {
            snprintf(w->error, sizeof w->error, "connpool_lease_release: %s",
                     describe(st, err, buf, sizeof buf));
        }
        connpool_error_free(err);
        rc = -1;
    }
    return rc;
}

/* One unpooled op (plain libpq); returns 0 on success, -1 with w->error set. */
static int unpooled_op(struct worker *w, int64_t op) {
    char param[32];
    const char *params[1];
    PGconn *conn;
    PGresult *res;
    int rc = 0;

    snprintf(param, sizeof param, "%ld", param_value(w->id, op));
    params[0] = param;

    conn = PQconnectdb(w->conninfo);
    if (conn == NULL) {
        snprintf(w->error, sizeof w->error, "PQconnectdb: out of memory");
        return -1;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        snprintf(w->error, sizeof w->error, "PQconnectdb: %s", PQerrorMessage(conn));
        PQfinish(conn);
        return -1;
    }
    res = PQexecParams(conn, QUERY, 1, NULL, params, NULL, NULL, 0);
    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(w->error, sizeof w->error, "PQexecParams: %s", PQerrorMessage(conn));
        rc = -1;
    } else if (PQntuples(res) != 1 || PQnfields(res) != 1 ||
               strcmp(PQgetvalue(res, 0, 0), param) != 0) {
        snprintf(w->error, sizeof w->error, "wrong result for %s", param);
        rc = -1;
    }
    PQclear(res);
    PQfinish(conn);
    return rc;
}

static void *worker_main(void *arg) {
    struct worker *w = (struct worker *)arg;
    int64_t op = 0;

    while (!aborted() && now_ns() < w->deadline_ns) {
        int64_t t0 = now_ns();
        int rc = w->kind == PHASE_POOLED ? pooled_op(w, op) : unpooled_op(w, op);
        int64_t t1 = now_ns();
        if (rc != 0) {
            worker_fail(w);
            break;
        }
        record(w, t1 - t0, op);
        op++;
        pthread_mutex_lock(&w->lock);
        w->ops = op;
        pthread_mutex_unlock(&w->lock);
    }
    return NULL;
}

struct phase_result {
    const char *name;
    int64_t ops;
    double seconds;
    double ops_per_sec;
    double p50_us, p90_us, p99_us;
};

static int compare_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted samples, in microseconds. */
static double percentile_us(const int64_t *sorted, int64_t n, double p) {
    int64_t rank;
    if (n == 0) {
        return 0.0;
    }
    rank = (int64_t)(p / 100.0 * (double)n + 0.999999);
    if (rank < 1) {
        rank = 1;
    }
    if (rank > n) {
        rank = n;
    }
    return (double)sorted[rank - 1] / 1000.0;
}

static int64_t total_ops(struct worker *workers, int n) {
    int64_t sum = 0;
    int i;
    for (i = 0; i < n; i++) {
        pthread_mutex_lock(&workers[i].lock);
        sum += workers[i].ops;
        pthread_mutex_unlock(&workers[i].lock);
    }
    return sum;
}

/*
 * Runs one phase with `n` workers (whose samples arrays are allocated). Returns 0 on success,
 * -1 after printing the first worker's error.
 */
static int run_phase(const char *name, enum phase_kind kind, struct worker *workers, int n,
                     int seconds, connpool_pool *pool, const char *conninfo,
                     struct phase_result *out) {
    pthread_t *threads;
    int64_t start, deadline, end, last_t, last_ops, all = 0, k;
    int i, started = 0, failed = 0, tty = isatty(STDERR_FILENO);
    int64_t *merged;

    threads = calloc((size_t)n, sizeof *threads);
    if (threads == NULL) {
        fprintf(stderr, "connpool_demo: out of memory\n");
        return -1;
    }

    start = now_ns();
    deadline = start + (int64_t)seconds * 1000000000;
    for (i = 0; i < n; i++) {
        struct worker *w = &workers[i];
        w->id = i;
        w->kind = kind;
        w->pool = pool;
        w->conninfo = conninfo;
        w->deadline_ns = deadline;
        w->n_samples = 0;
        w->rng = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)(i + 1) * 0xBF58476D1CE4E5B9ULL);
        w->error[0] = '\0';
        w->ops = 0;
        w->failed = 0;
    }
    for (i = 0; i < n; i++) {
        int rc = pthread_create(&threads[i], NULL, worker_main, &workers[i]);
        if (rc != 0) {
            fprintf(stderr, "connpool_demo: pthread_create: %s\n", strerror(rc));
            set_aborted();
            break;
        }
        started++;
    }

    /* progress, every ~0.5 s, until the deadline or a failure */
    last_t = start;
    last_ops = 0;
    while (started == n && !aborted()) {
        int64_t now = now_ns(), ops, wait_ns;
        if (now >= deadline) {
            break;
        }
        wait_ns = deadline - now;
        sleep_ms(wait_ns < 500000000 ? (long)(wait_ns / 1000000) + 1 : 500);
        now = now_ns();
        ops = total_ops(workers, n);
        fprintf(stderr, "%s[%-8s] %5.1f s  %9lld ops  %10.0f ops/s", tty ? "\r" : "", name,
                (double)(now - start) / 1e9, (long long)ops,
                now > last_t ? (double)(ops - last_ops) * 1e9 / (double)(now - last_t) : 0.0);
        fputs(tty ? "\033[K" : "\n", stderr);
        fflush(stderr);
        last_t = now;
        last_ops = ops;
    }
    for (i = 0; i < started; i++) {
        pthread_join(threads[i], NULL);
    }
    end = now_ns();
    if (tty) {
        fputs("\n", stderr);
    }
    free(threads);

    for (i = 0; i < n; i++) {
        if (workers[i].failed) {
            fprintf(stderr, "connpool_demo: %s phase, thread %d: %s\n", name, i, workers[i].error);
            failed = 1;
            break;
        }
    }
    if (failed || started != n) {
        return -1;
    }

    out->name = name;
    out->ops = total_ops(workers, n);
    out->seconds = (double)(end - start) / 1e9;
    out->ops_per_sec = out->seconds > 0 ? (double)out->ops / out->seconds : 0.0;

    for (i = 0; i < n; i++) {
        all += workers[i].n_samples;
    }
    merged = malloc((size_t)(all > 0 ? all : 1) * sizeof *merged);
    if (merged == NULL) {
        fprintf(stderr, "connpool_demo: out of memory\n");
        return -1;
    }
    k = 0;
    for (i = 0; i < n; i++) {
        memcpy(merged + k, workers[i].samples, (size_t)workers[i].n_samples * sizeof *merged);
        k += workers[i].n_samples;
    }
    qsort(merged, (size_t)all, sizeof *merged, compare_i64);
    out->p50_us = percentile_us(merged, all, 50.0);
    out->p90_us = percentile_us(merged, all, 90.0);
    out->p99_us = percentile_us(merged, all, 99.0);
    free(merged);
    return 0;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: connpool_demo CONNINFO [--threads N] [--seconds S] [--pool-size P] [--short]\n"
            "  --threads N     worker threads (default %d)\n"
            "  --seconds S     seconds per phase (default %d)\n"
            "  --pool-size P   pool min_size = max_size (default %d)\n"
            "  --short         1 second per phase, 2 threads (smoke test)\n",
            DEFAULT_THREADS, DEFAULT_SECONDS, DEFAULT_POOL_SIZE);
}

/* Parses a decimal int in [min, max]; returns 0 on success. */
/* The first `max_lines` samples of a Prometheus exposition (no comments, no histogram buckets). */
static void print_metric_samples(const char *text, int max_lines) {
    int printed = 0;
    while (*text != '\0' && printed < max_lines) {
        const char *end = strchr(text, '\n');
        size_t len = end != NULL ? (size_t)(end - text) : strlen(text);
        int is_sample = text[0] != '#' && len > 0;
        const char *bucket = strstr(text, "_bucket{");
        if (bucket != NULL && (end == NULL || bucket < end)) is_sample = 0;
        if (is_sample) {
            printf("  %.*s\n", (int)len, text);
            printed++;
        }
        if (end == NULL) break;
        text = end + 1;
    }
}

static int parse_int(const char *s, int min, int max, int *out) {
    char *end;
    long v;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
        return -1;
    }
    *out = (int)v;
    return 0;
}

static void print_row(const struct phase_result *r, int threads) {
    printf("%-10s %8d %9.2f %10lld %12.1f %10.1f %10.1f %10.1f\n", r->name, threads, r->seconds,
           (long long)r->ops, r->ops_per_sec, r->p50_us, r->p90_us, r->p99_us);
}

int main(int argc, char **argv) {
    const char *conninfo = NULL;
    int threads = -1, seconds = -1, pool_size = DEFAULT_POOL_SIZE, is_short = 0;
    int i, exit_code = 1;
    connpool_error *err = NULL;
    connpool_options *options = NULL;
    connpool_pool *pool = NULL;
    connpool_status st;
    struct worker *workers = NULL;
    int n_workers_init = 0;
    char *stats_json = NULL;
    char *health_json = NULL;
    char *metrics_text = NULL;
    char value[32];
    struct phase_result pooled, unpooled;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        int *target = NULL, max = 0;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--short") == 0) {
            is_short = 1;
            continue;
        } else if (strcmp(a, "--threads") == 0) {
            target = &threads;
            max = MAX_THREADS;
        } else if (strcmp(a, "--seconds") == 0) {
            target = &seconds;
            max = 3600;
        } else if (strcmp(a, "--pool-size") == 0) {
            target = &pool_size;
            max = 10000;
        } else if (a[0] == '-' && a[1] == '-') {
            fprintf(stderr, "connpool_demo: unknown option %s\n", a);
            usage(stderr);
            return 2;
        } else if (conninfo == NULL) {
            conninfo = a;
            continue;
        } else {
            fprintf(stderr, "connpool_demo: unexpected argument %s\n", a);
            usage(stderr);
            return 2;
        }
        if (i + 1 >= argc || parse_int(argv[i + 1], 1, max, target) != 0) {
            fprintf(stderr, "connpool_demo: %s needs an integer between 1 and %d\n", a, max);
            return 2;
        }
        i++;
    }
    if (conninfo == NULL) {
        usage(stderr);
        return 2;
    }
    /* --short sets the defaults; explicit --threads / --seconds still win. */
    if (threads < 0) {
        threads = is_short ? 2 : DEFAULT_THREADS;
    }
    if (seconds < 0) {
        seconds = is_short ? 1 : DEFAULT_SECONDS;
    }

    printf("libconnpool %s (header %s)\n", connpool_version(), CONNPOOL_VERSION_STRING);
    if (connpool_version_number() != CONNPOOL_VERSION_NUMBER) {
        fprintf(stderr, "connpool_demo: warning: header/library version mismatch\n");
    }
    printf("threads %d, %d s per phase, pool size %d, query: %s\n", threads, seconds, pool_size,
           QUERY);
    fflush(stdout);

    workers = calloc((size_t)threads, sizeof *workers);
    if (workers == NULL) {
        fprintf(stderr, "connpool_demo: out of memory\n");
        goto done;
    }
    for (i = 0; i < threads; i++) {
        workers[i].samples = malloc(SAMPLE_CAP * sizeof *workers[i].samples);
        if (workers[i].samples == NULL || pthread_mutex_init(&workers[i].lock, NULL) != 0) {
            free(workers[i].samples);
            fprintf(stderr, "connpool_demo: out of memory\n");
            goto done;
        }
        n_workers_init++;
    }

    /* the pool: min_size = max_size = pool size */
    st = connpool_options_new(&options, &err);
    if (st != CONNPOOL_OK) {
        report("connpool_options_new", st, err);
        goto done;
    }
    snprintf(value, sizeof value, "%d", pool_size);
    st = connpool_options_set(options, "max_size", value, &err);
    if (st != CONNPOOL_OK) {
        report("connpool_options_set(max_size)", st, err);
        goto done;
    }
    st = connpool_options_set(options, "min_size", value, &err);
    if (st != CONNPOOL_OK) {
        report("connpool_options_set(min_size)", st, err);
        goto done;
    }
    st = connpool_pool_create(&pool, conninfo, options, &err);
    if (st != CONNPOOL_OK) {
        report("connpool_pool_create", st, err);
        pool = NULL;
        goto done;
    }
    st = connpool_options_free(options); /* the pool copied them */
    options = NULL;
    if (st != CONNPOOL_OK) {
        fprintf(stderr, "connpool_demo: connpool_options_free failed: %s\n",
                connpool_status_name(st));
        goto done;
    }
    st = connpool_pool_wait_ready(pool, WAIT_READY_TIMEOUT_MS, &err);
    if (st != CONNPOOL_OK) {
        report("connpool_pool_wait_ready", st, err);
        goto done;
    }

    /* phase 1: pooled */
    if (run_phase("pooled", PHASE_POOLED, workers, threads, seconds, pool, conninfo, &pooled)) {
        goto done;
    }
    st = connpool_pool_stats_json(&stats_json, pool, &err);
    if (st != CONNPOOL_OK) {
        report("connpool_pool_stats_json", st, err);
        goto done;
    }
    st = connpool_pool_health_json(&health_json, pool, &err);
    if (st != CONNPOOL_OK) {
        report("connpool_pool_health_json", st, err);
        goto done;
    }
    st = connpool_pool_metrics(&metrics_text, pool, CONNPOOL_METRICS_PROMETHEUS, &err);
    if (st != CONNPOOL_OK) {
        report("connpool_pool_metrics", st, err);
        goto done;
    }
    /* Give the server its connections back so that the baseline is not handicapped. */
    st = connpool_pool_close(pool, &err);
    if (st != CONNPOOL_OK) {
        report("connpool_pool_close", st, err);
        goto done;
    }

    /* phase 2: unpooled (libpq, one connection per op) */
    if (run_phase("unpooled", PHASE_UNPOOLED, workers, threads, seconds, NULL, conninfo,
                  &unpooled)) {
        goto done;
    }

    printf("\n%-10s %8s %9s %10s %12s %10s %10s %10s\n", "phase", "threads", "seconds", "ops",
           "ops/s", "p50 us", "p90 us", "p99 us");
    print_row(&pooled, threads);
    print_row(&unpooled, threads);
    if (unpooled.ops_per_sec > 0) {
        printf("\nthroughput ratio pooled/unpooled: %.1fx\n",
               pooled.ops_per_sec / unpooled.ops_per_sec);
    } else {
        printf("\nthroughput ratio pooled/unpooled: n/a (no unpooled op completed)\n");
    }
    if (pooled.p50_us > 0) {
        printf("p50 latency ratio unpooled/pooled: %.1fx\n", unpooled.p50_us / pooled.p50_us);
    }
    printf("\npool stats after the pooled phase:\n%s\n", stats_json);
    printf("\npool health after the pooled phase:\n%s\n", health_json);
    printf("\na few of its metrics (Prometheus text; GET /metrics serves them all):\n");
    print_metric_samples(metrics_text, 8);
    exit_code = 0;

done:
    fflush(stdout);
    connpool_string_free(stats_json);
    connpool_string_free(health_json);
    connpool_string_free(metrics_text);
    if (options != NULL) {
        st = connpool_options_free(options);
        if (st != CONNPOOL_OK) {
            fprintf(stderr, "connpool_demo: connpool_options_free failed: %s\n",
                    connpool_status_name(st));
            exit_code = 1;
        }
    }
    if (pool != NULL) {
        st = connpool_pool_free(pool);
        if (st != CONNPOOL_OK) {
            fprintf(stderr, "connpool_demo: connpool_pool_free failed: %s\n",
                    connpool_status_name(st));
            exit_code = 1;
        }
    }
    for (i = 0; i < n_workers_init; i++) {
        pthread_mutex_destroy(&workers[i].lock);
        free(workers[i].samples);
    }
    free(workers);
    return exit_code;
}
