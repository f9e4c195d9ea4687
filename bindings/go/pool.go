package connpool

import (
	"context"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Pool is a pool of PostgreSQL connections (a connpool_pool). It is safe for concurrent use.
// Create it with Open, stop it with Close.
type Pool struct {
	handle uintptr // connpool_pool token; valid until the finalizer frees it
	closed atomic.Bool
	polls  pollFiles // netpoller registrations of the connections' sockets
	gate   *gate     // where goroutines wait when every connection is busy (gate.go)
	logID  uintptr   // its WithLogger registration (log.go), 0 if none
	// Binding-only options (hooks.go): run on each new lease when set.
	afterConnect afterConnectHook
	afterRelease afterReleaseHook
	leakLabels   bool     // leak_threshold is set: label each lease with its caller
	direct       bool     // the stand-in pool of a direct connection (Connect)
	mux          bool     // multiplexing_connections > 0: Exec and QueryRow run multiplexed (mux.go)
	lookHint     lookHint // after a send: look at the socket first, or collect first (statement.go)
}

// Open creates a pool for conninfo, a libpq connection string ("host=/run/postgresql
// dbname=app") or URI ("postgresql://user@host/app"). No connection is opened by this call:
// min_size connections are opened in the background (see WaitReady). A bad conninfo or a
// rejected option fails here with an *Error naming what is wrong.
func Open(conninfo string, opts ...Option) (*Pool, error) {
	h, settings, cfg, err := withOptions(opts, func(o uintptr) (uintptr, error) { return cPoolCreate(conninfo, o) })
	if err != nil {
		return nil, err
	}
	return wrapHandle(h, settings, cfg, true)
}

// withOptions applies opts to a new connpool_options (none when opts is empty), calls create
// with it, and frees it. It returns create's handle, the settings the library accepted and the
// binding-only options (WithLogger, the hooks: applied by wrapHandle once the pool exists).
func withOptions(opts []Option, create func(options uintptr) (uintptr, error)) (uintptr, []setting, bindingConfig, error) {
	var cfg bindingConfig
	if optionsErr != nil {
		return 0, nil, cfg, optionsErr
	}
	var o uintptr
	settings := make([]setting, 0, len(opts))
	if len(opts) > 0 {
		var err error
		if o, err = cOptionsNew(); err != nil {
			return 0, nil, cfg, err
		}
		defer cOptionsFree(o)
		for _, opt := range opts {
			if b, ok := opt.value.(bindingOption); ok {
				b.applyTo(&cfg)
				continue
			}
			text, err := opt.text()
			if err != nil {
				return 0, nil, cfg, err
			}
			if err := cOptionsSet(o, opt.key, text); err != nil {
				return 0, nil, cfg, err
			}
			settings = append(settings, setting{opt.key, text})
		}
	}
	h, err := create(o)
	return h, settings, cfg, err
}

// wrapHandle makes the Pool that owns the pool handle h (freed by its finalizer). settings are
// the options the pool was created with (the gate reads acquire_timeout and max_waiting from
// them); gated false leaves all waiting to the library, for a handle whose options are not
// known here (Lookup). cfg's logger (WithLogger) becomes the pool's own log callback; its
// hooks run on the pool's leases.
func wrapHandle(h uintptr, settings []setting, cfg bindingConfig, gated bool) (*Pool, error) {
	logID, err := setPoolLogger(h, cfg.logger)
	if err != nil {
		_ = cPoolFree(h)
		return nil, err
	}
	s, err := cStats(h)
	if err != nil {
		clearPoolLogger(h, logID)
		_ = cPoolFree(h)
		return nil, err
	}
	health := func() (int64, bool) {
		s, err := cStats(h)
		return s.ConnectErrors, err == nil && s.BreakerState == BreakerOpen
	}
	p := &Pool{handle: h, logID: logID, gate: newGate(s.MaxSize+s.MaxOverflow, settings, health),
		afterConnect: cfg.afterConnect, afterRelease: cfg.afterRelease, leakLabels: leakThresholdSet(settings),
		mux: multiplexingSet(settings)}
	if !gated {
		p.gate.on = false
	}
	// The handle is freed when the Pool becomes unreachable (Close keeps it valid for Stat).
	// Conns hold a reference to their Pool, so that never happens while a lease is out.
	runtime.SetFinalizer(p, (*Pool).free)
	return p, nil
}

// setting is an option as the library accepted it: its key and text.
type setting struct{ key, value string }

// leakThresholdSet says whether the pool reports leaks (leak_threshold above 0): then each
// lease is labelled with its caller (hooks.go), and only then, as that costs a stack walk.
func leakThresholdSet(settings []setting) bool {
	on := false
	if v, ok := optionDefault("leak_threshold"); ok {
		on = v != "0" && v != ""
	}
	for _, s := range settings {
		if s.key == "leak_threshold" {
			on = s.value != "0" && s.value != ""
		}
	}
	return on
}

func (p *Pool) free() {
	p.polls.closeAll()
	clearPoolLogger(p.handle, p.logID)
	_ = cPoolFree(p.handle)
}

// Close closes the pool: goroutines waiting in Acquire get ErrClosed, idle connections are
// closed, and later acquires fail with ErrClosed. Conns still out stay usable until released;
// their connections are then closed. Stat keeps working. Close is idempotent and finishes in
// bounded time.
func (p *Pool) Close() {
	p.closed.Store(true)
	p.gate.close()
	_ = cPoolClose(p.handle)
	p.polls.sweep() // the idle connections are closed now
	runtime.KeepAlive(p)
}

// WaitReady blocks until the pool holds at least min_size open connections, for start-up code
// that wants to fail fast. The context's deadline bounds the wait (without one, the pool's
// acquire_timeout applies); it blocks an OS thread and is not interrupted by cancellation
// before that deadline. Returns ErrTimeout, ErrConnectFailed (with libpq's reason) or ErrClosed.
func (p *Pool) WaitReady(ctx context.Context) error {
	timeout := int64(-1)
	if dl, ok := ctx.Deadline(); ok {
		timeout = msUntil(dl)
	}
	if err := ctx.Err(); err != nil {
		return contextError(ctx, "waiting for the pool to be ready")
	}
	err := cPoolWaitReady(p.handle, timeout)
	runtime.KeepAlive(p)
	return err
}

// Stats is a snapshot of a pool: every field of connpool_stats (README.md, "Statistics").
// Gauges are mutually consistent (Idle + InUse == Total); counters are monotonic. The `stat`
// tag of each field is the C name (connpool_stats_field_describe, and the StatJSON key); a test
// checks that every field the library reports is here. The *_us fields are time.Durations.
type Stats struct {
	// Gauges.
	Total   int64 `stat:"total"`   // open connections (idle + in use)
	Idle    int64 `stat:"idle"`    // open connections ready to be handed out
	InUse   int64 `stat:"in_use"`  // leased, or being checked/reset by the pool
	Opening int64 `stat:"opening"` // connection attempts requested or in progress
	Waiting int64 `stat:"waiting"` // acquirers waiting for a connection
	// Configuration.
	MaxSize     int64 `stat:"max_size"`
	MinSize     int64 `stat:"min_size"`
	MaxOverflow int64 `stat:"max_overflow"`
	// Counters since Open.
	Created             int64         `stat:"created"`               // connections opened successfully
	Closed              int64         `stat:"closed"`                // connections closed, for any reason
	Acquired            int64         `stat:"acquired"`              // successful acquires
	Released            int64         `stat:"released"`              // releases
	Reused              int64         `stat:"reused"`                // acquires served by a connection used before
	AcquireTimeouts     int64         `stat:"acquire_timeouts"`      // acquires ended by their timeout inside the library (ErrTimeout, ErrConnectFailed)
	ConnectErrors       int64         `stat:"connect_errors"`        // failed connection attempts
	HealthChecks        int64         `stat:"health_checks"`         // pre-pings run
	HealthCheckFailures int64         `stat:"health_check_failures"` // pre-pings that found the connection dead
	ClosedLifetime      int64         `stat:"closed_lifetime"`       // closed for outliving max_lifetime
	ClosedIdle          int64         `stat:"closed_idle"`           // closed for idling longer than max_idle
	ClosedBroken        int64         `stat:"closed_broken"`         // closed because broken or in an unknown state
	ClosedOverflow      int64         `stat:"closed_overflow"`       // overflow connections closed on release
	Resets              int64         `stat:"resets"`                // returned connections rolled back / reset by a worker
	AcquireWaitTotal    time.Duration `stat:"acquire_wait_us_total"` // time spent in successful acquires (µs resolution)
	AcquireWaitMax      time.Duration `stat:"acquire_wait_us_max"`   // longest successful acquire (µs resolution)
	// Resilience.
	BreakerState    int64 `stat:"breaker_state"`    // circuit breaker: 0 closed, 1 open (failing fast), 2 half-open
	BreakerOpens    int64 `stat:"breaker_opens"`    // times the breaker opened
	WaitersRejected int64 `stat:"waiters_rejected"` // acquires refused with ErrTooManyWaiters (max_waiting)
	Unavailable     int64 `stat:"unavailable"`      // acquires refused with ErrDatabaseUnavailable (breaker open)
	LeaksDetected   int64 `stat:"leaks_detected"`   // leases held longer than leak_threshold (each reported once)
	Canceled        int64 `stat:"canceled"`         // asynchronous acquires cancelled while pending (context ended)
	Sweeps          int64 `stat:"sweeps"`           // checks of all idle connections after one was found dead
	// Health and latency (percentiles from fixed-bucket histograms, within 12.5 %; README.md,
	// "Health and metrics").
	RequestsQueued     int64 `stat:"requests_queued"`      // acquires that had to wait for a connection
	UsageMs            int64 `stat:"usage_ms"`             // time connections spent leased, ms (psycopg_pool's usage_ms)
	AcquireWaitP50Ns   int64 `stat:"acquire_wait_p50_ns"`  // median acquire wait, ns
	AcquireWaitP90Ns   int64 `stat:"acquire_wait_p90_ns"`  // 90th percentile acquire wait, ns
	AcquireWaitP99Ns   int64 `stat:"acquire_wait_p99_ns"`  // 99th percentile acquire wait, ns
	AcquireWaitP999Ns  int64 `stat:"acquire_wait_p999_ns"` // 99.9th percentile acquire wait, ns
	LeaseHoldP50Ns     int64 `stat:"lease_hold_p50_ns"`    // median lease hold time, ns
	LeaseHoldP90Ns     int64 `stat:"lease_hold_p90_ns"`    // 90th percentile lease hold time, ns
	LeaseHoldP99Ns     int64 `stat:"lease_hold_p99_ns"`    // 99th percentile lease hold time, ns
	LeaseHoldP999Ns    int64 `stat:"lease_hold_p999_ns"`   // 99.9th percentile lease hold time, ns
	UtilisationPercent int64 `stat:"utilisation_percent"`  // in use over max_size + max_overflow, percent
	Health             int64 `stat:"health"`               // 0 healthy, 1 degraded, 2 unhealthy
	RecentErrors       int64 `stat:"recent_errors"`        // errors in the last health_error_window
	// Run-time operations and keepalive (Pause, Reset, Check, Resize; keepalive_interval).
	Paused            int64 `stat:"paused"`             // 1 while paused (Pause), else 0
	Drains            int64 `stat:"drains"`             // Reset/Drain calls
	ClosedDrained     int64 `stat:"closed_drained"`     // connections closed because of a drain
	KeepaliveChecks   int64 `stat:"keepalive_checks"`   // idle connections checked by keepalive_interval or Check
	KeepaliveFailures int64 `stat:"keepalive_failures"` // of those, found dead and closed
	Resizes           int64 `stat:"resizes"`            // Resize calls that changed a size
	// Safe defaults: session resets, dead connections, allocation failures, cancel requests.
	ResetFailures  int64 `stat:"reset_failures"`  // returned connections closed: their session reset failed
	DeadReplaced   int64 `stat:"dead_replaced"`   // leases moved off a connection found closed by the server
	AllocFailures  int64 `stat:"alloc_failures"`  // allocation failures in the pool's own threads (retried)
	CancelTimeouts int64 `stat:"cancel_timeouts"` // cancel requests given up at cancel_timeout
}

// Circuit breaker states (Stats.BreakerState).
const (
	BreakerClosed   = 0
	BreakerOpen     = 1
	BreakerHalfOpen = 2
)

func microseconds(us int64) time.Duration { return time.Duration(us) * time.Microsecond }

// Stat returns a snapshot of the pool's statistics. It works on a closed pool.
func (p *Pool) Stat() (Stats, error) {
	s, err := cStats(p.handle)
	runtime.KeepAlive(p)
	// Goroutines waiting (or refused) in the gate count as the library's would.
	s.Waiting += p.gate.waiting.Load()
	s.AcquireTimeouts += p.gate.timeouts.Load()
	s.Canceled += p.gate.canceled.Load()
	s.WaitersRejected += p.gate.rejected.Load()
	return s, err
}

// StatJSON returns the library's JSON rendering of the same snapshot (plus "name" and
// "closed_pool"), with the goroutines waiting (or refused) in the gate counted as in Stat.
func (p *Pool) StatJSON() (string, error) {
	s, err := cStatsJSON(p.handle)
	runtime.KeepAlive(p)
	if err != nil {
		return s, err
	}
	for _, f := range []struct {
		key string
		add int64
	}{
		{"waiting", p.gate.waiting.Load()},
		{"acquire_timeouts", p.gate.timeouts.Load()},
		{"canceled", p.gate.canceled.Load()},
		{"waiters_rejected", p.gate.rejected.Load()},
	} {
		s = addToJSONField(s, f.key, f.add)
	}
	return s, nil
}

// addToJSONField adds n to the integer value of the top-level key in the library's stats JSON,
// keeping its layout. The key is matched with its unescaped quotes and the ": " the library
// writes, which a key or value inside the (escaped) pool name cannot produce.
func addToJSONField(js, key string, n int64) string {
	if n == 0 {
		return js
	}
	tag := `"` + key + `": `
	i := strings.Index(js, tag)
	if i < 0 {
		return js
	}
	start := i + len(tag)
	end := start
	for end < len(js) && (js[end] == '-' || (js[end] >= '0' && js[end] <= '9')) {
		end++
	}
	v, err := strconv.ParseInt(js[start:end], 10, 64)
	if err != nil {
		return js
	}
	return js[:start] + strconv.FormatInt(v+n, 10) + js[end:]
}

// Exec acquires a connection, runs one statement and releases the connection.
// With multiplexing_connections set (and no connection hooks) it runs multiplexed instead.
func (p *Pool) Exec(ctx context.Context, sql string, args ...any) (Result, error) {
	if p.mux && !p.hooked() {
		r, err := p.muxExec(ctx, sql, args)
		if err != nil {
			return Result{}, err
		}
		cResultFree(r.res)
		return Result{rowsAffected: r.affected}, nil
	}
	lease, err := p.acquireLease(ctx)
	if err != nil {
		return Result{}, err
	}
	c := Conn{pool: p, lease: lease} // released below: no finalizer needed
	if p.hooked() {
		if err := p.prepareConn(ctx, &c); err != nil {
			return Result{}, err
		}
	}
	r, err := c.Exec(ctx, sql, args...)
	c.Release()
	return r, err
}

// Query acquires a connection, runs one query and releases the connection before returning:
// the rows are already in memory (results outlive their lease), so Rows holds no lease.
func (p *Pool) Query(ctx context.Context, sql string, args ...any) (*Rows, error) {
	lease, err := p.acquireLease(ctx)
	if err != nil {
		return nil, err
	}
	c := Conn{pool: p, lease: lease}
	if p.hooked() {
		if err := p.prepareConn(ctx, &c); err != nil {
			return nil, err
		}
	}
	rows, err := c.Query(ctx, sql, args...)
	c.Release()
	return rows, err
}

// QueryRow is Query for at most one row; errors are reported by Row.Scan.
// With multiplexing_connections set (and no connection hooks) it runs multiplexed instead.
func (p *Pool) QueryRow(ctx context.Context, sql string, args ...any) *Row {
	if p.mux && !p.hooked() {
		r, err := p.muxExec(ctx, sql, args)
		if err != nil {
			return &Row{err: err}
		}
		return rowFromResult(r)
	}
	if usePoller && !p.hooked() {
		return p.queryRow(ctx, sql, args)
	}
	return p.queryRowOnLease(ctx, sql, args)
}

// queryRowOnLease acquires, then runs Conn.QueryRow with the release in its final collect.
func (p *Pool) queryRowOnLease(ctx context.Context, sql string, args []any) *Row {
	lease, err := p.acquireLease(ctx)
	if err != nil {
		return &Row{err: err}
	}
	// With an AfterRelease hook the lease is released by Release (which runs it), not by the
	// final collect.
	c := Conn{pool: p, lease: lease, releaseAfter: p.afterRelease == nil}
	if p.hooked() {
		if err := p.prepareConn(ctx, &c); err != nil {
			return &Row{err: err}
		}
	}
	row := c.QueryRow(ctx, sql, args...)
	c.Release()
	return row
}

// msUntil converts a deadline to a non-negative millisecond timeout, rounded up so that the
// library never gives up before the deadline.
func msUntil(deadline time.Time) int64 {
	d := time.Until(deadline)
	if d <= 0 {
		return 0
	}
	ms := int64((d + time.Millisecond - 1) / time.Millisecond)
	return ms
}

// Version returns the version string of the loaded libconnpool, e.g. "0.1.0".
func Version() string { return cVersion() }
