package connpool

import (
	"fmt"
	"strconv"
	"time"
)

// Option sets one pool option. Each maps 1:1 to a key of connpool_options_set (README.md,
// "Options"); values are validated by the library when Open applies them, and a rejected
// value makes Open fail with an error that names the key (ErrInvalidArgument or
// ErrUnknownOption). Options apply in order; a later one overrides an earlier one.
//
// A value is turned into the library's text by the option's kind, as the library describes it
// (connpool_option_describe): a time.Duration becomes milliseconds for a duration option, a bool
// on/off for a boolean option, an integer decimal for an integer option; a string is passed
// verbatim. A value that does not suit the option's kind makes Open fail with
// ErrInvalidArgument naming the key.
type Option struct {
	key   string
	value any // string (verbatim), int, int64, bool or time.Duration
}

// Key returns the C option key.
func (o Option) Key() string { return o.key }

// Value returns the string passed to the library ("" if the value does not suit the option's
// kind; Open then reports that).
func (o Option) Value() string {
	text, _ := o.text()
	return text
}

// WithOption sets any option by its C key and string value, for keys newer than this package.
func WithOption(key, value string) Option { return Option{key, value} }

// WithOptionValue sets any option by its C key and a Go value converted by the option's kind
// (see Option): e.g. a time.Duration for a duration option newer than this package.
func WithOptionValue(key string, value any) Option { return Option{key, value} }

// options is every option the loaded library knows, by key (connpool_option_describe);
// optionsErr, if not nil, says why they could not be read (Open returns it).
var options, optionsErr = loadOptions()

func loadOptions() (map[string]optionInfo, error) {
	n := cOptionCount()
	m := make(map[string]optionInfo, n)
	for i := 0; i < n; i++ {
		o, err := cOptionDescribe(i)
		if err != nil {
			return m, fmt.Errorf("connpool: libconnpool %s cannot describe its option %d: %w", cVersion(), i, err)
		}
		m[o.key] = o
	}
	return m, nil
}

var kindNames = map[optionKind]string{
	optionInteger:    "an integer",
	optionDurationMs: "a duration",
	optionBoolean:    "a boolean",
	optionString:     "a string",
	optionChoice:     "a choice",
}

// text is the string for connpool_options_set. A key the library does not know is converted by
// the value's type alone (the library then answers ErrUnknownOption).
func (o Option) text() (string, error) {
	info, known := options[o.key]
	suits := func(kind optionKind) bool { return !known || info.kind == kind }
	switch v := o.value.(type) {
	case string:
		return v, nil
	case time.Duration:
		if suits(optionDurationMs) {
			return durationMs(v), nil
		}
	case bool:
		if suits(optionBoolean) {
			if v {
				return "on", nil
			}
			return "off", nil
		}
	case int:
		if suits(optionInteger) {
			return strconv.Itoa(v), nil
		}
	case int64:
		if suits(optionInteger) {
			return strconv.FormatInt(v, 10), nil
		}
	}
	what := "an unknown option"
	if name, ok := kindNames[info.kind]; known && ok {
		what = name + " option"
	} else if known {
		what = fmt.Sprintf("an option of kind %d", info.kind)
	}
	return "", &Error{Status: StatusInvalidArgument,
		Message: fmt.Sprintf("option %q is %s; a %T value does not suit it", o.key, what, o.value)}
}

// durationMs converts to whole milliseconds, rounding a positive sub-millisecond remainder up
// (so 1µs means 1 ms, never "0 = do not wait / never"). A negative duration is passed through
// and rejected by the library with a message naming the key.
func durationMs(d time.Duration) string {
	ms := d.Milliseconds()
	if d > 0 && d%time.Millisecond != 0 {
		ms++
	}
	return strconv.FormatInt(ms, 10)
}

// optionDefault is the library's default for key, as connpool_options_set takes it.
func optionDefault(key string) (string, bool) {
	o, ok := options[key]
	return o.defaultValue, ok
}

// WithName: "name", the pool's name in log lines and stats JSON (default "pool").
func WithName(name string) Option { return Option{"name", name} }

// WithMinSize: "min_size", connections kept open even when idle (default 0).
func WithMinSize(n int) Option { return Option{"min_size", n} }

// WithMaxSize: "max_size", connections kept at most without overflow (default 10).
func WithMaxSize(n int) Option { return Option{"max_size", n} }

// WithMaxOverflow: "max_overflow", extra connections allowed under load (default 0).
func WithMaxOverflow(n int) Option { return Option{"max_overflow", n} }

// WithAcquireTimeout: "acquire_timeout", the wait used when Acquire's context has no
// deadline (default 30s).
func WithAcquireTimeout(d time.Duration) Option { return Option{"acquire_timeout", d} }

// WithConnectTimeout: "connect_timeout", hard limit for opening one connection (default 10s).
func WithConnectTimeout(d time.Duration) Option { return Option{"connect_timeout", d} }

// WithMaxLifetime: "max_lifetime", close connections after this age (0 = never; default 1h).
func WithMaxLifetime(d time.Duration) Option { return Option{"max_lifetime", d} }

// WithMaxIdle: "max_idle", close idle connections above min_size after this long (0 = never;
// default 10m).
func WithMaxIdle(d time.Duration) Option { return Option{"max_idle", d} }

// WithPrePing: "pre_ping", round-trip check of a connection idle longer than the pre-ping
// threshold before handing it out (default on).
func WithPrePing(on bool) Option { return Option{"pre_ping", on} }

// WithPrePingThreshold: "pre_ping_threshold" (default 1s; 0 = every acquire).
func WithPrePingThreshold(d time.Duration) Option {
	return Option{"pre_ping_threshold", d}
}

// WithHealthCheckTimeout: "health_check_timeout", limit for a pre-ping and for the
// rollback/reset after release (default 5s).
func WithHealthCheckTimeout(d time.Duration) Option {
	return Option{"health_check_timeout", d}
}

// WithResetQuery: "reset_query", SQL run on every returned connection before reuse, e.g.
// "DISCARD ALL" (default none).
func WithResetQuery(sql string) Option { return Option{"reset_query", sql} }

// WithMaintenanceInterval: "maintenance_interval" (default 1s).
func WithMaintenanceInterval(d time.Duration) Option {
	return Option{"maintenance_interval", d}
}

// WithMaxConcurrentConnects: "max_concurrent_connects", connection attempts in flight at once
// (default 2).
func WithMaxConcurrentConnects(n int) Option { return Option{"max_concurrent_connects", n} }

// WithMaxWaiting: "max_waiting", acquirers allowed to wait at once; beyond it Acquire fails
// at once with ErrTooManyWaiters (default 0 = unlimited).
func WithMaxWaiting(n int) Option { return Option{"max_waiting", n} }

// WithLeakThreshold: "leak_threshold", a lease held longer than this is reported once in the
// library's log, with its label (Conn.SetLabel), and counted in Stats.LeaksDetected (default
// 0 = off).
func WithLeakThreshold(d time.Duration) Option { return Option{"leak_threshold", d} }

// WithBreakerThreshold: "breaker_threshold", consecutive connect failures that open the
// circuit breaker, after which Acquire fails fast with ErrDatabaseUnavailable while the pool
// keeps probing (authentication failures open it at once; default 5; 0 = never).
func WithBreakerThreshold(n int) Option { return Option{"breaker_threshold", n} }

// WithStatementCacheSize: "statement_cache_size", prepared statements kept per connection,
// least recently used evicted (default 100; 0 disables preparing, e.g. behind PgBouncer older
// than 1.21 in transaction mode).
func WithStatementCacheSize(n int) Option { return Option{"statement_cache_size", n} }

// WithPrepareThreshold: "prepare_threshold", executions of a statement text on a connection
// before it is prepared there (default 5; 0 = prepare on the first execution).
func WithPrepareThreshold(n int) Option { return Option{"prepare_threshold", n} }

// WithLogLevel: "log_level", one of trace, debug, info, warn, error, critical, off (default:
// $CONNPOOL_LOG_LEVEL, else off). The library logs to stderr.
func WithLogLevel(level string) Option { return Option{"log_level", level} }

// WithKeepaliveInterval: "keepalive_interval", maintenance checks connections idle longer
// than this (one at a time, outside the pool's lock: a cheap check, then a ping) and replaces
// dead ones, so a killed backend or a NAT idle timer is noticed without an acquire; skipped
// while callers wait (default 0 = off).
func WithKeepaliveInterval(d time.Duration) Option { return Option{"keepalive_interval", d} }

// WithMinIdle: "min_idle", idle connections kept open above those in use, up to max_size,
// opened in the background (default 0).
func WithMinIdle(n int) Option { return Option{"min_idle", n} }

// WithTargetUtilisation: "target_utilisation", a percentage: while in-use/total stays above
// it the pool opens connections ahead of demand (up to max_size, max_concurrent_connects at a
// time), and max_idle closes them again when the load falls (default 0 = off).
func WithTargetUtilisation(percent int) Option { return Option{"target_utilisation", percent} }

// Idle orders for WithIdleOrder.
const (
	IdleLIFO = "lifo" // the most recently used connection first: the rest idle out
	IdleFIFO = "fifo" // the least recently used first: use spreads over every connection
)

// WithIdleOrder: "idle_order", which idle connection an acquire takes, IdleLIFO or IdleFIFO
// (default lifo).
func WithIdleOrder(order string) Option { return Option{"idle_order", order} }

// WithThreadAffinity: "thread_affinity", an acquire first tries the idle connection its OS
// thread last released (default off). Leave it off in Go: goroutines move between OS threads,
// so the thread says little about the caller.
func WithThreadAffinity(on bool) Option { return Option{"thread_affinity", on} }

// WithRecoveryProbeInterval: "recovery_probe_interval", while acquirers wait on a pool that
// cannot connect (server down), a connection attempt is made at least this often, so the pool
// serves again soon after the server is back (default 250ms).
func WithRecoveryProbeInterval(d time.Duration) Option {
	return Option{"recovery_probe_interval", d}
}

// WithInitSQL: "init_sql", SQL run on every new connection before its first use, within
// connect_timeout, e.g. "SET search_path TO app"; a failure is a failed connect carrying the
// statement's SQLSTATE (default none). For Go code per new connection, see WithAfterConnect.
func WithInitSQL(sql string) Option { return Option{"init_sql", sql} }
