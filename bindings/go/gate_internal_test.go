package connpool

import (
	"strings"
	"testing"
	"time"
)

// The gate's places follow Resize: growing frees places at once, shrinking takes free ones
// back now and the others as they are returned.
func TestGateResize(t *testing.T) {
	g := newGate(2, nil, func() (int64, bool) { return 0, false })
	g.on = true
	if !g.tryEnter() || !g.tryEnter() || g.tryEnter() {
		t.Fatal("a gate of 2 places did not give exactly 2")
	}
	g.resize(3)
	if !g.tryEnter() || g.tryEnter() {
		t.Fatal("growing to 3 did not free exactly one place")
	}
	g.resize(1) // 3 out: two are kept back when returned
	g.leave()
	g.leave()
	if g.tryEnter() {
		t.Fatal("a place freed while the gate owes two")
	}
	g.leave()
	if !g.tryEnter() || g.tryEnter() {
		t.Fatal("after shrinking to 1 the gate does not give exactly 1")
	}
	g.leave()
	g.resize(2) // nothing owed: one more free place
	if !g.tryEnter() || !g.tryEnter() || g.tryEnter() {
		t.Fatal("growing back to 2 did not give 2 places")
	}
	g.leave()
	g.resize(4)
	g.resize(1) // 1 out, 3 free: the free ones are taken back, nothing owed
	if g.tryEnter() {
		t.Fatal("shrinking to 1 with 1 out left a free place")
	}
	if got := g.capacity.Load(); got != 1 {
		t.Errorf("capacity %d, want 1", got)
	}
}

func TestTxOptionsBeginSQL(t *testing.T) {
	for _, c := range []struct {
		o    TxOptions
		want string
	}{
		{TxOptions{}, "BEGIN"},
		{TxOptions{IsoLevel: Serializable, AccessMode: ReadOnly, DeferrableMode: Deferrable},
			"BEGIN ISOLATION LEVEL serializable read only deferrable"},
		{TxOptions{IsoLevel: ReadCommitted}, "BEGIN ISOLATION LEVEL read committed"},
	} {
		if got, err := c.o.beginSQL(); err != nil || got != c.want {
			t.Errorf("%+v: %q, %v", c.o, got, err)
		}
	}
	for _, o := range []TxOptions{{IsoLevel: "x"}, {AccessMode: "read only; DROP"}, {DeferrableMode: "y"}} {
		if _, err := o.beginSQL(); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}

// A leak label names the first frame outside the binding.
func TestCallerLabelSkipsTheBinding(t *testing.T) {
	// Called from this package's own test function, every frame up to testing's is the
	// binding's: the label names the testing package's caller frame.
	label := func() string { return callerLabel() }()
	if label == "" || strings.Contains(label, "gate_internal_test.go") {
		t.Errorf("label %q names a frame of the binding", label)
	}
	if !strings.Contains(label, "testing.go:") {
		t.Errorf("label %q: want the first frame outside the package (testing)", label)
	}
}

// Waits that start within failedReuse of each other share one failed-connect sample (a full
// statistics snapshot in the library); a later wait takes a new one.
func TestGateSamplesFailedConnectsSparingly(t *testing.T) {
	var calls, failed int64
	g := newGate(1, nil, func() (int64, bool) { calls++; return failed, false })
	if got := g.failedConnects(); got != 0 || calls != 1 {
		t.Fatalf("first sample: %d after %d calls, want 0 after 1", got, calls)
	}
	failed = 3
	for i := 0; i < 100; i++ {
		g.failedConnects()
	}
	if calls != 1 {
		t.Errorf("%d samples within %v, want 1", calls, failedReuse)
	}
	time.Sleep(failedReuse + time.Millisecond)
	if got := g.failedConnects(); got != 3 || calls != 2 {
		t.Errorf("after %v: %d after %d calls, want 3 after 2", failedReuse, got, calls)
	}
}

// A recycled gate timer runs for its new duration only: no value of its earlier use is left
// in its channel.
func TestGateTimersRecycleClean(t *testing.T) {
	fired := startTimer(time.Millisecond)
	<-fired.C
	stopTimer(fired, true)
	stopped := startTimer(time.Hour)
	stopTimer(stopped, false)
	for i := 0; i < 4; i++ {
		tm := startTimer(time.Hour)
		select {
		case <-tm.C:
			t.Fatal("a recycled timer fired at once")
		case <-time.After(5 * time.Millisecond):
		}
		stopTimer(tm, false)
	}
}
