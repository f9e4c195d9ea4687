/*
 * The README's "Multiplexed statements": statements run on the pool without a lease, written by
 * many callers into a few shared connections. CTest runs it against the test server
 * (examples.multiplexed): it fails unless the statement answers its own parameter.
 *
 *   multiplexed [CONNINFO]
 */
#include <connpool/connpool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failed(const char *what, connpool_error *err) {
    fprintf(stderr, "multiplexed: %s: %s: %s\n", what,
            connpool_status_name(connpool_error_status(err)), connpool_error_message(err));
    connpool_error_free(err);
    return 1;
}

int main(int argc, char **argv) {
    const char *conninfo = argc > 1 ? argv[1] : getenv("CONNPOOL_CONNINFO");
    if (conninfo == NULL) conninfo = "";
    connpool_options *opts = NULL;
    connpool_pool *pool = NULL;
    connpool_error *err = NULL;
    if (connpool_options_new(&opts, &err) != CONNPOOL_OK) return failed("options", err);
    /* README:begin */
    connpool_options_set(opts, "max_size", "8", NULL);
    connpool_options_set(opts, "multiplexing_connections", "4", NULL);
    /* README:end */
    connpool_status st = connpool_pool_create(&pool, conninfo, opts, &err);
    connpool_options_free(opts);
    if (st != CONNPOOL_OK) return failed("pool", err);
    /* README:begin */
    const char *params[] = {"42"};
    connpool_result *r = NULL;
    if (connpool_pool_exec(&r, pool, "SELECT $1::int", 1, params, 2000 /* ms */, &err) ==
        CONNPOOL_OK)
        printf("%s\n", connpool_result_value(r, 0, 0));
    else
        failed("connpool_pool_exec", err);
    /* README:end */
    const int ok = r != NULL && strcmp(connpool_result_value(r, 0, 0), "42") == 0;
    connpool_result_free(r);
    connpool_pool_free(pool);
    return ok ? 0 : 1;
}
