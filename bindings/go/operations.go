package connpool

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"time"
)

// Run-time operations on a running pool (connpool.h, "Run-time operations"). Each works on
// any *Pool of the pool (GetOrCreate and Lookup handles included) and returns ErrClosed on a
// closed pool.

// Resize changes min_size and max_size of the running pool (Stat shows the values in force;
// max_overflow is kept). Growing min_size opens the missing connections in the background
// (WaitReady waits for them); growing max_size lets waiting goroutines have new connections at
// once. Shrinking max_size closes idle connections above the new max now and closes leased ones
// above it when they are released (their Conns are not affected). It never blocks. A bad pair
// (minSize < 0, maxSize < 1, minSize > maxSize, either above 10000) is ErrInvalidArgument
// naming the value to fix.
func (p *Pool) Resize(minSize, maxSize int) error {
	if int(int32(minSize)) != minSize || int(int32(maxSize)) != maxSize { // not truncated silently
		return &Error{Status: StatusInvalidArgument,
			Message: fmt.Sprintf("resize: min_size %d / max_size %d out of range (0..10000)", minSize, maxSize)}
	}
	err := cPoolResize(p.handle, int32(minSize), int32(maxSize))
	if err == nil {
		if s, serr := cStats(p.handle); serr == nil {
			p.gate.resize(s.MaxSize + s.MaxOverflow)
		}
	}
	runtime.KeepAlive(p)
	return err
}

// Pause stops the pool handing out connections: Acquire waits (bounded by its context or
// acquire_timeout as usual; a timeout's message says the pool is paused), TryAcquire returns
// ErrWouldBlock. Conns already out are unaffected and may be released; background maintenance
// goes on. Idempotent; Stat's Paused is 1 until Resume.
func (p *Pool) Pause() error {
	err := cPoolPause(p.handle)
	runtime.KeepAlive(p)
	return err
}

// Resume ends a pause: waiting goroutines are served in their order. Idempotent.
func (p *Pool) Resume() error {
	err := cPoolResume(p.handle)
	runtime.KeepAlive(p)
	return err
}

// Reset replaces every connection of the pool (pgxpool's Reset; HikariCP's
// softEvictConnections, psycopg_pool's drain): idle connections are closed now, each leased
// one is closed when it is released (its Conn goes on unaffected until then), and the pool
// refills to min_size with new connections. Use it after a maintenance of the server, a
// failover, or SetConnInfo. It never blocks. Counted in Stat's Drains and ClosedDrained.
func (p *Pool) Reset() error {
	err := cPoolDrain(p.handle)
	runtime.KeepAlive(p)
	return err
}

// Drain is Reset under the C API's (and psycopg_pool's) name.
func (p *Pool) Drain() error { return p.Reset() }

// Check validates every idle connection now (the cheap local check, then a round trip bounded
// by health_check_timeout, one connection at a time; acquirers meanwhile get other
// connections), closes the dead ones (replaced up to min_size) and returns how many it closed.
// Leased connections are not checked. It blocks the calling OS thread for up to one
// health_check_timeout per idle connection (in practice one round trip each); the context is
// checked before it starts only.
func (p *Pool) Check(ctx context.Context) (int, error) {
	if ctx.Err() != nil {
		return 0, contextError(ctx, "check not started")
	}
	n, err := cPoolCheck(p.handle)
	runtime.KeepAlive(p)
	return n, err
}

// SetConnInfo gives the running pool a new conninfo (credential rotation, a moved server):
// connections opened from now on use it; open ones stay until they retire by max_lifetime, or
// at once with Reset. The conninfo is checked as Open checks it (ErrInvalidArgument, the old
// one stays in force); the pool's name, options and statistics are kept. The password never
// appears in logs or errors.
func (p *Pool) SetConnInfo(conninfo string) error {
	err := cPoolSetConninfo(p.handle, conninfo)
	runtime.KeepAlive(p)
	return err
}

// ConnState is what a pool's connection is doing (ConnInfo.State).
type ConnState string

// Connection states, as connpool_pool_connections_json spells them.
const (
	ConnIdle     ConnState = "idle"     // ready to be handed out
	ConnInUse    ConnState = "in_use"   // leased
	ConnChecking ConnState = "checking" // being checked (pre-ping, Check, keepalive) or reset
)

// ConnInfo describes one open connection of a pool (Pool.Connections).
type ConnInfo struct {
	ID         uint64        // as Conn.ID
	State      ConnState     // idle, in_use or checking
	BackendPID int32         // the server process serving it
	Age        time.Duration // since it was opened
	Idle       time.Duration // since it became idle (idle connections only, else 0)
	Uses       int64         // leases so far
	Label      string        // the lease's label (Conn.SetLabel, leak labels; in use only)
	Held       time.Duration // how long the current lease has been held (in use only, else 0)
}

// PoolConnections is a snapshot of a pool's connections (Pool.Connections).
type PoolConnections struct {
	Pool        string     // the pool's name
	Paused      bool       // Pause is in force
	MinSize     int        // the sizes in force (Resize)
	MaxSize     int        //
	Connections []ConnInfo // one per open connection
	Opening     int        // connection attempts in progress (they have no entry of their own)
}

// Connections returns what every open connection of the pool is doing (the library's
// connpool_pool_connections_json, decoded). Labels are the callers' own text; no conninfo or
// password appears. It works on a closed pool (no connections) and never blocks.
func (p *Pool) Connections() (PoolConnections, error) {
	text, err := p.ConnectionsJSON()
	if err != nil {
		return PoolConnections{}, err
	}
	return decodeConnections(text)
}

// ConnectionsJSON returns the same snapshot as the library renders it.
func (p *Pool) ConnectionsJSON() (string, error) {
	text, err := cPoolConnectionsJSON(p.handle)
	runtime.KeepAlive(p)
	return text, err
}

func decodeConnections(text string) (PoolConnections, error) {
	var raw struct {
		Pool        string `json:"pool"`
		Paused      bool   `json:"paused"`
		MinSize     int    `json:"min_size"`
		MaxSize     int    `json:"max_size"`
		Opening     int    `json:"opening"`
		Connections []struct {
			ID         uint64  `json:"id"`
			State      string  `json:"state"`
			BackendPID int32   `json:"backend_pid"`
			AgeMs      int64   `json:"age_ms"`
			IdleMs     int64   `json:"idle_ms"`
			Uses       int64   `json:"uses"`
			Label      *string `json:"label"`
			HeldMs     int64   `json:"held_ms"`
		} `json:"connections"`
	}
	if err := json.Unmarshal([]byte(text), &raw); err != nil {
		return PoolConnections{}, fmt.Errorf("connpool: cannot decode the pool's connections: %w", err)
	}
	out := PoolConnections{Pool: raw.Pool, Paused: raw.Paused, MinSize: raw.MinSize,
		MaxSize: raw.MaxSize, Opening: raw.Opening, Connections: make([]ConnInfo, 0, len(raw.Connections))}
	for _, c := range raw.Connections {
		ci := ConnInfo{ID: c.ID, State: ConnState(c.State), BackendPID: c.BackendPID,
			Age: time.Duration(c.AgeMs) * time.Millisecond, Idle: time.Duration(c.IdleMs) * time.Millisecond,
			Uses: c.Uses, Held: time.Duration(c.HeldMs) * time.Millisecond}
		if c.Label != nil {
			ci.Label = *c.Label
		}
		out.Connections = append(out.Connections, ci)
	}
	return out, nil
}
