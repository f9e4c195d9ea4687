package connpool_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	connpool "github.com/libconnpool/connpool-go"
)

// Lease metadata, TryAcquire, native transactions, hooks, direct connections and leak labels
// (issue 13) against the real server.

func TestLeaseInfoAndConnections(t *testing.T) {
	p := newPool(t, connpool.WithMaxSize(1))
	ctx := ctxTimeout(t, 10*time.Second)
	before := time.Now()
	c, err := p.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info()
	if err != nil {
		t.Fatal(err)
	}
	pid := backendPID(t, c)
	if !info.IsNew || info.Uses != 1 || int(info.BackendPID) != pid || info.ID == 0 || info.ID != c.ID() {
		t.Errorf("first lease: %+v (pid %d, ID() %d)", info, pid, c.ID())
	}
	if info.CreatedAt.Before(before.Add(-time.Second)) || info.CreatedAt.After(time.Now().Add(time.Second)) {
		t.Errorf("CreatedAt %v, acquired at %v", info.CreatedAt, before)
	}
	if d := info.LastUsedAt.Sub(info.CreatedAt); d < -time.Millisecond || d > time.Millisecond {
		t.Errorf("on its first lease LastUsedAt %v != CreatedAt %v", info.LastUsedAt, info.CreatedAt)
	}
	if err := c.SetLabel("report job"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	cs, err := p.Connections()
	if err != nil {
		t.Fatal(err)
	}
	if len(cs.Connections) != 1 {
		t.Fatalf("Connections: %+v", cs)
	}
	ci := cs.Connections[0]
	if ci.ID != info.ID || ci.State != connpool.ConnInUse || ci.Label != "report job" || ci.Uses != 1 ||
		int(ci.BackendPID) != pid || ci.Held < 10*time.Millisecond || ci.Idle != 0 {
		t.Errorf("the leased connection: %+v", ci)
	}
	if cs.MaxSize != 1 || cs.Paused || !strings.HasPrefix(cs.Pool, "go-") {
		t.Errorf("the pool's part: %+v", cs)
	}
	c.Release()
	if c.ID() != 0 {
		t.Errorf("ID after Release: %d", c.ID())
	}
	if _, err := c.Info(); !errors.Is(err, connpool.ErrInvalidHandle) {
		t.Errorf("Info after Release: %v", err)
	}
	time.Sleep(20 * time.Millisecond)
	c, err = p.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	again, err := c.Info()
	if err != nil {
		t.Fatal(err)
	}
	// Times are converted from the pool's monotonic clock per call: equal within a millisecond.
	drift := again.CreatedAt.Sub(info.CreatedAt)
	if again.IsNew || again.Uses != 2 || again.ID != info.ID || drift < -time.Millisecond || drift > time.Millisecond ||
		again.LastUsedAt.Sub(info.CreatedAt) < 10*time.Millisecond {
		t.Errorf("second lease of the same connection: %+v (first %+v)", again, info)
	}
	if pg, err := c.PgConn(); err != nil || pg == nil {
		t.Errorf("PgConn: %v, %v", pg, err)
	}
}

func TestTryAcquire(t *testing.T) {
	p := newPool(t, connpool.WithMaxSize(1))
	ctx := ctxTimeout(t, 10*time.Second)
	// Nothing open yet: nothing to take without waiting.
	if c, err := p.TryAcquire(ctx); c != nil || !errors.Is(err, connpool.ErrWouldBlock) {
		t.Fatalf("TryAcquire on an empty pool: %v, %v", c, err)
	}
	if err := p.Resize(1, 1); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := p.TryAcquire(ctx)
	if err != nil || c == nil {
		t.Fatalf("TryAcquire with an idle connection: %v, %v", c, err)
	}
	if _, err := c.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	if c2, err := p.TryAcquire(ctx); c2 != nil || !errors.Is(err, connpool.ErrWouldBlock) {
		t.Errorf("TryAcquire with the only connection out: %v, %v", c2, err)
	}
	c.Release()
	if s := mustStat(t, p); s.InUse != 0 || s.Idle != 1 {
		t.Errorf("after release: %+v", s)
	}
}

func TestBeginCommitRollback(t *testing.T) {
	p := newPool(t, connpool.WithMaxSize(3))
	ctx := ctxTimeout(t, 20*time.Second)
	table := fmt.Sprintf("go_tx_%d", time.Now().UnixNano())
	if _, err := p.Exec(ctx, "CREATE TABLE "+table+" (v int)"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Exec(context.Background(), "DROP TABLE IF EXISTS "+table) })
	count := func() int {
		var n int
		if err := p.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	tx, err := p.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO "+table+" VALUES ($1)", 1); err != nil {
		t.Fatal(err)
	}
	var inside int
	if err := tx.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&inside); err != nil || inside != 1 {
		t.Errorf("inside the transaction: %d, %v", inside, err)
	}
	if n := count(); n != 0 {
		t.Errorf("another connection sees %d uncommitted rows", n)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Errorf("after Commit: %d rows, want 1", n)
	}
	if err := tx.Rollback(ctx); !errors.Is(err, connpool.ErrTxClosed) {
		t.Errorf("Rollback after Commit: %v", err)
	}
	if _, err := tx.Exec(ctx, "SELECT 1"); !errors.Is(err, connpool.ErrTxClosed) {
		t.Errorf("Exec after Commit: %v", err)
	}

	tx, err = p.BeginTx(ctx, connpool.TxOptions{IsoLevel: connpool.Serializable})
	if err != nil {
		t.Fatal(err)
	}
	var iso string
	if err := tx.QueryRow(ctx, "SHOW transaction_isolation").Scan(&iso); err != nil || iso != "serializable" {
		t.Errorf("isolation %q, %v", iso, err)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO "+table+" VALUES (2)"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Errorf("after Rollback: %d rows, want 1", n)
	}

	// A failed statement aborts the transaction: Commit rolls back and says so.
	tx, err = p.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO "+table+" VALUES (3)"); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "SELECT 1/0"); err == nil {
		t.Fatal("division by zero succeeded")
	}
	if err := tx.Commit(ctx); !errors.Is(err, connpool.ErrTxAborted) {
		t.Errorf("Commit of an aborted transaction: %v", err)
	}
	if n := count(); n != 1 {
		t.Errorf("after the aborted transaction: %d rows, want 1", n)
	}
	// A read-only transaction refuses writes; bad modes are refused before any acquire.
	tx, err = p.BeginTx(ctx, connpool.TxOptions{AccessMode: connpool.ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO "+table+" VALUES (4)"); err == nil {
		t.Error("a read-only transaction accepted an INSERT")
	}
	tx.Rollback(ctx)
	if _, err := p.BeginTx(ctx, connpool.TxOptions{IsoLevel: "chaos; DROP TABLE x"}); !errors.Is(err, connpool.ErrInvalidArgument) {
		t.Errorf("a made-up isolation level: %v", err)
	}
	// Every Tx released its connection.
	if s := mustStat(t, p); s.InUse != 0 {
		t.Errorf("%d connections still in use", s.InUse)
	}

	// Conn.Begin leaves the Conn to its caller.
	c, err := p.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tx, err = c.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, "SELECT 1"); err != nil {
		t.Errorf("the Conn after its Tx: %v", err)
	}
	c.Release()
}

func TestAfterConnectRunsOncePerConnection(t *testing.T) {
	var calls atomic.Int64
	p := newPool(t, connpool.WithMaxSize(1), connpool.WithAfterConnect(func(ctx context.Context, c *connpool.Conn) error {
		calls.Add(1)
		_, err := c.Exec(ctx, "SET application_name = 'configured_go'")
		return err
	}))
	ctx := ctxTimeout(t, 10*time.Second)
	for i := 0; i < 3; i++ {
		var app string
		if err := p.QueryRow(ctx, "SHOW application_name").Scan(&app); err != nil || app != "configured_go" {
			t.Fatalf("acquire %d: application_name %q, %v", i, app, err)
		}
	}
	c, err := p.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c.Release()
	if n := calls.Load(); n != 1 {
		t.Errorf("AfterConnect ran %d times for one connection", n)
	}
}

func TestAfterConnectErrorClosesTheConnection(t *testing.T) {
	sentinel := errors.New("not today")
	var fail atomic.Bool
	fail.Store(true)
	p := newPool(t, connpool.WithMaxSize(1), connpool.WithAfterConnect(func(ctx context.Context, c *connpool.Conn) error {
		if fail.Load() {
			return sentinel
		}
		return nil
	}))
	ctx := ctxTimeout(t, 10*time.Second)
	c, err := p.Acquire(ctx)
	if c != nil || !errors.Is(err, sentinel) {
		t.Fatalf("Acquire with a failing AfterConnect: %v, %v", c, err)
	}
	waitFor(t, 5*time.Second, "the connection to be closed", func() bool {
		s := mustStat(t, p)
		return s.Total == 0 && s.Closed == 1
	})
	// Panics are errors too, and the pool keeps working.
	panicky := newPool(t, connpool.WithMaxSize(1), connpool.WithAfterConnect(func(context.Context, *connpool.Conn) error {
		panic("boom")
	}))
	if _, err := panicky.Exec(ctx, "SELECT 1"); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("a panicking AfterConnect: %v", err)
	}
	fail.Store(false)
	if _, err := p.Exec(ctx, "SELECT 1"); err != nil {
		t.Errorf("after the hook recovered: %v", err)
	}
}

func TestAfterReleaseDecidesReuse(t *testing.T) {
	var keep atomic.Bool
	var resets atomic.Int64
	p := newPool(t, connpool.WithMaxSize(1), connpool.WithAfterRelease(func(c *connpool.Conn) bool {
		resets.Add(1)
		if _, err := c.Exec(context.Background(), "RESET ALL"); err != nil {
			return false
		}
		return keep.Load()
	}))
	ctx := ctxTimeout(t, 10*time.Second)
	pidOf := func() int {
		c, err := p.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Release()
		return backendPID(t, c)
	}
	keep.Store(true)
	first := pidOf()
	if again := pidOf(); again != first {
		t.Errorf("AfterRelease returned true, yet the backend changed: %d -> %d", first, again)
	}
	keep.Store(false)
	pidOf() // released with false: closed
	if next := pidOf(); next == first {
		t.Errorf("AfterRelease returned false, yet backend %d was reused", first)
	}
	if resets.Load() < 4 {
		t.Errorf("AfterRelease ran %d times for 4 releases", resets.Load())
	}
	// Pool.QueryRow goes through the hook as well.
	before := resets.Load()
	var one int
	if err := p.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		t.Fatal(err)
	}
	if resets.Load() != before+1 {
		t.Errorf("Pool.QueryRow did not run AfterRelease")
	}
}

func TestConnectDirectIsClosedOnClose(t *testing.T) {
	observer := newPool(t, connpool.WithMaxSize(1))
	ctx := ctxTimeout(t, 10*time.Second)
	c, err := connpool.Connect(ctx, testConninfo(t), connpool.WithConnectTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if c.Pool() != nil {
		t.Error("a direct connection reports a pool")
	}
	info, err := c.Info()
	if err != nil || !info.IsNew || info.Uses != 1 {
		t.Errorf("Info of a direct connection: %+v, %v", info, err)
	}
	pid := backendPID(t, c)
	tx, err := c.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the direct connection's backend to exit", func() bool {
		var n int
		err := observer.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid).Scan(&n)
		return err == nil && n == 0
	})
	if err := c.Close(); !errors.Is(err, connpool.ErrInvalidHandle) {
		t.Errorf("a second Close: %v", err)
	}
	// Failures: a bad conninfo, an unreachable server.
	if _, err := connpool.Connect(ctx, "host=x 'unterminated"); !errors.Is(err, connpool.ErrInvalidArgument) {
		t.Errorf("bad conninfo: %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := connpool.Connect(short, "host=/nonexistent-connpool-dir port=1 dbname=x user=x"); !errors.Is(err, connpool.ErrConnectFailed) {
		t.Errorf("unreachable server: %v", err)
	}
}

func TestLeakReportNamesTheCaller(t *testing.T) {
	var mu sync.Mutex
	var logs []string
	p := newPool(t, connpool.WithMaxSize(1), connpool.WithLeakThreshold(50*time.Millisecond),
		connpool.WithMaintenanceInterval(20*time.Millisecond),
		connpool.WithLogger(func(level connpool.Level, pool, msg string) {
			mu.Lock()
			logs = append(logs, msg)
			mu.Unlock()
		}, connpool.LevelWarn))
	ctx := ctxTimeout(t, 10*time.Second)
	_, _, line, _ := runtime.Caller(0)
	c, err := p.Acquire(ctx) // the line after runtime.Caller
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("lease_features_test.go:%d", line+1)
	cs, err := p.Connections()
	if err != nil || len(cs.Connections) != 1 || !strings.Contains(cs.Connections[0].Label, want) {
		t.Errorf("the lease's label: %+v, %v (want %q)", cs, err, want)
	}
	waitFor(t, 5*time.Second, "the leak report", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range logs {
			if strings.Contains(m, "leak") && strings.Contains(m, want) {
				return true
			}
		}
		return false
	})
	c.Release()
	// Without leak_threshold no label is set.
	q := newPool(t, connpool.WithMaxSize(1))
	c, err = q.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	if cs, err := q.Connections(); err != nil || len(cs.Connections) != 1 || cs.Connections[0].Label != "" {
		t.Errorf("a label without leak_threshold: %+v, %v", cs, err)
	}
}

func TestInitSQL(t *testing.T) {
	ctx := ctxTimeout(t, 10*time.Second)
	p := newPool(t, connpool.WithMaxSize(1), connpool.WithInitSQL("SET application_name = 'init_go'"))
	var app string
	if err := p.QueryRow(ctx, "SHOW application_name").Scan(&app); err != nil || app != "init_go" {
		t.Errorf("pool with init_sql: application_name %q, %v", app, err)
	}
	c, err := connpool.Connect(ctx, testConninfo(t), connpool.WithInitSQL("SET application_name = 'init_direct'"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.QueryRow(ctx, "SHOW application_name").Scan(&app); err != nil || app != "init_direct" {
		t.Errorf("direct connection with init_sql: application_name %q, %v", app, err)
	}
	c.Close()
	// A failing init_sql is a failed connect carrying the statement's SQLSTATE.
	_, err = connpool.Connect(ctx, testConninfo(t), connpool.WithInitSQL("SELECT 1/0"))
	var pg *connpool.PgError
	if !errors.Is(err, connpool.ErrConnectFailed) || !errors.As(err, &pg) || pg.Code != "22012" {
		t.Errorf("init_sql failing: %v", err)
	}
}
