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
func TestAcquireBlockingFallback(t *testing.T) {
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
	usePoller = false
	defer func() { usePoller = true }()

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
