// connpool_pool_set_conninfo: credential rotation. STUB: being implemented (issue 13).
#include "handles.hpp"

CONNPOOL_API connpool_status connpool_pool_set_conninfo(connpool_pool *, const char *,
                                                        connpool_error **) {
    return CONNPOOL_ERR_INTERNAL;
}
