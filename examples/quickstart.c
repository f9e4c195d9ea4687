/*
 * The README's "Quick start in C", whole: create a pool, borrow a connection, run one statement,
 * give the connection back. CTest runs it against the test server (examples.quickstart); it
 * fails unless the answer is 42. The text between the README markers is the README's block,
 * checked by examples/check_readme_snippets.py.
 *
 *   quickstart [CONNINFO]
 */
/* README:begin */
#include <connpool/connpool.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    const char *conninfo = argc > 1 ? argv[1] : "host=/var/run/postgresql dbname=app";
    connpool_options *opts = NULL;
    connpool_pool *pool = NULL;
    connpool_lease *lease = NULL;
    connpool_result *res = NULL;
    connpool_error *err = NULL;

    if (connpool_options_new(&opts, &err) != CONNPOOL_OK) goto fail;
    if (connpool_options_set(opts, "max_size", "8", &err) != CONNPOOL_OK) goto fail;
    if (connpool_pool_create(&pool, conninfo, opts, &err) != CONNPOOL_OK) goto fail;
    connpool_options_free(opts);
    opts = NULL;

    if (connpool_pool_acquire(&lease, pool, 5000 /* ms */, &err) != CONNPOOL_OK) goto fail;
    const char *params[] = {"41"};
    if (connpool_lease_exec(&res, lease, "SELECT $1::int + 1", 1, params, &err) != CONNPOOL_OK)
        goto fail;
    int answer = atoi(connpool_result_value(res, 0, 0));
    printf("answer: %d\n", answer);
    connpool_result_free(res);
    connpool_lease_release(lease, NULL);   /* always; a second call returns CONNPOOL_ERR_INVALID_HANDLE */
    connpool_pool_free(pool);
    return answer == 42 ? 0 : 1;
fail:
    fprintf(stderr, "%s: %s\n", connpool_status_name(connpool_error_status(err)), connpool_error_message(err));
    connpool_error_free(err);
    connpool_result_free(res);   /* a statement the server rejected still has a result */
    if (lease) connpool_lease_release(lease, NULL);
    connpool_options_free(opts);
    connpool_pool_free(pool);
    return 1;
}
/* README:end */
