/*
 * The README's "Read-only routing": a pool group over a primary and its standbys, read-only
 * leases on a standby and read-write ones on the primary. CTest runs it against the single test
 * server (examples.read_routing), a group of one host: there is no standby, so the read-only
 * lease must land on the primary (pg_is_in_recovery() false) and be counted in the group's
 * read_only_on_primary; the read-write lease must be on the primary too.
 *
 *   read_routing [CONNINFO]   (a multi-host conninfo: host=db1,db2,db3 ...)
 */
#include <connpool/connpool.h>
#include <stdio.h>
#include <string.h>

static int failed(const char *what, connpool_error *err) {
    fprintf(stderr, "read_routing: %s: %s: %s\n", what,
            connpool_status_name(connpool_error_status(err)), connpool_error_message(err));
    connpool_error_free(err);
    return 1;
}

/* The first value `sql` answers on `lease`, copied into `out` ("?" on failure). */
static void query_value(char out[8], connpool_lease *lease, const char *sql) {
    connpool_result *res = NULL;
    connpool_error *err = NULL;
    snprintf(out, 8, "?");
    if (connpool_lease_exec(&res, lease, sql, 0, NULL, &err) == CONNPOOL_OK)
        snprintf(out, 8, "%s", connpool_result_value(res, 0, 0));
    else
        failed(sql, err);
    connpool_result_free(res);
}

int main(int argc, char **argv) {
    const char *conninfo = argc > 1 ? argv[1] : "host=db1,db2,db3 port=5432 dbname=app user=app";
    char read_only[8], read_write[8];
    connpool_error *err = NULL;
    int ok;

    /* README:begin */
    /* conninfo: "host=db1,db2,db3 port=5432 dbname=app user=app"; NULL: default options */
    connpool_group *group = NULL;
    if (connpool_group_create(&group, conninfo, NULL, &err) != CONNPOOL_OK)
        return failed("group", err);

    /* A standby; the primary when no standby is healthy and within replica_max_lag. */
    connpool_lease *lease = NULL;
    if (connpool_group_acquire(&lease, group, CONNPOOL_ROUTE_READ_ONLY, 5000, &err) != CONNPOOL_OK)
        goto fail;
    query_value(read_only, lease, "SELECT pg_is_in_recovery()"); /* "t" on a standby */
    connpool_lease_release(lease, NULL);

    /* The primary. */
    if (connpool_group_acquire(&lease, group, CONNPOOL_ROUTE_READ_WRITE, 5000, &err) != CONNPOOL_OK)
        goto fail;
    query_value(read_write, lease, "SELECT pg_is_in_recovery()"); /* "f" */
    connpool_lease_release(lease, NULL);

    char *json = NULL; /* per node: host, port, role, healthy, lag_ms, stats; the counters */
    if (connpool_group_stats_json(&json, group, &err) != CONNPOOL_OK) goto fail;
    puts(json);
    connpool_string_free(json);
    /* README:end */

    if (connpool_group_stats_json(&json, group, &err) != CONNPOOL_OK) goto fail;

    /* The test server is a group of one host, a primary: the read-only lease falls back to it. */
    ok = strcmp(read_only, "f") == 0 && strcmp(read_write, "f") == 0 &&
         strstr(json, "\"read_only_on_primary\": 1") != NULL &&
         strstr(json, "\"role\": \"primary\"") != NULL;
    if (!ok)
        fprintf(stderr,
                "read_routing: expected both leases on the primary (in recovery: %s, %s) "
                "and read_only_on_primary 1\n",
                read_only, read_write);
    connpool_string_free(json);
    connpool_group_free(group);
    return ok ? 0 : 1;
fail:
    failed("acquire", err);
    connpool_group_free(group);
    return 1;
}
