package connpool

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// gate lets at most max_size+max_overflow goroutines into the library's acquire at once; the
// others wait here, on a channel. When every connection is busy, a release then hands its
// place to the next goroutine in-process, where a wait inside the library costs an
// asynchronous request per acquire (an eventfd, a netpoller registration, a goroutine for the
// context: about eight system calls) and a hand-off through the eventfd. docs/BENCHMARKS.md
// ("Go: connpool-go vs pgxpool") has the measurements with and without the gate.
//
// The gate keeps the library's waiting rules: acquire_timeout for contexts without a
// deadline, max_waiting, ErrClosed on Close; Stat and StatJSON add its waiters and refusals
// to the library's figures. Goroutines that got a place still wait inside the library when a
// connection is being opened or replaced (and get its errors, e.g. ErrConnectFailed). A wait
// that ends in the gate is classified as the library would: ErrConnectFailed when connection
// attempts failed meanwhile, ErrDatabaseUnavailable when the circuit breaker is open, else
// ErrTimeout.
type gate struct {
	on bool // useGate when the pool was opened
	// places holds a token per free place: enter receives one, leave sends it back. Its
	// capacity is the largest size a pool can have (zero-size tokens cost no memory), so that
	// Resize can add places; places taken away by a shrink are kept back by leave (debt).
	places     chan struct{}
	capacity   atomic.Int64 // max_size + max_overflow in force
	debt       atomic.Int64 // places to keep back when they are returned (Resize shrank the pool)
	resizeMu   sync.Mutex
	closed     chan struct{}
	closeOnce  sync.Once
	timeout    time.Duration // acquire_timeout (the library's default unless set)
	maxWaiting int64         // max_waiting (0 = unlimited)
	// health reads the pool's failed-connect count and breaker state (when a wait starts,
	// at most once per failedReuse, and when it times out). It holds the handle, not the Pool: a closure over the
	// Pool would keep it, and its finalizer, from ever being collected.
	health func() (connectErrors int64, breakerOpen bool)
	// The failed-connect count as of failedAt (ns since gateEpoch): waits that start within
	// failedReuse of it take it as their starting point instead of asking the library (a full
	// statistics snapshot, percentiles included, was 7 % of the process's CPU at 32 goroutines
	// on 16 connections). A reused count is older, so never larger, than the count at the
	// wait's start: at worst a connect failure up to failedReuse before the wait is counted
	// as one during it.
	failedAt, failedCount atomic.Int64

	waiting, timeouts, canceled, rejected atomic.Int64
}

// failedReuse is how long a sampled failed-connect count serves the waits that start.
const failedReuse = 2 * time.Millisecond

// gateEpoch makes failedAt a monotonic clock reading.
var gateEpoch = time.Now()

// failedConnects is the failed-connect count at the start of a wait (see failedAt).
func (g *gate) failedConnects() int64 {
	now := int64(time.Since(gateEpoch))
	if at := g.failedAt.Load(); at != 0 && now-at < int64(failedReuse) {
		return g.failedCount.Load()
	}
	failed, _ := g.health()
	g.failedCount.Store(failed)
	g.failedAt.Store(now)
	return failed
}

// timers recycles the acquire_timeout timers of gate waits (a new timer per wait was 2 % of
// the CPU with goroutines queueing for connections).
var timers sync.Pool

func startTimer(d time.Duration) *time.Timer {
	if t, ok := timers.Get().(*time.Timer); ok {
		t.Reset(d)
		return t
	}
	return time.NewTimer(d)
}

// stopTimer stops t and recycles it when its channel is surely empty: it was stopped before
// firing, or its one value was received (fired). A timer that fired unseen is dropped: before
// Go 1.23 its value may still be on its way, and would end a later wait at once.
func stopTimer(t *time.Timer, fired bool) {
	if fired || t.Stop() {
		timers.Put(t)
	}
}

// useGate can be turned off by tests that exercise the library's own waiting.
var useGate = true

func newGate(capacity int64, settings []setting, health func() (int64, bool)) *gate {
	g := &gate{
		health: health,
		on:     useGate,
		places: make(chan struct{}, gateMaxPlaces),
		closed: make(chan struct{}),
	}
	g.capacity.Store(capacity)
	for i := int64(0); i < capacity && i < gateMaxPlaces; i++ {
		g.places <- struct{}{}
	}
	// The library's defaults, then the values it accepted (integers: they parse).
	values := map[string]string{}
	for _, key := range []string{"acquire_timeout", "max_waiting"} {
		if v, ok := optionDefault(key); ok {
			values[key] = v
		}
	}
	for _, s := range settings {
		values[s.key] = s.value
	}
	timeout, err := strconv.ParseInt(values["acquire_timeout"], 10, 64)
	if err != nil {
		// A library without a (millisecond) acquire_timeout: leave the waiting to it.
		g.on = false
	}
	g.timeout = time.Duration(timeout) * time.Millisecond
	g.maxWaiting, _ = strconv.ParseInt(values["max_waiting"], 10, 64)
	return g
}

// enter takes a place, waiting if needed; leave gives it back (once per successful enter).
func (g *gate) enter(ctx context.Context) error {
	if !g.on {
		return nil
	}
	select {
	case <-g.places:
		return nil
	default:
	}
	select {
	case <-g.closed:
		return &Error{Status: StatusPoolClosed, Message: "the pool is closed"}
	default:
	}
	if g.maxWaiting > 0 && g.waiting.Load() >= g.maxWaiting {
		g.rejected.Add(1)
		return &Error{Status: StatusTooManyWaiters, Message: fmt.Sprintf(
			"too many waiters: %d already wait (max_waiting %d); shed load or raise max_waiting/max_size",
			g.waiting.Load(), g.maxWaiting)}
	}
	g.waiting.Add(1)
	defer g.waiting.Add(-1)
	failedBefore := g.failedConnects()
	var (
		expired <-chan time.Time
		fired   bool
	)
	if _, ok := ctx.Deadline(); !ok {
		if g.timeout <= 0 {
			g.timeouts.Add(1)
			return &Error{Status: StatusTimeout, Message: "no connection free and acquire_timeout is 0"}
		}
		t := startTimer(g.timeout)
		defer func() { stopTimer(t, fired) }()
		expired = t.C
	}
	select {
	case <-g.places:
		return nil
	case <-ctx.Done():
		if ctx.Err() != context.DeadlineExceeded {
			g.canceled.Add(1)
			return contextError(ctx, "acquire")
		}
		g.timeouts.Add(1)
		if st, msg := g.failure(failedBefore); st != StatusTimeout {
			return &ctxError{ctxErr: ctx.Err(), status: st, msg: "acquire: " + msg}
		}
		return contextError(ctx, "acquire")
	case <-expired:
		fired = true
		g.timeouts.Add(1)
		if st, msg := g.failure(failedBefore); st != StatusTimeout {
			return &Error{Status: st, Message: msg}
		}
		return &Error{Status: StatusTimeout, Message: fmt.Sprintf(
			"timed out after %v waiting for a connection (all %d in use); raise max_size or the "+
				"timeout, or release connections sooner", g.timeout, g.capacity.Load())}
	case <-g.closed:
		return &Error{Status: StatusPoolClosed, Message: "the pool was closed"}
	}
}

// failure classifies a wait that timed out in the gate: connection attempts that failed since
// the wait began (failedBefore) or an open breaker mean the database is the problem, not a
// busy pool.
func (g *gate) failure(failedBefore int64) (Status, string) {
	failed, open := g.health()
	if open {
		return StatusDatabaseUnavailable, "no connection: the circuit breaker is open after " +
			"repeated connect failures (the pool keeps retrying; its log has libpq's reason)"
	}
	if failed > failedBefore {
		return StatusConnectFailed, fmt.Sprintf("no connection: %d connection attempt(s) failed "+
			"while waiting (the pool's log and the other acquirers' errors have libpq's reason)",
			failed-failedBefore)
	}
	return StatusTimeout, ""
}

func (g *gate) leave() {
	if !g.on {
		return
	}
	for {
		d := g.debt.Load()
		if d <= 0 {
			g.places <- struct{}{} // never blocks: at most capacity tokens are out
			return
		}
		if g.debt.CompareAndSwap(d, d-1) {
			return // kept back: the pool was made smaller
		}
	}
}

// tryEnter takes a place only if one is free now.
func (g *gate) tryEnter() bool {
	if !g.on {
		return true
	}
	select {
	case <-g.places:
		return true
	default:
		return false
	}
}

// gateMaxPlaces bounds max_size + max_overflow (each at most 10000 in the library).
const gateMaxPlaces = 20000

// resize makes capacity places (Pool.Resize): more places are free at once; fewer are taken
// back from the free ones now and from the others as they are returned.
func (g *gate) resize(capacity int64) {
	if capacity > gateMaxPlaces {
		capacity = gateMaxPlaces
	}
	g.resizeMu.Lock()
	defer g.resizeMu.Unlock()
	delta := capacity - g.capacity.Swap(capacity)
	for ; delta > 0; delta-- { // first cancel places still owed
		if d := g.debt.Load(); d > 0 && g.debt.CompareAndSwap(d, d-1) {
			continue
		}
		g.places <- struct{}{}
	}
	for ; delta < 0; delta++ {
		select {
		case <-g.places:
		default:
			g.debt.Add(1)
		}
	}
}

func (g *gate) close() {
	g.closeOnce.Do(func() { close(g.closed) })
}
