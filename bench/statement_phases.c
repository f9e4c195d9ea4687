/* Where one statement's time goes: each step of an asynchronous statement through the C API
 * (try-acquire, send, wait, collect, result accessors, result free, release) timed separately,
 * next to the same statement through bare libpq (send, wait, PQconsumeInput, PQgetResult,
 * PQclear) on a connection of its own. One client, `SELECT 1`, prepared on both sides.
 *
 *   build-bench/bench/connpool_statement_phases "host=/tmp/sock dbname=postgres" [statements]
 *
 * "send" includes whatever the kernel runs before the sender gets its CPU back (the backend, when
 * it is woken on the same CPU), and "wait" the round trip: compare the other columns. */
#define _POSIX_C_SOURCE 200809L
#include <connpool/connpool.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static void wait_readable(int fd) {
    struct pollfd p = {fd, POLLIN, 0};
    poll(&p, 1, -1);
}

enum { TRY, SEND, WAIT, COLLECT, READ, FREE, RELEASE, N_PHASES };

static int run_connpool(const char *conninfo, int n, double *t) {
    connpool_options *o = NULL;
    connpool_pool *pool = NULL;
    connpool_error *err = NULL;
    char copy[64];
    if (connpool_options_new(&o, &err) != CONNPOOL_OK ||
        connpool_options_set(o, "min_size", "1", &err) != CONNPOOL_OK ||
        connpool_options_set(o, "max_size", "1", &err) != CONNPOOL_OK ||
        connpool_pool_create(&pool, conninfo, o, &err) != CONNPOOL_OK ||
        connpool_pool_wait_ready(pool, 10000, &err) != CONNPOOL_OK) {
        fprintf(stderr, "connpool: %s\n", err ? connpool_error_message(err) : "options");
        return 1;
    }
    connpool_options_free(o);
    for (int i = 0; i < n; i++) {
        connpool_lease *lease = NULL;
        connpool_result *res = NULL;
        int32_t fd = -1, events = 0;
        double a = now_ns();
        if (connpool_pool_try_acquire(&lease, pool, NULL) != CONNPOOL_OK) return 1;
        double b = now_ns();
        if (connpool_lease_send(lease, "SELECT 1", 0, NULL, NULL) != CONNPOOL_OK) return 1;
        double c = now_ns();
        connpool_lease_socket(&fd, &events, lease, NULL);
        wait_readable(fd);
        double d = now_ns();
        connpool_status st;
        while ((st = connpool_lease_collect(&res, lease, NULL)) == CONNPOOL_ERR_IN_PROGRESS) {
            wait_readable(fd);
        }
        if (st != CONNPOOL_OK) return 1;
        double e = now_ns();
        if (connpool_result_row_count(res) != 1 || connpool_result_column_count(res) != 1 ||
            connpool_result_is_null(res, 0, 0) != 0) {
            return 1;
        }
        int64_t len = connpool_result_value_length(res, 0, 0);
        memcpy(copy, connpool_result_value(res, 0, 0), (size_t)len);
        (void)connpool_result_column_type(res, 0);
        (void)connpool_result_affected_rows(res);
        double f = now_ns();
        connpool_result_free(res);
        double g = now_ns();
        connpool_lease_release(lease, NULL);
        double h = now_ns();
        if (i >= n / 10) {  // the first tenth warms up (and prepares the statement)
            t[TRY] += b - a, t[SEND] += c - b, t[WAIT] += d - c, t[COLLECT] += e - d;
            t[READ] += f - e, t[FREE] += g - f, t[RELEASE] += h - g;
        }
    }
    connpool_pool_free(pool);
    return 0;
}

static int run_libpq(const char *conninfo, int n, double *t) {
    PGconn *conn = PQconnectdb(conninfo);
    char copy[64];
    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "libpq: %s", PQerrorMessage(conn));
        return 1;
    }
    PQclear(PQprepare(conn, "s1", "SELECT 1", 0, NULL));
    PQsetnonblocking(conn, 1);
    for (int i = 0; i < n; i++) {
        double a = now_ns();
        if (PQsendQueryPrepared(conn, "s1", 0, NULL, NULL, NULL, 0) != 1 || PQflush(conn) != 0) {
            return 1;
        }
        double b = now_ns();
        wait_readable(PQsocket(conn));
        double c = now_ns();
        PGresult *res = NULL;
        for (;;) {  // read until the whole answer is in
            if (PQconsumeInput(conn) != 1) return 1;
            if (!PQisBusy(conn)) break;
            wait_readable(PQsocket(conn));
        }
        double d = now_ns();
        res = PQgetResult(conn);
        PQclear(PQgetResult(conn));  // NULL: end of this statement's results
        double e = now_ns();
        memcpy(copy, PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0));
        PQclear(res);
        double f = now_ns();
        if (i >= n / 10)
            t[SEND] += b - a, t[WAIT] += c - b, t[COLLECT] += d - c, t[READ] += e - d,
                t[FREE] += f - e;
    }
    PQfinish(conn);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s CONNINFO [statements]\n", argv[0]);
        return 2;
    }
    const int n = argc > 2 ? atoi(argv[2]) : 50000;
    const double m = n - n / 10;
    double pool[N_PHASES] = {0}, raw[N_PHASES] = {0};
    if (run_connpool(argv[1], n, pool) != 0 || run_libpq(argv[1], n, raw) != 0) {
        fprintf(stderr, "a statement failed\n");
        return 1;
    }
    printf("ns per statement    try-acquire   send    wait  collect  read-row  free  release\n");
    printf("libconnpool         %8.0f %8.0f %7.0f %8.0f %9.0f %5.0f %8.0f\n", pool[TRY] / m,
           pool[SEND] / m, pool[WAIT] / m, pool[COLLECT] / m, pool[READ] / m, pool[FREE] / m,
           pool[RELEASE] / m);
    printf("bare libpq          %8s %8.0f %7.0f %8.0f %9.0f %5.0f %8s\n", "-", raw[SEND] / m,
           raw[WAIT] / m, raw[COLLECT] / m, raw[READ] / m, raw[FREE] / m, "-");
    printf("(libpq: collect = PQconsumeInput, read-row = PQgetResult x2, free = copy + PQclear)\n");
    return 0;
}
