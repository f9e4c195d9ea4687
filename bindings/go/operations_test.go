package connpool_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	connpool "github.com/libconnpool/connpool-go"
)

// Run-time operations (issue 13) against the real server: resize, pause/resume, reset (drain),
// check, keepalive, credential rotation and the pool's connection list.

// appPool opens a pool whose connections carry a unique application_name, so that
// pg_stat_activity can count its backends; it returns the pool and that name.
func appPool(t *testing.T, opts ...connpool.Option) (*connpool.Pool, string) {
	t.Helper()
	app := fmt.Sprintf("go_ops_%d_%d", poolSeq.Add(1), time.Now().UnixNano()%1000000)
	p, err := connpool.Open(testConninfo(t)+" application_name="+app,
		append([]connpool.Option{connpool.WithName(app)}, opts...)...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(p.Close)
	return p, app
}

// backends counts the server processes whose application_name is app (a separate pool asks).
func backends(t *testing.T, observer *connpool.Pool, app string) int {
	t.Helper()
	var n int
	err := observer.QueryRow(ctxTimeout(t, 5*time.Second),
		"SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", app).Scan(&n)
	if err != nil {
		t.Fatalf("counting backends: %v", err)
	}
	return n
}

func waitBackends(t *testing.T, observer *connpool.Pool, app string, want int) {
	t.Helper()
	waitFor(t, 10*time.Second, fmt.Sprintf("%d backends of %s", want, app), func() bool {
		return backends(t, observer, app) == want
	})
}

func backendPID(t *testing.T, c *connpool.Conn) int {
	t.Helper()
	var pid int
	if err := c.QueryRow(ctxTimeout(t, 5*time.Second), "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	return pid
}

func terminate(t *testing.T, observer *connpool.Pool, pid int32) {
	t.Helper()
	ctx := ctxTimeout(t, 5*time.Second)
	var ok bool
	if err := observer.QueryRow(ctx, "SELECT pg_terminate_backend($1)", pid).Scan(&ok); err != nil || !ok {
		t.Fatalf("pg_terminate_backend(%d): %v, %v", pid, ok, err)
	}
	waitFor(t, 5*time.Second, "the backend to exit", func() bool {
		var n int
		err := observer.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid).Scan(&n)
		return err == nil && n == 0
	})
}

func TestResizeCountsBackends(t *testing.T) {
	observer := newPool(t, connpool.WithMaxSize(1))
	p, app := appPool(t, connpool.WithMinSize(1), connpool.WithMaxSize(2))
	ctx := ctxTimeout(t, 20*time.Second)
	if err := p.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	waitBackends(t, observer, app, 1)

	// Growing min_size opens the missing connections in the background.
	if err := p.Resize(4, 6); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	waitBackends(t, observer, app, 4)
	if s := mustStat(t, p); s.MinSize != 4 || s.MaxSize != 6 || s.Resizes != 1 {
		t.Errorf("after Resize(4, 6): min %d max %d resizes %d", s.MinSize, s.MaxSize, s.Resizes)
	}

	// Under load: 5 leases out, then shrink to max 2. Idle ones go now, leased ones above
	// the new max when they come back, and the leases stay usable meanwhile.
	var conns []*connpool.Conn
	for i := 0; i < 5; i++ {
		c, err := p.Acquire(ctx)
		if err != nil {
			t.Fatalf("lease %d: %v", i, err)
		}
		conns = append(conns, c)
	}
	waitBackends(t, observer, app, 5)
	if err := p.Resize(1, 2); err != nil {
		t.Fatal(err)
	}
	for _, c := range conns {
		if _, err := c.Exec(ctx, "SELECT 1"); err != nil {
			t.Errorf("a lease out during the shrink failed: %v", err)
		}
	}
	if n := backends(t, observer, app); n != 5 {
		t.Errorf("%d backends while the 5 leases are out, want 5", n)
	}
	for _, c := range conns {
		c.Release()
	}
	waitBackends(t, observer, app, 2)
	if s := mustStat(t, p); s.Total != 2 || s.MaxSize != 2 {
		t.Errorf("after the shrink: total %d max %d, want 2 and 2", s.Total, s.MaxSize)
	}

	// Bad sizes are refused, naming the value.
	if err := p.Resize(3, 2); !errors.Is(err, connpool.ErrInvalidArgument) || !strings.Contains(err.Error(), "min_size") {
		t.Errorf("Resize(3, 2): %v", err)
	}
}

// A goroutine waiting in the binding's gate gets a connection as soon as Resize makes room.
func TestResizeGrowsTheGate(t *testing.T) {
	p := newPool(t, connpool.WithMaxSize(1))
	ctx := ctxTimeout(t, 10*time.Second)
	held, err := p.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()
	got := make(chan error, 1)
	go func() {
		c, err := p.Acquire(ctxTimeout(t, 5*time.Second))
		if err == nil {
			c.Release()
		}
		got <- err
	}()
	waitFor(t, 5*time.Second, "a waiter", func() bool { return mustStat(t, p).Waiting == 1 })
	if err := p.Resize(0, 2); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("the waiter failed after the pool grew: %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the waiter was not served after Resize(0, 2)")
	}
	// And back: with max 1 again a second lease must wait.
	if err := p.Resize(0, 1); err != nil {
		t.Fatal(err)
	}
	if c, err := p.TryAcquire(ctx); !errors.Is(err, connpool.ErrWouldBlock) || c != nil {
		t.Errorf("TryAcquire beyond max 1: %v, %v", c, err)
	}
}

func TestPauseHoldsAcquiresUntilResume(t *testing.T) {
	p := newPool(t, connpool.WithMinSize(1), connpool.WithMaxSize(2))
	ctx := ctxTimeout(t, 20*time.Second)
	if err := p.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	out, err := p.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Pause(); err != nil {
		t.Fatal(err)
	}
	if s := mustStat(t, p); s.Paused != 1 {
		t.Errorf("Paused = %d while paused", s.Paused)
	}
	// A lease already out is unaffected.
	if _, err := out.Exec(ctx, "SELECT 1"); err != nil {
		t.Errorf("the lease out before the pause: %v", err)
	}
	// An acquire waits until its deadline, no less and not much more.
	start := time.Now()
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	c, err := p.Acquire(short)
	cancel()
	waited := time.Since(start)
	if c != nil || !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, connpool.ErrTimeout) {
		t.Fatalf("Acquire while paused: %v, %v", c, err)
	}
	if waited < 280*time.Millisecond || waited > 2*time.Second {
		t.Errorf("Acquire while paused waited %v for a 300ms deadline", waited)
	}
	if c, err := p.TryAcquire(ctx); c != nil || !errors.Is(err, connpool.ErrWouldBlock) {
		t.Errorf("TryAcquire while paused: %v, %v", c, err)
	}
	// A waiter with a longer deadline is served once the pool resumes.
	got := make(chan error, 1)
	go func() {
		c, err := p.Acquire(ctxTimeout(t, 10*time.Second))
		if err == nil {
			c.Release()
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("an acquire finished while paused: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	out.Release() // releasing while paused works and hands nothing out
	if err := p.Resume(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("the waiter after Resume: %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the waiter was not served after Resume")
	}
	if s := mustStat(t, p); s.Paused != 0 {
		t.Errorf("Paused = %d after Resume", s.Paused)
	}
	if err := p.Resume(); err != nil {
		t.Errorf("a second Resume: %v", err)
	}
}

func TestResetReplacesConnectionsWithALeaseOut(t *testing.T) {
	p := newPool(t, connpool.WithMinSize(2), connpool.WithMaxSize(2))
	ctx := ctxTimeout(t, 20*time.Second)
	if err := p.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := p.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	old := map[int32]bool{}
	conns, err := p.Connections()
	if err != nil {
		t.Fatal(err)
	}
	for _, ci := range conns.Connections {
		old[ci.BackendPID] = true
	}
	if len(old) != 2 {
		t.Fatalf("connections before Reset: %+v", conns)
	}
	leasedPID := backendPID(t, c)
	if err := p.Reset(); err != nil {
		t.Fatal(err)
	}
	// The lease goes on unaffected.
	if pid := backendPID(t, c); pid != leasedPID {
		t.Errorf("the lease out changed backend during Reset: %d -> %d", leasedPID, pid)
	}
	c.Release()
	waitFor(t, 10*time.Second, "the pool to refill with new connections", func() bool {
		cs, err := p.Connections()
		if err != nil || len(cs.Connections) != 2 {
			return false
		}
		for _, ci := range cs.Connections {
			if old[ci.BackendPID] || ci.State != connpool.ConnIdle {
				return false
			}
		}
		return true
	})
	c, err = p.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if pid := backendPID(t, c); old[int32(pid)] {
		t.Errorf("after Reset an acquire got the old backend %d", pid)
	}
	c.Release()
	if s := mustStat(t, p); s.Drains != 1 || s.ClosedDrained != 2 {
		t.Errorf("drains %d closed_drained %d, want 1 and 2", s.Drains, s.ClosedDrained)
	}
	if err := p.Drain(); err != nil { // the alias
		t.Fatal(err)
	}
	if s := mustStat(t, p); s.Drains != 2 {
		t.Errorf("Drain: drains %d, want 2", s.Drains)
	}
}

func TestCheckClosesATerminatedIdleBackend(t *testing.T) {
	observer := newPool(t, connpool.WithMaxSize(1))
	p := newPool(t, connpool.WithMinSize(2), connpool.WithMaxSize(2))
	ctx := ctxTimeout(t, 20*time.Second)
	if err := p.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := p.Check(ctx); err != nil || n != 0 {
		t.Fatalf("Check with every backend alive: %d, %v", n, err)
	}
	conns, err := p.Connections()
	if err != nil || len(conns.Connections) != 2 {
		t.Fatalf("Connections: %+v, %v", conns, err)
	}
	terminate(t, observer, conns.Connections[0].BackendPID)
	n, err := p.Check(ctx)
	if err != nil || n != 1 {
		t.Fatalf("Check after terminating one idle backend: %d, %v (want 1)", n, err)
	}
	s := mustStat(t, p)
	if s.KeepaliveChecks < 3 || s.KeepaliveFailures != 1 {
		t.Errorf("keepalive_checks %d keepalive_failures %d, want >= 3 and 1", s.KeepaliveChecks, s.KeepaliveFailures)
	}
	// A cancelled context does not start a check.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := p.Check(cancelled); !errors.Is(err, context.Canceled) {
		t.Errorf("Check with a cancelled context: %v", err)
	}
}

func TestKeepaliveFindsAKilledBackendWithoutAcquire(t *testing.T) {
	observer := newPool(t, connpool.WithMaxSize(1))
	p := newPool(t, connpool.WithMinSize(1), connpool.WithMaxSize(1),
		connpool.WithKeepaliveInterval(50*time.Millisecond), connpool.WithMaintenanceInterval(20*time.Millisecond))
	ctx := ctxTimeout(t, 20*time.Second)
	if err := p.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := p.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pid := backendPID(t, c)
	c.Release()
	acquired := mustStat(t, p).Acquired
	terminate(t, observer, int32(pid))
	waitFor(t, 10*time.Second, "keepalive to find the dead backend", func() bool {
		return mustStat(t, p).KeepaliveFailures >= 1
	})
	if s := mustStat(t, p); s.Acquired != acquired {
		t.Errorf("acquires happened meanwhile: %d -> %d", acquired, s.Acquired)
	}
}

func TestSetConnInfoRotates(t *testing.T) {
	p := newPool(t, connpool.WithMaxSize(1))
	ctx := ctxTimeout(t, 20*time.Second)
	var app string
	if err := p.QueryRow(ctx, "SHOW application_name").Scan(&app); err != nil {
		t.Fatal(err)
	}
	if err := p.SetConnInfo(testConninfo(t) + " application_name=rotated_go"); err != nil {
		t.Fatal(err)
	}
	if err := p.Reset(); err != nil {
		t.Fatal(err)
	}
	if err := p.QueryRow(ctx, "SHOW application_name").Scan(&app); err != nil || app != "rotated_go" {
		t.Fatalf("after SetConnInfo and Reset: application_name %q, %v", app, err)
	}
	err := p.SetConnInfo("host=x password=hunter2 'unterminated")
	if !errors.Is(err, connpool.ErrInvalidArgument) || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("bad conninfo: %v", err)
	}
	// The old conninfo stays in force.
	if err := p.QueryRow(ctx, "SHOW application_name").Scan(&app); err != nil || app != "rotated_go" {
		t.Errorf("after a refused SetConnInfo: %q, %v", app, err)
	}
}

func TestOperationsOnAClosedPool(t *testing.T) {
	p := newPool(t)
	p.Close()
	ctx := ctxTimeout(t, 5*time.Second)
	for name, err := range map[string]error{
		"Resize": p.Resize(0, 2), "Pause": p.Pause(), "Resume": p.Resume(), "Reset": p.Reset(),
		"SetConnInfo": p.SetConnInfo(testConninfo(t)),
	} {
		if !errors.Is(err, connpool.ErrClosed) {
			t.Errorf("%s on a closed pool: %v", name, err)
		}
	}
	if _, err := p.Check(ctx); !errors.Is(err, connpool.ErrClosed) {
		t.Errorf("Check on a closed pool: %v", err)
	}
	if c, err := p.TryAcquire(ctx); c != nil || !errors.Is(err, connpool.ErrClosed) {
		t.Errorf("TryAcquire on a closed pool: %v, %v", c, err)
	}
	if cs, err := p.Connections(); err != nil || len(cs.Connections) != 0 {
		t.Errorf("Connections on a closed pool: %+v, %v", cs, err)
	}
}
