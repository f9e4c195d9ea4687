package connpool_test

import (
	"bytes"
	"log"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	connpool "github.com/libconnpool/connpool-go"
)

// lines collects what a LogFunc receives (it runs on the library's delivery thread).
type lines struct {
	mu  sync.Mutex
	all []string // "level|pool|msg"
}

func (l *lines) fn(level connpool.Level, pool, msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, level.String()+"|"+pool+"|"+msg)
}

func (l *lines) snapshot() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.all...)
}

func (l *lines) find(fragment string) (string, bool) {
	for _, line := range l.snapshot() {
		if strings.Contains(line, fragment) {
			return line, true
		}
	}
	return "", false
}

func (l *lines) waitFor(t *testing.T, fragment string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if line, ok := l.find(fragment); ok {
			return line
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no log line with %q; got %q", fragment, l.snapshot())
	return ""
}

func setLogger(t *testing.T, fn connpool.LogFunc, min connpool.Level) {
	t.Helper()
	if err := connpool.SetLogger(fn, min); err != nil {
		t.Fatalf("SetLogger: %v", err)
	}
	t.Cleanup(func() { _ = connpool.SetLogger(nil, connpool.LevelOff) })
}

func TestSetLoggerRoutesTheLibrarysMessages(t *testing.T) {
	var got lines
	setLogger(t, got.fn, connpool.LevelDebug)
	p, err := connpool.Open(testConninfo(t), connpool.WithName("go-log-routed"), connpool.WithMinSize(1))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.WaitReady(ctxTimeout(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if line := got.waitFor(t, "|go-log-routed|pool created for"); !strings.HasPrefix(line, "info|") {
		t.Errorf("creation line %q: want level info", line)
	}
	if line := got.waitFor(t, "|go-log-routed|opened a connection"); !strings.HasPrefix(line, "debug|") {
		t.Errorf("open line %q: want level debug", line)
	}
}

func TestMinLevelFiltersInTheLibrary(t *testing.T) {
	var got lines
	setLogger(t, got.fn, connpool.LevelWarn)
	p := newPool(t, connpool.WithMinSize(1))
	if err := p.WaitReady(ctxTimeout(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	// SetLogger again is a flush: everything queued before has been delivered.
	if err := connpool.SetLogger(got.fn, connpool.LevelWarn); err != nil {
		t.Fatal(err)
	}
	for _, line := range got.snapshot() {
		if !strings.HasPrefix(line, "warn|") && !strings.HasPrefix(line, "error|") &&
			!strings.HasPrefix(line, "critical|") {
			t.Errorf("below the minimum level: %q", line)
		}
	}
}

func TestWithLoggerOverridesThePoolsRouting(t *testing.T) {
	var everyone, own lines
	setLogger(t, everyone.fn, connpool.LevelDebug)
	mine := newPool(t, connpool.WithName("go-log-own"), connpool.WithMinSize(1),
		connpool.WithLogger(own.fn, connpool.LevelDebug))
	other := newPool(t, connpool.WithName("go-log-other"), connpool.WithMinSize(1))
	for _, p := range []*connpool.Pool{mine, other} {
		if err := p.WaitReady(ctxTimeout(t, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	own.waitFor(t, "|go-log-own|opened a connection")
	everyone.waitFor(t, "|go-log-other|opened a connection")
	if err := connpool.SetLogger(everyone.fn, connpool.LevelDebug); err != nil { // flush
		t.Fatal(err)
	}
	if line, ok := everyone.find("|go-log-own|opened"); ok {
		t.Errorf("the pool's own logger was bypassed: %q", line)
	}
	if line, ok := own.find("go-log-other"); ok {
		t.Errorf("another pool's line reached the pool's logger: %q", line)
	}
}

func TestPlantedPasswordNeverReachesTheLogger(t *testing.T) {
	dir := os.Getenv("CONNPOOL_TEST_PG_DIR")
	b, err := os.ReadFile(filepath.Join(dir, "conninfo_tcp"))
	if dir == "" || err != nil || os.Getenv("CONNPOOL_TEST_CONNINFO") != "" {
		t.Skip("needs the fixture's TCP listener with scram-sha-256")
	}
	tcp := strings.TrimSpace(string(b))
	real := strings.Fields(tcp[strings.Index(tcp, "password=")+len("password="):])[0]
	const planted = "Pl4nted-GoSecret-xyzzy"
	var got lines
	setLogger(t, got.fn, connpool.LevelTrace)
	p, err := connpool.Open(tcp+" password="+planted, connpool.WithName("go-log-bad"),
		connpool.WithMinSize(1))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	got.waitFor(t, "password authentication failed")
	got.waitFor(t, "password=********")
	if err := connpool.SetLogger(got.fn, connpool.LevelTrace); err != nil { // flush
		t.Fatal(err)
	}
	for _, line := range got.snapshot() {
		if strings.Contains(line, planted) || strings.Contains(line, real) {
			t.Errorf("a password reached the logger: %q", line)
		}
	}
}

func TestPanickingLoggerIsContained(t *testing.T) {
	var got lines
	var calls atomic.Int32
	setLogger(t, func(level connpool.Level, pool, msg string) {
		if calls.Add(1) == 1 {
			panic("a broken logger")
		}
		got.fn(level, pool, msg)
	}, connpool.LevelDebug)
	p := newPool(t, connpool.WithMinSize(2))
	if err := p.WaitReady(ctxTimeout(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	got.waitFor(t, "opened a connection")
}

// syncBuffer is an io.Writer safe for the delivery thread and the test to share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestStdLoggerWritesOneLinePerMessage(t *testing.T) {
	var out syncBuffer
	setLogger(t, connpool.StdLogger(log.New(&out, "", 0)), connpool.LevelInfo)
	newPool(t, connpool.WithName("go-log-std"))
	if err := connpool.SetLogger(nil, connpool.LevelOff); err != nil { // flush and stop
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "connpool: [go-log-std] info: pool created for ") {
		t.Errorf("StdLogger output: %q", out.String())
	}
	if connpool.LogDropped() < 0 {
		t.Error("LogDropped is negative")
	}
}

func TestLevelNamesAndRefusals(t *testing.T) {
	if connpool.LevelWarn.String() != "warn" || connpool.Level(42).String() != "Level(42)" {
		t.Errorf("level names: %v %v", connpool.LevelWarn, connpool.Level(42))
	}
	if err := connpool.SetLogger(func(connpool.Level, string, string) {}, 9); err == nil {
		t.Error("SetLogger accepted level 9")
	}
	if _, err := connpool.Open(testConninfo(t), connpool.WithLogger(func(connpool.Level, string, string) {}, -1)); err == nil {
		t.Error("Open accepted a logger with level -1")
	}
}
