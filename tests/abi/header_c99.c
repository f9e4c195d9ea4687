/* The public header must compile as strict C99 (-std=c99 -pedantic -Werror) and be usable. */
#include <connpool/connpool.h>

int connpool_header_c99_check(void);

int connpool_header_c99_check(void) {
    connpool_stats stats;
    connpool_pool *pool = NULL;
    connpool_error *err = NULL;
    stats.struct_size = (uint32_t)sizeof stats;
    (void)pool;
    (void)err;
    return CONNPOOL_VERSION_NUMBER + CONNPOOL_ERR_INTERNAL + (int)stats.struct_size;
}

/* The asynchronous statement API is usable from C99. */
int connpool_header_c99_async(connpool_lease *lease);

int connpool_header_c99_async(connpool_lease *lease) {
    connpool_result *res = NULL;
    int32_t fd = -1, events = 0, tx = CONNPOOL_TRANSACTION_UNKNOWN;
    uint64_t id = 0;
    const char *const params[1] = {"1"};
    if (connpool_lease_send(lease, "SELECT $1", 1, params, NULL) != CONNPOOL_OK) return -1;
    (void)connpool_lease_socket(&fd, &events, lease, NULL);
    (void)connpool_lease_connection_id(&id, lease, NULL);
    (void)connpool_lease_transaction_status(&tx, lease, NULL);
    (void)connpool_lease_cancel(lease, NULL);
    if (connpool_lease_collect(&res, lease, NULL) == CONNPOOL_ERR_IN_PROGRESS) {
        return (events & (CONNPOOL_WAIT_READ | CONNPOOL_WAIT_WRITE)) + fd + (int)id + tx;
    }
    return (int)connpool_result_free(res);
}
