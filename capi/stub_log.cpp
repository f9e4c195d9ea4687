// PLACEHOLDER for the issue-12 work in progress: each function here answers
// CONNPOOL_ERR_INTERNAL until its implementation replaces it. This file is deleted by the
// branch that implements these functions; it never lands on main.
#include "handles.hpp"

using namespace connpool::capi;

namespace {
connpool_status not_yet(connpool_error **err, const char *function) {
    return fail(err, CONNPOOL_ERR_INTERNAL, function);
}
}  // namespace

extern "C" {
CONNPOOL_API connpool_status connpool_log_set_callback(connpool_log_callback, void *, int32_t,
                                                       connpool_error **err) {
    return not_yet(err, "connpool_log_set_callback: not implemented yet");
}
CONNPOOL_API connpool_status connpool_pool_set_log_callback(connpool_pool *, connpool_log_callback,
                                                            void *, int32_t, connpool_error **err) {
    return not_yet(err, "connpool_pool_set_log_callback: not implemented yet");
}
CONNPOOL_API int64_t connpool_log_dropped_count(void) {
    return 0;
}
}
