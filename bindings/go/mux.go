package connpool

// Multiplexed statements: with the pool option multiplexing_connections set, Pool.Exec and
// Pool.QueryRow run their statement without a lease, pipelined with other goroutines'
// statements on the pool's shared connections (connpool.h, "Multiplexed statements"). They
// run in autocommit; BEGIN, SET and other session statements are refused (use a Conn).

/*
#include <connpool/connpool.h>
#include <stdint.h>
#include <stdlib.h>

typedef struct {
    uintptr_t res;
    connpool_error *err;
    connpool_status st;
    int64_t nrows;
    int32_t ncols;
    int64_t affected;
    uintptr_t statement;
} cpgo_mux_ret;

static const char **cpgo_mux_params(const char *buf, int32_t n, const int64_t *offs,
                                    const char **small) {
    const char **params = small;
    if (n > 16) {
        params = (const char **)malloc((size_t)n * sizeof *params);
        if (params == NULL) return NULL;
    }
    for (int32_t i = 0; i < n; i++) params[i] = offs[i] < 0 ? NULL : buf + offs[i];
    return params;
}

static void cpgo_mux_fill(cpgo_mux_ret *r, connpool_result *res) {
    r->res = (uintptr_t)res;
    if (res != NULL) {
        r->nrows = connpool_result_row_count(res);
        r->ncols = connpool_result_column_count(res);
        r->affected = connpool_result_affected_rows(res);
    }
}

// buf: the SQL text then each non-NULL parameter, NUL-terminated; offs[i]: parameter i's
// offset in buf, -1 for SQL NULL (as cpgo_exec). async: submit only (r.statement set).
static cpgo_mux_ret cpgo_pool_exec(uintptr_t pool, const char *buf, int32_t n,
                                   const int64_t *offs, int64_t timeout_ms, int async) {
    cpgo_mux_ret r = {0, NULL, 0, 0, 0, -1, 0};
    const char *small[16];
    const char **params = cpgo_mux_params(buf, n, offs, small);
    if (params == NULL) {
        r.st = CONNPOOL_ERR_NO_MEMORY;
        return r;
    }
    if (async) {
        connpool_statement *statement = NULL;
        r.st = connpool_pool_exec_async(&statement, (connpool_pool *)pool, buf, n,
                                        n > 0 ? params : NULL, timeout_ms, &r.err);
        r.statement = (uintptr_t)statement;
    } else {
        connpool_result *res = NULL;
        r.st = connpool_pool_exec(&res, (connpool_pool *)pool, buf, n, n > 0 ? params : NULL,
                                  timeout_ms, &r.err);
        cpgo_mux_fill(&r, res);
    }
    if (params != small) free(params);
    return r;
}

// Waits for a submitted statement's outcome, collects it and frees the statement.
static cpgo_mux_ret cpgo_statement_finish(uintptr_t statement) {
    cpgo_mux_ret r = {0, NULL, 0, 0, 0, -1, 0};
    connpool_statement *s = (connpool_statement *)statement;
    r.st = connpool_statement_wait(s, -1, &r.err);
    if (r.st == CONNPOOL_OK) {
        connpool_result *res = NULL;
        r.st = connpool_statement_result(&res, s, &r.err);
        cpgo_mux_fill(&r, res);
    }
    connpool_statement_free(s);
    return r;
}

static void cpgo_statement_cancel(uintptr_t statement) {
    connpool_statement_cancel((connpool_statement *)statement);
}

static void cpgo_mux_result_free(uintptr_t res) { connpool_result_free((connpool_result *)res); }
*/
import "C"

import (
	"context"
	"runtime"
	"strconv"
	"unsafe"
)

// multiplexingSet tells whether the pool was opened with multiplexing_connections > 0.
func multiplexingSet(settings []setting) bool {
	for _, s := range settings {
		if s.key == "multiplexing_connections" {
			n, err := strconv.Atoi(s.value)
			return err == nil && n > 0
		}
	}
	return false
}

// muxExec runs one statement multiplexed. The context's deadline becomes the statement's
// timeout; cancelling the context abandons the statement (not yet written: never run; written:
// its result is discarded), never the shared connection's other statements.
func (p *Pool) muxExec(ctx context.Context, sql string, args []any) (execResult, error) {
	if ctx.Err() != nil {
		return execResult{}, contextError(ctx, "statement not sent")
	}
	timeout := int64(-1)
	if deadline, ok := ctx.Deadline(); ok {
		if timeout = msUntil(deadline); timeout == 0 {
			return execResult{}, contextError(ctx, "statement not sent")
		}
	}
	enc := encoders.Get().(*encoder)
	defer encoders.Put(enc)
	if err := enc.encode(sql, args, nil); err != nil {
		return execResult{}, err
	}
	var offp *C.int64_t
	if len(enc.offs) > 0 {
		offp = (*C.int64_t)(unsafe.Pointer(&enc.offs[0]))
	}
	buf := (*C.char)(unsafe.Pointer(&enc.buf[0]))
	n := C.int32_t(len(enc.offs))
	var r C.cpgo_mux_ret
	if ctx.Done() == nil {
		r = C.cpgo_pool_exec(C.uintptr_t(p.handle), buf, n, offp, C.int64_t(timeout), 0)
	} else {
		r = C.cpgo_pool_exec(C.uintptr_t(p.handle), buf, n, offp, C.int64_t(timeout), 1)
		if r.st == C.CONNPOOL_OK {
			statement := r.statement
			done := make(chan struct{})
			go func() {
				select {
				case <-ctx.Done():
					C.cpgo_statement_cancel(statement)
				case <-done:
				}
			}()
			r = C.cpgo_statement_finish(statement)
			close(done)
		}
	}
	runtime.KeepAlive(enc)
	runtime.KeepAlive(p)
	if r.st != C.CONNPOOL_OK {
		if r.res != 0 {
			C.cpgo_mux_result_free(r.res)
		}
		err := takeError(r.st, r.err)
		if ctx.Err() != nil {
			return execResult{}, contextError(ctx, "statement abandoned")
		}
		return execResult{}, err
	}
	return execResult{res: uintptr(r.res), nrows: int64(r.nrows), ncols: int(r.ncols),
		affected: int64(r.affected)}, nil
}

// WithMultiplexingConnections shares n of the pool's connections (taken from max size when the
// first multiplexed statement runs) between Pool.Exec and Pool.QueryRow calls of every
// goroutine, pipelined (0 = off). Transactions and session state still need a Conn.
func WithMultiplexingConnections(n int) Option { return Option{"multiplexing_connections", n} }
