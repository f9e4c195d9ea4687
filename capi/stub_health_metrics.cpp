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
CONNPOOL_API connpool_status connpool_pool_health(int32_t *, connpool_pool *,
                                                  connpool_error **err) {
    return not_yet(err, "connpool_pool_health: not implemented yet");
}
CONNPOOL_API connpool_status connpool_pool_health_json(char **, connpool_pool *,
                                                       connpool_error **err) {
    return not_yet(err, "connpool_pool_health_json: not implemented yet");
}
CONNPOOL_API connpool_status connpool_registry_health_json(char **, int32_t *,
                                                           connpool_error **err) {
    return not_yet(err, "connpool_registry_health_json: not implemented yet");
}
CONNPOOL_API connpool_status connpool_pool_metrics(char **, connpool_pool *, int32_t,
                                                   connpool_error **err) {
    return not_yet(err, "connpool_pool_metrics: not implemented yet");
}
CONNPOOL_API connpool_status connpool_registry_metrics(char **, int32_t, connpool_error **err) {
    return not_yet(err, "connpool_registry_metrics: not implemented yet");
}
}
