package connpool_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	connpool "github.com/libconnpool/connpool-go"
)

// A statement cancelled by its context while it runs: the server-side cancel makes it end at
// once, the call returns promptly, and the connection is never reused dirty.
func TestStatementCancelDuringSleepIsPromptAndClean(t *testing.T) {
	p := newPool(t, connpool.WithMaxSize(1))
	admin := newPool(t, connpool.WithMaxSize(1))
	ctx := ctxTimeout(t, 20*time.Second)
	c, err := p.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	if err := c.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	var worst time.Duration
	for i := 0; i < 5; i++ {
		sctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := c.Exec(sctx, "SELECT pg_sleep(5)")
			done <- err
		}()
		// Cancel once the statement is running on the server.
		waitFor(t, 5*time.Second, "pg_sleep running", func() bool { return statementRunning(t, admin, pid) })
		cancelled := time.Now()
		cancel()
		err := <-done
		took := time.Since(cancelled)
		if took > worst {
			worst = took
		}
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
		var pg *connpool.PgError
		if errors.As(err, &pg) {
			if pg.Code != "57014" {
				t.Fatalf("got SQLSTATE %s, want 57014", pg.Code)
			}
			// Cancelled cleanly: the same connection is idle and usable.
			var one int
			if err := c.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
				t.Fatalf("after a cancelled statement: %v", err)
			}
			continue
		}
		// Abandoned (the server was slow to answer the cancel): the connection is closed.
		if !errors.Is(err, connpool.ErrConnectionBroken) {
			t.Fatalf("abandoned statement: %v", err)
		}
		c.Release()
		c, err = p.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
			t.Fatal(err)
		}
	}
	c.Release()
	t.Logf("worst cancel-to-return latency: %v", worst)
	if worst > time.Second { // ~ms normally; generous for a loaded machine
		t.Errorf("cancel is not prompt: %v", worst)
	}
	// Whatever happened, no statement of ours is still running on the server.
	waitFor(t, 5*time.Second, "no pg_sleep left", func() bool { return !statementRunning(t, admin, 0) })
}

// statementRunning reports whether a pg_sleep of this test's pools runs on backend pid (0: any).
func statementRunning(t testing.TB, admin *connpool.Pool, pid int) bool {
	t.Helper()
	var n int
	err := admin.QueryRow(context.Background(),
		"SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE 'SELECT pg_sleep(5)%' AND ($1 = 0 OR pid = $1)",
		pid).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// Statements in flight park their goroutines on the netpoller: 64 concurrent pg_sleep calls
// do not hold 64 OS threads.
func TestStatementsInFlightHoldNoOSThreads(t *testing.T) {
	const n = 48
	p := newPool(t, connpool.WithMaxSize(n), connpool.WithMinSize(n), connpool.WithMaxConcurrentConnects(8))
	ctx := ctxTimeout(t, 30*time.Second)
	if err := p.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	before := osThreads(t)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := p.Exec(ctx, "SELECT pg_sleep(1.5)")
			errs <- err
		}()
	}
	waitFor(t, 10*time.Second, "all statements in flight", func() bool { return mustStat(t, p).InUse == n })
	during := osThreads(t)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("OS threads: %d before, %d with %d statements in flight", before, during, n)
	if during > before+16 {
		t.Errorf("statements in flight hold OS threads: %d -> %d", before, during)
	}
}

// Many goroutines on a small pool, mixing contexts with and without deadlines, parameters and
// the statement cache (prepared after the threshold): every answer is the right one.
func TestManyGoroutinesGetTheirOwnAnswers(t *testing.T) {
	p := newPool(t, connpool.WithMaxSize(8), connpool.WithOption("prepare_threshold", "2"))
	const goroutines, each = 64, 100
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				ctx := context.Background()
				if i%2 == 1 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, 20*time.Second)
					defer cancel()
				}
				want := g*1000 + i
				var got int
				var s string
				if err := p.QueryRow(ctx, "SELECT $1::int, $2::text", want, fmt.Sprint(want)).Scan(&got, &s); err != nil {
					errs <- err
					return
				}
				if got != want || s != fmt.Sprint(want) {
					errs <- fmt.Errorf("goroutine %d: got %d/%q, want %d", g, got, s, want)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	s := mustStat(t, p)
	if s.ClosedBroken != 0 || s.InUse != 0 {
		t.Errorf("after the run: %+v", s)
	}
}

// The pool keeps one netpoller registration (a duplicate descriptor) per connection; those of
// closed connections are swept, so replacing connections over and over leaks no descriptor.
func TestSocketRegistrationsOfClosedConnectionsAreSwept(t *testing.T) {
	p := newPool(t, connpool.WithMaxSize(2))
	ctx := ctxTimeout(t, 30*time.Second)
	var n int
	if err := p.QueryRow(ctx, "SELECT 1").Scan(&n); err != nil {
		t.Fatal(err)
	}
	before := openFds(t)
	for i := 0; i < 20; i++ {
		c, err := p.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// The backend ends itself: the connection is closed on release.
		_, err = c.Exec(ctx, "SELECT pg_terminate_backend(pg_backend_pid())")
		if !errors.Is(err, connpool.ErrConnectionBroken) {
			t.Fatalf("got %v, want ErrConnectionBroken", err)
		}
		c.Release()
		if err := p.QueryRow(ctx, "SELECT 1").Scan(&n); err != nil {
			t.Fatal(err)
		}
	}
	after := openFds(t)
	t.Logf("open descriptors: %d before, %d after replacing 20 connections", before, after)
	if after > before+4 {
		t.Errorf("descriptors leak: %d -> %d", before, after)
	}
}

func openFds(t testing.TB) int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	return len(entries)
}

// QueryRow copies a small first row inside the final collect and falls back to reading the
// result for a large one or one with many columns: both give the same values.
func TestQueryRowSmallAndLargeRows(t *testing.T) {
	p := newPool(t, connpool.WithMaxSize(1))
	ctx := ctxTimeout(t, 10*time.Second)
	var a, b string
	var c *string
	if err := p.QueryRow(ctx, "SELECT 'x', '', NULL::text").Scan(&a, &b, &c); err != nil || a != "x" || b != "" || c != nil {
		t.Fatalf("small row: %q %q %v %v", a, b, c, err)
	}
	if err := p.QueryRow(ctx, "SELECT repeat('y', 10000), 'z'").Scan(&a, &b); err != nil || len(a) != 10000 || b != "z" {
		t.Fatalf("large row: %d %q %v", len(a), b, err)
	}
	cols := make([]string, 40)
	dest := make([]any, 40)
	sql := "SELECT "
	for i := range cols {
		if i > 0 {
			sql += ", "
		}
		sql += fmt.Sprintf("'%d'", i)
		dest[i] = &cols[i]
	}
	if err := p.QueryRow(ctx, sql).Scan(dest...); err != nil || cols[39] != "39" {
		t.Fatalf("40 columns: %v %v", cols, err)
	}
	if err := p.QueryRow(ctx, "SELECT 1 WHERE false").Scan(&a); !errors.Is(err, connpool.ErrNoRows) {
		t.Fatalf("no row: %v", err)
	}
}
