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
CONNPOOL_API connpool_status connpool_monitor_handle(int32_t *, char **, char **, const char *,
                                                     const char *, const char *, const char *,
                                                     const char *, connpool_error **err) {
    return not_yet(err, "connpool_monitor_handle: not implemented yet");
}
CONNPOOL_API connpool_status connpool_exporter_start(connpool_exporter **, const char *,
                                                     const char *, connpool_error **err) {
    return not_yet(err, "connpool_exporter_start: not implemented yet");
}
CONNPOOL_API connpool_status connpool_exporter_port(int32_t *, connpool_exporter *,
                                                    connpool_error **err) {
    return not_yet(err, "connpool_exporter_port: not implemented yet");
}
CONNPOOL_API connpool_status connpool_exporter_stop(connpool_exporter *) {
    return CONNPOOL_ERR_INTERNAL;
}
}
