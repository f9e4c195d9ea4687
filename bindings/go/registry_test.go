package connpool_test

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	connpool "github.com/libconnpool/connpool-go"
)

// regName is a registry name unique to this test run; the pool is closed (unregistered) at
// cleanup, so tests leave the process-wide registry as they found it.
func regName(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("go-reg-%d", poolSeq.Add(1))
	t.Cleanup(func() {
		if err := connpool.Close(name); err != nil && !errors.Is(err, connpool.ErrNotFound) {
			t.Errorf("Close(%q) at cleanup: %v", name, err)
		}
	})
	return name
}

func mustGetOrCreate(t *testing.T, name, conninfo string, opts ...connpool.Option) *connpool.Pool {
	t.Helper()
	p, err := connpool.GetOrCreate(name, conninfo, opts...)
	if err != nil {
		t.Fatalf("GetOrCreate(%q): %v", name, err)
	}
	return p
}

func exec1(t *testing.T, p *connpool.Pool) {
	t.Helper()
	if _, err := p.Exec(ctxTimeout(t, 10*time.Second), "SELECT 1"); err != nil {
		t.Fatalf("Exec: %v", err)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestGetOrCreateLookupReachOnePool(t *testing.T) {
	ci := testConninfo(t)
	name := regName(t)
	a := mustGetOrCreate(t, name, ci, connpool.WithMaxSize(2))
	b := mustGetOrCreate(t, name, ci, connpool.WithMaxSize(2))
	c, err := connpool.Lookup(name)
	if err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	exec1(t, a)
	exec1(t, b)
	exec1(t, c)
	for i, p := range []*connpool.Pool{a, b, c} {
		if s := mustStat(t, p); s.Acquired != 3 || s.MaxSize != 2 {
			t.Errorf("handle %d sees acquired=%d max_size=%d; want one pool with 3 acquires, max_size 2", i, s.Acquired, s.MaxSize)
		}
	}
	names, err := connpool.Names()
	if err != nil || !contains(names, name) {
		t.Fatalf("Names() = %v, %v; want it to list %q", names, err, name)
	}
}

func TestRegistryRefusals(t *testing.T) {
	ci := testConninfo(t)
	name := regName(t)
	mustGetOrCreate(t, name, ci, connpool.WithMaxSize(2))

	_, err := connpool.GetOrCreate(name, ci, connpool.WithMaxSize(3))
	if !errors.Is(err, connpool.ErrConflict) || !strings.Contains(err.Error(), "max_size") {
		t.Errorf("same name, other max_size: %v; want ErrConflict naming max_size", err)
	}
	_, err = connpool.GetOrCreate(name, ci+" password=hunter2secret", connpool.WithMaxSize(2))
	if !errors.Is(err, connpool.ErrConflict) {
		t.Errorf("same name, other conninfo: %v; want ErrConflict", err)
	} else if strings.Contains(err.Error(), "hunter2secret") {
		t.Errorf("the conflict message leaks the password: %v", err)
	}
	for _, bad := range []string{"", "has space", "slash/name", strings.Repeat("x", 64)} {
		if _, err := connpool.GetOrCreate(bad, ci); !errors.Is(err, connpool.ErrInvalidArgument) {
			t.Errorf("GetOrCreate(%q): %v; want ErrInvalidArgument", bad, err)
		}
	}
	if _, err := connpool.GetOrCreate(regName(t), ci, connpool.WithName("other")); !errors.Is(err, connpool.ErrInvalidArgument) {
		t.Errorf("GetOrCreate with WithName: %v; want ErrInvalidArgument", err)
	}
	if _, err := connpool.GetOrCreate(regName(t), ci, connpool.WithMaxSize(0)); !errors.Is(err, connpool.ErrInvalidArgument) ||
		!strings.Contains(err.Error(), "max_size") {
		t.Errorf("GetOrCreate with max_size 0: %v; want ErrInvalidArgument naming max_size", err)
	}
	if _, err := connpool.Lookup("go-no-such-pool"); !errors.Is(err, connpool.ErrNotFound) {
		t.Errorf("Lookup of an unknown name: %v; want ErrNotFound", err)
	}
	if err := connpool.Close("go-no-such-pool"); !errors.Is(err, connpool.ErrNotFound) {
		t.Errorf("Close of an unknown name: %v; want ErrNotFound", err)
	}
	if err := connpool.SetConnectionBudget(-1); !errors.Is(err, connpool.ErrInvalidArgument) {
		t.Errorf("SetConnectionBudget(-1): %v; want ErrInvalidArgument", err)
	}
	if err := connpool.SetConnectionBudget(1 << 40); !errors.Is(err, connpool.ErrInvalidArgument) {
		t.Errorf("SetConnectionBudget(1<<40): %v; want ErrInvalidArgument", err)
	}
}

func TestPoolCloseClosesForEveryHandle(t *testing.T) {
	ci := testConninfo(t)
	name := regName(t)
	a := mustGetOrCreate(t, name, ci)
	b, err := connpool.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	exec1(t, b)
	a.Close()
	if _, err := b.Exec(ctxTimeout(t, 5*time.Second), "SELECT 1"); !errors.Is(err, connpool.ErrClosed) {
		t.Errorf("Exec through another handle after Close: %v; want ErrClosed", err)
	}
	if _, err := connpool.Lookup(name); !errors.Is(err, connpool.ErrNotFound) {
		t.Errorf("Lookup after Close: %v; want ErrNotFound (unregistered)", err)
	}
	// The name is free at once.
	c := mustGetOrCreate(t, name, ci, connpool.WithMaxSize(1))
	exec1(t, c)
	if s := mustStat(t, c); s.Acquired != 1 {
		t.Errorf("the new pool under the old name has %d acquires; want its own counters (1)", s.Acquired)
	}
}

func TestDroppedHandleLeavesThePoolRegistered(t *testing.T) {
	ci := testConninfo(t)
	name := regName(t)
	func() {
		p := mustGetOrCreate(t, name, ci)
		exec1(t, p)
	}()
	for i := 0; i < 3; i++ { // finalizers run after a GC; give them two cycles
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	p, err := connpool.Lookup(name)
	if err != nil {
		t.Fatalf("Lookup after the first handle was collected: %v", err)
	}
	exec1(t, p)
	if s := mustStat(t, p); s.Acquired != 2 {
		t.Errorf("acquired = %d, want 2 (one pool, still open)", s.Acquired)
	}
}

func TestCloseByNameAndCloseAll(t *testing.T) {
	ci := testConninfo(t)
	one, two := regName(t), regName(t)
	a := mustGetOrCreate(t, one, ci)
	b := mustGetOrCreate(t, two, ci)
	if err := connpool.Close(one); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Exec(ctxTimeout(t, 5*time.Second), "SELECT 1"); !errors.Is(err, connpool.ErrClosed) {
		t.Errorf("Exec after Close(name): %v; want ErrClosed", err)
	}
	exec1(t, b)
	if err := connpool.CloseAll(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Exec(ctxTimeout(t, 5*time.Second), "SELECT 1"); !errors.Is(err, connpool.ErrClosed) {
		t.Errorf("Exec after CloseAll: %v; want ErrClosed", err)
	}
	if names, err := connpool.Names(); err != nil || len(names) != 0 {
		t.Errorf("Names() after CloseAll = %q, %v; want none", names, err)
	}
}

func TestAllStatsAndAggregate(t *testing.T) {
	ci := testConninfo(t)
	one, two := regName(t), regName(t)
	a := mustGetOrCreate(t, one, ci, connpool.WithMaxSize(2))
	b := mustGetOrCreate(t, two, ci, connpool.WithMaxSize(3), connpool.WithMaxOverflow(1))
	exec1(t, a)
	exec1(t, a)
	exec1(t, b)
	st, err := connpool.AllStats()
	if err != nil {
		t.Fatal(err)
	}
	sa, sb := st.Pools[one], st.Pools[two]
	if sa.Acquired != 2 || sb.Acquired != 1 || sa.MaxSize != 2 || sb.MaxOverflow != 1 {
		t.Errorf("per-pool stats %+v / %+v", sa, sb)
	}
	agg := st.Aggregate
	var sumAcquired, sumCreated, sumReused, sumCapacity int64
	for _, s := range st.Pools {
		sumAcquired += s.Acquired
		sumCreated += s.Created
		sumReused += s.Reused
		sumCapacity += s.MaxSize + s.MaxOverflow
	}
	if agg.Pools != len(st.Pools) || agg.Acquired != sumAcquired || agg.Created != sumCreated {
		t.Errorf("aggregate %+v does not sum the %d pools (acquired %d, created %d)", agg, len(st.Pools), sumAcquired, sumCreated)
	}
	if sumCapacity != 6 || agg.UtilisationPercent != 0 {
		t.Errorf("nothing is in use: utilisation %v%% (capacity %d)", agg.UtilisationPercent, sumCapacity)
	}
	if want := float64(sumReused) / float64(sumCreated); sumCreated > 0 && (agg.ReuseRatio-want > 1e-3 || want-agg.ReuseRatio > 1e-3) {
		t.Errorf("reuse ratio %v, want reused/created = %v", agg.ReuseRatio, want)
	}
	js, err := connpool.AllStatsJSON()
	if err != nil || !strings.Contains(js, `"aggregate"`) || !strings.Contains(js, one) {
		t.Errorf("AllStatsJSON: %q, %v", js, err)
	}
}

func TestHealthAndMetrics(t *testing.T) {
	ci := testConninfo(t)
	name := regName(t)
	p := mustGetOrCreate(t, name, ci, connpool.WithMaxSize(2))
	exec1(t, p)
	h, err := p.Health()
	if err != nil || h.Status != connpool.Healthy || h.Name != name || h.UtilisationPercent != 0 {
		t.Errorf("Health() = %+v, %v; want healthy %q at 0 %%", h, err, name)
	}
	// Half the pool in use: 50 %, still healthy.
	conn, err := p.Acquire(ctxTimeout(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := p.Health(); h.UtilisationPercent != 50 || h.Status != connpool.Healthy {
		t.Errorf("one of two in use: %+v; want 50 %%, healthy", h)
	}
	conn.Release()

	text, err := p.Metrics(connpool.Prometheus)
	if err != nil || !strings.Contains(text, `pool_name="`+name+`"`) || !strings.Contains(text, "# TYPE ") {
		t.Errorf("Metrics(Prometheus) = %q, %v", text, err)
	}
	om, err := p.Metrics(connpool.OpenMetrics)
	if err != nil || !strings.HasSuffix(om, "# EOF\n") {
		t.Errorf("Metrics(OpenMetrics) does not end with # EOF: %q, %v", om, err)
	}
	all, err := connpool.Metrics(connpool.Prometheus)
	if err != nil || !strings.Contains(all, `pool_name="`+name+`"`) {
		t.Errorf("registry Metrics = %q, %v", all, err)
	}
	if _, err := p.Metrics(connpool.MetricsFormat(7)); !errors.Is(err, connpool.ErrInvalidArgument) {
		t.Errorf("Metrics with an unknown format: %v; want ErrInvalidArgument", err)
	}

	rh, err := connpool.RegistryHealth()
	if err != nil || rh.Status != connpool.Healthy || rh.Pools[name].Name != name || rh.TotalPools < 1 {
		t.Errorf("RegistryHealth() = %+v, %v", rh, err)
	}
	// An unnamed pool has its own verdict too.
	if h, err := newPool(t).Health(); err != nil || h.Status != connpool.Healthy {
		t.Errorf("an unregistered pool's Health() = %+v, %v", h, err)
	}
}

func TestUnhealthyPoolMakesTheRegistryUnhealthy(t *testing.T) {
	name := regName(t)
	p := mustGetOrCreate(t, name, "host=/nonexistent-connpool-dir port=1 dbname=x user=x",
		connpool.WithBreakerThreshold(1), connpool.WithConnectTimeout(time.Second))
	_, err := p.Exec(ctxTimeout(t, 3*time.Second), "SELECT 1")
	if err == nil {
		t.Fatal("a pool without a server ran a statement")
	}
	waitFor(t, 5*time.Second, "the breaker to open", func() bool { return mustStat(t, p).BreakerState == connpool.BreakerOpen })
	h, err := p.Health()
	if err != nil || h.Status != connpool.Unhealthy || len(h.Reasons) == 0 {
		t.Fatalf("Health() with the breaker open = %+v, %v; want unhealthy with reasons", h, err)
	}
	rh, err := connpool.RegistryHealth()
	if err != nil || rh.Status != connpool.Unhealthy {
		t.Fatalf("RegistryHealth() = %+v, %v; want unhealthy", rh, err)
	}
	found := false
	for _, w := range rh.Warnings {
		found = found || strings.HasPrefix(w, name+": ")
	}
	if !found {
		t.Errorf("warnings %q do not name %q", rh.Warnings, name)
	}
	if s := connpool.Unhealthy.String(); s != "unhealthy" {
		t.Errorf("Unhealthy.String() = %q", s)
	}
}

func TestConnectionBudgetAcrossPools(t *testing.T) {
	ci := testConninfo(t)
	if err := connpool.SetConnectionBudget(2); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = connpool.SetConnectionBudget(0) })
	a := mustGetOrCreate(t, regName(t), ci, connpool.WithMaxSize(2))
	b := mustGetOrCreate(t, regName(t), ci, connpool.WithMaxSize(2))
	c1, err := a.Acquire(ctxTimeout(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	c2, err := a.Acquire(ctxTimeout(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	// The budget is spent and nothing is idle: b waits and times out.
	if _, err := b.Acquire(ctxTimeout(t, 300*time.Millisecond)); !errors.Is(err, connpool.ErrTimeout) {
		t.Fatalf("acquire with the budget spent: %v; want ErrTimeout", err)
	}
	c1.Release()
	c2.Release()
	// Now a's connections are idle: b may close one of them to open its own.
	c3, err := b.Acquire(ctxTimeout(t, 5*time.Second))
	if err != nil {
		t.Fatalf("acquire once the other pool's connections are idle: %v", err)
	}
	c3.Release()
	if sa, sb := mustStat(t, a), mustStat(t, b); sa.Total+sb.Total > 2 {
		t.Errorf("open connections %d + %d exceed the budget of 2", sa.Total, sb.Total)
	}
}
