// connpool_connect: one connection outside any pool. STUB: being implemented (issue 13).
#include "handles.hpp"

CONNPOOL_API connpool_status connpool_connect(connpool_lease **, const char *,
                                              const connpool_options *, connpool_error **) {
    return CONNPOOL_ERR_INTERNAL;
}
