/*
 * connpool_modes_bench: the libconnpool measurements of bench/run that connpool_pool_bench
 * (bench/pool_bench.c) does not make: any pool option, an acquire+release-only loop and the
 * memory of pooled connections and waiting callers.
 *
 *   connpool_modes_bench --conninfo C [--clients N] [--pool-size P] [--seconds S]
 *                        [--option KEY=VALUE]... [--mode select|acquire] [--impl NAME] [--json OUT]
 *   connpool_modes_bench --conninfo C --memory raw|pool|waiters [--count N] [--json OUT]
 *
 * Load modes: a fixed pool (min_size = max_size = P, default min(N, 16)), filled before the
 * clock starts, N threads looping for S seconds:
 *   select:  acquire -> connpool_lease_exec("SELECT 1") -> read the value (must be "1") ->
 *            free the result -> release
 *   acquire: acquire -> release (the pool alone, on real connections)
 * JSON: [{"impl","clients","pool_size","ops","ops_per_sec","p50_us","p99_us","errors","seconds"}].
 *
 * Memory modes, each meant to run in a fresh process (bench/tools/bench.py takes differences):
 *   raw:     N bare libpq connections, each having run SELECT 1 once
 *   pool:    a pool of N connections, each leased once and having run SELECT 1 once
 *   waiters: a pool of 1 whose connection is held, N threads created and parked on a condition
 *            variable (measured), then released into connpool_pool_acquire where they block
 *            (measured again): the difference is what waiting in the pool costs per caller
 * JSON: {"mode","count","heap_bytes","rss_bytes"} (growth over the process's state before,
 * heap from glibc mallinfo2, RSS from /proc/self/statm), after one connection (and one pool)
 * was opened, used and closed so that one-time costs are not counted per connection. The pool
 * mode's RSS includes the pool's own threads' stacks (a fixed cost, spread over N).
 *
 * C11 against the public header, linked like any user program (libpq for the raw mode).
 */
#define _GNU_SOURCE

#include <connpool/connpool.h>
#include <libpq-fe.h>

#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_OPTIONS 16
#define SAMPLE_CAP (1 << 20)
#define TIMEOUT_MS 30000

struct config {
    const char *conninfo, *impl, *json, *mode, *memory;
    const char *options[MAX_OPTIONS];
    int n_options, clients, pool_size, count;
    double seconds;
};

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void fail(const char *what, connpool_error *err) {
    fprintf(stderr, "connpool_modes_bench: %s: %s: %s\n", what,
            connpool_status_name(connpool_error_status(err)), connpool_error_message(err));
    exit(2);
}

static void usage(void) {
    fprintf(
        stderr,
        "usage: connpool_modes_bench --conninfo C [--clients N] [--pool-size P] [--seconds S]\n"
        "           [--option KEY=VALUE]... [--mode select|acquire] [--impl NAME] [--json OUT]\n"
        "       connpool_modes_bench --conninfo C --memory raw|pool|waiters [--count N] [--json "
        "OUT]\n");
    exit(2);
}

static void set_option(connpool_options *o, const char *key, const char *value) {
    connpool_error *err = NULL;
    if (connpool_options_set(o, key, value, &err) != CONNPOOL_OK) fail(key, err);
}

static connpool_pool *make_pool(const struct config *cfg, int size) {
    connpool_options *o = NULL;
    connpool_pool *pool = NULL;
    connpool_error *err = NULL;
    char n[32];
    snprintf(n, sizeof n, "%d", size);
    if (connpool_options_new(&o, &err) != CONNPOOL_OK) fail("options", err);
    set_option(o, "max_size", n);
    set_option(o, "min_size", n);
    set_option(o, "name", "bench");
    for (int i = 0; i < cfg->n_options; i++) {
        char key[128];
        const char *eq = strchr(cfg->options[i], '=');
        if (!eq || (size_t)(eq - cfg->options[i]) >= sizeof key) usage();
        memcpy(key, cfg->options[i], (size_t)(eq - cfg->options[i]));
        key[eq - cfg->options[i]] = '\0';
        set_option(o, key, eq + 1);
    }
    if (connpool_pool_create(&pool, cfg->conninfo, o, &err) != CONNPOOL_OK)
        fail("pool_create", err);
    connpool_options_free(o);
    if (connpool_pool_wait_ready(pool, TIMEOUT_MS, &err) != CONNPOOL_OK) fail("wait_ready", err);
    return pool;
}

/* One SELECT 1 on a lease, its value read and checked. 0 on success. */
static int select_one(connpool_lease *lease) {
    connpool_result *r = NULL;
    connpool_error *err = NULL;
    int ok = connpool_lease_exec(&r, lease, "SELECT 1", 0, NULL, &err) == CONNPOOL_OK &&
             connpool_result_row_count(r) == 1 && strcmp(connpool_result_value(r, 0, 0), "1") == 0;
    if (!ok && err)
        fprintf(stderr, "connpool_modes_bench: exec: %s\n", connpool_error_message(err));
    connpool_error_free(err);
    connpool_result_free(r);
    return ok ? 0 : -1;
}

/* ---- load ---------------------------------------------------------------------------------- */

struct worker {
    connpool_pool *pool;
    pthread_barrier_t *barrier;
    const int64_t *deadline;
    int acquire_only;
    pthread_t thread;
    int64_t *samples, n_samples, ops, errors;
};

static void *worker_main(void *arg) {
    struct worker *w = arg;
    pthread_barrier_wait(w->barrier);
    const int64_t deadline = *w->deadline;
    for (;;) {
        const int64_t t0 = now_ns();
        if (t0 >= deadline) break;
        connpool_lease *lease = NULL;
        connpool_error *err = NULL;
        if (connpool_pool_acquire(&lease, w->pool, TIMEOUT_MS, &err) != CONNPOOL_OK) {
            connpool_error_free(err);
            w->errors++;
            continue;
        }
        const int rc = w->acquire_only ? 0 : select_one(lease);
        connpool_lease_release(lease, NULL);
        const int64_t t1 = now_ns();
        if (rc != 0) {
            w->errors++;
            continue;
        }
        if (t1 > deadline) break;
        if (w->n_samples < SAMPLE_CAP) w->samples[w->n_samples++] = t1 - t0;
        w->ops++;
    }
    return NULL;
}

static int cmp_i64(const void *a, const void *b) {
    const int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int run_load(const struct config *cfg) {
    const int size = cfg->pool_size > 0 ? cfg->pool_size : (cfg->clients < 16 ? cfg->clients : 16);
    connpool_pool *pool = make_pool(cfg, size);
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, (unsigned)cfg->clients + 1);
    int64_t deadline = 0;
    struct worker *w = calloc((size_t)cfg->clients, sizeof *w);
    for (int i = 0; i < cfg->clients; i++) {
        w[i] = (struct worker){.pool = pool,
                               .barrier = &barrier,
                               .deadline = &deadline,
                               .acquire_only = strcmp(cfg->mode, "acquire") == 0,
                               .samples = malloc(sizeof(int64_t) * SAMPLE_CAP)};
        if (!w[i].samples || pthread_create(&w[i].thread, NULL, worker_main, &w[i]) != 0) {
            fprintf(stderr, "connpool_modes_bench: cannot start thread %d\n", i);
            return 2;
        }
    }
    const int64_t start = now_ns();
    deadline = start + (int64_t)(cfg->seconds * 1e9);
    pthread_barrier_wait(&barrier);
    int64_t n = 0, ops = 0, errors = 0;
    for (int i = 0; i < cfg->clients; i++) {
        pthread_join(w[i].thread, NULL);
        n += w[i].n_samples;
    }
    int64_t *all = malloc(sizeof(int64_t) * (size_t)(n ? n : 1)), k = 0;
    for (int i = 0; i < cfg->clients; i++) {
        memcpy(all + k, w[i].samples, sizeof(int64_t) * (size_t)w[i].n_samples);
        k += w[i].n_samples;
        ops += w[i].ops;
        errors += w[i].errors;
        free(w[i].samples);
    }
    qsort(all, (size_t)n, sizeof *all, cmp_i64);
    const double window = (double)(deadline - start) / 1e9, rate = (double)ops / window;
    const double p50 = n ? (double)all[(int64_t)(0.50 * (double)n)] / 1e3 : 0;
    const double p99 = n ? (double)all[(int64_t)(0.99 * (double)n)] / 1e3 : 0;
    const char *impl = cfg->impl ? cfg->impl : "libconnpool (C)";
    fprintf(
        stderr,
        "connpool_modes_bench: %s, %d clients, pool %d: %.0f ops/s, p50 %.1f us, p99 %.1f us%s\n",
        impl, cfg->clients, size, rate, p50, p99, errors ? " (errors!)" : "");
    if (cfg->json) {
        FILE *f = strcmp(cfg->json, "-") == 0 ? stdout : fopen(cfg->json, "w");
        if (!f) return 2;
        fprintf(f,
                "[{\"impl\": \"%s\", \"clients\": %d, \"pool_size\": %d, \"ops\": %lld, "
                "\"ops_per_sec\": %.1f, \"p50_us\": %.1f, \"p99_us\": %.1f, \"errors\": %lld, "
                "\"seconds\": %.3f}]\n",
                impl, cfg->clients, size, (long long)ops, rate, p50, p99, (long long)errors,
                window);
        if (f != stdout) fclose(f);
    }
    free(all);
    free(w);
    connpool_pool_free(pool);
    pthread_barrier_destroy(&barrier);
    return errors ? 1 : 0;
}

/* ---- memory -------------------------------------------------------------------------------- */

struct usage {
    int64_t heap, rss;
};

static struct usage usage_now(void) {
    struct usage u = {0, 0};
    struct mallinfo2 mi = mallinfo2();
    u.heap = (int64_t)(mi.uordblks + mi.hblkhd);
    long pages_total = 0, pages_rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages_total, &pages_rss) != 2) pages_rss = 0;
        fclose(f);
    }
    u.rss = (int64_t)pages_rss * sysconf(_SC_PAGESIZE);
    return u;
}

struct parked {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int open;
    connpool_pool *pool;
};

static void *waiter_main(void *arg) {
    struct parked *p = arg;
    pthread_mutex_lock(&p->mu);
    while (!p->open) pthread_cond_wait(&p->cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
    connpool_lease *lease = NULL;
    connpool_error *err = NULL;
    if (connpool_pool_acquire(&lease, p->pool, TIMEOUT_MS, &err) == CONNPOOL_OK) {
        connpool_lease_release(lease, NULL);
    } else {
        fprintf(stderr, "connpool_modes_bench: waiter: %s\n", connpool_error_message(err));
        connpool_error_free(err);
    }
    return NULL;
}

static int64_t waiting(connpool_pool *pool) {
    connpool_stats s;
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    connpool_pool_stats(&s, pool, NULL);
    return (int64_t)s.waiting;
}

/* One connection (and, unless raw, one pool) opened, used and closed before measuring: the code
 * pages, libpq's and OpenSSL's one-time state and the library's threads are not counted as
 * per-connection memory. */
static void warm_up(const struct config *cfg, int with_pool) {
    PGconn *c = PQconnectdb(cfg->conninfo);
    PQclear(PQexecParams(c, "SELECT 1", 0, NULL, NULL, NULL, NULL, 0));
    PQfinish(c);
    if (!with_pool) return;
    connpool_pool *pool = make_pool(cfg, 1);
    connpool_lease *lease = NULL;
    connpool_error *err = NULL;
    if (connpool_pool_acquire(&lease, pool, TIMEOUT_MS, &err) != CONNPOOL_OK) fail("acquire", err);
    select_one(lease);
    connpool_lease_release(lease, NULL);
    connpool_pool_free(pool);
}

static int run_memory(const struct config *cfg) {
    const int n = cfg->count;
    struct usage before, after;
    warm_up(cfg, strcmp(cfg->memory, "raw") != 0);
    if (strcmp(cfg->memory, "raw") == 0) {
        PGconn **c = calloc((size_t)n, sizeof *c);
        before = usage_now();
        for (int i = 0; i < n; i++) {
            c[i] = PQconnectdb(cfg->conninfo);
            PGresult *r = PQexecParams(c[i], "SELECT 1", 0, NULL, NULL, NULL, NULL, 0);
            if (PQresultStatus(r) != PGRES_TUPLES_OK) {
                fprintf(stderr, "connpool_modes_bench: raw: %s", PQerrorMessage(c[i]));
                return 2;
            }
            PQclear(r);
        }
        after = usage_now();
        for (int i = 0; i < n; i++) PQfinish(c[i]);
        free(c);
    } else if (strcmp(cfg->memory, "pool") == 0) {
        connpool_lease **l = calloc((size_t)n, sizeof *l);
        before = usage_now();
        connpool_pool *pool = make_pool(cfg, n);
        for (int i = 0; i < n; i++) {
            connpool_error *err = NULL;
            if (connpool_pool_acquire(&l[i], pool, TIMEOUT_MS, &err) != CONNPOOL_OK)
                fail("acquire", err);
            if (select_one(l[i]) != 0) return 2;
        }
        for (int i = 0; i < n; i++) connpool_lease_release(l[i], NULL);
        after = usage_now();
        connpool_pool_free(pool);
        free(l);
    } else if (strcmp(cfg->memory, "waiters") == 0) {
        struct parked p = {
            .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER, .open = 0};
        p.pool = make_pool(cfg, 1);
        connpool_lease *held = NULL;
        connpool_error *err = NULL;
        if (connpool_pool_acquire(&held, p.pool, TIMEOUT_MS, &err) != CONNPOOL_OK)
            fail("acquire", err);
        pthread_t *t = calloc((size_t)n, sizeof *t);
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, 256 * 1024);
        for (int i = 0; i < n; i++)
            if (pthread_create(&t[i], &attr, waiter_main, &p) != 0) return 2;
        struct timespec pause = {0, 200 * 1000 * 1000};
        nanosleep(&pause, NULL); /* all parked on the condition variable */
        before = usage_now();
        pthread_mutex_lock(&p.mu);
        p.open = 1;
        pthread_cond_broadcast(&p.cv);
        pthread_mutex_unlock(&p.mu);
        const int64_t give_up = now_ns() + 10 * 1000000000LL;
        while (waiting(p.pool) < n && now_ns() < give_up)
            nanosleep(&(struct timespec){0, 5000000}, NULL);
        const int64_t seen = waiting(p.pool);
        after = usage_now();
        connpool_lease_release(held, NULL);
        for (int i = 0; i < n; i++) pthread_join(t[i], NULL);
        connpool_pool_free(p.pool);
        free(t);
        if (seen < n) {
            fprintf(stderr, "connpool_modes_bench: only %lld of %d callers were seen waiting\n",
                    (long long)seen, n);
            return 2;
        }
    } else {
        usage();
    }
    FILE *f = cfg->json && strcmp(cfg->json, "-") != 0 ? fopen(cfg->json, "w") : stdout;
    if (!f) return 2;
    fprintf(f, "{\"mode\": \"%s\", \"count\": %d, \"heap_bytes\": %lld, \"rss_bytes\": %lld}\n",
            cfg->memory, n, (long long)(after.heap - before.heap),
            (long long)(after.rss - before.rss));
    if (f != stdout) fclose(f);
    return 0;
}

int main(int argc, char **argv) {
    struct config cfg = {.clients = 1, .seconds = 2, .mode = "select", .count = 64};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) usage();
        i++;
        if (strcmp(a, "--conninfo") == 0)
            cfg.conninfo = v;
        else if (strcmp(a, "--clients") == 0)
            cfg.clients = atoi(v);
        else if (strcmp(a, "--pool-size") == 0)
            cfg.pool_size = atoi(v);
        else if (strcmp(a, "--seconds") == 0)
            cfg.seconds = atof(v);
        else if (strcmp(a, "--mode") == 0)
            cfg.mode = v;
        else if (strcmp(a, "--impl") == 0)
            cfg.impl = v;
        else if (strcmp(a, "--json") == 0)
            cfg.json = v;
        else if (strcmp(a, "--memory") == 0)
            cfg.memory = v;
        else if (strcmp(a, "--count") == 0)
            cfg.count = atoi(v);
        else if (strcmp(a, "--option") == 0 && cfg.n_options < MAX_OPTIONS)
            cfg.options[cfg.n_options++] = v;
        else
            usage();
    }
    if (!cfg.conninfo || cfg.clients < 1 || cfg.count < 1 || cfg.seconds <= 0 ||
        (strcmp(cfg.mode, "select") != 0 && strcmp(cfg.mode, "acquire") != 0))
        usage();
    return cfg.memory ? run_memory(&cfg) : run_load(&cfg);
}
