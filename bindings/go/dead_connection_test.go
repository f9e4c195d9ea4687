package connpool_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	connpool "github.com/libconnpool/connpool-go"
)

// Issue 14: a connection the server already closed is never handed out, even within 1 ms of its
// last statement. The backend is terminated right after each release and is gone from
// pg_stat_activity before the next acquire; with max size 1 the next lease's first statement
// must still succeed, on a fresh connection.
const deadConnectionRounds = 60

func killAfterEveryRelease(t *testing.T, conninfo string) {
	admin := newPool(t, connpool.WithMaxSize(1))
	p, err := connpool.Open(conninfo, connpool.WithMinSize(1), connpool.WithMaxSize(1))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer p.Close()
	ctx := ctxTimeout(t, 60*time.Second)
	seen := map[int]bool{}
	for round := 0; round < deadConnectionRounds; round++ {
		c, err := p.Acquire(ctx)
		if err != nil {
			t.Fatalf("round %d: Acquire: %v", round, err)
		}
		var pid int
		err = c.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid)
		c.Release()
		if err != nil {
			t.Fatalf("round %d: the lease's first statement failed: %v", round, err)
		}
		if seen[pid] {
			t.Fatalf("round %d: killed backend %d came back", round, pid)
		}
		seen[pid] = true
		var ok bool
		if err := admin.QueryRow(ctx, "SELECT pg_terminate_backend($1)", pid).Scan(&ok); err != nil || !ok {
			t.Fatalf("pg_terminate_backend(%d): %v, %v", pid, ok, err)
		}
		waitFor(t, 5*time.Second, "the backend to exit", func() bool {
			var n int
			err := admin.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid).Scan(&n)
			return err == nil && n == 0
		})
	}
	if s := mustStat(t, p); s.ClosedBroken < deadConnectionRounds-1 {
		t.Errorf("closed_broken %d, want >= %d", s.ClosedBroken, deadConnectionRounds-1)
	}
}

func TestKilledRightAfterReleaseIsNeverHandedOutUnixSocket(t *testing.T) {
	killAfterEveryRelease(t, testConninfo(t)+" application_name=go_dead_unix")
}

func TestKilledRightAfterReleaseIsNeverHandedOutTCP(t *testing.T) {
	dir := os.Getenv("CONNPOOL_TEST_PG_DIR")
	b, err := os.ReadFile(filepath.Join(dir, "conninfo_tcp"))
	if dir == "" || err != nil || os.Getenv("CONNPOOL_TEST_CONNINFO") != "" {
		t.Skip("needs the fixture's TCP listener")
	}
	killAfterEveryRelease(t, strings.TrimSpace(string(b))+" application_name=go_dead_tcp")
}
