/*
 * The README's "Pools of a process": a named pool created once per process and looked up by
 * name elsewhere (another module, or Python or Go code loaded into the same process), the
 * statistics of all pools, and closing them. CTest runs it against the test server
 * (examples.registry): the lookup must reach the pool get_or_create made (one set of counters),
 * a second get_or_create with other options must be refused with CONNPOOL_ERR_CONFLICT, and
 * close_all must leave no name registered.
 *
 *   registry [CONNINFO]
 */
#include <connpool/connpool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* README:begin */
/* At start-up: the process's "orders" pool (created on the first call, shared afterwards). */
static connpool_status open_orders_pool(connpool_pool **pool, const char *conninfo,
                                        connpool_error **err) {
    connpool_options *opts = NULL;
    connpool_status st = connpool_options_new(&opts, err);
    if (st == CONNPOOL_OK) st = connpool_options_set(opts, "max_size", "8", err);
    /* Same name, conninfo and options: the same pool. Anything different: CONNPOOL_ERR_CONFLICT,
     * whose message names the first difference. */
    if (st == CONNPOOL_OK) st = connpool_registry_get_or_create(pool, "orders", conninfo, opts, err);
    connpool_options_free(opts);
    return st;
}

/* Anywhere else in the process (C, Python or Go): the same pool, by name. */
static connpool_status count_orders(long *n, connpool_error **err) {
    connpool_pool *pool = NULL;
    connpool_lease *lease = NULL;
    connpool_result *res = NULL;
    connpool_status st = connpool_registry_lookup(&pool, "orders", err);  /* or NOT_FOUND */
    if (st == CONNPOOL_OK) st = connpool_pool_acquire(&lease, pool, 5000, err);
    if (st == CONNPOOL_OK) st = connpool_lease_exec(&res, lease, "SELECT 42", 0, NULL, err);
    if (st == CONNPOOL_OK) *n = atol(connpool_result_value(res, 0, 0));
    connpool_result_free(res);
    if (lease) connpool_lease_release(lease, NULL);
    connpool_pool_free(pool);   /* frees this handle only: the pool stays registered and open */
    return st;
}
/* README:end */

int main(int argc, char **argv) {
    const char *conninfo = argc > 1 ? argv[1] : "host=/var/run/postgresql dbname=app";
    connpool_pool *pool = NULL;
    connpool_pool *other = NULL;
    connpool_options *opts = NULL;
    connpool_error *err = NULL;
    char *json = NULL;
    char *names = NULL;
    connpool_stats stats;
    long n = 0;
    int ok = 1;

    if (open_orders_pool(&pool, conninfo, &err) != CONNPOOL_OK) goto fail;
    if (count_orders(&n, &err) != CONNPOOL_OK) goto fail;
    if (n != 42) ok = 0;

    memset(&stats, 0, sizeof stats);
    stats.struct_size = sizeof stats;
    if (connpool_pool_stats(&stats, pool, &err) != CONNPOOL_OK) goto fail;
    if (stats.acquired != 1) {
        fprintf(stderr, "registry: the lookup did not reach the created pool\n");
        ok = 0;
    }

    /* The same name with other options is refused, naming the option. */
    if (connpool_options_new(&opts, &err) != CONNPOOL_OK) goto fail;
    if (connpool_options_set(opts, "max_size", "2", &err) != CONNPOOL_OK) goto fail;
    if (connpool_registry_get_or_create(&other, "orders", conninfo, opts, &err) !=
            CONNPOOL_ERR_CONFLICT ||
        strstr(connpool_error_message(err), "max_size") == NULL) {
        fprintf(stderr, "registry: expected a conflict naming max_size\n");
        ok = 0;
    }
    connpool_error_free(err);
    err = NULL;
    connpool_options_free(opts);
    opts = NULL;

    if (connpool_registry_stats_json(&json, &err) != CONNPOOL_OK) goto fail;
    printf("%s\n", json);   /* {"pools": {"orders": {...}}, "aggregate": {"pools": 1, ...}} */
    connpool_string_free(json);

    connpool_pool_free(pool);
    if (connpool_registry_close_all(&err) != CONNPOOL_OK) goto fail;   /* before exiting */
    if (connpool_registry_names(&names, &err) != CONNPOOL_OK) goto fail;
    if (strcmp(names, "") != 0) ok = 0;
    connpool_string_free(names);
    return ok ? 0 : 1;
fail:
    fprintf(stderr, "registry: %s: %s\n", connpool_status_name(connpool_error_status(err)),
            connpool_error_message(err));
    connpool_error_free(err);
    connpool_options_free(opts);
    connpool_pool_free(pool);
    connpool_registry_close_all(NULL);
    return 1;
}
