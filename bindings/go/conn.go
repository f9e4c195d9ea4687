package connpool

import (
	"context"
	"errors"
	"log"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Conn is a connection borrowed from a Pool (a lease). Use it from one goroutine at a time
// and return it with Release as soon as possible; a Conn that is garbage-collected without
// Release is released by a finalizer with a logged warning, but only as a safety net: until
// the garbage collector runs, the connection is unavailable to everyone else.
type Conn struct {
	pool     *Pool   // keeps the pool (and its handle) alive while the lease is out
	lease    uintptr // connpool_lease token
	released atomic.Bool
	broken   bool      // the connection died during a call: database/sql must drop it
	pending  bool      // a statement was abandoned mid-flight: the lease cannot run another
	poll     *pollFile // the connection's netpoller registration (owned by the pool)
	wantRow  bool      // QueryRow: the final collect copies the first row into enc.row
	// Pool.QueryRow: the lease may be released by the final collect (releasedInCollect).
	releaseAfter, releasedInCollect bool
	enc                             *encoder // parameter buffers, from encoders while the lease is held
	tracked                         bool     // has a finalizer
	label                           string   // as set by SetLabel, for the leak warning
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
	if first && c.pending && !c.releasedInCollect {
		// An abandoned statement's cancel request may still be on its way (over a stalled
		// network, until cancel_timeout), and the library's release waits for it. The
		// connection is closed, not reused, so the caller need not wait: nothing to report.
		go c.release(first)
		return nil
	}
	return c.release(first)
}

func (c *Conn) release(first bool) error {
	var err error
	switch {
	case first && c.releasedInCollect:
	case first && c.pool.afterRelease != nil && !c.broken && !c.pending &&
		!callAfterRelease(c.pool.afterRelease, c):
		err = cLeaseDiscard(c.lease)
	default:
		err = cLeaseRelease(c.lease)
	}
	c.poll = nil // the pool keeps the registration for the connection's next lease
	if first && c.pool.direct {
		c.pool.polls.closeAll() // the connection is closed with its only lease
	} else if first && c.pool.closed.Load() {
		c.pool.polls.sweep() // the released connection was closed
	}
	if first {
		c.pool.gate.leave() // after the library has the connection back
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

// Pool returns the pool the connection was borrowed from (nil for a direct connection, see
// Connect).
func (c *Conn) Pool() *Pool {
	if c.pool.direct {
		return nil
	}
	return c.pool
}

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
	r, err := c.exec(ctx, sql, args, nil)
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
	r, err := c.exec(ctx, sql, args, nil)
	if err != nil {
		return nil, err
	}
	return newRows(r), nil
}

// QueryRow runs a query expected to return at most one row; Row.Scan reports the errors,
// and ErrNoRows when there is no row.
func (c *Conn) QueryRow(ctx context.Context, sql string, args ...any) *Row {
	c.wantRow = true
	r, err := c.exec(ctx, sql, args, nil)
	c.wantRow = false
	if err != nil {
		return &Row{err: err}
	}
	return c.rowOf(r)
}

func (c *Conn) rowOf(r execResult) *Row {
	if r.res == 0 && r.nrows > 0 { // copied by the final collect
		return rowFromBuf(c.enc.row, r.ncols)
	}
	return rowFromResult(r)
}

// exec runs the statement. The context is checked before the statement is sent; if it can be
// cancelled, cancelling it while the statement runs sends a cancel request to the server,
// and the statement fails with an error matching both the context's error and a *PgError with
// SQLSTATE 57014 (query_canceled). Should the server not answer within cancelGrace of the
// request, the statement is abandoned: the error then matches the context's error and
// ErrConnectionBroken, and the connection is closed (never reused) when released.
//
// The statement is sent with the library's asynchronous API and the goroutine waits on the
// connection's socket through Go's netpoller, so statements in flight hold no OS thread.
//
// types are the parameter types if known (a described statement), else nil: then a []byte
// whose encoding depends on its target type makes exec describe the statement first.
func (c *Conn) exec(ctx context.Context, sql string, args []any, types []uint32) (execResult, error) {
	if ctx.Err() != nil {
		return execResult{}, contextError(ctx, "statement not sent")
	}
	if c.pending {
		return execResult{}, &Error{Status: StatusConnectionBroken,
			Message: "an earlier statement on this connection was abandoned when its context " +
				"ended; release the connection (the pool closes it)"}
	}
	if c.enc == nil {
		c.enc = encoders.Get().(*encoder)
	}
	if err := c.enc.encode(sql, args, types); err != nil {
		return execResult{}, err
	}
	if c.enc.guessedBytes && describable(sql) {
		described, err := c.describe(ctx, sql)
		if err == nil {
			err = c.enc.encode(sql, args, described)
		}
		if err != nil {
			c.markBroken(err)
			return execResult{}, err
		}
	}
	var (
		r   execResult
		err error
	)
	if usePoller {
		r, err = c.execAsync(ctx)
	} else if ctx.Done() == nil {
		r, err = cExec(c.lease, c.enc.buf, c.enc.offs)
	} else {
		r, err = c.execBlockingCancellable(ctx)
	}
	runtime.KeepAlive(c)
	c.markBroken(err)
	return r, err
}

// markBroken notes a connection that died during a call (database/sql must then drop it).
func (c *Conn) markBroken(err error) {
	if err != nil && errors.Is(err, ErrConnectionBroken) {
		c.broken = true
	}
}

// cancelStatement sends the server-side cancel (a variable so that tests can play a server
// that never answers it).
var cancelStatement = cLeaseCancel

// cancelGrace is how long a statement may take to end after its cancel request was sent
// before it is abandoned.
var cancelGrace = 250 * time.Millisecond

// pollFile is a duplicate of a connection's socket registered with Go's netpoller (closing it
// never closes libpq's own descriptor). The pool keeps one per connection (pollFiles), so a
// connection is registered once, not once per lease.
type pollFile struct {
	conn     uint64 // connpool_lease_connection_id
	fd       int    // the libpq socket it duplicates
	dev, ino uint64 // identity of that socket
	file     *os.File
	rc       syscall.RawConn
}

func (p *pollFile) close() {
	if p != nil {
		p.file.Close()
	}
}

// pollFiles maps libpq socket descriptors to their pollFile. A connection's entry is used by
// one goroutine at a time (the lease holder). Entries of connections the library closed are
// swept whenever a new connection is registered (and on the pool's finalizer): a descriptor
// that no longer refers to the same socket means the connection is gone.
//
// Lookups, one per lease, read an immutable copy of the map without locking; the rare changes
// (a connection's first lease, sweeps) take the mutex and publish a new copy.
type pollFiles struct {
	mu   sync.Mutex
	m    map[int]*pollFile                 // guarded by mu
	snap atomic.Pointer[map[int]*pollFile] // a copy of m as of its last change
}

// get returns the registration for the socket described by w, making it if needed; nil if it
// cannot be made (the caller then waits in C).
func (ps *pollFiles) get(w waitEvents) *pollFile {
	if m := ps.snap.Load(); m != nil {
		if p := (*m)[w.fd]; p != nil && p.conn == w.conn {
			return p
		}
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	defer ps.publishLocked()
	if p := ps.m[w.fd]; p != nil && p.conn == w.conn {
		return p
	}
	ps.sweepLocked()
	if p := ps.m[w.fd]; p != nil { // same descriptor number, another connection
		p.close()
		delete(ps.m, w.fd)
	}
	dup, dev, ino := cDup(w.fd)
	if dup < 0 {
		return nil
	}
	f := os.NewFile(uintptr(dup), "connpool-socket")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil
	}
	p := &pollFile{conn: w.conn, fd: w.fd, dev: dev, ino: ino, file: f, rc: rc}
	if ps.m == nil {
		ps.m = make(map[int]*pollFile)
	}
	ps.m[w.fd] = p
	return p
}

// drop closes and forgets p (a statement was abandoned on it, leaving a deadline set).
func (ps *pollFiles) drop(p *pollFile) {
	ps.mu.Lock()
	if ps.m[p.fd] == p {
		delete(ps.m, p.fd)
	}
	ps.publishLocked()
	ps.mu.Unlock()
	p.close()
}

func (ps *pollFiles) sweepLocked() {
	for fd, p := range ps.m {
		if !cSameSocket(fd, p.dev, p.ino) {
			p.close()
			delete(ps.m, fd)
		}
	}
}

func (ps *pollFiles) sweep() {
	ps.mu.Lock()
	ps.sweepLocked()
	ps.publishLocked()
	ps.mu.Unlock()
}

func (ps *pollFiles) closeAll() {
	ps.mu.Lock()
	for fd, p := range ps.m {
		p.close()
		delete(ps.m, fd)
	}
	ps.publishLocked()
	ps.mu.Unlock()
}

// publishLocked makes the lock-free lookups see the current map.
func (ps *pollFiles) publishLocked() {
	m := make(map[int]*pollFile, len(ps.m))
	for fd, p := range ps.m {
		m[fd] = p
	}
	ps.snap.Store(&m)
}

// pollerFor returns the netpoller registration for the lease's socket, or nil.
func (c *Conn) pollerFor(w waitEvents) *pollFile {
	if c.poll != nil && c.poll.conn == w.conn {
		return c.poll
	}
	c.poll = c.pool.polls.get(w)
	return c.poll
}

func (c *Conn) execAsync(ctx context.Context) (execResult, error) {
	w, err := cSend(c.lease, c.enc.buf, c.enc.offs)
	if err != nil {
		return execResult{}, err
	}
	return c.runStatement(ctx, w)
}

func (c *Conn) collectMode() collectMode {
	switch {
	case !c.wantRow:
		return collectResult
	case c.releaseAfter: // Pool.QueryRow: the lease is not used after the final collect
		return collectRowRelease
	default:
		return collectRow
	}
}

// runStatement waits for the statement sent on the lease (sent: what it waits for, on which
// socket of which connection) and collects it. The goroutine waits in Go's netpoller.
func (c *Conn) runStatement(ctx context.Context, sent waitEvents) (execResult, error) {
	p := c.pollerFor(sent)
	if p == nil { // no netpoller registration: wait in C, cancellable from a watcher
		return c.collectBlocking(ctx, sent)
	}
	mode := c.collectMode()
	var w *watcher
	if done := ctx.Done(); done != nil {
		w = watch(done, c.lease, p)
		// A watcher may still use the lease after the final collect: no release in it.
		if mode == collectRowRelease {
			mode = collectRow
		}
	}
	s := &c.enc.st
	s.begin(c.lease, c.enc, mode, sent)
	s.hint = &c.pool.lookHint
	var pollErr error
	for !s.done && pollErr == nil {
		if s.w.write() {
			pollErr = p.rc.Write(s.step)
		} else {
			pollErr = p.rc.Read(s.step)
		}
	}
	if s.released {
		c.releasedInCollect = true
	}
	var cancelled bool
	if s.done {
		cancelled = w.stop()
	} else {
		cancelled = w.abandon()
	}
	r, err := s.r, s.err
	s.r, s.err = execResult{}, nil // the pooled encoder keeps no result
	if !s.done {
		// Abandoned (the grace after the cancel request passed, or the netpoller failed): the
		// statement stays pending in the library, which closes the connection on release.
		c.pending = true
		c.broken = true
		c.pool.polls.drop(p)
		c.poll = nil
		if ctx.Err() != nil {
			return execResult{}, &ctxError{ctxErr: ctx.Err(), status: StatusConnectionBroken,
				msg: "statement abandoned: the server did not answer the cancel request in time; " +
					"the connection is closed when released"}
		}
		return execResult{}, &Error{Status: StatusConnectionBroken,
			Message: "waiting for the statement failed: " + pollErr.Error()}
	}
	return r, canceledBy(ctx, cancelled, err)
}

// watcher sends a cancel request for the lease's running statement when its context ends.
// With the statement's poll file it also bounds the wait for the statement's end (cancelGrace
// from the moment the context ended, whether or not the cancel request got through: over a
// stalled network it may take until cancel_timeout); the blocking paths have no such bound.
type watcher struct {
	stopc    chan struct{}
	fired    chan struct{} // closed when the context ended (before the cancel request is sent)
	finished chan bool     // true: a cancel request was sent (or attempted)
	p        *pollFile
}

func watch(done <-chan struct{}, lease uintptr, p *pollFile) *watcher {
	w := &watcher{stopc: make(chan struct{}), fired: make(chan struct{}),
		finished: make(chan bool, 1), p: p}
	cancel, grace := cancelStatement, cancelGrace // read here: an abandoned watcher outlives its caller
	go func() {
		select {
		case <-done:
			if p != nil {
				p.file.SetDeadline(time.Now().Add(grace))
			}
			close(w.fired)
			_ = cancel(lease)
			w.finished <- true
		case <-w.stopc:
			w.finished <- false
		}
	}()
	return w
}

// stop ends the watcher and waits for it, so that no cancel request for this statement can
// still be on its way when the next statement starts. Reports whether it sent one. A nil
// watcher (no cancellable context) sent none.
func (w *watcher) stop() bool {
	if w == nil {
		return false
	}
	close(w.stopc)
	cancelled := <-w.finished
	if cancelled && w.p != nil {
		w.p.file.SetDeadline(time.Time{})
	}
	return cancelled
}

// abandon ends the watcher of a statement that is being given up (its connection is never
// reused, so no later statement can meet its cancel request): it does not wait for a cancel
// request still in progress, which finishes on its own within cancel_timeout.
func (w *watcher) abandon() bool {
	if w == nil {
		return false
	}
	close(w.stopc)
	select {
	case <-w.fired:
		return true
	case cancelled := <-w.finished:
		return cancelled
	}
}

// canceledBy reports a statement that failed with query_canceled (57014) after the watcher
// sent a cancel request as cancelled by its context; other errors pass unchanged.
func canceledBy(ctx context.Context, cancelled bool, err error) error {
	var pg *PgError
	if cancelled && err != nil && errors.As(err, &pg) && pg.Code == "57014" {
		return &canceledError{pg: pg, ctxErr: ctx.Err()}
	}
	return err
}

// collectBlocking finishes a sent statement by waiting in C (an OS thread per statement), for
// when the socket cannot be registered with the netpoller.
func (c *Conn) collectBlocking(ctx context.Context, w waitEvents) (execResult, error) {
	var watching *watcher
	if done := ctx.Done(); done != nil {
		watching = watch(done, c.lease, nil)
	}
	for {
		r, next, done, err := cCollect(c.lease)
		if done {
			return r, canceledBy(ctx, watching.stop(), err)
		}
		w = next
		cWaitSocket(w)
	}
}

// execBlockingCancellable is the blocking path (usePoller off) with a cancel watcher.
func (c *Conn) execBlockingCancellable(ctx context.Context) (execResult, error) {
	watching := watch(ctx.Done(), c.lease, nil)
	r, err := cExec(c.lease, c.enc.buf, c.enc.offs)
	return r, canceledBy(ctx, watching.stop(), err)
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
