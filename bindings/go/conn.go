package connpool

import (
	"context"
	"errors"
	"log"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
)

// Conn is a connection borrowed from a Pool (a lease). Use it from one goroutine at a time
// and return it with Release as soon as possible; a Conn that is garbage-collected without
// Release is released by a finalizer with a logged warning, but only as a safety net: until
// the garbage collector runs, the connection is unavailable to everyone else.
type Conn struct {
	pool     *Pool   // keeps the pool (and its handle) alive while the lease is out
	lease    uintptr // connpool_lease token
	released atomic.Bool
	broken   bool     // the connection died during a call: database/sql must drop it
	cancel   uintptr  // PGcancel for statement cancellation, created on first need
	enc      *encoder // parameter buffers, from encoders while the lease is held
	tracked  bool     // has a finalizer
	label    string   // as set by SetLabel, for the leak warning
}

var encoders = sync.Pool{New: func() any { return new(encoder) }}

func newConn(p *Pool, lease uintptr) *Conn {
	c := &Conn{pool: p, lease: lease, tracked: true}
	runtime.SetFinalizer(c, (*Conn).finalize)
	return c
}

func (c *Conn) finalize() {
	if c.released.Load() {
		return
	}
	where := ""
	if c.label != "" {
		where = " (label " + strconv.Quote(c.label) + ")"
	}
	log.Printf("connpool: a Conn%s was garbage-collected without Release; releasing its lease "+
		"now (call Conn.Release when done with a connection)", where)
	_ = c.Release()
}

// Release returns the connection to its pool. It never blocks on the network: a connection
// left inside a transaction is rolled back by the pool before anyone else gets it. Calling it
// again returns an error matching ErrInvalidHandle (the library detects the stale lease).
func (c *Conn) Release() error {
	first := c.released.CompareAndSwap(false, true)
	err := cLeaseRelease(c.lease)
	if first {
		if c.cancel != 0 {
			cFreeCancel(c.cancel)
			c.cancel = 0
		}
		if c.enc != nil {
			c.enc.reset()
			encoders.Put(c.enc)
			c.enc = nil
		}
		if c.tracked {
			runtime.SetFinalizer(c, nil)
		}
	}
	runtime.KeepAlive(c)
	return err
}

// SetLabel attaches a label (e.g. the code path that took the lease) shown when the lease is
// reported as held longer than the pool's leak threshold. "" clears it.
func (c *Conn) SetLabel(label string) error {
	err := cLeaseSetLabel(c.lease, label)
	if err == nil {
		c.label = label
	}
	runtime.KeepAlive(c)
	return err
}

// Pool returns the pool the connection was borrowed from.
func (c *Conn) Pool() *Pool { return c.pool }

// Result reports what a statement did.
type Result struct {
	rowsAffected int64
}

// RowsAffected is the row count the server reported (INSERT/UPDATE/DELETE/SELECT...), or -1
// when the command reports none.
func (r Result) RowsAffected() int64 { return r.rowsAffected }

// Exec runs one statement with $1..$n parameters (see "Parameters" in the package
// documentation) and discards any rows it returns.
func (c *Conn) Exec(ctx context.Context, sql string, args ...any) (Result, error) {
	r, err := c.exec(ctx, sql, args)
	if err != nil {
		return Result{}, err
	}
	cResultFree(r.res)
	return Result{rowsAffected: r.affected}, nil
}

// Query runs one statement and returns its rows. The whole result is transferred before
// Query returns (libpq's default), so errors surface here and the Conn may be used for
// other statements, or released, while the Rows are still being read.
func (c *Conn) Query(ctx context.Context, sql string, args ...any) (*Rows, error) {
	r, err := c.exec(ctx, sql, args)
	if err != nil {
		return nil, err
	}
	return newRows(r), nil
}

// QueryRow runs a query expected to return at most one row; Row.Scan reports the errors,
// and ErrNoRows when there is no row.
func (c *Conn) QueryRow(ctx context.Context, sql string, args ...any) *Row {
	r, err := c.exec(ctx, sql, args)
	if err != nil {
		return &Row{err: err}
	}
	return rowFromResult(r)
}

// exec runs the statement. The context is checked before the statement is sent; if it can be
// cancelled, cancelling it while the statement runs sends a cancel request to the server
// (PQcancel), and the statement fails with an error matching both the context's error and a
// *PgError with SQLSTATE 57014 (query_canceled).
func (c *Conn) exec(ctx context.Context, sql string, args []any) (execResult, error) {
	if ctx.Err() != nil {
		return execResult{}, contextError(ctx, "statement not sent")
	}
	if c.enc == nil {
		c.enc = encoders.Get().(*encoder)
	}
	if err := c.enc.encode(sql, args); err != nil {
		return execResult{}, err
	}
	var (
		r   execResult
		err error
	)
	if ctx.Done() == nil {
		r, err = cExec(c.lease, c.enc.buf, c.enc.offs)
	} else {
		r, err = c.execCancellable(ctx)
	}
	runtime.KeepAlive(c)
	if err != nil && errors.Is(err, ErrConnectionBroken) {
		c.broken = true
	}
	return r, err
}

func (c *Conn) execCancellable(ctx context.Context) (execResult, error) {
	if c.cancel == 0 {
		c.cancel = cGetCancel(c.lease)
		if c.cancel == 0 { // libpq's cancel API is not available: run uncancellable
			return cExec(c.lease, c.enc.buf, c.enc.offs)
		}
	}
	stop := make(chan struct{})
	finished := make(chan bool, 1)
	cancelObj := c.cancel
	go func() {
		select {
		case <-ctx.Done():
			cCancel(cancelObj)
			finished <- true
		case <-stop:
			finished <- false
		}
	}()
	r, err := cExec(c.lease, c.enc.buf, c.enc.offs)
	close(stop)
	// Wait for the watcher, so that no cancel request for this statement can still be on
	// its way when the next statement starts.
	if cancelled := <-finished; cancelled && err != nil {
		var pg *PgError
		if errors.As(err, &pg) && pg.Code == "57014" {
			return r, &canceledError{pg: pg, ctxErr: ctx.Err()}
		}
	}
	return r, err
}

// canceledError is a statement cancelled because its context ended: errors.Is matches the
// context's error, errors.As finds the *PgError (SQLSTATE 57014).
type canceledError struct {
	pg     *PgError
	ctxErr error
}

func (e *canceledError) Error() string        { return e.pg.Error() + ": " + e.ctxErr.Error() }
func (e *canceledError) Unwrap() error        { return e.pg }
func (e *canceledError) Is(target error) bool { return target == e.ctxErr }
