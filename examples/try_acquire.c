/*
 * The README's "Acquiring without blocking": take an idle connection with
 * connpool_pool_try_acquire, and only when it answers CONNPOOL_ERR_WOULD_BLOCK start an
 * asynchronous acquire and wait on its descriptor (here with poll(); an event loop would watch
 * the descriptor instead). CTest runs it against the test server (examples.try_acquire): it
 * fails unless a fresh pool answers WOULD_BLOCK, the asynchronous path opens a working
 * connection, and the next call gets that same connection back without waiting.
 *
 *   try_acquire [CONNINFO]
 */
#define _POSIX_C_SOURCE 200809L

#include <connpool/connpool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* README:begin */
#include <poll.h>

/* Borrows a connection without ever blocking inside the library. */
static connpool_status acquire_nonblocking(connpool_lease **lease, connpool_pool *pool,
                                           connpool_error **err) {
    connpool_status st = connpool_pool_try_acquire(lease, pool, err);
    if (st != CONNPOOL_ERR_WOULD_BLOCK) return st;   /* CONNPOOL_OK: an idle connection, at once */

    connpool_acquire *req = NULL;
    if ((st = connpool_pool_acquire_async(&req, pool, 5000 /* ms */, err)) != CONNPOOL_OK) return st;
    int32_t fd;
    if ((st = connpool_acquire_fd(&fd, req, err)) == CONNPOOL_OK) {
        while ((st = connpool_acquire_result(lease, req, err)) == CONNPOOL_ERR_IN_PROGRESS) {
            struct pollfd p = {fd, POLLIN, 0};
            poll(&p, 1, -1);   /* or: watch fd in your event loop; the pool enforces the 5 s */
        }
    }
    connpool_acquire_free(req);   /* a collected lease stays the caller's */
    return st;
}
/* README:end */

static int failed(const char *what, connpool_status st, connpool_error *err) {
    fprintf(stderr, "try_acquire: %s: %s: %s\n", what, connpool_status_name(st),
            err ? connpool_error_message(err) : "");
    connpool_error_free(err);
    return 1;
}

/* One statement on the lease; 1 if it answered `expected`. */
static int answers(connpool_lease *lease, const char *sql, const char *expected) {
    connpool_result *res = NULL;
    connpool_error *err = NULL;
    connpool_status st = connpool_lease_exec(&res, lease, sql, 0, NULL, &err);
    int ok = st == CONNPOOL_OK && strcmp(connpool_result_value(res, 0, 0), expected) == 0;
    if (!ok) failed(sql, st, err);
    connpool_result_free(res);
    return ok;
}

int main(int argc, char **argv) {
    const char *conninfo = argc > 1 ? argv[1] : "host=/var/run/postgresql dbname=app";
    connpool_options *opts = NULL;
    connpool_pool *pool = NULL;
    connpool_lease *lease = NULL;
    connpool_error *err = NULL;
    connpool_status st;
    uint64_t first_id = 0, second_id = 0;
    int rc = 1;

    /* min_size 0: a new pool has no connection, so try_acquire must answer WOULD_BLOCK. */
    if ((st = connpool_options_new(&opts, &err)) != CONNPOOL_OK) return failed("options", st, err);
    if ((st = connpool_options_set(opts, "max_size", "1", &err)) != CONNPOOL_OK) {
        connpool_options_free(opts);
        return failed("options", st, err);
    }
    st = connpool_pool_create(&pool, conninfo, opts, &err);
    connpool_options_free(opts);
    if (st != CONNPOOL_OK) return failed("pool_create", st, err);

    if ((st = connpool_pool_try_acquire(&lease, pool, &err)) != CONNPOOL_ERR_WOULD_BLOCK) {
        failed("try_acquire on an empty pool (expected CONNPOOL_ERR_WOULD_BLOCK)", st, err);
        if (st == CONNPOOL_OK) connpool_lease_release(lease, NULL);
        goto out;
    }

    /* The first call waits through the asynchronous acquire while a connection opens. */
    if ((st = acquire_nonblocking(&lease, pool, &err)) != CONNPOOL_OK) {
        failed("first acquire", st, err);
        goto out;
    }
    if (!answers(lease, "SELECT 40 + 2", "42")) goto release;
    connpool_lease_connection_id(&first_id, lease, NULL);
    connpool_lease_release(lease, NULL);

    /* The second finds that connection idle: try_acquire takes it at once. */
    if ((st = acquire_nonblocking(&lease, pool, &err)) != CONNPOOL_OK) {
        failed("second acquire", st, err);
        goto out;
    }
    connpool_lease_connection_id(&second_id, lease, NULL);
    if (second_id != first_id) {
        fprintf(stderr, "try_acquire: expected connection %llu again, got %llu\n",
                (unsigned long long)first_id, (unsigned long long)second_id);
        goto release;
    }
    if (!answers(lease, "SELECT 'again'", "again")) goto release;
    printf("connection %llu: opened through the asynchronous acquire, then taken idle\n",
           (unsigned long long)first_id);
    rc = 0;
release:
    connpool_lease_release(lease, NULL);
out:
    connpool_pool_free(pool);
    return rc;
}
