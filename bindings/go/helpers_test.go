package connpool_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	connpool "github.com/libconnpool/connpool-go"
)

// The tests run against a real PostgreSQL: CONNPOOL_TEST_PG_DIR names the directory where the
// CTest fixture (scripts/pg-server) wrote `conninfo` and `conninfo_tcp`; CONNPOOL_TEST_CONNINFO
// gives a conninfo directly. Without either, the tests are skipped.
func testConninfo(t testing.TB) string {
	t.Helper()
	if ci := os.Getenv("CONNPOOL_TEST_CONNINFO"); ci != "" {
		return ci
	}
	dir := os.Getenv("CONNPOOL_TEST_PG_DIR")
	if dir == "" {
		t.Skip("no PostgreSQL: set CONNPOOL_TEST_PG_DIR or CONNPOOL_TEST_CONNINFO")
	}
	b, err := os.ReadFile(filepath.Join(dir, "conninfo"))
	if err != nil {
		t.Fatalf("CONNPOOL_TEST_PG_DIR is set but the fixture's conninfo is missing: %v", err)
	}
	return strings.TrimSpace(string(b))
}

var poolSeq atomic.Int64

// newPool opens a pool named after the test and closes it at cleanup.
func newPool(t testing.TB, opts ...connpool.Option) *connpool.Pool {
	t.Helper()
	name := fmt.Sprintf("go-%d", poolSeq.Add(1))
	p, err := connpool.Open(testConninfo(t), append([]connpool.Option{connpool.WithName(name)}, opts...)...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func mustStat(t testing.TB, p *connpool.Pool) connpool.Stats {
	t.Helper()
	s, err := p.Stat()
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	return s
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// osThreads is the number of OS threads of this process.
func osThreads(t testing.TB) int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "Threads:") {
			var n int
			fmt.Sscan(strings.TrimSpace(strings.TrimPrefix(line, "Threads:")), &n)
			return n
		}
	}
	t.Skip("no Threads: line in /proc/self/status")
	return 0
}

// unreachablePool opens a pool whose server does not exist (nothing listens on that socket
// directory): every connection attempt fails at once with libpq's reason.
func unreachablePool(t testing.TB, opts ...connpool.Option) *connpool.Pool {
	t.Helper()
	p, err := connpool.Open("host=/nonexistent-connpool-dir port=1 dbname=x user=x",
		append([]connpool.Option{connpool.WithConnectTimeout(time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// acquireInBackground acquires from p in a new goroutine, releases at once, and sends the
// acquire's error (nil on success) to errs.
func acquireInBackground(ctx context.Context, p *connpool.Pool, errs chan<- error) {
	go func() {
		c, err := p.Acquire(ctx)
		if c != nil {
			c.Release()
		}
		errs <- err
	}()
}
