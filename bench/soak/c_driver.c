/*
 * connpool_soak_c: the C-threads driver of bench/soak (the orchestrator starts it).
 *
 *   connpool_soak_c LABEL WORKERS POOL_SIZE DEADLINE_MS CONNINFO...
 *
 * One pool per CONNINFO, named LABEL_0, LABEL_1, ... (the orchestrator puts the same name in
 * each conninfo's application_name, so that pg_stat_activity can be compared with the pool's
 * gauges), WORKERS threads per pool. Every thread loops over requests (driver protocol in
 * bench/soak/soak, "Drivers"): acquire, session-isolation check, work, sometimes dirty the
 * session, release, all within DEADLINE_MS of the request's start. Statements are sent, polled
 * and collected, so the client side is bounded by the deadline even when the server or the fault
 * proxy stalls; a lease whose statement is still pending at the deadline is released (which
 * closes its connection).
 *
 * Commands on stdin, one per line: quiesce, resume, drain, exit. Output on stdout: one JSON
 * object per line, a "tick" every second and a "quiesced" after a quiesce.
 *
 * C11 against the public header, like any user program.
 */
#define _POSIX_C_SOURCE 200809L

#include <connpool/connpool.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_POOLS 4
#define MAX_WORKERS 64
#define SAMPLE_LEN 200

static const char *const check_sql =
    "SELECT coalesce(current_setting('soak.owner', true), ''), current_setting('search_path'), "
    "(SELECT count(*) FROM pg_class WHERE relnamespace = pg_my_temp_schema())";
static const char *const default_search_path = "\"$user\", public";

struct pool_slot {
    connpool_pool *pool;
    char name[64];
};

static struct {
    const char *label;
    int64_t deadline_ms;
    struct pool_slot pools[MAX_POOLS];
    int n_pools;
    atomic_int quiesce; /* 1: workers park between requests */
    atomic_int parked;  /* workers parked */
    atomic_int stop;
    /* counters, since start */
    atomic_llong ops, errors, server_timeouts, client_timeouts, leaks;
    atomic_llong late_max_us; /* worst finish after the deadline, microseconds (may be < 0) */
    pthread_mutex_t sample_lock;
    char leak_sample[SAMPLE_LEN];
    char error_sample[SAMPLE_LEN];
    char late_sample[SAMPLE_LEN]; /* where the worst lateness happened */
} g;

static int64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static uint64_t next_random(uint64_t *state) { /* xorshift64 */
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

static void keep_sample(char *slot, const char *text) {
    pthread_mutex_lock(&g.sample_lock);
    if (slot[0] == '\0') {
        snprintf(slot, SAMPLE_LEN, "%s", text);
        for (char *c = slot; *c; c++)
            if (*c == '\n' || *c == '\t') *c = ' '; /* one line */
    }
    pthread_mutex_unlock(&g.sample_lock);
}

static void note_error(connpool_error *err, const char *what) {
    char text[SAMPLE_LEN];
    snprintf(text, sizeof text, "%s: %s", what, err ? connpool_error_message(err) : "(no message)");
    keep_sample(g.error_sample, text);
    connpool_error_free(err);
}

/* Raises *target to value; true if value was the new maximum. */
static int raise_max(atomic_llong *target, long long value) {
    long long seen = atomic_load(target);
    while (value > seen) {
        if (atomic_compare_exchange_weak(target, &seen, value)) return 1;
    }
    return 0;
}

enum outcome { DONE, FAILED, SERVER_TIMEOUT, CLIENT_TIMEOUT };

/* Runs one statement on the lease, waiting on its socket at most until deadline_us. */
static enum outcome run(connpool_lease *lease, const char *sql, int n_params,
                        const char *const *params, int64_t deadline_us, connpool_result **out) {
    connpool_error *err = NULL;
    *out = NULL;
    if (connpool_lease_send(lease, sql, n_params, params, &err) != CONNPOOL_OK) {
        note_error(err, "send");
        return FAILED;
    }
    for (;;) {
        connpool_result *res = NULL;
        const connpool_status st = connpool_lease_collect(&res, lease, &err);
        if (st == CONNPOOL_OK) {
            *out = res;
            return DONE;
        }
        if (st == CONNPOOL_ERR_QUERY_FAILED) {
            const char *state = connpool_result_sqlstate(res);
            const int timed_out = state && strcmp(state, "57014") == 0;
            if (!timed_out)
                note_error(err, "statement");
            else
                connpool_error_free(err);
            connpool_result_free(res);
            return timed_out ? SERVER_TIMEOUT : FAILED;
        }
        if (st != CONNPOOL_ERR_IN_PROGRESS) {
            note_error(err, "collect");
            return FAILED;
        }
        int32_t fd = -1, events = 0;
        connpool_lease_socket(&fd, &events, lease, NULL);
        const int64_t left_ms = (deadline_us - now_us()) / 1000;
        if (left_ms <= 0 || fd < 0) return CLIENT_TIMEOUT;
        struct pollfd p = {
            .fd = fd,
            .events = (short)((events & CONNPOOL_WAIT_WRITE) ? POLLIN | POLLOUT : POLLIN)};
        (void)poll(&p, 1, (int)left_ms);
    }
}

/* The session must carry nothing from the previous lease of its connection. */
static void check_isolation(const connpool_result *res, const char *self) {
    const char *owner = connpool_result_value(res, 0, 0);
    const char *path = connpool_result_value(res, 0, 1);
    const char *temps = connpool_result_value(res, 0, 2);
    if (owner[0] == '\0' && strcmp(path, default_search_path) == 0 && strcmp(temps, "0") == 0)
        return;
    atomic_fetch_add(&g.leaks, 1);
    char text[SAMPLE_LEN];
    snprintf(text, sizeof text, "%s saw soak.owner='%s' search_path='%s' temp tables=%s", self,
             owner, path, temps);
    keep_sample(g.leak_sample, text);
}

struct worker {
    pthread_t thread;
    int pool_index, id;
    uint64_t rng;
    long long lease_no;
    const char *step; /* of the request in progress, for the lateness sample */
};

/* One request: its steps, each bounded by the request's deadline. */
static enum outcome request(struct worker *w, int64_t deadline_us) {
    connpool_pool *pool = g.pools[w->pool_index].pool;
    connpool_lease *lease = NULL;
    connpool_error *err = NULL;
    w->step = "acquire";
    int64_t acquire_ms = (deadline_us - now_us()) / 2000;
    if (acquire_ms < 1) acquire_ms = 1;
    const connpool_status st = connpool_pool_acquire(&lease, pool, acquire_ms, &err);
    if (st != CONNPOOL_OK) {
        const int timeout = st == CONNPOOL_ERR_TIMEOUT;
        if (timeout)
            connpool_error_free(err);
        else
            note_error(err, "acquire");
        return timeout ? CLIENT_TIMEOUT : FAILED;
    }
    char self[96];
    snprintf(self, sizeof self, "%s:%d:%lld", g.pools[w->pool_index].name, w->id, ++w->lease_no);

    connpool_result *res = NULL;
    w->step = "check";
    enum outcome out = run(lease, check_sql, 0, NULL, deadline_us, &res);
    if (out == DONE) {
        check_isolation(res, self);
        connpool_result_free(res);
        const uint64_t dice = next_random(&w->rng) % 1000;
        char rows[16];
        snprintf(rows, sizeof rows, "%d", (int)(100 + next_random(&w->rng) % 5000));
        const char *params[] = {rows};
        w->step = "work";
        if (dice < 20) /* longer than statement_timeout: the server ends it (57014) */
            out = run(lease, "SELECT pg_sleep(5)", 0, NULL, deadline_us, &res);
        else
            out = run(lease, "SELECT count(*) FROM generate_series(1, $1::int)", 1, params,
                      deadline_us, &res);
        connpool_result_free(res);
        res = NULL;
        if (out == DONE && dice % 2 == 0) {
            const char *dirty[] = {self};
            w->step = "dirty";
            out = run(lease,
                      "SELECT set_config('soak.owner', $1, false), "
                      "set_config('search_path', 'soak_private, public', false)",
                      1, dirty, deadline_us, &res);
            connpool_result_free(res);
            res = NULL;
        }
        if (out == DONE && dice % 16 == 1) {
            w->step = "temp table";
            out = run(lease, "CREATE TEMP TABLE IF NOT EXISTS soak_private(owner text)", 0, NULL,
                      deadline_us, &res);
            connpool_result_free(res);
        }
    }
    const int64_t release_start = now_us();
    connpool_lease_release(lease, NULL); /* a statement still pending: the pool closes it */
    if (now_us() - release_start > 100000) w->step = "release (slow)";
    return out;
}

static void *worker_main(void *arg) {
    struct worker *w = arg;
    while (!atomic_load(&g.stop)) {
        if (atomic_load(&g.quiesce)) {
            atomic_fetch_add(&g.parked, 1);
            while (atomic_load(&g.quiesce) && !atomic_load(&g.stop)) {
                const struct timespec nap = {0, 10 * 1000 * 1000};
                nanosleep(&nap, NULL);
            }
            atomic_fetch_sub(&g.parked, 1);
            continue;
        }
        const int64_t start = now_us();
        const int64_t deadline = start + g.deadline_ms * 1000;
        const enum outcome out = request(w, deadline);
        const int64_t late = now_us() - deadline;
        if (raise_max(&g.late_max_us, late) && late > 0) {
            static const char *const names[] = {"done", "failed", "server timeout",
                                                "client timeout"};
            char text[SAMPLE_LEN];
            snprintf(text, sizeof text, "%s worker %d: %.0f ms late in %s (%s)",
                     g.pools[w->pool_index].name, w->id, (double)late / 1000.0, w->step,
                     names[out]);
            pthread_mutex_lock(&g.sample_lock);
            snprintf(g.late_sample, SAMPLE_LEN, "%s", text);
            pthread_mutex_unlock(&g.sample_lock);
        }
        switch (out) {
            case DONE:
                atomic_fetch_add(&g.ops, 1);
                break;
            case FAILED:
                atomic_fetch_add(&g.errors, 1);
                break;
            case SERVER_TIMEOUT:
                atomic_fetch_add(&g.server_timeouts, 1);
                break;
            case CLIENT_TIMEOUT:
                atomic_fetch_add(&g.client_timeouts, 1);
                break;
        }
        if (out == FAILED) { /* e.g. the server is restarting: do not spin */
            const struct timespec nap = {0, 20 * 1000 * 1000};
            nanosleep(&nap, NULL);
        }
    }
    return NULL;
}

static void json_string(const char *text) {
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < 0x20)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

static void report(const char *type) {
    pthread_mutex_lock(&g.sample_lock);
    printf(
        "{\"type\": \"%s\", \"ops\": %lld, \"errors\": %lld, \"server_timeouts\": %lld, "
        "\"client_timeouts\": %lld, \"leaks\": %lld, \"late_max_ms\": %.1f, \"leak_sample\": ",
        type, (long long)atomic_load(&g.ops), (long long)atomic_load(&g.errors),
        (long long)atomic_load(&g.server_timeouts), (long long)atomic_load(&g.client_timeouts),
        (long long)atomic_load(&g.leaks), (double)atomic_load(&g.late_max_us) / 1000.0);
    json_string(g.leak_sample);
    printf(", \"late_sample\": ");
    json_string(g.late_sample);
    printf(", \"error_sample\": ");
    json_string(g.error_sample);
    g.error_sample[0] = '\0'; /* one sample per tick */
    pthread_mutex_unlock(&g.sample_lock);
    printf(", \"pools\": {");
    for (int i = 0; i < g.n_pools; i++) {
        char *stats = NULL;
        if (connpool_pool_stats_json(&stats, g.pools[i].pool, NULL) != CONNPOOL_OK) continue;
        printf("%s\"%s\": %s", i ? ", " : "", g.pools[i].name, stats);
        connpool_string_free(stats);
    }
    printf("}}\n");
    fflush(stdout);
}

/* SOAK_POOL_OPTIONS="key=value,key=value": more pool options (e.g. reset=rollback to check
 * that the isolation check catches a leak). Returns 0 with *err set if one is refused. */
static int set_extra_options(connpool_options *opts, connpool_error **err) {
    const char *list = getenv("SOAK_POOL_OPTIONS");
    char buf[512];
    snprintf(buf, sizeof buf, "%s", list ? list : "");
    char *save = NULL;
    for (char *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        if (!eq) continue;
        *eq = '\0';
        if (connpool_options_set(opts, item, eq + 1, err) != CONNPOOL_OK) return 0;
    }
    return 1;
}

static connpool_pool *open_pool(const char *name, const char *conninfo, const char *size) {
    connpool_options *opts = NULL;
    connpool_pool *pool = NULL;
    connpool_error *err = NULL;
    if (connpool_options_new(&opts, &err) != CONNPOOL_OK ||
        connpool_options_set(opts, "name", name, &err) != CONNPOOL_OK ||
        connpool_options_set(opts, "max_size", size, &err) != CONNPOOL_OK ||
        connpool_options_set(opts, "min_size", "2", &err) != CONNPOOL_OK ||
        !set_extra_options(opts, &err) ||
        connpool_pool_create(&pool, conninfo, opts, &err) != CONNPOOL_OK ||
        connpool_pool_wait_ready(pool, 30000, &err) != CONNPOOL_OK) {
        fprintf(stderr, "connpool_soak_c: pool %s: %s\n", name, connpool_error_message(err));
        exit(2);
    }
    connpool_options_free(opts);
    return pool;
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: connpool_soak_c LABEL WORKERS POOL_SIZE DEADLINE_MS CONNINFO...\n");
        return 2;
    }
    g.label = argv[1];
    const int workers_per_pool = atoi(argv[2]);
    g.deadline_ms = atoll(argv[4]);
    g.n_pools = argc - 5;
    if (g.n_pools > MAX_POOLS || workers_per_pool < 1 ||
        workers_per_pool * g.n_pools > MAX_WORKERS || g.deadline_ms < 1) {
        fprintf(stderr, "connpool_soak_c: bad arguments\n");
        return 2;
    }
    pthread_mutex_init(&g.sample_lock, NULL);
    atomic_init(&g.late_max_us, -g.deadline_ms * 1000); /* nothing finished yet */
    for (int i = 0; i < g.n_pools; i++) {
        snprintf(g.pools[i].name, sizeof g.pools[i].name, "%s_%d", g.label, i);
        g.pools[i].pool = open_pool(g.pools[i].name, argv[5 + i], argv[3]);
    }
    static struct worker workers[MAX_WORKERS];
    const int n_workers = workers_per_pool * g.n_pools;
    for (int i = 0; i < n_workers; i++) {
        workers[i].pool_index = i % g.n_pools;
        workers[i].id = i;
        workers[i].rng = 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1);
        if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) != 0) {
            fprintf(stderr, "connpool_soak_c: pthread_create failed\n");
            return 2;
        }
    }

    char line[128];
    size_t used = 0;
    int64_t next_tick = now_us() + 1000000;
    int awaiting_quiesce = 0;
    for (;;) {
        struct pollfd p = {.fd = 0, .events = POLLIN};
        int wait_ms = (int)((next_tick - now_us()) / 1000);
        if (awaiting_quiesce) wait_ms = 10;
        if (poll(&p, 1, wait_ms < 0 ? 0 : wait_ms) > 0) {
            const ssize_t n = read(0, line + used, sizeof line - 1 - used);
            if (n <= 0) break; /* the orchestrator went away */
            used += (size_t)n;
            line[used] = '\0';
            char *nl;
            while ((nl = strchr(line, '\n')) != NULL) {
                *nl = '\0';
                if (strcmp(line, "quiesce") == 0) {
                    atomic_store(&g.quiesce, 1);
                    awaiting_quiesce = 1;
                } else if (strcmp(line, "resume") == 0) {
                    atomic_store(&g.quiesce, 0);
                } else if (strcmp(line, "drain") == 0) {
                    for (int i = 0; i < g.n_pools; i++) connpool_pool_drain(g.pools[i].pool, NULL);
                } else if (strcmp(line, "exit") == 0) {
                    goto done;
                }
                used -= (size_t)(nl + 1 - line);
                memmove(line, nl + 1, used + 1);
            }
            if (used >= sizeof line - 1) used = 0; /* an overlong line: drop it */
        }
        if (awaiting_quiesce && atomic_load(&g.parked) == n_workers) {
            awaiting_quiesce = 0;
            /* Connections killed while idle are found now, not at some later acquire. */
            for (int i = 0; i < g.n_pools; i++) connpool_pool_check(NULL, g.pools[i].pool, NULL);
            report("quiesced");
        }
        if (now_us() >= next_tick) {
            report("tick");
            next_tick += 1000000;
        }
    }
done:
    atomic_store(&g.stop, 1);
    for (int i = 0; i < n_workers; i++) pthread_join(workers[i].thread, NULL);
    for (int i = 0; i < g.n_pools; i++) connpool_pool_free(g.pools[i].pool);
    return 0;
}
