package connpool

import (
	"context"
	"fmt"
	"reflect"
	"runtime"
	"strconv"
	"strings"
)

// Options that the binding applies itself instead of passing them to connpool_options_set:
// the pool's own logger (WithLogger) and the connection hooks. They take Go functions, which
// the library never sees.

// bindingConfig collects the binding-only options of one Open or GetOrCreate.
type bindingConfig struct {
	logger       poolLogger
	afterConnect afterConnectHook
	afterRelease afterReleaseHook
}

// bindingOption is the value of an Option that the binding applies itself.
type bindingOption interface{ applyTo(*bindingConfig) }

func (l poolLogger) applyTo(b *bindingConfig) { b.logger = l }

type afterConnectHook func(ctx context.Context, c *Conn) error

func (h afterConnectHook) applyTo(b *bindingConfig) { b.afterConnect = h }

type afterReleaseHook func(c *Conn) bool

func (h afterReleaseHook) applyTo(b *bindingConfig) { b.afterRelease = h }

// WithAfterConnect sets a hook run on the first lease of every new connection (pgxpool's
// AfterConnect, psycopg_pool's configure), e.g. to set session state or register types: in the
// goroutine that acquired it, with that acquire's context, before Acquire (or Pool.Exec,
// Pool.Begin...) returns the connection. An error (or a panic, returned as an error) closes
// that connection and the acquire returns the error. The settings the hook leaves in the
// session (SET, set_config, SET ROLE) become the connection's own: the session reset (option
// reset) restores them after every lease (connpool_lease_keep_session); temporary tables,
// locks and LISTEN do not survive it. The library's init_sql option (WithInitSQL) runs
// earlier, in the pool's connecting thread, and suits plain SQL better.
func WithAfterConnect(fn func(ctx context.Context, c *Conn) error) Option {
	return Option{"(after_connect)", afterConnectHook(fn)}
}

// WithAfterRelease sets a hook run when a Conn is released, before its connection goes back to
// the pool (pgxpool's AfterRelease, psycopg_pool's reset), in the releasing goroutine: return
// true to give the connection back, false to have it closed instead (a panic counts as false).
// The hook may run statements on the Conn (with a context of its own; the pool still rolls back
// an open transaction afterwards) but must not Release it. It is not run for a connection
// already known broken or with a statement abandoned, which are closed anyway.
func WithAfterRelease(fn func(c *Conn) bool) Option {
	return Option{"(after_release)", afterReleaseHook(fn)}
}

// runAfterConnect runs the AfterConnect hook if the lease's connection is new; on failure the
// connection is closed and the error returned.
func (p *Pool) runAfterConnect(ctx context.Context, c *Conn) error {
	info, err := cLeaseGetInfo(c.lease)
	if err != nil {
		_ = cLeaseDiscard(c.lease)
		return err
	}
	if !info.isNew {
		return nil
	}
	if err := callAfterConnect(ctx, p.afterConnect, c); err != nil {
		_ = cLeaseDiscard(c.lease)
		return err
	}
	// What the hook set (SET, set_config, SET ROLE) is the connection's own from now on: the
	// session reset (option reset) restores it instead of the server's defaults.
	if err := cLeaseKeepSession(c.lease); err != nil {
		_ = cLeaseDiscard(c.lease)
		return fmt.Errorf("connpool: AfterConnect: keeping the session settings: %w", err)
	}
	return nil
}

func callAfterConnect(ctx context.Context, fn afterConnectHook, c *Conn) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("connpool: AfterConnect panicked: %v", r)
		}
	}()
	if err := fn(ctx, c); err != nil {
		return fmt.Errorf("connpool: AfterConnect: %w", err)
	}
	return nil
}

func callAfterRelease(fn afterReleaseHook, c *Conn) (keep bool) {
	defer func() {
		if r := recover(); r != nil {
			keep = false
		}
	}()
	return fn(c)
}

// hooked reports whether acquires must go through prepareConn.
func (p *Pool) hooked() bool { return p.afterConnect != nil || p.afterRelease != nil || p.leakLabels }

// prepareConn is what a new lease gets before the caller sees it: a leak label naming the
// caller (when leak_threshold is set) and the AfterConnect hook. On error the lease is gone
// (released, its connection closed), and the gate place with it.
func (p *Pool) prepareConn(ctx context.Context, c *Conn) error {
	if p.leakLabels {
		if label := callerLabel(); label != "" {
			_ = cLeaseSetLabel(c.lease, label)
			c.label = label
		}
	}
	if p.afterConnect == nil {
		return nil
	}
	if err := p.runAfterConnect(ctx, c); err != nil {
		c.released.Store(true)
		c.pool.gate.leave()
		if c.tracked {
			runtime.SetFinalizer(c, nil)
		}
		return err
	}
	return nil
}

// bindingPkg is this package's import path; its frames (and database/sql's) are not the
// caller a leak label names.
var bindingPkg = reflect.TypeOf(Pool{}).PkgPath()

// callerLabel is "file.go:line (function)" of the first frame outside this package and
// database/sql: the code that acquired the connection.
func callerLabel() string {
	var pcs [24]uintptr
	n := runtime.Callers(3, pcs[:])
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		if !strings.HasPrefix(f.Function, bindingPkg+".") && !strings.HasPrefix(f.Function, "database/sql.") &&
			f.Function != "" {
			fn := f.Function[strings.LastIndexByte(f.Function, '/')+1:]
			label := shortPath(f.File) + ":" + strconv.Itoa(f.Line) + " (" + fn + ")"
			if len(label) > 256 {
				label = label[:256]
			}
			return label
		}
		if !more {
			return ""
		}
	}
}

// shortPath keeps the file's directory and name: "app/handlers.go".
func shortPath(file string) string {
	i := strings.LastIndexByte(file, '/')
	if i <= 0 {
		return file
	}
	if j := strings.LastIndexByte(file[:i], '/'); j >= 0 {
		return file[j+1:]
	}
	return file
}
