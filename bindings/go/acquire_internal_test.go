package connpool

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The blocking fallback of Acquire (no pollable fd: connpool_acquire_wait on an OS thread,
// cancelled from a watcher goroutine) must behave like the netpoller path.
func TestAcquireBlockingFallback(t *testing.T) { checkLibraryWaiting(t, false) }

// Waiting inside the library on the netpoller (what goroutines do without the gate, and with
// it while a connection is being opened) behaves the same.
func TestAcquireWaitingInTheLibrary(t *testing.T) { checkLibraryWaiting(t, true) }

// checkLibraryWaiting runs with the gate off, so that the waits happen inside the library.
func checkLibraryWaiting(t *testing.T, poller bool) {
	ci := testConninfo(t)
	usePoller, useGate = poller, false
	defer func() { usePoller, useGate = true, true }()

	p, err := Open(ci, WithMaxSize(1), WithName("go-fallback"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	held, err := p.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}

	// Cancel while waiting.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := p.Acquire(ctx)
		done <- err
	}()
	waitWaiting(t, p, 1)
	start := time.Now()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancel: %v", err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("cancel took %v", d)
	}

	// Deadline.
	dctx, dcancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer dcancel()
	if _, err := p.Acquire(dctx); !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("deadline: %v", err)
	}

	// Handed over on release.
	got := make(chan *Conn, 1)
	go func() {
		c, err := p.Acquire(context.Background())
		if err != nil {
			t.Error(err)
		}
		got <- c
	}()
	waitWaiting(t, p, 1)
	held.Release()
	c := <-got
	if c == nil {
		t.Fatal("no connection after release")
	}

	// Close while waiting.
	go func() {
		_, err := p.Acquire(context.Background())
		done <- err
	}()
	waitWaiting(t, p, 1)
	p.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("close: %v", err)
	}
	c.Release()
}

func waitWaiting(t *testing.T, p *Pool, n int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, err := p.Stat()
		if err != nil {
			t.Fatal(err)
		}
		if s.Waiting == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting = %d, want %d", s.Waiting, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// Statements without the netpoller (usePoller off): the blocking path, cancellable.
func TestStatementBlockingFallback(t *testing.T) {
	ci := testConninfo(t)
	usePoller = false
	defer func() { usePoller = true }()
	p, err := Open(ci, WithMaxSize(1), WithName("go-stmt-fallback"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var n int
	if err := p.QueryRow(context.Background(), "SELECT $1::int", 7).Scan(&n); err != nil || n != 7 {
		t.Fatalf("got %d, %v", n, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = p.Exec(ctx, "SELECT pg_sleep(10)")
	var pg *PgError
	if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &pg) || pg.Code != "57014" {
		t.Fatalf("got %v, want DeadlineExceeded and SQLSTATE 57014", err)
	}
}

// A statement whose cancel is not answered within cancelGrace is abandoned: the call returns,
// the Conn refuses further statements, and the connection is closed on release, never reused.
func TestStatementAbandonedAfterCancelGrace(t *testing.T) {
	ci := testConninfo(t)
	// A server that never answers the cancel request.
	saved := cancelStatement
	cancelStatement = func(uintptr) error { return nil }
	defer func() { cancelStatement = saved }()
	p, err := Open(ci, WithMaxSize(1), WithName("go-stmt-abandon"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := p.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = c.Exec(ctx, "SELECT pg_sleep(5)")
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("abandon took %v", took)
	}
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrConnectionBroken) {
		t.Fatalf("got %v, want DeadlineExceeded and ErrConnectionBroken", err)
	}
	if _, err := c.Exec(context.Background(), "SELECT 1"); !errors.Is(err, ErrConnectionBroken) {
		t.Fatalf("after abandoning: %v", err)
	}
	c.Release()
	var n int
	if err := p.QueryRow(context.Background(), "SELECT 1").Scan(&n); err != nil || n != 1 {
		t.Fatalf("fresh connection: %d, %v", n, err)
	}
	if s, _ := p.Stat(); s.ClosedBroken != 1 || s.Created != 2 {
		t.Errorf("the abandoned connection was not closed: %+v", s)
	}
}

// testConninfo is the fixture's conninfo (as in helpers_test.go, which these in-package tests
// cannot call); skips the test without a server.
func testConninfo(t *testing.T) string {
	t.Helper()
	ci := os.Getenv("CONNPOOL_TEST_CONNINFO")
	if dir := os.Getenv("CONNPOOL_TEST_PG_DIR"); ci == "" && dir != "" {
		b, err := os.ReadFile(filepath.Join(dir, "conninfo"))
		if err != nil {
			t.Fatal(err)
		}
		ci = strings.TrimSpace(string(b))
	}
	if ci == "" {
		t.Skip("no PostgreSQL: set CONNPOOL_TEST_PG_DIR or CONNPOOL_TEST_CONNINFO")
	}
	return ci
}
