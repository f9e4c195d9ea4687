/*
 * The README's "Init SQL, credential rotation and direct connections": a pool whose connections
 * run init_sql first, a new conninfo given to the running pool, and one connection opened
 * outside any pool. CTest runs it against the test server (examples.direct_connect): it fails
 * unless the pool's connections show init_sql's settings, an unparsable conninfo is refused and
 * the pool goes on with the old one, connections opened after the rotation use the new conninfo
 * (another backend, its application_name), and the direct connection has its own backend.
 *
 *   direct_connect [CONNINFO]
 */
#include <connpool/connpool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failed(const char *what, connpool_error *err) {
    fprintf(stderr, "direct_connect: %s: %s: %s\n", what,
            connpool_status_name(connpool_error_status(err)), connpool_error_message(err));
    connpool_error_free(err);
    return 1;
}

/* The first value `sql` answers on a new lease of `pool`, copied into `out`; 1 on success. */
static int pool_answer(char *out, size_t size, connpool_pool *pool, const char *sql) {
    connpool_lease *lease = NULL;
    connpool_result *res = NULL;
    connpool_error *err = NULL;
    int ok = connpool_pool_acquire(&lease, pool, 5000, &err) == CONNPOOL_OK &&
             connpool_lease_exec(&res, lease, sql, 0, NULL, &err) == CONNPOOL_OK;
    if (ok)
        snprintf(out, size, "%s", connpool_result_value(res, 0, 0));
    else
        failed(sql, err);
    connpool_result_free(res);
    if (lease) connpool_lease_release(lease, NULL);
    return ok;
}

static connpool_pool *open_pool(const char *conninfo) {
    connpool_options *opts = NULL;
    connpool_pool *pool = NULL;
    connpool_error *err = NULL;
    connpool_status st = connpool_options_new(&opts, &err);
    if (st == CONNPOOL_OK) st = connpool_options_set(opts, "max_size", "1", &err);
    /* README:begin */
    /* Every connection of the pool searches schema app first and has a 5 s statement limit. */
    const char *init_sql = "SET search_path TO app, public; SET statement_timeout = '5s'";
    if (st == CONNPOOL_OK) st = connpool_options_set(opts, "init_sql", init_sql, &err);
    /* README:end */
    if (st == CONNPOOL_OK) st = connpool_pool_create(&pool, conninfo, opts, &err);
    connpool_options_free(opts);
    if (st != CONNPOOL_OK) failed("pool", err);
    return pool;
}

/* README:begin */
/* The secret store rotated the password: connections opened from now on use the new conninfo. */
static connpool_status rotate(connpool_pool *pool, const char *new_conninfo, connpool_error **err) {
    /* Refused (e.g. not parsable): the old conninfo stays in force. */
    connpool_status st = connpool_pool_set_conninfo(pool, new_conninfo, err);
    /* Optional: retire the old connections now rather than at max_lifetime. */
    if (st == CONNPOOL_OK) st = connpool_pool_drain(pool, err);
    return st;
}
/* README:end */

/* README:begin */
/* One connection outside any pool, for a one-off job; releasing it closes it. */
static connpool_status analyze_pg_class(const char *conninfo, connpool_error **err) {
    connpool_lease *direct = NULL;
    connpool_result *res = NULL;
    connpool_status st = connpool_connect(&direct, conninfo, NULL, err);
    if (st != CONNPOOL_OK) return st; /* connpool_error_sqlstate(*err): e.g. 28P01 */
    st = connpool_lease_exec(&res, direct, "ANALYZE pg_class", 0, NULL, err);
    connpool_result_free(res);
    connpool_lease_release(direct, NULL); /* closes the connection */
    return st;
}
/* README:end */

/* The backend pid of a direct connection, which must differ from the pool's. */
static int direct_backend(char *out, size_t size, const char *conninfo) {
    connpool_lease *direct = NULL;
    connpool_result *res = NULL;
    connpool_error *err = NULL;
    int ok =
        connpool_connect(&direct, conninfo, NULL, &err) == CONNPOOL_OK &&
        connpool_lease_exec(&res, direct, "SELECT pg_backend_pid()", 0, NULL, &err) == CONNPOOL_OK;
    if (ok)
        snprintf(out, size, "%s", connpool_result_value(res, 0, 0));
    else
        failed("direct connection", err);
    connpool_result_free(res);
    if (direct) connpool_lease_release(direct, NULL);
    return ok;
}

static int expect(const char *what, const char *got, const char *want) {
    if (strcmp(got, want) == 0) return 1;
    fprintf(stderr, "direct_connect: %s is \"%s\", expected \"%s\"\n", what, got, want);
    return 0;
}

int main(int argc, char **argv) {
    const char *conninfo = argc > 1 ? argv[1] : "host=/var/run/postgresql dbname=app";
    char rotated[1024], value[256], old_pid[32], new_pid[32], direct_pid[32];
    connpool_error *err = NULL;
    int rc = 1;

    connpool_pool *pool = open_pool(conninfo);
    if (pool == NULL) return 1;
    if (!pool_answer(value, sizeof value, pool, "SHOW search_path") ||
        !expect("search_path", value, "app, public"))
        goto out;
    if (!pool_answer(value, sizeof value, pool, "SHOW statement_timeout") ||
        !expect("statement_timeout", value, "5s"))
        goto out;
    if (!pool_answer(old_pid, sizeof old_pid, pool, "SELECT pg_backend_pid()")) goto out;

    /* A conninfo libpq cannot parse is refused; the pool keeps using the old one. */
    if (rotate(pool, "host='unterminated", &err) != CONNPOOL_ERR_INVALID_ARGUMENT) {
        fprintf(stderr, "direct_connect: an unparsable conninfo was not refused\n");
        goto out;
    }
    connpool_error_free(err);
    err = NULL;
    if (!pool_answer(value, sizeof value, pool, "SELECT pg_backend_pid()") ||
        !expect("backend after the refused conninfo", value, old_pid))
        goto out;

    /* The rotation: the drained connection is replaced by one opened with the new conninfo. */
    snprintf(rotated, sizeof rotated, "%s application_name=rotated", conninfo);
    if (rotate(pool, rotated, &err) != CONNPOOL_OK) {
        failed("rotate", err);
        goto out;
    }
    if (!pool_answer(value, sizeof value, pool, "SHOW application_name") ||
        !expect("application_name after the rotation", value, "rotated"))
        goto out;
    if (!pool_answer(new_pid, sizeof new_pid, pool, "SELECT pg_backend_pid()")) goto out;
    if (strcmp(new_pid, old_pid) == 0) {
        fprintf(stderr, "direct_connect: the drain did not replace backend %s\n", old_pid);
        goto out;
    }

    if (analyze_pg_class(conninfo, &err) != CONNPOOL_OK) {
        failed("analyze", err);
        goto out;
    }
    if (!direct_backend(direct_pid, sizeof direct_pid, conninfo)) goto out;
    if (strcmp(direct_pid, new_pid) == 0) {
        fprintf(stderr, "direct_connect: the direct connection shares backend %s\n", new_pid);
        goto out;
    }
    printf("init_sql applied, conninfo rotated (backend %s -> %s), direct backend %s\n", old_pid,
           new_pid, direct_pid);
    rc = 0;
out:
    connpool_pool_free(pool);
    return rc;
}
