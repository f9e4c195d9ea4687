package connpool_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	connpool "github.com/libconnpool/connpool-go"
)

// Pool groups run against a primary with two standbys: CONNPOOL_TEST_CLUSTER_DIR names the
// directory of the CTest fixture postgres_cluster (scripts/pg-cluster; ctest -R go.group).
func clusterFile(t *testing.T, name string) string {
	t.Helper()
	dir := os.Getenv("CONNPOOL_TEST_CLUSTER_DIR")
	if dir == "" {
		t.Skip("no cluster: set CONNPOOL_TEST_CLUSTER_DIR (ctest -R go.group)")
	}
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatalf("cluster file %s: %v", name, err)
	}
	return strings.TrimSpace(string(b))
}

func clusterPort(t *testing.T, node string) string {
	c := clusterFile(t, node+".conninfo")
	return strings.Fields(c[strings.Index(c, "port=")+5:])[0]
}

func newGroup(t *testing.T) *connpool.Group {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	g, err := connpool.NewGroup(ctx, clusterFile(t, "conninfo")+" application_name=cp_go_group",
		connpool.WithOption("replica_check_interval", "200"), connpool.WithOption("max_size", "4"))
	if err != nil {
		t.Fatalf("NewGroup: %v", err)
	}
	t.Cleanup(g.Close)
	return g
}

func servedBy(t *testing.T, g *connpool.Group, route connpool.Route) (port string, inRecovery bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := g.Acquire(ctx, route)
	if err != nil {
		t.Fatalf("Acquire(%d): %v", route, err)
	}
	defer c.Release()
	if err := c.QueryRow(ctx, "SELECT current_setting('port'), pg_is_in_recovery()").Scan(&port, &inRecovery); err != nil {
		t.Fatalf("query: %v", err)
	}
	return port, inRecovery
}

func TestGroupRoutesByRole(t *testing.T) {
	g := newGroup(t)
	port, standby := servedBy(t, g, connpool.RouteReadWrite)
	if port != clusterPort(t, "node0") || standby {
		t.Fatalf("read-write lease on port %s (in recovery %v), want the primary %s", port, standby, clusterPort(t, "node0"))
	}
	seen := map[string]int{}
	for i := 0; i < 8; i++ {
		port, standby := servedBy(t, g, connpool.RouteReadOnly)
		if !standby {
			t.Fatalf("read-only lease on a primary (port %s)", port)
		}
		seen[port]++
	}
	if seen[clusterPort(t, "node1")] < 3 || seen[clusterPort(t, "node2")] < 3 {
		t.Fatalf("read-only leases not spread over both standbys: %v", seen)
	}
	s, err := g.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Nodes) != 3 || s.Nodes[0].Role != "primary" || s.Nodes[1].Role != "standby" || s.Nodes[2].Role != "standby" {
		t.Fatalf("nodes: %+v", s.Nodes)
	}
	if s.ReadOnlyAcquires != 8 || s.ReadWriteAcquires != 1 || s.ReadOnlyOnPrimary != 0 {
		t.Fatalf("counters: %+v", s)
	}
	if s.Nodes[0].LagMs != nil || s.Nodes[1].LagMs == nil || !s.Nodes[2].Healthy {
		t.Fatalf("node state: %+v", s.Nodes)
	}
}

func TestGroupClosedAndBadConninfo(t *testing.T) {
	_, err := connpool.NewGroup(context.Background(), "host=a,b,c port=1,2")
	if !errors.Is(err, connpool.ErrInvalidArgument) {
		t.Fatalf("mismatched host/port lists: %v", err)
	}
	g := newGroup(t)
	g.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := g.Acquire(ctx, connpool.RouteReadOnly); !errors.Is(err, connpool.ErrClosed) {
		t.Fatalf("Acquire on a closed group: %v", err)
	}
}
