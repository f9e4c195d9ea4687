package connpool

import (
	"context"
	"encoding/json"
	"runtime"
	"sync/atomic"
)

// Route says which node of a Group serves an acquire.
type Route int32

const (
	// RouteReadWrite leases always come from the primary.
	RouteReadWrite Route = 0
	// RouteReadOnly leases come from a healthy standby (round robin, within the replica_max_lag
	// option), or from the primary when no standby qualifies.
	RouteReadOnly Route = 1
)

// Group is a pool group (a connpool_group): one logical pool over a primary and its
// streaming-replication standbys, one pool per host of a multi-host conninfo. Every node is
// checked every replica_check_interval (its role with pg_is_in_recovery(), its replay lag);
// see README "Read-only routing". It is safe for concurrent use.
type Group struct {
	handle uintptr // connpool_group token; valid until the finalizer frees it
	closed atomic.Bool
	// What the group's Conns see as their Pool: it carries their sockets' netpoller
	// registrations; it has no pool handle of its own and no gate (the library waits).
	conns *Pool
}

// NewGroup creates a group over every host of conninfo ("host=a,b,c port=5432,5433,5434 ...")
// with opts applied to each node's pool (plus the group options replica_max_lag and
// replica_check_interval), then waits until every node has been checked once (its role known,
// or found down), within the context's deadline (without one, the acquire_timeout option).
func NewGroup(ctx context.Context, conninfo string, opts ...Option) (*Group, error) {
	h, _, _, err := withOptions(opts, func(o uintptr) (uintptr, error) { return cGroupCreate(conninfo, o) })
	if err != nil {
		return nil, err
	}
	g := &Group{handle: h, conns: &Pool{gate: &gate{on: false, closed: make(chan struct{})}}}
	g.conns.closed.Store(false)
	runtime.SetFinalizer(g, (*Group).free)
	timeout := int64(-1)
	if dl, ok := ctx.Deadline(); ok {
		timeout = msUntil(dl)
	}
	if err := cGroupWaitReady(h, timeout); err != nil {
		g.Close()
		return nil, err
	}
	return g, nil
}

func (g *Group) free() {
	g.conns.polls.closeAll()
	_ = cGroupFree(g.handle)
}

// Acquire borrows a connection of a node that serves route. Release it with Conn.Release.
// The context's deadline bounds the wait (without one, the acquire_timeout option); the call
// waits in the library on an OS thread and is not interrupted by cancellation before that
// deadline. Errors: ErrDatabaseUnavailable (no node can serve the route; the message lists
// every node's state), ErrTimeout, ErrConnectFailed, ErrClosed. The Conn works as any other;
// its Pool() is a stand-in without a pool handle of its own (acquire from the Group).
func (g *Group) Acquire(ctx context.Context, route Route) (*Conn, error) {
	if ctx.Err() != nil {
		return nil, contextError(ctx, "acquire")
	}
	timeout := int64(-1)
	dl, hasDeadline := ctx.Deadline()
	if hasDeadline {
		timeout = msUntil(dl)
	}
	lease, err := cGroupAcquire(g.handle, route, timeout)
	runtime.KeepAlive(g)
	if err != nil {
		return nil, acquireError(err, hasDeadline)
	}
	c := newConn(g.conns, lease)
	return c, nil
}

// GroupNode is one node of GroupStats.
type GroupNode struct {
	Host    string `json:"host"`
	Port    string `json:"port"`
	Role    string `json:"role"` // "primary", "standby" or "unknown" (not checked yet)
	Healthy bool   `json:"healthy"`
	// LagMs is a standby's replay lag as of its last check; nil for a primary.
	LagMs     *int64          `json:"lag_ms"`
	Checks    int64           `json:"checks"`
	LastError string          `json:"last_error"`
	Stats     json.RawMessage `json:"stats"` // the node pool's statistics (as Pool.StatJSON)
}

// GroupStats is the group's state: routing counters and each node's role, health, lag and
// pool statistics.
type GroupStats struct {
	Name              string      `json:"name"`
	Closed            bool        `json:"closed_group"`
	ReadWriteAcquires int64       `json:"read_write_acquires"`
	ReadOnlyAcquires  int64       `json:"read_only_acquires"`
	ReadOnlyOnPrimary int64       `json:"read_only_on_primary"`
	Nodes             []GroupNode `json:"nodes"`
}

// StatJSON returns the group's state as the library's JSON (connpool_group_stats_json).
func (g *Group) StatJSON() (string, error) {
	s, err := cGroupStatsJSON(g.handle)
	runtime.KeepAlive(g)
	return s, err
}

// Stat returns the group's state.
func (g *Group) Stat() (GroupStats, error) {
	var s GroupStats
	text, err := g.StatJSON()
	if err != nil {
		return s, err
	}
	err = json.Unmarshal([]byte(text), &s)
	return s, err
}

// Close closes every node's pool: acquires fail with ErrClosed, Conns still out stay usable
// until released. Idempotent.
func (g *Group) Close() {
	g.closed.Store(true)
	g.conns.closed.Store(true)
	_ = cGroupClose(g.handle)
	g.conns.polls.sweep()
	runtime.KeepAlive(g)
}
