// connpool_pool_resize/_pause/_resume/_drain/_check/_connections_json and connpool_lease_get_info:
// run-time operations on a pool. STUB: being implemented (issue 13).
#include "handles.hpp"

using namespace connpool;
using namespace connpool::capi;

CONNPOOL_API connpool_status connpool_pool_resize(connpool_pool *, int32_t, int32_t,
                                                  connpool_error **) {
    return CONNPOOL_ERR_INTERNAL;
}
CONNPOOL_API connpool_status connpool_pool_pause(connpool_pool *, connpool_error **) {
    return CONNPOOL_ERR_INTERNAL;
}
CONNPOOL_API connpool_status connpool_pool_resume(connpool_pool *, connpool_error **) {
    return CONNPOOL_ERR_INTERNAL;
}
CONNPOOL_API connpool_status connpool_pool_drain(connpool_pool *, connpool_error **) {
    return CONNPOOL_ERR_INTERNAL;
}
CONNPOOL_API connpool_status connpool_pool_check(int32_t *, connpool_pool *, connpool_error **) {
    return CONNPOOL_ERR_INTERNAL;
}
CONNPOOL_API connpool_status connpool_lease_get_info(connpool_lease_info *, connpool_lease *,
                                                     connpool_error **) {
    return CONNPOOL_ERR_INTERNAL;
}
CONNPOOL_API connpool_status connpool_pool_connections_json(char **, connpool_pool *,
                                                            connpool_error **) {
    return CONNPOOL_ERR_INTERNAL;
}
