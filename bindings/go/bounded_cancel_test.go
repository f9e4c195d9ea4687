package connpool_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	connpool "github.com/libconnpool/connpool-go"
)

// silentProxy forwards TCP connections to PostgreSQL; once silent, it accepts new connections
// and never answers them (connections already forwarded keep flowing).
type silentProxy struct {
	ln     net.Listener
	silent atomic.Bool
	mu     sync.Mutex
	conns  []net.Conn
}

func newSilentProxy(t *testing.T, upstream string) *silentProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &silentProxy{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			p.conns = append(p.conns, c)
			p.mu.Unlock()
			if p.silent.Load() {
				continue
			}
			go func() {
				u, err := net.Dial("tcp", upstream)
				if err != nil {
					c.Close()
					return
				}
				p.mu.Lock()
				p.conns = append(p.conns, u)
				p.mu.Unlock()
				go io.Copy(u, c)
				io.Copy(c, u)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, c := range p.conns {
			c.Close()
		}
	})
	return p
}

// tcpFixture is the fixture's TCP conninfo and its host:port.
func tcpFixture(t *testing.T) (string, string) {
	dir := os.Getenv("CONNPOOL_TEST_PG_DIR")
	if dir == "" {
		t.Skip("needs the fixture's conninfo_tcp (CONNPOOL_TEST_PG_DIR)")
	}
	b, err := os.ReadFile(filepath.Join(dir, "conninfo_tcp"))
	if err != nil {
		t.Skipf("no conninfo_tcp: %v", err)
	}
	ci := strings.TrimSpace(string(b))
	port := strings.Fields(ci[strings.Index(ci, "port=")+5:])[0]
	return ci, "127.0.0.1:" + port
}

// A context that ends while a statement runs sends a cancel request; against a server that
// accepts it but never answers, that request gives up at cancel_timeout instead of holding the
// goroutine (and its OS thread) for minutes, and is counted in cancel_timeouts.
func TestContextCancelToASilentServerIsBoundedByCancelTimeout(t *testing.T) {
	ci, upstream := tcpFixture(t)
	proxy := newSilentProxy(t, upstream)
	port := upstream[strings.LastIndex(upstream, ":")+1:]
	ci = strings.Replace(ci, "port="+port, "port="+strconv.Itoa(proxy.ln.Addr().(*net.TCPAddr).Port), 1)
	p, err := connpool.Open(ci, connpool.WithMaxSize(1), connpool.WithOption("cancel_timeout", "300"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer p.Close()
	c, err := p.Acquire(ctxTimeout(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var one int
	if err := c.QueryRow(context.Background(), "SELECT 1").Scan(&one); err != nil {
		t.Fatal(err)
	}
	proxy.silent.Store(true)
	threads := osThreads(t)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = c.Exec(ctx, "SELECT pg_sleep(30)")
	took := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want context.DeadlineExceeded", err)
	}
	// 200 ms to the deadline, 300 ms of cancel_timeout, then the binding's grace period.
	if took > 3*time.Second {
		t.Errorf("the cancelled statement returned after %v", took)
	}
	c.Release()
	// The statement is abandoned at deadline + grace without waiting for the cancel request,
	// which ends on its own at cancel_timeout (then the release goes through).
	var stats map[string]any
	var js string
	for wait := time.Now().Add(5 * time.Second); time.Now().Before(wait); time.Sleep(20 * time.Millisecond) {
		if js, err = p.StatJSON(); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(js), &stats); err != nil {
			t.Fatal(err)
		}
		if got, _ := stats["cancel_timeouts"].(float64); got == 1 && stats["in_use"].(float64) == 0 {
			break
		}
	}
	if got, _ := stats["cancel_timeouts"].(float64); got != 1 {
		t.Errorf("cancel_timeouts = %v, want 1 (%s)", stats["cancel_timeouts"], js)
	}
	// One OS thread may have been added for the goroutine blocked in the cancel request while
	// the caller went on; none per cancel.
	if n := osThreads(t); n > threads+2 {
		t.Errorf("OS threads grew from %d to %d", threads, n)
	}
}
