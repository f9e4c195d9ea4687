package connpool

import (
	"context"
	"runtime"
	"strconv"
)

// Connect opens one connection outside any pool (psycopg's connect, a "direct" connection for
// the odd job: a migration, a LISTEN, a long COPY), with the same Conn API as a pooled one.
// Release (or Close) closes it. Of the options, WithConnectTimeout, WithInitSQL, WithLogLevel,
// WithName and the statement cache options apply; the sizing options are accepted and
// ignored. The conninfo gets the pool's keepalive defaults and is redacted in messages as
// Open's is.
//
// The context's deadline bounds the connect (as connect_timeout, when earlier than the
// option's); the call blocks an OS thread and is not interrupted by cancellation before that.
// Errors: ErrInvalidArgument (bad conninfo or option), ErrConnectFailed with the server's
// SQLSTATE when it sent one (e.g. 28P01 for a wrong password, or init_sql's), ErrTimeout.
func Connect(ctx context.Context, conninfo string, opts ...Option) (*Conn, error) {
	if ctx.Err() != nil {
		return nil, contextError(ctx, "connect not started")
	}
	if dl, ok := ctx.Deadline(); ok {
		ms := msUntil(dl)
		if ms < 1 {
			ms = 1
		}
		if ms < effectiveMs(opts, "connect_timeout") {
			opts = append(opts[:len(opts):len(opts)], Option{"connect_timeout", strconv.FormatInt(ms, 10)})
		}
	}
	var lease uintptr
	_, _, _, err := withOptions(opts, func(o uintptr) (uintptr, error) {
		var err error
		lease, err = cConnect(conninfo, o)
		return 0, err
	})
	if err != nil {
		return nil, err
	}
	// A stand-in pool: no handle, no gate; it holds the connection's netpoller registration.
	p := &Pool{direct: true, gate: &gate{}}
	c := newConn(p, lease)
	runtime.KeepAlive(p)
	return c, nil
}

// effectiveMs is the millisecond value opts give key (the last one wins), else its default.
func effectiveMs(opts []Option, key string) int64 {
	text, _ := optionDefault(key)
	for _, o := range opts {
		if o.key == key {
			if t, err := o.text(); err == nil {
				text = t
			}
		}
	}
	v, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		return 1 << 62
	}
	return v
}
