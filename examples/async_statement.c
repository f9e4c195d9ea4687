/*
 * The README's "Statements without blocking": connpool_lease_send starts a statement, the
 * caller waits on the lease's socket (here with poll(); an event loop would watch it instead)
 * and connpool_lease_collect gives the outcome. CTest runs it against the test server
 * (examples.async_statement): it fails unless the statement answers 42, a failing statement
 * reports its SQLSTATE exactly as connpool_lease_exec would, and the lease is idle afterwards.
 *
 *   async_statement [CONNINFO]
 */
#define _POSIX_C_SOURCE 200809L

#include <connpool/connpool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* README:begin */
#include <poll.h>

/* Runs one statement without blocking inside the library: send, then wait until collect has
 * the outcome. *res and the status are what connpool_lease_exec would have given. */
static connpool_status run_nonblocking(connpool_result **res, connpool_lease *lease, const char *sql,
                                       int32_t n_params, const char *const *params,
                                       connpool_error **err) {
    connpool_status st = connpool_lease_send(lease, sql, n_params, params, err);
    if (st != CONNPOOL_OK) return st;
    while ((st = connpool_lease_collect(res, lease, err)) == CONNPOOL_ERR_IN_PROGRESS) {
        int32_t fd, events;
        connpool_lease_socket(&fd, &events, lease, NULL);
        struct pollfd p = {fd, (short)((events & CONNPOOL_WAIT_READ ? POLLIN : 0) |
                                       (events & CONNPOOL_WAIT_WRITE ? POLLOUT : 0)), 0};
        poll(&p, 1, 5000);   /* or: register fd with your event loop and come back when ready */
    }
    return st;
}
/* README:end */

static int failed(const char *what, connpool_status st, connpool_error *err) {
    fprintf(stderr, "async_statement: %s: %s: %s\n", what, connpool_status_name(st),
            err ? connpool_error_message(err) : "");
    connpool_error_free(err);
    return 0;
}

static int check(connpool_lease *lease) {
    connpool_result *res = NULL;
    connpool_error *err = NULL;

    /* A statement with a parameter. */
    const char *params[] = {"41"};
    connpool_status st = run_nonblocking(&res, lease, "SELECT $1::int + 1", 1, params, &err);
    if (st != CONNPOOL_OK) return failed("SELECT $1::int + 1", st, err);
    int ok = strcmp(connpool_result_value(res, 0, 0), "42") == 0;
    printf("answer: %s\n", connpool_result_value(res, 0, 0));
    connpool_result_free(res);
    res = NULL;
    if (!ok) return failed("SELECT $1::int + 1 did not answer 42", st, NULL);

    /* A statement the server rejects: QUERY_FAILED, a result carrying the SQLSTATE. */
    st = run_nonblocking(&res, lease, "SELECT 1 / 0", 0, NULL, &err);
    ok = st == CONNPOOL_ERR_QUERY_FAILED && res != NULL &&
         strcmp(connpool_result_sqlstate(res), "22012") == 0 &&
         strcmp(connpool_error_sqlstate(err), "22012") == 0;
    printf("SELECT 1 / 0: %s, SQLSTATE %s\n", connpool_status_name(st),
           res ? connpool_result_sqlstate(res) : "(no result)");
    connpool_result_free(res);
    connpool_error_free(err);
    err = NULL;
    if (!ok) return failed("SELECT 1 / 0 did not fail with SQLSTATE 22012", st, NULL);

    /* Nothing pending any more: the connection is idle and takes the next statement. */
    int32_t fd = -1, events = -1, tx = -1;
    connpool_lease_socket(&fd, &events, lease, NULL);
    connpool_lease_transaction_status(&tx, lease, NULL);
    if (events != 0 || tx != CONNPOOL_TRANSACTION_IDLE) {
        fprintf(stderr, "async_statement: expected an idle lease, got events %d, transaction %d\n",
                (int)events, (int)tx);
        return 0;
    }
    return 1;
}

int main(int argc, char **argv) {
    const char *conninfo = argc > 1 ? argv[1] : "host=/var/run/postgresql dbname=app";
    connpool_pool *pool = NULL;
    connpool_lease *lease = NULL;
    connpool_error *err = NULL;
    connpool_status st;

    if ((st = connpool_pool_create(&pool, conninfo, NULL, &err)) != CONNPOOL_OK) {
        failed("pool_create", st, err);
        return 1;
    }
    if ((st = connpool_pool_acquire(&lease, pool, 5000, &err)) != CONNPOOL_OK) {
        failed("acquire", st, err);
        connpool_pool_free(pool);
        return 1;
    }
    int ok = check(lease);
    connpool_lease_release(lease, NULL);
    connpool_pool_free(pool);
    return ok ? 0 : 1;
}
