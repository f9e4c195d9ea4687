package connpool_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	connpool "github.com/libconnpool/connpool-go"
)

// Session reset (issue 14) through the Go binding, with default options: what one lease changed
// in its session (role, search_path, a temporary table, a session advisory lock) is gone for the
// next lease, on the same backend (max_size 1).
func TestSessionResetByDefault(t *testing.T) {
	ctx := ctxTimeout(t, 30*time.Second)
	const role = "cp_go_reset_role"
	admin := newPool(t, connpool.WithMaxSize(1))
	if _, err := admin.Exec(ctx, "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '"+
		role+"') THEN CREATE ROLE "+role+" NOLOGIN; END IF; END $$"); err != nil {
		t.Fatal(err)
	}
	const lockKey = 4242201
	cases := []struct {
		name, change, probe, want string
	}{
		{"role", "SET ROLE " + role, "SELECT current_user::text", "postgres"},
		{"search_path", "SET search_path = cp_nowhere", "SHOW search_path", `"$user", public`},
		{"temp_table", "CREATE TEMP TABLE cp_go_tmp (x int)",
			"SELECT count(*)::text FROM pg_class WHERE relname = 'cp_go_tmp' AND relpersistence = 't'", "0"},
		{"advisory_lock", fmt.Sprintf("SELECT pg_advisory_lock(%d)", lockKey),
			"SELECT count(*)::text FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()", "0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newPool(t, connpool.WithMaxSize(1))
			pid, seen := changeThenProbe(ctx, t, p, c.change, c.probe)
			if seen != c.want {
				t.Errorf("next lease on backend %d sees %q, want %q", pid, seen, c.want)
			}
		})
	}
	// Another session can take the advisory lock now (one statement: the admin lease is reset
	// too).
	var free bool
	if err := admin.QueryRow(ctx, fmt.Sprintf("SELECT pg_try_advisory_lock(%d) AND pg_advisory_unlock(%d)",
		lockKey, lockKey)).Scan(&free); err != nil || !free {
		t.Errorf("advisory lock still held after the reset: %v, %v", free, err)
	}
}

// changeThenProbe runs `change` on one lease and `probe` on the next, checking that both got the
// same backend.
func changeThenProbe(ctx context.Context, t *testing.T, p *connpool.Pool, change, probe string) (int, string) {
	t.Helper()
	pidOf := func(c *connpool.Conn) int {
		var pid int
		if err := c.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
			t.Fatal(err)
		}
		return pid
	}
	c, err := p.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pid := pidOf(c)
	if _, err := c.Exec(ctx, change); err != nil {
		t.Fatal(err)
	}
	c.Release()
	c, err = p.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	if again := pidOf(c); again != pid {
		t.Fatalf("max_size 1 but backend %d, then %d", pid, again)
	}
	var seen string
	if err := c.QueryRow(ctx, probe).Scan(&seen); err != nil {
		t.Fatal(err)
	}
	return pid, seen
}
