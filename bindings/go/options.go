package connpool

import (
	"strconv"
	"time"
)

// Option sets one pool option. Each maps 1:1 to a key of connpool_options_set (README.md,
// "Options"); values are validated by the library when Open applies them, and a rejected
// value makes Open fail with an error that names the key (ErrInvalidArgument or
// ErrUnknownOption). Options apply in order; a later one overrides an earlier one.
type Option struct {
	key, value string
}

// Key and Value return the C option key and the string passed to the library.
func (o Option) Key() string   { return o.key }
func (o Option) Value() string { return o.value }

// WithOption sets any option by its C key and string value, for keys newer than this package.
func WithOption(key, value string) Option { return Option{key, value} }

func intOption(key string, n int) Option { return Option{key, strconv.Itoa(n)} }

// durationOption converts to whole milliseconds, rounding a positive sub-millisecond
// remainder up (so 1µs means 1 ms, never "0 = do not wait / never"). A negative duration is
// passed through and rejected by the library with a message naming the key.
func durationOption(key string, d time.Duration) Option {
	ms := d.Milliseconds()
	if d > 0 && d%time.Millisecond != 0 {
		ms++
	}
	return Option{key, strconv.FormatInt(ms, 10)}
}

func boolOption(key string, b bool) Option {
	if b {
		return Option{key, "on"}
	}
	return Option{key, "off"}
}

// WithName: "name", the pool's name in log lines and stats JSON (default "pool").
func WithName(name string) Option { return Option{"name", name} }

// WithMinSize: "min_size", connections kept open even when idle (default 0).
func WithMinSize(n int) Option { return intOption("min_size", n) }

// WithMaxSize: "max_size", connections kept at most without overflow (default 10).
func WithMaxSize(n int) Option { return intOption("max_size", n) }

// WithMaxOverflow: "max_overflow", extra connections allowed under load (default 0).
func WithMaxOverflow(n int) Option { return intOption("max_overflow", n) }

// WithAcquireTimeout: "acquire_timeout", the wait used when Acquire's context has no
// deadline (default 30s).
func WithAcquireTimeout(d time.Duration) Option { return durationOption("acquire_timeout", d) }

// WithConnectTimeout: "connect_timeout", hard limit for opening one connection (default 10s).
func WithConnectTimeout(d time.Duration) Option { return durationOption("connect_timeout", d) }

// WithMaxLifetime: "max_lifetime", close connections after this age (0 = never; default 1h).
func WithMaxLifetime(d time.Duration) Option { return durationOption("max_lifetime", d) }

// WithMaxIdle: "max_idle", close idle connections above min_size after this long (0 = never;
// default 10m).
func WithMaxIdle(d time.Duration) Option { return durationOption("max_idle", d) }

// WithPrePing: "pre_ping", round-trip check of a connection idle longer than the pre-ping
// threshold before handing it out (default on).
func WithPrePing(on bool) Option { return boolOption("pre_ping", on) }

// WithPrePingThreshold: "pre_ping_threshold" (default 1s; 0 = every acquire).
func WithPrePingThreshold(d time.Duration) Option {
	return durationOption("pre_ping_threshold", d)
}

// WithHealthCheckTimeout: "health_check_timeout", limit for a pre-ping and for the
// rollback/reset after release (default 5s).
func WithHealthCheckTimeout(d time.Duration) Option {
	return durationOption("health_check_timeout", d)
}

// WithResetQuery: "reset_query", SQL run on every returned connection before reuse, e.g.
// "DISCARD ALL" (default none).
func WithResetQuery(sql string) Option { return Option{"reset_query", sql} }

// WithMaintenanceInterval: "maintenance_interval" (default 1s).
func WithMaintenanceInterval(d time.Duration) Option {
	return durationOption("maintenance_interval", d)
}

// WithMaxConcurrentConnects: "max_concurrent_connects", connection attempts in flight at once
// (default 2).
func WithMaxConcurrentConnects(n int) Option { return intOption("max_concurrent_connects", n) }

// WithMaxWaiting: "max_waiting", acquirers allowed to wait at once; beyond it Acquire fails
// at once with ErrTooManyWaiters (default 0 = unlimited).
func WithMaxWaiting(n int) Option { return intOption("max_waiting", n) }

// WithLeakThreshold: "leak_threshold", a lease held longer than this is reported once in the
// library's log, with its label (Conn.SetLabel), and counted in Stats.LeaksDetected (default
// 0 = off).
func WithLeakThreshold(d time.Duration) Option { return durationOption("leak_threshold", d) }

// WithBreakerThreshold: "breaker_threshold", consecutive connect failures that open the
// circuit breaker, after which Acquire fails fast with ErrDatabaseUnavailable while the pool
// keeps probing (authentication failures open it at once; default 5; 0 = never).
func WithBreakerThreshold(n int) Option { return intOption("breaker_threshold", n) }

// WithStatementCacheSize: "statement_cache_size", prepared statements kept per connection,
// least recently used evicted (default 100; 0 disables preparing, e.g. behind PgBouncer older
// than 1.21 in transaction mode).
func WithStatementCacheSize(n int) Option { return intOption("statement_cache_size", n) }

// WithPrepareThreshold: "prepare_threshold", executions of a statement text on a connection
// before it is prepared there (default 5; 0 = prepare on the first execution).
func WithPrepareThreshold(n int) Option { return intOption("prepare_threshold", n) }

// WithLogLevel: "log_level", one of trace, debug, info, warn, error, critical, off (default:
// $CONNPOOL_LOG_LEVEL, else off). The library logs to stderr.
func WithLogLevel(level string) Option { return Option{"log_level", level} }
