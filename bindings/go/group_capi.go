package connpool

// The C calls of pool groups (group.go), kept apart from capi.go under the same rules: handles
// are tokens passed as uintptr, out-parameters live in C, error objects are converted and freed
// at once (takeError).

/*
#include <connpool/connpool.h>
#include <stdint.h>
#include <stdlib.h>

typedef struct { uintptr_t h; connpool_error *err; connpool_status st; } cpgo_group_handle;
typedef struct { char *json; connpool_error *err; connpool_status st; } cpgo_group_json;

static cpgo_group_handle cpgo_group_create(const char *conninfo, uintptr_t options) {
    cpgo_group_handle r = {0, NULL, 0};
    connpool_group *g = NULL;
    r.st = connpool_group_create(&g, conninfo, (const connpool_options *)options, &r.err);
    r.h = (uintptr_t)g;
    return r;
}

static cpgo_group_handle cpgo_group_wait_ready(uintptr_t g, int64_t timeout_ms) {
    cpgo_group_handle r = {0, NULL, 0};
    r.st = connpool_group_wait_ready((connpool_group *)g, timeout_ms, &r.err);
    return r;
}

static cpgo_group_handle cpgo_group_acquire(uintptr_t g, int32_t mode, int64_t timeout_ms) {
    cpgo_group_handle r = {0, NULL, 0};
    connpool_lease *l = NULL;
    r.st = connpool_group_acquire(&l, (connpool_group *)g, mode, timeout_ms, &r.err);
    r.h = (uintptr_t)l;
    return r;
}

static cpgo_group_json cpgo_group_stats_json(uintptr_t g) {
    cpgo_group_json r = {NULL, NULL, 0};
    r.st = connpool_group_stats_json(&r.json, (connpool_group *)g, &r.err);
    return r;
}

static connpool_status cpgo_group_close(uintptr_t g) {
    return connpool_group_close((connpool_group *)g, NULL);
}

static connpool_status cpgo_group_free(uintptr_t g) {
    return connpool_group_free((connpool_group *)g);
}
*/
import "C"

import "unsafe"

func cGroupCreate(conninfo string, options uintptr) (uintptr, error) {
	cs := C.CString(conninfo)
	defer C.free(unsafe.Pointer(cs))
	r := C.cpgo_group_create(cs, C.uintptr_t(options))
	return uintptr(r.h), takeError(r.st, r.err)
}

func cGroupWaitReady(g uintptr, timeoutMs int64) error {
	r := C.cpgo_group_wait_ready(C.uintptr_t(g), C.int64_t(timeoutMs))
	return takeError(r.st, r.err)
}

func cGroupAcquire(g uintptr, mode Route, timeoutMs int64) (uintptr, error) {
	r := C.cpgo_group_acquire(C.uintptr_t(g), C.int32_t(mode), C.int64_t(timeoutMs))
	return uintptr(r.h), takeError(r.st, r.err)
}

func cGroupStatsJSON(g uintptr) (string, error) {
	r := C.cpgo_group_stats_json(C.uintptr_t(g))
	if err := takeError(r.st, r.err); err != nil {
		return "", err
	}
	s := C.GoString(r.json)
	C.connpool_string_free(r.json)
	return s, nil
}

func cGroupClose(g uintptr) error { return takeError(C.cpgo_group_close(C.uintptr_t(g)), nil) }
func cGroupFree(g uintptr) error  { return takeError(C.cpgo_group_free(C.uintptr_t(g)), nil) }
