/*
 * The README's "Prepared statements": the two options of the per-connection statement cache,
 * and what they do. CTest runs it against the test server (examples.prepared): with
 * prepare_threshold 2 a statement text must be unprepared after two executions on a connection
 * and prepared (as _connpool_<n>, visible in pg_prepared_statements) after the third, with the
 * same answers throughout.
 *
 *   prepared [CONNINFO]
 */
#include <connpool/connpool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One statement that answers one integer; -1 on failure (reported on stderr). */
static long query_int(connpool_lease *lease, const char *sql, const char *param) {
    connpool_result *res = NULL;
    connpool_error *err = NULL;
    const char *params[] = {param};
    long value = -1;
    if (connpool_lease_exec(&res, lease, sql, param ? 1 : 0, param ? params : NULL, &err) == CONNPOOL_OK)
        value = atol(connpool_result_value(res, 0, 0));
    else
        fprintf(stderr, "prepared: %s: %s\n", sql, connpool_error_message(err));
    connpool_result_free(res);
    connpool_error_free(err);
    return value;
}

/* How many times this session has `sql` prepared by the library (as _connpool_<n>). */
static long prepared_count(connpool_lease *lease, const char *sql) {
    return query_int(lease,
                     "SELECT count(*) FROM pg_prepared_statements"
                     " WHERE statement = $1 AND starts_with(name, '_connpool_')",
                     sql);
}

int main(int argc, char **argv) {
    const char *conninfo = argc > 1 ? argv[1] : "host=/var/run/postgresql dbname=app";
    connpool_options *opts = NULL;
    connpool_pool *pool = NULL;
    connpool_lease *lease = NULL;
    connpool_error *err = NULL;
    int ok = 1;

    if (connpool_options_new(&opts, &err) != CONNPOOL_OK) goto fail;
    /* README:begin */
    /* Prepare a statement text on a connection at its 3rd execution there (default: the 6th)
     * and keep at most 50 per connection (default 100; "0": never prepare). */
    if (connpool_options_set(opts, "prepare_threshold", "2", &err) != CONNPOOL_OK) goto fail;
    if (connpool_options_set(opts, "statement_cache_size", "50", &err) != CONNPOOL_OK) goto fail;
    /* README:end */
    if (connpool_options_set(opts, "max_size", "1", &err) != CONNPOOL_OK) goto fail;
    if (connpool_pool_create(&pool, conninfo, opts, &err) != CONNPOOL_OK) goto fail;
    connpool_options_free(opts);
    opts = NULL;
    if (connpool_pool_acquire(&lease, pool, 5000, &err) != CONNPOOL_OK) goto fail;

    for (int run = 1; run <= 3; run++) {
        long answer = query_int(lease, "SELECT $1::int * 2", "21");
        long prepared = prepared_count(lease, "SELECT $1::int * 2");
        printf("execution %d: answer %ld, prepared statements %ld\n", run, answer, prepared);
        ok = ok && answer == 42 && prepared == (run < 3 ? 0 : 1);
    }
    connpool_lease_release(lease, NULL);
    connpool_pool_free(pool);
    if (!ok) fprintf(stderr, "prepared: expected answer 42 each time and 0, 0, 1 prepared\n");
    return ok ? 0 : 1;
fail:
    fprintf(stderr, "%s: %s\n", connpool_status_name(connpool_error_status(err)), connpool_error_message(err));
    connpool_error_free(err);
    connpool_options_free(opts);
    connpool_pool_free(pool);
    return 1;
}
