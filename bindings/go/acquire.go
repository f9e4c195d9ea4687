package connpool

import (
	"context"
	"errors"
	"runtime"
	"strings"
)

// Acquire borrows a connection from the pool. Release it with Conn.Release when done.
//
// The context bounds the wait: its deadline is passed to the library as the acquire timeout
// (without a deadline, the pool's acquire_timeout option applies), and cancelling it abandons
// the wait at once. A failed wait returns an error for which errors.Is reports both the
// library status and the context's error where one applies: ErrTimeout (and
// context.DeadlineExceeded when the context's deadline was the limit), context.Canceled (and
// ErrCanceled), ErrClosed, ErrConnectFailed (the latest connect attempt failed; the message
// carries libpq's reason), ErrDatabaseUnavailable, ErrTooManyWaiters.
//
// Waiting costs no OS thread: while every connection is busy the goroutine waits in the
// binding's gate (gate.go), and inside the library it uses the asynchronous acquire, parked
// on the request's eventfd through Go's netpoller. A context that can be
// cancelled adds one short-lived goroutine while (and only while) the acquire has to wait.
func (p *Pool) Acquire(ctx context.Context) (*Conn, error) {
	lease, err := p.acquireLease(ctx)
	if err != nil {
		return nil, err
	}
	c := newConn(p, lease)
	if p.hooked() {
		if err := p.prepareConn(ctx, c); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// TryAcquire borrows an idle connection if one can be had without waiting, else returns nil
// and ErrWouldBlock (also while the pool is paused, or when max_size connections are out). It
// never waits for a connection; a pre-ping of the connection taken may take up to
// health_check_timeout (blocking the OS thread). Only one idle connection is tried: if it
// turns out dead it is closed and the answer is ErrWouldBlock. The AfterConnect hook runs as
// for Acquire, with ctx.
func (p *Pool) TryAcquire(ctx context.Context) (*Conn, error) {
	if ctx.Err() != nil {
		return nil, contextError(ctx, "try-acquire")
	}
	if !p.gate.tryEnter() {
		return nil, ErrWouldBlock
	}
	lease, err := cPoolTryAcquire(p.handle)
	runtime.KeepAlive(p)
	if err != nil {
		p.gate.leave()
		return nil, err
	}
	c := newConn(p, lease)
	if p.hooked() {
		if err := p.prepareConn(ctx, c); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (p *Pool) acquireLease(ctx context.Context) (uintptr, error) {
	if ctx.Err() != nil {
		return 0, contextError(ctx, "acquire")
	}
	if err := p.gate.enter(ctx); err != nil {
		return 0, err
	}
	timeout := int64(-1) // the pool's acquire_timeout
	dl, hasDeadline := ctx.Deadline()
	if hasDeadline {
		timeout = msUntil(dl)
	}
	lease, req, fd, err := cAcquireStart(p.handle, timeout)
	if req != 0 {
		lease, err = p.waitAcquire(ctx, req, fd)
	}
	runtime.KeepAlive(p)
	if err != nil {
		p.gate.leave()
		return 0, acquireError(err, hasDeadline)
	}
	return lease, nil
}

func acquireError(err error, hasDeadline bool) error {
	if hasDeadline && errors.Is(err, ErrTimeout) {
		// The library timed out at the context's deadline: say so in both vocabularies.
		return &ctxError{ctxErr: context.DeadlineExceeded, status: StatusTimeout,
			msg: strings.TrimPrefix(err.Error(), "connpool: ")}
	}
	return err
}

// queryRow is Pool.QueryRow on the netpoller path: when a connection is idle, the acquire and
// the send of the statement are one cgo call, and the final collect releases the lease.
func (p *Pool) queryRow(ctx context.Context, sql string, args []any) *Row {
	if ctx.Err() != nil {
		return &Row{err: contextError(ctx, "acquire")}
	}
	enc := encoders.Get().(*encoder)
	if err := enc.encode(sql, args, nil); err != nil {
		enc.reset()
		encoders.Put(enc)
		return &Row{err: err}
	}
	if enc.guessedBytes && describable(sql) { // describe first: acquire, then Conn.QueryRow
		enc.reset()
		encoders.Put(enc)
		return p.queryRowOnLease(ctx, sql, args)
	}
	if err := p.gate.enter(ctx); err != nil {
		enc.reset()
		encoders.Put(enc)
		return &Row{err: err}
	}
	timeout := int64(-1) // the pool's acquire_timeout
	dl, hasDeadline := ctx.Deadline()
	if hasDeadline {
		timeout = msUntil(dl)
	}
	a := cAcquireSend(p.handle, timeout, enc.buf, enc.offs)
	lease, err := a.lease, a.err
	if a.req != 0 {
		lease, err = p.waitAcquire(ctx, a.req, a.fd)
	}
	runtime.KeepAlive(p)
	if err != nil {
		p.gate.leave()
		enc.reset()
		encoders.Put(enc)
		return &Row{err: acquireError(err, hasDeadline)}
	}
	c := Conn{pool: p, lease: lease, releaseAfter: true, enc: enc}
	var row *Row
	if !a.sent { // the acquire had to wait: send now
		row = c.QueryRow(ctx, sql, args...)
	} else if a.sendErr != nil {
		row = &Row{err: a.sendErr}
	} else {
		c.wantRow = true
		r, err := c.runStatement(ctx, a.wait)
		c.wantRow = false
		if err != nil {
			row = &Row{err: err}
		} else {
			row = c.rowOf(r)
		}
	}
	c.Release()
	return row
}

// waitAcquire waits for a pending request, then frees it (which hands back a connection that
// was granted but not collected, e.g. when the wait was cancelled at that very moment).
func (p *Pool) waitAcquire(ctx context.Context, req uintptr, fd int) (uintptr, error) {
	defer cAcquireFree(req)
	if done := ctx.Done(); done != nil {
		stop := make(chan struct{})
		defer close(stop) // runs before cAcquireFree
		go func() {
			select {
			case <-done:
				// Makes the request finish with CONNPOOL_ERR_CANCELED and its fd readable.
				// Should this run after the request was freed, the library answers the stale
				// token with CONNPOOL_ERR_INVALID_HANDLE (tokens are generation-tagged).
				cAcquireCancel(req)
			case <-stop:
			}
		}()
	}
	lease, err := waitOnFd(req, fd)
	if err != nil && errors.Is(err, ErrCanceled) && ctx.Err() != nil {
		return 0, contextError(ctx, "acquire abandoned")
	}
	return lease, err
}

// usePoller can be turned off by tests to exercise the blocking fallback.
var usePoller = true

// waitOnFd parks the goroutine on the request's eventfd via the netpoller; if the fd is not
// available or cannot be polled, it falls back to the library's blocking wait (which then
// occupies an OS thread, as any blocking cgo call does).
func waitOnFd(req uintptr, fd int) (uintptr, error) {
	var (
		lease uintptr
		done  bool
		err   error
	)
	if fd >= 0 && !usePoller {
		closeFd(fd)
		fd = -1
	}
	if fd >= 0 {
		f := newFileFromFd(fd) // owns the duplicate; the library keeps its own descriptor
		if rc, rcErr := f.SyscallConn(); rcErr == nil {
			// The callback never reads the eventfd (it belongs to the library): it asks for
			// the outcome and, while there is none, lets the netpoller park the goroutine
			// until the next edge. The library signals every outcome with a new write.
			pollErr := rc.Read(func(uintptr) bool {
				lease, done, err = cAcquireCollect(req)
				return done
			})
			if pollErr == nil {
				f.Close()
				return lease, err
			}
		}
		f.Close()
	}
	for {
		lease, done, err = cAcquireCollect(req)
		if done {
			return lease, err
		}
		cAcquireWait(req, -1)
	}
}
