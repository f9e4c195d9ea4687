package connpool_test

import (
	"testing"
	"time"

	connpool "github.com/libconnpool/connpool-go"
)

// The backend pids behind n acquire/release cycles, one after another.
func pidsOfCycles(t *testing.T, p *connpool.Pool, n int) map[int]bool {
	t.Helper()
	ctx := ctxTimeout(t, 20*time.Second)
	pids := map[int]bool{}
	for i := 0; i < n; i++ {
		c, err := p.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pids[backendPID(t, c)] = true
		c.Release()
	}
	return pids
}

func TestIdleOrderLifoKeepsOneWarmFifoRotates(t *testing.T) {
	ctx := ctxTimeout(t, 20*time.Second)
	lifo := newPool(t, connpool.WithMinSize(3), connpool.WithMaxSize(3))
	if err := lifo.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if pids := pidsOfCycles(t, lifo, 6); len(pids) != 1 {
		t.Errorf("lifo: %d backends used, want 1", len(pids))
	}
	fifo := newPool(t, connpool.WithMinSize(3), connpool.WithMaxSize(3),
		connpool.WithIdleOrder(connpool.IdleFIFO))
	if err := fifo.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if pids := pidsOfCycles(t, fifo, 6); len(pids) != 3 {
		t.Errorf("fifo: %d backends used, want 3", len(pids))
	}
}

func TestMinIdleKeepsIdleConnectionsAboveThoseInUse(t *testing.T) {
	p := newPool(t, connpool.WithMinSize(0), connpool.WithMaxSize(4), connpool.WithMinIdle(2))
	waitFor(t, 10*time.Second, "two idle connections", func() bool {
		return mustStat(t, p).Idle == 2
	})
	c, err := p.Acquire(ctxTimeout(t, 20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	waitFor(t, 10*time.Second, "a third connection opened", func() bool {
		return mustStat(t, p).Total == 3
	})
}

func TestTargetUtilisationOpensAheadOfDemand(t *testing.T) {
	p := newPool(t, connpool.WithMinSize(0), connpool.WithMaxSize(8), connpool.WithTargetUtilisation(50))
	ctx := ctxTimeout(t, 20*time.Second)
	for i := 0; i < 2; i++ {
		c, err := p.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Release()
	}
	// 2 in use at most 50 % of the total: at least 4 open, without a third acquire.
	waitFor(t, 10*time.Second, "4 connections open", func() bool {
		return mustStat(t, p).Total >= 4
	})
	if s := mustStat(t, p); s.Acquired != 2 {
		t.Errorf("acquired %d, want 2", s.Acquired)
	}
}
