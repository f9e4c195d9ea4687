/*
 * The README's "Run-time operations": resize, pause and resume, drain and check a running pool,
 * and ask what a lease's connection is and what all connections are doing. CTest runs it against
 * the test server (examples.run_time_ops): it fails unless the statistics count the resize and
 * the drain and show the new sizes, the check finds no dead connection, the lease's backend pid
 * is the one the server reports, and the JSON lists the leased connection.
 *
 *   run_time_ops [CONNINFO]
 */
#include <connpool/connpool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failed(const char *what, connpool_error *err) {
    fprintf(stderr, "run_time_ops: %s: %s: %s\n", what,
            connpool_status_name(connpool_error_status(err)), connpool_error_message(err));
    connpool_error_free(err);
    return 1;
}

/* The operations of the README on `pool`, with `lease` one of its leases. */
static int operate(connpool_pool *pool, connpool_lease *lease, int32_t *closed_out,
                   connpool_lease_info *info_out) {
    connpool_error *err = NULL;
    /* README:begin */
    /* Size: growing opens in the background; shrinking closes idle connections above the new max
     * now and retires leased ones above it when they are released. */
    if (connpool_pool_resize(pool, 2, 20, &err) != CONNPOOL_OK) return failed("resize", err);

    /* Maintenance window: nothing is handed out; acquires wait (within their timeout), try-acquires
     * return CONNPOOL_ERR_WOULD_BLOCK, leases already out go on. Resume serves waiters in order. */
    if (connpool_pool_pause(pool, &err) != CONNPOOL_OK) return failed("pause", err);
    if (connpool_pool_resume(pool, &err) != CONNPOOL_OK) return failed("resume", err);

    /* Fresh connections for everyone (after a failover, a role change, new settings): idle ones
     * close now, leased ones when released, and the pool refills to min_size. */
    if (connpool_pool_drain(pool, &err) != CONNPOOL_OK) return failed("drain", err);

    /* Validate every idle connection now; dead ones are closed (and replaced up to min_size). */
    int32_t closed = 0;
    if (connpool_pool_check(&closed, pool, &err) != CONNPOOL_OK) return failed("check", err);

    /* What a lease's connection is. */
    connpool_lease_info info = {.struct_size = sizeof info};
    if (connpool_lease_get_info(&info, lease, &err) != CONNPOOL_OK) return failed("info", err);
    printf("backend %d, connection %llu, use %lld%s\n", info.backend_pid,
           (unsigned long long)info.connection_id, (long long)info.use_count,
           info.is_new ? " (new)" : "");

    /* Every connection of the pool: state (idle, in_use, checking), backend pid, age, idle time,
     * uses, lease label and held time. */
    char *json = NULL;
    if (connpool_pool_connections_json(&json, pool, &err) != CONNPOOL_OK)
        return failed("connections", err);
    puts(json);
    connpool_string_free(json);
    /* README:end */

    if (connpool_pool_connections_json(&json, pool, &err) != CONNPOOL_OK)
        return failed("connections", err);
    int listed = strstr(json, "\"state\":\"in_use\"") != NULL;
    connpool_string_free(json);
    if (!listed) {
        fprintf(stderr, "run_time_ops: the leased connection is not listed as in_use\n");
        return 1;
    }
    *closed_out = closed;
    *info_out = info;
    return 0;
}

/* Checks the statistics after operate(): one resize, one drain, the new sizes, not paused. */
static int stats_agree(connpool_pool *pool) {
    connpool_stats stats;
    connpool_error *err = NULL;
    memset(&stats, 0, sizeof stats);
    stats.struct_size = sizeof stats;
    if (connpool_pool_stats(&stats, pool, &err) != CONNPOOL_OK) return !failed("stats", err);
    if (stats.resizes != 1 || stats.drains != 1 || stats.paused != 0 || stats.min_size != 2 ||
        stats.max_size != 20) {
        fprintf(stderr,
                "run_time_ops: stats resizes %lld drains %lld paused %lld sizes %lld..%lld, "
                "expected 1, 1, 0, 2..20\n",
                (long long)stats.resizes, (long long)stats.drains, (long long)stats.paused,
                (long long)stats.min_size, (long long)stats.max_size);
        return 0;
    }
    return 1;
}

int main(int argc, char **argv) {
    const char *conninfo = argc > 1 ? argv[1] : "host=/var/run/postgresql dbname=app";
    connpool_pool *pool = NULL;
    connpool_lease *lease = NULL;
    connpool_result *res = NULL;
    connpool_error *err = NULL;
    connpool_lease_info info;
    int32_t closed = -1;
    int rc = 1;

    if (connpool_pool_create(&pool, conninfo, NULL, &err) != CONNPOOL_OK)
        return failed("pool_create", err);
    if (connpool_pool_acquire(&lease, pool, 5000, &err) != CONNPOOL_OK) {
        failed("acquire", err);
        goto out;
    }
    if (connpool_lease_exec(&res, lease, "SELECT pg_backend_pid()", 0, NULL, &err) != CONNPOOL_OK) {
        failed("SELECT pg_backend_pid()", err);
        goto release;
    }
    if (operate(pool, lease, &closed, &info) != 0) goto release;
    if (closed != 0) {
        fprintf(stderr, "run_time_ops: the check closed %d live connections\n", (int)closed);
        goto release;
    }
    if (info.backend_pid != atoi(connpool_result_value(res, 0, 0)) || info.use_count != 1 ||
        !info.is_new) {
        fprintf(stderr, "run_time_ops: lease info backend %d use %lld new %d, server says %s\n",
                info.backend_pid, (long long)info.use_count, (int)info.is_new,
                connpool_result_value(res, 0, 0));
        goto release;
    }
    if (!stats_agree(pool)) goto release;
    rc = 0;
release:
    connpool_result_free(res);
    connpool_lease_release(lease, NULL);
out:
    connpool_pool_free(pool);
    return rc;
}
