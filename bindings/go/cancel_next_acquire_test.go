package connpool_test

import (
	"context"
	"errors"
	"testing"
	"time"

	connpool "github.com/libconnpool/connpool-go"
)

// Issue 14: a statement whose context times out is cancelled on the server, so the only
// connection of a pool of 1 is free again at once: the next Acquire and query do not wait for
// the 3 s pg_sleep to end (before the server-side cancel, they waited ~2.8 s).
func TestCancelledStatementFreesPoolOfOneForNextAcquire(t *testing.T) {
	p := newPool(t, connpool.WithMaxSize(1))
	admin := newPool(t, connpool.WithMaxSize(1))
	ctx := ctxTimeout(t, 20*time.Second)
	// Open the pool's connection first, so the measured acquire is not a connect.
	if _, err := p.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}

	sctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	started := time.Now()
	_, err := p.Exec(sctx, "SELECT pg_sleep(3) /* go cancel_next_acquire */")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("pg_sleep(3) with a 200 ms context: got %v, want context.DeadlineExceeded", err)
	}
	returned := time.Since(started)

	timed := time.Now()
	c, err := p.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var one int
	err = c.QueryRow(ctx, "SELECT 1").Scan(&one)
	next := time.Since(timed)
	if relErr := c.Release(); relErr != nil {
		t.Fatal(relErr)
	}
	if err != nil || one != 1 {
		t.Fatalf("SELECT 1 after the cancelled statement: %d, %v", one, err)
	}
	t.Logf("cancelled statement returned after %v; next Acquire+SELECT 1 took %v", returned, next)
	if returned > time.Second {
		t.Errorf("the cancelled statement returned after %v, want about 200 ms", returned)
	}
	if next > 500*time.Millisecond { // ~1 ms normally; slack for a loaded machine
		t.Errorf("next Acquire+SELECT 1 on the pool of 1 took %v, want well under 500 ms", next)
	}
	var running int
	if err := admin.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "+
		"AND query LIKE '%go cancel_next_acquire%' AND pid <> pg_backend_pid()").Scan(&running); err != nil {
		t.Fatal(err)
	}
	if running != 0 {
		t.Errorf("the cancelled pg_sleep still runs on the server (%d backends)", running)
	}
}
