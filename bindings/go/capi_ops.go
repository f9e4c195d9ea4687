package connpool

// The C calls of the run-time operations (connpool.h, "Run-time operations"), of
// try-acquire, direct connections and lease metadata. Same rules as capi.go: handles cross as
// uintptr tokens, out-parameters live in C structs returned by value, error objects are
// converted and freed at once.

/*
#include <connpool/connpool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct { connpool_status st; connpool_error *err; } cpgo_op_status;
typedef struct { uintptr_t h; connpool_error *err; connpool_status st; } cpgo_op_handle;
typedef struct { char *text; connpool_error *err; connpool_status st; } cpgo_op_text;

static cpgo_op_status cpgo_pool_resize(uintptr_t p, int32_t min_size, int32_t max_size) {
    cpgo_op_status r = {0, NULL};
    r.st = connpool_pool_resize((connpool_pool *)p, min_size, max_size, &r.err);
    return r;
}

static cpgo_op_status cpgo_pool_pause(uintptr_t p) {
    cpgo_op_status r = {0, NULL};
    r.st = connpool_pool_pause((connpool_pool *)p, &r.err);
    return r;
}

static cpgo_op_status cpgo_pool_resume(uintptr_t p) {
    cpgo_op_status r = {0, NULL};
    r.st = connpool_pool_resume((connpool_pool *)p, &r.err);
    return r;
}

static cpgo_op_status cpgo_pool_drain(uintptr_t p) {
    cpgo_op_status r = {0, NULL};
    r.st = connpool_pool_drain((connpool_pool *)p, &r.err);
    return r;
}

typedef struct { int32_t closed; connpool_error *err; connpool_status st; } cpgo_check_ret;

static cpgo_check_ret cpgo_pool_check(uintptr_t p) {
    cpgo_check_ret r = {0, NULL, 0};
    r.st = connpool_pool_check(&r.closed, (connpool_pool *)p, &r.err);
    return r;
}

static cpgo_op_status cpgo_pool_set_conninfo(uintptr_t p, const char *conninfo) {
    cpgo_op_status r = {0, NULL};
    r.st = connpool_pool_set_conninfo((connpool_pool *)p, conninfo, &r.err);
    return r;
}

static cpgo_op_text cpgo_pool_connections_json(uintptr_t p) {
    cpgo_op_text r = {NULL, NULL, 0};
    r.st = connpool_pool_connections_json(&r.text, (connpool_pool *)p, &r.err);
    return r;
}

typedef struct { connpool_lease_info info; connpool_error *err; connpool_status st; } cpgo_info_ret;

static cpgo_info_ret cpgo_lease_get_info(uintptr_t l) {
    cpgo_info_ret r;
    memset(&r, 0, sizeof r);
    r.info.struct_size = (uint32_t)sizeof(connpool_lease_info);
    r.st = connpool_lease_get_info(&r.info, (connpool_lease *)l, &r.err);
    return r;
}

typedef struct { void *pgconn; connpool_error *err; connpool_status st; } cpgo_pgconn_ret;

static cpgo_pgconn_ret cpgo_lease_pgconn(uintptr_t l) {
    cpgo_pgconn_ret r = {NULL, NULL, 0};
    r.st = connpool_lease_pgconn(&r.pgconn, (connpool_lease *)l, &r.err);
    return r;
}

typedef struct { uint64_t id; connpool_error *err; connpool_status st; } cpgo_id_ret;

static cpgo_id_ret cpgo_lease_connection_id(uintptr_t l) {
    cpgo_id_ret r = {0, NULL, 0};
    r.st = connpool_lease_connection_id(&r.id, (connpool_lease *)l, &r.err);
    return r;
}

// WOULD_BLOCK comes without an error object (an expected answer).
static cpgo_op_handle cpgo_pool_try_acquire(uintptr_t p) {
    cpgo_op_handle r = {0, NULL, 0};
    connpool_lease *l = NULL;
    r.st = connpool_pool_try_acquire(&l, (connpool_pool *)p, &r.err);
    r.h = (uintptr_t)l;
    return r;
}

static cpgo_op_handle cpgo_connect(const char *conninfo, uintptr_t options) {
    cpgo_op_handle r = {0, NULL, 0};
    connpool_lease *l = NULL;
    r.st = connpool_connect(&l, conninfo, (const connpool_options *)options, &r.err);
    r.h = (uintptr_t)l;
    return r;
}

// Releases the lease so that its connection is closed, not reused: the C API closes a
// connection released with a statement pending (connpool_lease_send), and has no other way to
// say "do not reuse". A send that fails (the connection is broken, or a statement is already
// pending) leaves a connection the release closes anyway.
static cpgo_op_status cpgo_lease_discard(uintptr_t l) {
    cpgo_op_status r = {0, NULL};
    (void)connpool_lease_send((connpool_lease *)l, "SELECT 1", 0, NULL, NULL);
    r.st = connpool_lease_release((connpool_lease *)l, &r.err);
    return r;
}
*/
import "C"

import (
	"time"
	"unsafe"
)

func cPoolResize(p uintptr, minSize, maxSize int32) error {
	r := C.cpgo_pool_resize(C.uintptr_t(p), C.int32_t(minSize), C.int32_t(maxSize))
	return takeError(r.st, r.err)
}

func cPoolPause(p uintptr) error {
	r := C.cpgo_pool_pause(C.uintptr_t(p))
	return takeError(r.st, r.err)
}

func cPoolResume(p uintptr) error {
	r := C.cpgo_pool_resume(C.uintptr_t(p))
	return takeError(r.st, r.err)
}

func cPoolDrain(p uintptr) error {
	r := C.cpgo_pool_drain(C.uintptr_t(p))
	return takeError(r.st, r.err)
}

func cPoolCheck(p uintptr) (int, error) {
	r := C.cpgo_pool_check(C.uintptr_t(p))
	return int(r.closed), takeError(r.st, r.err)
}

func cPoolSetConninfo(p uintptr, conninfo string) error {
	ci := C.CString(conninfo)
	defer C.free(unsafe.Pointer(ci))
	r := C.cpgo_pool_set_conninfo(C.uintptr_t(p), ci)
	return takeError(r.st, r.err)
}

func cPoolConnectionsJSON(p uintptr) (string, error) {
	r := C.cpgo_pool_connections_json(C.uintptr_t(p))
	if err := takeError(r.st, r.err); err != nil {
		if r.text != nil {
			C.connpool_string_free(r.text)
		}
		return "", err
	}
	s := C.GoString(r.text)
	C.connpool_string_free(r.text)
	return s, nil
}

// leaseInfo is connpool_lease_info in Go terms.
type leaseInfo struct {
	backendPID int32
	id         uint64
	created    time.Time
	lastUsed   time.Time
	uses       int64
	isNew      bool
}

func cLeaseGetInfo(l uintptr) (leaseInfo, error) {
	r := C.cpgo_lease_get_info(C.uintptr_t(l))
	if err := takeError(r.st, r.err); err != nil {
		return leaseInfo{}, err
	}
	return leaseInfo{
		backendPID: int32(r.info.backend_pid),
		id:         uint64(r.info.connection_id),
		created:    time.UnixMicro(int64(r.info.created_at_us)),
		lastUsed:   time.UnixMicro(int64(r.info.last_used_at_us)),
		uses:       int64(r.info.use_count),
		isNew:      r.info.is_new != 0,
	}, nil
}

func cLeasePgconn(l uintptr) (unsafe.Pointer, error) {
	r := C.cpgo_lease_pgconn(C.uintptr_t(l))
	return r.pgconn, takeError(r.st, r.err)
}

func cLeaseConnectionID(l uintptr) (uint64, error) {
	r := C.cpgo_lease_connection_id(C.uintptr_t(l))
	return uint64(r.id), takeError(r.st, r.err)
}

// cPoolTryAcquire returns the lease, or 0 and ErrWouldBlock when nothing is idle.
func cPoolTryAcquire(p uintptr) (uintptr, error) {
	r := C.cpgo_pool_try_acquire(C.uintptr_t(p))
	return uintptr(r.h), takeError(r.st, r.err)
}

func cConnect(conninfo string, opts uintptr) (uintptr, error) {
	ci := C.CString(conninfo)
	defer C.free(unsafe.Pointer(ci))
	r := C.cpgo_connect(ci, C.uintptr_t(opts))
	return uintptr(r.h), takeError(r.st, r.err)
}

// cLeaseDiscard releases the lease and has its connection closed rather than reused.
func cLeaseDiscard(l uintptr) error {
	r := C.cpgo_lease_discard(C.uintptr_t(l))
	return takeError(r.st, r.err)
}
