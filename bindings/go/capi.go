package connpool

// This file (with capi_ops.go for the run-time operations, group_capi.go for pool groups and
// log.go for the log callback) is the only one that talks to C. Everything else calls the small
// Go functions at the bottom, which keeps the cgo rules in one place:
//
//   - Handles (pool, lease, result, options, acquire request) are 64-bit tokens with bit 63 set,
//     never addresses. They cross into Go as uintptr and are only ever handed back to C.
//   - C never keeps a Go pointer. The only Go memory C sees is a []byte/[]int64/[]uint32/[]cell
//     argument (no Go pointers inside), read or written during the call and forgotten after.
//   - Out-parameters live in C: every helper returns a small struct by value, so a call does
//     not force a Go heap allocation and C never writes a Go pointer anywhere.
//   - connpool_error objects are converted to Go errors and freed right away (takeError).
//
// The compiler and linker flags come from pkg-config (pkgconfig.go), or from CGO_CFLAGS and
// CGO_LDFLAGS with the build tag connpool_nopkgconfig (nopkgconfig.go).

/*
#include <connpool/connpool.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct { connpool_status st; connpool_error *err; } cpgo_status;
typedef struct { uintptr_t h; connpool_error *err; connpool_status st; } cpgo_handle;

static cpgo_handle cpgo_options_new(void) {
    cpgo_handle r = {0, NULL, 0};
    connpool_options *o = NULL;
    r.st = connpool_options_new(&o, &r.err);
    r.h = (uintptr_t)o;
    return r;
}

static cpgo_status cpgo_options_set(uintptr_t o, const char *key, const char *value) {
    cpgo_status r = {0, NULL};
    r.st = connpool_options_set((connpool_options *)o, key, value, &r.err);
    return r;
}

static connpool_status cpgo_options_free(uintptr_t o) {
    return connpool_options_free((connpool_options *)o);
}

static cpgo_handle cpgo_pool_create(const char *conninfo, uintptr_t options) {
    cpgo_handle r = {0, NULL, 0};
    connpool_pool *p = NULL;
    r.st = connpool_pool_create(&p, conninfo, (const connpool_options *)options, &r.err);
    r.h = (uintptr_t)p;
    return r;
}

static cpgo_status cpgo_pool_wait_ready(uintptr_t p, int64_t timeout_ms) {
    cpgo_status r = {0, NULL};
    r.st = connpool_pool_wait_ready((connpool_pool *)p, timeout_ms, &r.err);
    return r;
}

static cpgo_status cpgo_pool_close(uintptr_t p) {
    cpgo_status r = {0, NULL};
    r.st = connpool_pool_close((connpool_pool *)p, &r.err);
    return r;
}

static connpool_status cpgo_pool_free(uintptr_t p) { return connpool_pool_free((connpool_pool *)p); }

static cpgo_handle cpgo_pool_acquire(uintptr_t p, int64_t timeout_ms) {
    cpgo_handle r = {0, NULL, 0};
    connpool_lease *l = NULL;
    r.st = connpool_pool_acquire(&l, (connpool_pool *)p, timeout_ms, &r.err);
    r.h = (uintptr_t)l;
    return r;
}

// ---- asynchronous acquire ------------------------------------------------------------------

typedef struct {
    uintptr_t lease;      // CONNPOOL_OK: the lease
    uintptr_t req;        // CONNPOOL_ERR_IN_PROGRESS: the pending request (caller frees it)
    connpool_error *err;  // other statuses
    connpool_status st;
    int32_t fd;           // CONNPOOL_ERR_IN_PROGRESS: a dup of the request's fd, or -1
} cpgo_acq;

// Takes an idle connection when there is one (connpool_pool_try_acquire: no request object),
// so the common case costs one cgo call and little work. Otherwise starts an asynchronous
// acquire, collects it at once if it was granted, and else returns the pending request and a
// private duplicate of its eventfd (close-on-exec; it shares the library's non-blocking file
// description) for Go's netpoller.
static cpgo_acq cpgo_acquire_start(uintptr_t p, int64_t timeout_ms) {
    cpgo_acq r = {0, 0, NULL, 0, -1};
    connpool_lease *idle = NULL;
    // Any other answer (waiting needed, or an error) goes through the asynchronous acquire,
    // which reports errors with their messages.
    if (connpool_pool_try_acquire(&idle, (connpool_pool *)p, NULL) == CONNPOOL_OK) {
        r.lease = (uintptr_t)idle;
        return r;
    }
    connpool_acquire *req = NULL;
    r.st = connpool_pool_acquire_async(&req, (connpool_pool *)p, timeout_ms, &r.err);
    if (r.st != CONNPOOL_OK) return r;
    connpool_lease *lease = NULL;
    r.st = connpool_acquire_result(&lease, req, &r.err);
    if (r.st == CONNPOOL_ERR_IN_PROGRESS) {
        int32_t fd = -1;
        r.req = (uintptr_t)req;
        if (connpool_acquire_fd(&fd, req, NULL) == CONNPOOL_OK && fd >= 0) {
            r.fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
        }
        return r;
    }
    r.lease = (uintptr_t)lease;
    connpool_acquire_free(req);
    return r;
}

static cpgo_handle cpgo_acquire_collect(uintptr_t req) {
    cpgo_handle r = {0, NULL, 0};
    connpool_lease *l = NULL;
    r.st = connpool_acquire_result(&l, (connpool_acquire *)req, &r.err);
    r.h = (uintptr_t)l;
    return r;
}

static connpool_status cpgo_acquire_wait(uintptr_t req, int64_t timeout_ms) {
    return connpool_acquire_wait((connpool_acquire *)req, timeout_ms, NULL);
}

static connpool_status cpgo_acquire_cancel(uintptr_t req) {
    return connpool_acquire_cancel((connpool_acquire *)req);
}

static connpool_status cpgo_acquire_free(uintptr_t req) {
    return connpool_acquire_free((connpool_acquire *)req);
}

// ---- leases and statements -----------------------------------------------------------------

static cpgo_status cpgo_lease_release(uintptr_t l) {
    cpgo_status r = {0, NULL};
    r.st = connpool_lease_release((connpool_lease *)l, &r.err);
    return r;
}

static cpgo_status cpgo_lease_keep_session(uintptr_t l) {
    cpgo_status r = {0, NULL};
    r.st = connpool_lease_keep_session((connpool_lease *)l, &r.err);
    return r;
}

static cpgo_status cpgo_lease_set_label(uintptr_t l, const char *label) {
    cpgo_status r = {0, NULL};
    r.st = connpool_lease_set_label((connpool_lease *)l, label, &r.err);
    return r;
}

typedef struct {
    uintptr_t res;
    connpool_error *err;
    int64_t nrows;
    int64_t affected;
    connpool_status st;
    int32_t ncols;
    int32_t fd;      // CONNPOOL_ERR_IN_PROGRESS: the lease's socket (owned by the library)
    int32_t events;  // CONNPOOL_ERR_IN_PROGRESS: CONNPOOL_WAIT_* bits
    uint64_t conn;     // cpgo_send: connpool_lease_connection_id
    int32_t released;  // cpgo_collect_row_release: the lease was released
} cpgo_exec_ret;

// Builds the parameter array from buf/offs (see cpgo_exec); NULL on allocation failure.
static const char **cpgo_params(const char *buf, int32_t n, const int64_t *offs, const char **small) {
    const char **params = small;
    if (n > 16) {
        params = (const char **)malloc((size_t)n * sizeof *params);
        if (params == NULL) return NULL;
    }
    for (int32_t i = 0; i < n; i++) params[i] = offs[i] < 0 ? NULL : buf + offs[i];
    return params;
}

static void cpgo_fill(cpgo_exec_ret *r, connpool_result *res) {
    r->res = (uintptr_t)res;
    if (res != NULL) {
        r->nrows = connpool_result_row_count(res);
        r->ncols = connpool_result_column_count(res);
        r->affected = connpool_result_affected_rows(res);
    }
}

// buf holds the SQL text, NUL-terminated, then each non-NULL parameter, NUL-terminated;
// offs[i] is parameter i's offset in buf, or -1 for SQL NULL. Both are Go memory, used only
// during this call (libpq copies the parameters into its send buffer).
static cpgo_exec_ret cpgo_exec(uintptr_t lease, const char *buf, int32_t n, const int64_t *offs) {
    cpgo_exec_ret r = {0, NULL, 0, -1, 0, 0, -1, 0, 0, 0};
    const char *small[16];
    const char **params = cpgo_params(buf, n, offs, small);
    if (params == NULL) {
        r.st = CONNPOOL_ERR_NO_MEMORY;
        return r;
    }
    connpool_result *res = NULL;
    r.st = connpool_lease_exec(&res, (connpool_lease *)lease, buf, n, n > 0 ? params : NULL, &r.err);
    if (params != small) free(params);
    cpgo_fill(&r, res);
    return r;
}

// Sends a statement without waiting (same buf/offs as cpgo_exec). CONNPOOL_OK: it is pending,
// fd/events say what to wait for before cpgo_collect.
static cpgo_exec_ret cpgo_send(uintptr_t lease, const char *buf, int32_t n, const int64_t *offs) {
    cpgo_exec_ret r = {0, NULL, 0, -1, 0, 0, -1, 0, 0, 0};
    const char *small[16];
    const char **params = cpgo_params(buf, n, offs, small);
    if (params == NULL) {
        r.st = CONNPOOL_ERR_NO_MEMORY;
        return r;
    }
    r.st = connpool_lease_send((connpool_lease *)lease, buf, n, n > 0 ? params : NULL, &r.err);
    if (params != small) free(params);
    if (r.st == CONNPOOL_OK) {
        connpool_lease_socket(&r.fd, &r.events, (connpool_lease *)lease, NULL);
        connpool_lease_connection_id(&r.conn, (connpool_lease *)lease, NULL);
    }
    return r;
}

// cpgo_acquire_start, then, when a lease was granted at once, cpgo_send of buf/offs on it:
// acquire and send in one cgo call.
typedef struct {
    cpgo_acq acq;
    cpgo_exec_ret send;  // valid when sent
    int32_t sent;
} cpgo_acq_send;

static cpgo_acq_send cpgo_acquire_send(uintptr_t p, int64_t timeout_ms, const char *buf, int32_t n,
                                       const int64_t *offs) {
    cpgo_acq_send r;
    memset(&r, 0, sizeof r);
    r.acq = cpgo_acquire_start(p, timeout_ms);
    if (r.acq.st == CONNPOOL_OK && r.acq.lease != 0) {
        r.send = cpgo_send(r.acq.lease, buf, n, offs);
        r.sent = 1;
    }
    return r;
}

// Collects the pending statement: CONNPOOL_ERR_IN_PROGRESS (with fd/events) or the outcome.
static cpgo_exec_ret cpgo_collect(uintptr_t lease) {
    cpgo_exec_ret r = {0, NULL, 0, -1, 0, 0, -1, 0, 0, 0};
    connpool_result *res = NULL;
    r.st = connpool_lease_collect(&res, (connpool_lease *)lease, &r.err);
    if (r.st == CONNPOOL_ERR_IN_PROGRESS) {
        connpool_lease_socket(&r.fd, &r.events, (connpool_lease *)lease, NULL);
        return r;
    }
    cpgo_fill(&r, res);
    return r;
}

// cpgo_collect, and for a finished query with rows whose first row fits: copies that row into
// arena (values back to back; lens[c] is the length, -1 for NULL) and the column types into
// types, then frees the result (r.res is 0, r.st CONNPOOL_OK, r.nrows/ncols set). The three
// buffers are Go memory without pointers, written only during this call. A row that does not
// fit leaves the result to the caller as cpgo_collect does.
static cpgo_exec_ret cpgo_collect_row(uintptr_t lease, char *arena, int64_t arena_cap, int64_t *lens,
                                      uint32_t *types, int32_t max_cols) {
    cpgo_exec_ret r = cpgo_collect(lease);
    if (r.st != CONNPOOL_OK || r.res == 0 || r.nrows <= 0 || r.ncols > max_cols) return r;
    const connpool_result *res = (const connpool_result *)r.res;
    int64_t used = 0;
    for (int32_t c = 0; c < r.ncols; c++) {
        int32_t null = connpool_result_is_null(res, 0, c);
        if (null < 0) return r;
        if (null) {
            lens[c] = -1;
        } else {
            int64_t len = connpool_result_value_length(res, 0, c);
            if (len < 0 || used + len > arena_cap) return r;
            memcpy(arena + used, connpool_result_value(res, 0, c), (size_t)len);
            lens[c] = len;
            used += len;
        }
        types[c] = connpool_result_column_type(res, c);
    }
    connpool_result_free((connpool_result *)r.res);
    r.res = 0;
    return r;
}

// cpgo_collect_row, then, once the statement is done, releases the lease (Pool.QueryRow with
// a context that cannot be cancelled: the lease is not used again). `released` tells.
static cpgo_exec_ret cpgo_collect_row_release(uintptr_t lease, char *arena, int64_t arena_cap,
                                              int64_t *lens, uint32_t *types, int32_t max_cols) {
    cpgo_exec_ret r = cpgo_collect_row(lease, arena, arena_cap, lens, types, max_cols);
    if (r.st != CONNPOOL_ERR_IN_PROGRESS) {
        // Done: results outlive their lease, so nothing left needs it.
        r.released = connpool_lease_release((connpool_lease *)lease, NULL) == CONNPOOL_OK;
    }
    return r;
}

// Blocks this OS thread until the lease's socket is ready for `events` (fallback when the
// netpoller cannot be used).
static void cpgo_wait_socket(int32_t fd, int32_t events) {
    struct pollfd p;
    p.fd = fd;
    p.events = (short)(((events & CONNPOOL_WAIT_READ) ? POLLIN : 0) | ((events & CONNPOOL_WAIT_WRITE) ? POLLOUT : 0));
    p.revents = 0;
    poll(&p, 1, -1);
}

typedef struct { int32_t fd; uint64_t dev; uint64_t ino; } cpgo_dup_ret;

// A close-on-exec duplicate of fd and the identity (device, inode) of the socket behind it.
static cpgo_dup_ret cpgo_dup(int32_t fd) {
    cpgo_dup_ret r = {-1, 0, 0};
    struct stat st;
    r.fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (r.fd >= 0 && fstat(r.fd, &st) == 0) {
        r.dev = (uint64_t)st.st_dev;
        r.ino = (uint64_t)st.st_ino;
    }
    return r;
}

// Whether descriptor fd still refers to the socket (dev, ino).
static int cpgo_same_socket(int32_t fd, uint64_t dev, uint64_t ino) {
    struct stat st;
    return fstat(fd, &st) == 0 && (uint64_t)st.st_dev == dev && (uint64_t)st.st_ino == ino;
}

static cpgo_status cpgo_lease_cancel(uintptr_t l) {
    cpgo_status r = {0, NULL};
    r.st = connpool_lease_cancel((connpool_lease *)l, &r.err);
    return r;
}

// CONNPOOL_TRANSACTION_*; -1 for a bad lease.
static int32_t cpgo_tx_status(uintptr_t l) {
    int32_t tx = -1;
    if (connpool_lease_transaction_status(&tx, (connpool_lease *)l, NULL) != CONNPOOL_OK) return -1;
    return tx;
}

typedef struct { const char *p; int64_t len; } cpgo_cell;  // p == NULL: SQL NULL

// Fills cells[0..ncols) with row `row`; the pointers stay valid until the result is freed.
static int cpgo_row(uintptr_t res, int64_t row, int32_t ncols, cpgo_cell *cells) {
    const connpool_result *r = (const connpool_result *)res;
    for (int32_t c = 0; c < ncols; c++) {
        int32_t null = connpool_result_is_null(r, row, c);
        if (null < 0) return -1;
        if (null) {
            cells[c].p = NULL;
            cells[c].len = 0;
            continue;
        }
        const char *v = connpool_result_value(r, row, c);
        if (v == NULL) return -1;
        cells[c].p = v;
        cells[c].len = connpool_result_value_length(r, row, c);
    }
    return 0;
}

static void cpgo_column_types(uintptr_t res, int32_t ncols, uint32_t *out) {
    for (int32_t c = 0; c < ncols; c++) out[c] = connpool_result_column_type((const connpool_result *)res, c);
}

static const char *cpgo_column_name(uintptr_t res, int32_t c) {
    return connpool_result_column_name((const connpool_result *)res, c);
}

static connpool_status cpgo_result_free(uintptr_t res) {
    return connpool_result_free((connpool_result *)res);
}

// ---- statistics ----------------------------------------------------------------------------

typedef struct { connpool_stats s; connpool_error *err; connpool_status st; } cpgo_stats_ret;

static cpgo_stats_ret cpgo_stats(uintptr_t p) {
    cpgo_stats_ret r;
    memset(&r, 0, sizeof r);
    r.s.struct_size = (uint32_t)sizeof(connpool_stats);
    r.st = connpool_pool_stats(&r.s, (connpool_pool *)p, &r.err);
    return r;
}

typedef struct { char *json; connpool_error *err; connpool_status st; } cpgo_json_ret;

static cpgo_json_ret cpgo_stats_json(uintptr_t p) {
    cpgo_json_ret r = {NULL, NULL, 0};
    r.st = connpool_pool_stats_json(&r.json, (connpool_pool *)p, &r.err);
    return r;
}

// ---- introspection ---------------------------------------------------------------------------

typedef struct { connpool_option_info info; connpool_error *err; connpool_status st; } cpgo_option_ret;

static cpgo_option_ret cpgo_option_describe(int32_t index) {
    cpgo_option_ret r;
    memset(&r, 0, sizeof r);
    r.info.struct_size = (uint32_t)sizeof(connpool_option_info);
    r.st = connpool_option_describe(&r.info, index, &r.err);
    return r;
}

typedef struct { connpool_stats_field field; connpool_error *err; connpool_status st; } cpgo_stats_field_ret;

static cpgo_stats_field_ret cpgo_stats_field_describe(int32_t index) {
    cpgo_stats_field_ret r;
    memset(&r, 0, sizeof r);
    r.field.struct_size = (uint32_t)sizeof(connpool_stats_field);
    r.st = connpool_stats_field_describe(&r.field, index, &r.err);
    return r;
}

// ---- pools of a process, health, metrics, monitoring endpoints ------------------------------
// (cpgo_json_ret carries any string the library allocated: JSON, names, metrics text.)

static cpgo_handle cpgo_registry_get_or_create(const char *name, const char *conninfo, uintptr_t options) {
    cpgo_handle r = {0, NULL, 0};
    connpool_pool *p = NULL;
    r.st = connpool_registry_get_or_create(&p, name, conninfo, (const connpool_options *)options, &r.err);
    r.h = (uintptr_t)p;
    return r;
}

static cpgo_handle cpgo_registry_lookup(const char *name) {
    cpgo_handle r = {0, NULL, 0};
    connpool_pool *p = NULL;
    r.st = connpool_registry_lookup(&p, name, &r.err);
    r.h = (uintptr_t)p;
    return r;
}

static cpgo_json_ret cpgo_registry_names(void) {
    cpgo_json_ret r = {NULL, NULL, 0};
    r.st = connpool_registry_names(&r.json, &r.err);
    return r;
}

static cpgo_json_ret cpgo_registry_stats_json(void) {
    cpgo_json_ret r = {NULL, NULL, 0};
    r.st = connpool_registry_stats_json(&r.json, &r.err);
    return r;
}

static cpgo_status cpgo_registry_close(const char *name) {
    cpgo_status r = {0, NULL};
    r.st = connpool_registry_close(name, &r.err);
    return r;
}

static cpgo_status cpgo_registry_close_all(void) {
    cpgo_status r = {0, NULL};
    r.st = connpool_registry_close_all(&r.err);
    return r;
}

static cpgo_status cpgo_registry_set_connection_budget(int32_t max_connections) {
    cpgo_status r = {0, NULL};
    r.st = connpool_registry_set_connection_budget(max_connections, &r.err);
    return r;
}

static cpgo_json_ret cpgo_pool_health_json(uintptr_t p) {
    cpgo_json_ret r = {NULL, NULL, 0};
    r.st = connpool_pool_health_json(&r.json, (connpool_pool *)p, &r.err);
    return r;
}

static cpgo_json_ret cpgo_registry_health_json(void) {
    cpgo_json_ret r = {NULL, NULL, 0};
    r.st = connpool_registry_health_json(&r.json, NULL, &r.err);
    return r;
}

static cpgo_json_ret cpgo_pool_metrics(uintptr_t p, int32_t format) {
    cpgo_json_ret r = {NULL, NULL, 0};
    r.st = connpool_pool_metrics(&r.json, (connpool_pool *)p, format, &r.err);
    return r;
}

static cpgo_json_ret cpgo_registry_metrics(int32_t format) {
    cpgo_json_ret r = {NULL, NULL, 0};
    r.st = connpool_registry_metrics(&r.json, format, &r.err);
    return r;
}

typedef struct {
    char *content_type;
    char *body;
    connpool_error *err;
    connpool_status st;
    int32_t http_status;
} cpgo_monitor_ret;

static cpgo_monitor_ret cpgo_monitor_handle(const char *method, const char *target,
                                            const char *authorization, const char *accept,
                                            const char *admin_token) {
    cpgo_monitor_ret r = {NULL, NULL, NULL, 0, 0};
    r.st = connpool_monitor_handle(&r.http_status, &r.content_type, &r.body, method, target,
                                   authorization, accept, admin_token, &r.err);
    return r;
}

*/
import "C"

import (
	"os"
	"strings"
	"unsafe"
)

// takeError converts a status and its optional error object into a Go error and frees the
// object. It returns nil for CONNPOOL_OK.
func takeError(st C.connpool_status, e *C.connpool_error) error {
	if e == nil {
		if st == C.CONNPOOL_OK {
			return nil
		}
		return &Error{Status: Status(st), Message: Status(st).Description()}
	}
	status := Status(C.connpool_error_status(e))
	if st != C.CONNPOOL_OK {
		status = Status(st)
	}
	msg := C.GoString(C.connpool_error_message(e))
	sqlstate := C.GoString(C.connpool_error_sqlstate(e))
	C.connpool_error_free(e)
	return newError(status, msg, sqlstate)
}

// statusError is takeError for calls that return a bare status.
func statusError(st C.connpool_status) error { return takeError(st, nil) }

// errorForStatus is the error for a bare status (nil for StatusOK).
func errorForStatus(s Status) error { return takeError(C.connpool_status(s), nil) }

func cString(s string) *C.char { return C.CString(s) }
func freeCString(p *C.char)    { C.free(unsafe.Pointer(p)) }

// ---- options and pools ----------------------------------------------------------------------

func cOptionsNew() (uintptr, error) {
	r := C.cpgo_options_new()
	return uintptr(r.h), takeError(r.st, r.err)
}

func cOptionsSet(o uintptr, key, value string) error {
	k, v := cString(key), cString(value)
	defer freeCString(k)
	defer freeCString(v)
	r := C.cpgo_options_set(C.uintptr_t(o), k, v)
	return takeError(r.st, r.err)
}

func cOptionsFree(o uintptr) { C.cpgo_options_free(C.uintptr_t(o)) }

func cPoolCreate(conninfo string, opts uintptr) (uintptr, error) {
	ci := cString(conninfo)
	defer freeCString(ci)
	r := C.cpgo_pool_create(ci, C.uintptr_t(opts))
	return uintptr(r.h), takeError(r.st, r.err)
}

func cPoolWaitReady(p uintptr, timeoutMs int64) error {
	r := C.cpgo_pool_wait_ready(C.uintptr_t(p), C.int64_t(timeoutMs))
	return takeError(r.st, r.err)
}

func cPoolClose(p uintptr) error {
	r := C.cpgo_pool_close(C.uintptr_t(p))
	return takeError(r.st, r.err)
}

func cPoolFree(p uintptr) error { return statusError(C.cpgo_pool_free(C.uintptr_t(p))) }

func cPoolAcquire(p uintptr, timeoutMs int64) (uintptr, error) {
	r := C.cpgo_pool_acquire(C.uintptr_t(p), C.int64_t(timeoutMs))
	return uintptr(r.h), takeError(r.st, r.err)
}

// ---- asynchronous acquire ------------------------------------------------------------------

// cAcquireStart returns either a lease (done), or a pending request with an optional file
// (the request's eventfd, duplicated and registered with Go's netpoller), or an error.
func cAcquireStart(p uintptr, timeoutMs int64) (lease, req uintptr, fd int, err error) {
	r := C.cpgo_acquire_start(C.uintptr_t(p), C.int64_t(timeoutMs))
	if r.st == C.CONNPOOL_ERR_IN_PROGRESS {
		return 0, uintptr(r.req), int(r.fd), nil
	}
	return uintptr(r.lease), 0, -1, takeError(r.st, r.err)
}

// acquireSend is the outcome of cAcquireSend: a pending acquire (req, fd), or a lease on which
// the statement was sent (sent; sendErr or wait), or err.
type acquireSend struct {
	lease, req uintptr
	fd         int
	err        error
	sent       bool
	sendErr    error
	wait       waitEvents
}

// cAcquireSend starts an acquire and, if a connection was idle, sends the statement (buf/offs
// as for cExec) on it in the same cgo call.
func cAcquireSend(p uintptr, timeoutMs int64, buf []byte, offs []int64) acquireSend {
	var offp *C.int64_t
	if len(offs) > 0 {
		offp = (*C.int64_t)(unsafe.Pointer(&offs[0]))
	}
	r := C.cpgo_acquire_send(C.uintptr_t(p), C.int64_t(timeoutMs), (*C.char)(unsafe.Pointer(&buf[0])), C.int32_t(len(offs)), offp)
	if r.acq.st == C.CONNPOOL_ERR_IN_PROGRESS {
		return acquireSend{req: uintptr(r.acq.req), fd: int(r.acq.fd)}
	}
	a := acquireSend{lease: uintptr(r.acq.lease), fd: -1, err: takeError(r.acq.st, r.acq.err)}
	if r.sent != 0 {
		a.sent = true
		if r.send.st != C.CONNPOOL_OK {
			a.sendErr = takeError(r.send.st, r.send.err)
		} else {
			a.wait = waitEvents{fd: int(r.send.fd), events: int(r.send.events), conn: uint64(r.send.conn)}
		}
	}
	return a
}

// cAcquireCollect returns (lease, done, err): done is false while the acquire is in progress.
func cAcquireCollect(req uintptr) (uintptr, bool, error) {
	r := C.cpgo_acquire_collect(C.uintptr_t(req))
	if r.st == C.CONNPOOL_ERR_IN_PROGRESS {
		return 0, false, nil
	}
	return uintptr(r.h), true, takeError(r.st, r.err)
}

// cAcquireWait blocks this OS thread until the request has an outcome (or timeoutMs passes).
func cAcquireWait(req uintptr, timeoutMs int64) Status {
	return Status(C.cpgo_acquire_wait(C.uintptr_t(req), C.int64_t(timeoutMs)))
}

func cAcquireCancel(req uintptr) { C.cpgo_acquire_cancel(C.uintptr_t(req)) }
func cAcquireFree(req uintptr)   { C.cpgo_acquire_free(C.uintptr_t(req)) }

func newFileFromFd(fd int) *os.File { return os.NewFile(uintptr(fd), "connpool-acquire") }

func closeFd(fd int) { C.close(C.int(fd)) }

// ---- leases and statements -----------------------------------------------------------------

func cLeaseRelease(l uintptr) error {
	r := C.cpgo_lease_release(C.uintptr_t(l))
	return takeError(r.st, r.err)
}

func cLeaseSetLabel(l uintptr, label string) error {
	var p *C.char
	if label != "" {
		p = cString(label)
		defer freeCString(p)
	}
	r := C.cpgo_lease_set_label(C.uintptr_t(l), p)
	return takeError(r.st, r.err)
}

// cLeaseKeepSession makes the lease's current session settings the connection's own
// (connpool_lease_keep_session): the session reset restores them.
func cLeaseKeepSession(l uintptr) error {
	r := C.cpgo_lease_keep_session(C.uintptr_t(l))
	return takeError(r.st, r.err)
}

type execResult struct {
	res      uintptr
	nrows    int64
	ncols    int
	affected int64
}

// cExec runs buf (SQL, NUL, parameters each NUL-terminated) with offs as described at
// cpgo_exec. On CONNPOOL_ERR_QUERY_FAILED the result is freed here and a *PgError returned.
func cExec(lease uintptr, buf []byte, offs []int64) (execResult, error) {
	var offp *C.int64_t
	if len(offs) > 0 {
		offp = (*C.int64_t)(unsafe.Pointer(&offs[0]))
	}
	r := C.cpgo_exec(C.uintptr_t(lease), (*C.char)(unsafe.Pointer(&buf[0])), C.int32_t(len(offs)), offp)
	if r.st != C.CONNPOOL_OK {
		if r.res != 0 {
			C.cpgo_result_free(r.res)
		}
		return execResult{}, takeError(r.st, r.err)
	}
	return execResult{res: uintptr(r.res), nrows: int64(r.nrows), ncols: int(r.ncols), affected: int64(r.affected)}, nil
}

// cell is one value of a row: p == nil means SQL NULL. Same layout as cpgo_cell; p points
// into the C result (never Go memory).
type cell struct {
	p   *byte
	len int64
}

func (c cell) null() bool { return c.p == nil }

// bytes views the value in the C result without copying; valid until the result is freed.
func (c cell) bytes() []byte {
	if c.p == nil || c.len == 0 {
		return nil
	}
	return unsafe.Slice(c.p, int(c.len))
}

func cRow(res uintptr, row int64, cells []cell) bool {
	if len(cells) == 0 {
		return true
	}
	return C.cpgo_row(C.uintptr_t(res), C.int64_t(row), C.int32_t(len(cells)),
		(*C.cpgo_cell)(unsafe.Pointer(&cells[0]))) == 0
}

func cColumnTypes(res uintptr, out []uint32) {
	if len(out) == 0 {
		return
	}
	C.cpgo_column_types(C.uintptr_t(res), C.int32_t(len(out)), (*C.uint32_t)(unsafe.Pointer(&out[0])))
}

func cColumnName(res uintptr, col int) string {
	p := C.cpgo_column_name(C.uintptr_t(res), C.int32_t(col))
	if p == nil {
		return ""
	}
	return C.GoString(p)
}

func cResultFree(res uintptr) { C.cpgo_result_free(C.uintptr_t(res)) }

// ---- statistics ----------------------------------------------------------------------------

func cStats(p uintptr) (Stats, error) {
	r := C.cpgo_stats(C.uintptr_t(p))
	if err := takeError(r.st, r.err); err != nil {
		return Stats{}, err
	}
	var s Stats
	statsLayout.fill(&s, unsafe.Pointer(&r.s), int(C.sizeof_connpool_stats))
	return s, nil
}

func cStatsJSON(p uintptr) (string, error) {
	r := C.cpgo_stats_json(C.uintptr_t(p))
	if err := takeError(r.st, r.err); err != nil {
		return "", err
	}
	s := C.GoString(r.json)
	C.connpool_string_free(r.json)
	return s, nil
}

// ---- asynchronous statements ---------------------------------------------------------------

// Transaction states (CONNPOOL_TRANSACTION_*).
const (
	txIdle    = 0
	txActive  = 1
	txInTrans = 2
	txInError = 3
	txUnknown = 4
)

// cTxStatus is the lease's transaction state, or -1 for a bad lease.
func cTxStatus(lease uintptr) int { return int(C.cpgo_tx_status(C.uintptr_t(lease))) }

// waitEvents says what a pending statement waits for (CONNPOOL_WAIT_* bits) on fd, the socket
// of connection conn (connpool_lease_connection_id; set by cSend only).
type waitEvents struct {
	fd     int
	events int
	conn   uint64
}

func (w waitEvents) write() bool { return w.events&C.CONNPOOL_WAIT_WRITE != 0 }

// cSend starts a statement (buf/offs as for cExec) without waiting for the server.
func cSend(lease uintptr, buf []byte, offs []int64) (waitEvents, error) {
	var offp *C.int64_t
	if len(offs) > 0 {
		offp = (*C.int64_t)(unsafe.Pointer(&offs[0]))
	}
	r := C.cpgo_send(C.uintptr_t(lease), (*C.char)(unsafe.Pointer(&buf[0])), C.int32_t(len(offs)), offp)
	if r.st != C.CONNPOOL_OK {
		return waitEvents{fd: -1}, takeError(r.st, r.err)
	}
	return waitEvents{fd: int(r.fd), events: int(r.events), conn: uint64(r.conn)}, nil
}

// cCollect advances the pending statement: done is false while it waits (then w says for what).
// On CONNPOOL_ERR_QUERY_FAILED the result is freed here and a *PgError returned.
func cCollect(lease uintptr) (r execResult, w waitEvents, done bool, err error) {
	c := C.cpgo_collect(C.uintptr_t(lease))
	if c.st == C.CONNPOOL_ERR_IN_PROGRESS {
		return execResult{}, waitEvents{fd: int(c.fd), events: int(c.events)}, false, nil
	}
	if c.st != C.CONNPOOL_OK {
		if c.res != 0 {
			C.cpgo_result_free(c.res)
		}
		return execResult{}, waitEvents{}, true, takeError(c.st, c.err)
	}
	return execResult{res: uintptr(c.res), nrows: int64(c.nrows), ncols: int(c.ncols), affected: int64(c.affected)},
		waitEvents{}, true, nil
}

// rowBuf receives the first row of a QueryRow inside the final collect (cCollectRow), which
// saves the separate calls that read the row, its types and free the result.
type rowBuf struct {
	arena []byte
	lens  []int64
	types []uint32
}

const rowBufCols = 32

func newRowBuf() *rowBuf {
	return &rowBuf{arena: make([]byte, 4096), lens: make([]int64, rowBufCols), types: make([]uint32, rowBufCols)}
}

// cCollectRow is cCollect that also copies a fitting first row into b: then r.res is 0 and
// copied is true (the result is already freed).
func cCollectRow(lease uintptr, b *rowBuf) (r execResult, w waitEvents, done, copied bool, err error) {
	c := C.cpgo_collect_row(C.uintptr_t(lease), (*C.char)(unsafe.Pointer(&b.arena[0])), C.int64_t(len(b.arena)),
		(*C.int64_t)(unsafe.Pointer(&b.lens[0])), (*C.uint32_t)(unsafe.Pointer(&b.types[0])), C.int32_t(len(b.lens)))
	if c.st == C.CONNPOOL_ERR_IN_PROGRESS {
		return execResult{}, waitEvents{fd: int(c.fd), events: int(c.events)}, false, false, nil
	}
	if c.st != C.CONNPOOL_OK {
		if c.res != 0 {
			C.cpgo_result_free(c.res)
		}
		return execResult{}, waitEvents{}, true, false, takeError(c.st, c.err)
	}
	r = execResult{res: uintptr(c.res), nrows: int64(c.nrows), ncols: int(c.ncols), affected: int64(c.affected)}
	return r, waitEvents{}, true, c.res == 0 && c.nrows > 0, nil
}

// cCollectRowRelease is cCollectRow that also releases the lease once the statement is done
// (released reports it; the result, when one is returned, outlives the lease).
func cCollectRowRelease(lease uintptr, b *rowBuf) (r execResult, w waitEvents, done, copied, released bool, err error) {
	c := C.cpgo_collect_row_release(C.uintptr_t(lease), (*C.char)(unsafe.Pointer(&b.arena[0])), C.int64_t(len(b.arena)),
		(*C.int64_t)(unsafe.Pointer(&b.lens[0])), (*C.uint32_t)(unsafe.Pointer(&b.types[0])), C.int32_t(len(b.lens)))
	released = c.released != 0
	if c.st == C.CONNPOOL_ERR_IN_PROGRESS {
		return execResult{}, waitEvents{fd: int(c.fd), events: int(c.events)}, false, false, released, nil
	}
	if c.st != C.CONNPOOL_OK {
		if c.res != 0 {
			C.cpgo_result_free(c.res)
		}
		return execResult{}, waitEvents{}, true, false, released, takeError(c.st, c.err)
	}
	r = execResult{res: uintptr(c.res), nrows: int64(c.nrows), ncols: int(c.ncols), affected: int64(c.affected)}
	return r, waitEvents{}, true, c.res == 0 && c.nrows > 0, released, nil
}

// cWaitSocket blocks this OS thread until w's events (fallback without the netpoller).
func cWaitSocket(w waitEvents) { C.cpgo_wait_socket(C.int32_t(w.fd), C.int32_t(w.events)) }

// cDup duplicates fd (close-on-exec): the copy can be handed to os.NewFile and closed without
// closing libpq's socket. Returns -1 on failure, and the socket's identity.
func cDup(fd int) (dup int, dev, ino uint64) {
	r := C.cpgo_dup(C.int32_t(fd))
	return int(r.fd), uint64(r.dev), uint64(r.ino)
}

// cSameSocket reports whether fd still refers to the socket (dev, ino).
func cSameSocket(fd int, dev, ino uint64) bool {
	return C.cpgo_same_socket(C.int32_t(fd), C.uint64_t(dev), C.uint64_t(ino)) == 1
}

// cLeaseCancel asks the server to cancel the lease's running statement (a short blocking
// exchange); safe while another goroutine collects the statement.
func cLeaseCancel(lease uintptr) error {
	r := C.cpgo_lease_cancel(C.uintptr_t(lease))
	return takeError(r.st, r.err)
}

func cVersion() string { return C.GoString(C.connpool_version()) }

func cStatusName(s Status) string { return C.GoString(C.connpool_status_name(C.connpool_status(s))) }

func cStatusDescription(s Status) string {
	return C.GoString(C.connpool_status_description(C.connpool_status(s)))
}

// ---- introspection ---------------------------------------------------------------------------

// optionInfo is one connpool_option_info (connpool_option_describe).
type optionInfo struct {
	key, description, defaultValue string
	choices                        []string
	min, max                       int64
	kind                           optionKind
}

// Values of connpool_option_info.kind.
type optionKind int32

const (
	optionInteger    optionKind = C.CONNPOOL_OPTION_INTEGER
	optionDurationMs optionKind = C.CONNPOOL_OPTION_DURATION_MS
	optionBoolean    optionKind = C.CONNPOOL_OPTION_BOOLEAN
	optionString     optionKind = C.CONNPOOL_OPTION_STRING
	optionChoice     optionKind = C.CONNPOOL_OPTION_CHOICE
)

func cOptionCount() int { return int(C.connpool_option_count()) }

func cOptionDescribe(index int) (optionInfo, error) {
	r := C.cpgo_option_describe(C.int32_t(index))
	if err := takeError(r.st, r.err); err != nil {
		return optionInfo{}, err
	}
	o := optionInfo{
		key:          C.GoString(r.info.key),
		description:  C.GoString(r.info.description),
		defaultValue: C.GoString(r.info.default_value),
		min:          int64(r.info.min),
		max:          int64(r.info.max),
		kind:         optionKind(r.info.kind),
	}
	if choices := C.GoString(r.info.choices); choices != "" {
		o.choices = strings.Split(choices, ",")
	}
	return o, nil
}

// statsField is one connpool_stats_field (connpool_stats_field_describe).
type statsField struct {
	name, description string
	kind              int32 // C.CONNPOOL_STAT_GAUGE or C.CONNPOOL_STAT_COUNTER
	offset            uint32
}

const (
	statGauge   = C.CONNPOOL_STAT_GAUGE
	statCounter = C.CONNPOOL_STAT_COUNTER
)

func cStatsFieldCount() int { return int(C.connpool_stats_field_count()) }

func cStatsFieldDescribe(index int) (statsField, error) {
	r := C.cpgo_stats_field_describe(C.int32_t(index))
	if err := takeError(r.st, r.err); err != nil {
		return statsField{}, err
	}
	return statsField{
		name:        C.GoString(r.field.name),
		description: C.GoString(r.field.description),
		kind:        int32(r.field.kind),
		offset:      uint32(r.field.offset),
	}, nil
}

// ---- pools of a process, health, metrics, monitoring endpoints ------------------------------

// takeText converts a string the library allocated (connpool_string_free) or its error.
func takeText(r C.cpgo_json_ret) (string, error) {
	if err := takeError(r.st, r.err); err != nil {
		if r.json != nil {
			C.connpool_string_free(r.json)
		}
		return "", err
	}
	s := C.GoString(r.json)
	C.connpool_string_free(r.json)
	return s, nil
}

// optionalCString is NULL for "" (the library's "not given"), else a C copy to free.
func optionalCString(s string) *C.char {
	if s == "" {
		return nil
	}
	return cString(s)
}

func cRegistryGetOrCreate(name, conninfo string, opts uintptr) (uintptr, error) {
	n, ci := cString(name), cString(conninfo)
	defer freeCString(n)
	defer freeCString(ci)
	r := C.cpgo_registry_get_or_create(n, ci, C.uintptr_t(opts))
	return uintptr(r.h), takeError(r.st, r.err)
}

func cRegistryLookup(name string) (uintptr, error) {
	n := cString(name)
	defer freeCString(n)
	r := C.cpgo_registry_lookup(n)
	return uintptr(r.h), takeError(r.st, r.err)
}

func cRegistryNames() (string, error)     { return takeText(C.cpgo_registry_names()) }
func cRegistryStatsJSON() (string, error) { return takeText(C.cpgo_registry_stats_json()) }

func cRegistryClose(name string) error {
	n := cString(name)
	defer freeCString(n)
	r := C.cpgo_registry_close(n)
	return takeError(r.st, r.err)
}

func cRegistryCloseAll() error {
	r := C.cpgo_registry_close_all()
	return takeError(r.st, r.err)
}

func cRegistrySetConnectionBudget(n int32) error {
	r := C.cpgo_registry_set_connection_budget(C.int32_t(n))
	return takeError(r.st, r.err)
}

func cPoolHealthJSON(p uintptr) (string, error) {
	return takeText(C.cpgo_pool_health_json(C.uintptr_t(p)))
}

func cRegistryHealthJSON() (string, error) { return takeText(C.cpgo_registry_health_json()) }

func cPoolMetrics(p uintptr, format MetricsFormat) (string, error) {
	return takeText(C.cpgo_pool_metrics(C.uintptr_t(p), C.int32_t(format)))
}

func cRegistryMetrics(format MetricsFormat) (string, error) {
	return takeText(C.cpgo_registry_metrics(C.int32_t(format)))
}

// Metrics formats (CONNPOOL_METRICS_*).
const (
	metricsPrometheus  = C.CONNPOOL_METRICS_PROMETHEUS
	metricsOpenMetrics = C.CONNPOOL_METRICS_OPENMETRICS
)

// monitorReply is connpool_monitor_handle's answer.
type monitorReply struct {
	status      int
	contentType string
	body        string
}

// cMonitorHandle answers one request through the library's router; "" for authorization,
// accept or adminToken means not given.
func cMonitorHandle(method, target, authorization, accept, adminToken string) (monitorReply, error) {
	m, t := cString(method), cString(target)
	au, ac, tok := optionalCString(authorization), optionalCString(accept), optionalCString(adminToken)
	defer func() {
		for _, p := range []*C.char{m, t, au, ac, tok} {
			if p != nil {
				freeCString(p)
			}
		}
	}()
	r := C.cpgo_monitor_handle(m, t, au, ac, tok)
	if err := takeError(r.st, r.err); err != nil {
		for _, p := range []*C.char{r.content_type, r.body} {
			if p != nil {
				C.connpool_string_free(p)
			}
		}
		return monitorReply{}, err
	}
	reply := monitorReply{status: int(r.http_status), contentType: C.GoString(r.content_type), body: C.GoString(r.body)}
	C.connpool_string_free(r.content_type)
	C.connpool_string_free(r.body)
	return reply, nil
}
