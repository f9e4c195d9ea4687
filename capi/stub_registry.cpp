// PLACEHOLDER for the issue-12 work in progress: each function here answers
// CONNPOOL_ERR_INTERNAL until its implementation replaces it. This file is deleted by the
// branch that implements these functions; it never lands on main.
#include "handles.hpp"
#include "registry.hpp"

using namespace connpool::capi;

namespace {
connpool_status not_yet(connpool_error **err, const char *function) {
    return fail(err, CONNPOOL_ERR_INTERNAL, function);
}
}  // namespace

namespace connpool::capi {
std::vector<RegisteredPool> registered_pools() {
    return {};
}
}  // namespace connpool::capi

extern "C" {
CONNPOOL_API connpool_status connpool_registry_get_or_create(connpool_pool **, const char *,
                                                             const char *, const connpool_options *,
                                                             connpool_error **err) {
    return not_yet(err, "connpool_registry_get_or_create: not implemented yet");
}
CONNPOOL_API connpool_status connpool_registry_lookup(connpool_pool **, const char *,
                                                      connpool_error **err) {
    return not_yet(err, "connpool_registry_lookup: not implemented yet");
}
CONNPOOL_API connpool_status connpool_registry_names(char **, connpool_error **err) {
    return not_yet(err, "connpool_registry_names: not implemented yet");
}
CONNPOOL_API connpool_status connpool_registry_stats_json(char **, connpool_error **err) {
    return not_yet(err, "connpool_registry_stats_json: not implemented yet");
}
CONNPOOL_API connpool_status connpool_registry_close(const char *, connpool_error **err) {
    return not_yet(err, "connpool_registry_close: not implemented yet");
}
CONNPOOL_API connpool_status connpool_registry_close_all(connpool_error **err) {
    return not_yet(err, "connpool_registry_close_all: not implemented yet");
}
CONNPOOL_API connpool_status connpool_registry_set_connection_budget(int32_t,
                                                                     connpool_error **err) {
    return not_yet(err, "connpool_registry_set_connection_budget: not implemented yet");
}
}
