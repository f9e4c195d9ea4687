// Command connpool-soak-go is the Go driver of bench/soak (the orchestrator builds and starts
// it):
//
//	connpool-soak-go LABEL WORKERS POOL_SIZE DEADLINE_MS CONNINFO...
//
// One pool per CONNINFO, named LABEL_0, LABEL_1, ... (the same name is the conninfo's
// application_name), WORKERS goroutines per pool, each looping over requests as the C driver
// does (bench/soak/c_driver.c): acquire, session-isolation check, work, sometimes dirty the
// session, release, the whole request under a context whose deadline is DEADLINE_MS away.
//
// Commands on stdin (quiesce, resume, drain, exit) and JSON lines on stdout ("tick" every
// second, "quiesced"), as the C driver. Built offline in GOPATH mode against bindings/go.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	connpool "github.com/libconnpool/connpool-go"
)

const checkSQL = "SELECT coalesce(current_setting('soak.owner', true), ''), current_setting('search_path'), " +
	"(SELECT count(*) FROM pg_class WHERE relnamespace = pg_my_temp_schema())::text"
const defaultSearchPath = `"$user", public`

type driver struct {
	deadline time.Duration
	pools    []*connpool.Pool
	names    []string

	ops, errs, serverTimeouts, clientTimeouts, leaks atomic.Int64
	lateMaxUs                                        atomic.Int64

	mu          sync.Mutex
	leakSample  string
	errorSample string
	lateSample  string

	gate    sync.RWMutex // workers hold it for reading during a request; quiesce takes it
	stopped atomic.Bool
}

func (d *driver) noteError(what string, err error) {
	d.mu.Lock()
	if d.errorSample == "" {
		d.errorSample = strings.Join(strings.Fields(fmt.Sprintf("%s: %v", what, err)), " ")
	}
	d.mu.Unlock()
}

type outcome int

const (
	done outcome = iota
	failed
	serverTimeout
	clientTimeout
)

func (d *driver) classify(ctx context.Context, what string, err error) outcome {
	var pg *connpool.PgError
	switch {
	case err == nil:
		return done
	case errors.As(err, &pg) && pg.SQLState() == "57014" && ctx.Err() == nil:
		return serverTimeout
	case ctx.Err() != nil || errors.Is(err, connpool.ErrTimeout):
		return clientTimeout
	}
	d.noteError(what, err)
	return failed
}

func (d *driver) request(ctx context.Context, pool *connpool.Pool, me string, rng *rand.Rand, step *string) outcome {
	*step = "acquire"
	actx, cancel := context.WithTimeout(ctx, d.deadline/2)
	conn, err := pool.Acquire(actx)
	cancel()
	if err != nil {
		return d.classify(ctx, "acquire", err)
	}
	defer func() {
		start := time.Now()
		conn.Release()
		if time.Since(start) > 100*time.Millisecond {
			*step = "release (slow)"
		}
	}()
	*step = "check"
	var owner, path, temps string
	if err := conn.QueryRow(ctx, checkSQL).Scan(&owner, &path, &temps); err != nil {
		return d.classify(ctx, "check", err)
	}
	if owner != "" || path != defaultSearchPath || temps != "0" {
		d.leaks.Add(1)
		d.mu.Lock()
		if d.leakSample == "" {
			d.leakSample = fmt.Sprintf("%s saw soak.owner='%s' search_path='%s' temp tables=%s", me, owner, path, temps)
		}
		d.mu.Unlock()
	}
	dice := rng.Intn(1000)
	*step = "work"
	if dice < 20 { // longer than statement_timeout: the server ends it (57014)
		_, err = conn.Exec(ctx, "SELECT pg_sleep(5)")
	} else {
		_, err = conn.Exec(ctx, "SELECT count(*) FROM generate_series(1, $1::int)", strconv.Itoa(100+rng.Intn(5000)))
	}
	if err == nil && dice%2 == 0 {
		*step = "dirty"
		_, err = conn.Exec(ctx, "SELECT set_config('soak.owner', $1, false), "+
			"set_config('search_path', 'soak_private, public', false)", me)
	}
	if err == nil && dice%16 == 1 {
		*step = "temp table"
		_, err = conn.Exec(ctx, "CREATE TEMP TABLE IF NOT EXISTS soak_private(owner text)")
	}
	return d.classify(ctx, "statement", err)
}

func (d *driver) worker(pool *connpool.Pool, name string, id int, wg *sync.WaitGroup) {
	defer wg.Done()
	rng := rand.New(rand.NewSource(int64(id) + time.Now().UnixNano()))
	for lease := 1; !d.stopped.Load(); lease++ {
		d.gate.RLock()
		start := time.Now()
		ctx, cancel := context.WithDeadline(context.Background(), start.Add(d.deadline))
		step := ""
		out := d.request(ctx, pool, fmt.Sprintf("%s:%d:%d", name, id, lease), rng, &step)
		cancel()
		late := time.Since(start) - d.deadline
		d.gate.RUnlock()
		for {
			seen := d.lateMaxUs.Load()
			if late.Microseconds() <= seen {
				break
			}
			if d.lateMaxUs.CompareAndSwap(seen, late.Microseconds()) {
				if late > 0 {
					d.mu.Lock()
					d.lateSample = fmt.Sprintf("%s goroutine %d: %d ms late in %s (%s)",
						name, id, late.Milliseconds(), step, [...]string{"done", "failed", "server timeout", "client timeout"}[out])
					d.mu.Unlock()
				}
				break
			}
		}
		switch out {
		case done:
			d.ops.Add(1)
		case failed:
			d.errs.Add(1)
			time.Sleep(20 * time.Millisecond) // e.g. the server is restarting: do not spin
		case serverTimeout:
			d.serverTimeouts.Add(1)
		case clientTimeout:
			d.clientTimeouts.Add(1)
		}
	}
}

var out = bufio.NewWriter(os.Stdout)

func (d *driver) report(kind string) {
	pools := map[string]json.RawMessage{}
	for i, p := range d.pools {
		if js, err := p.StatJSON(); err == nil {
			pools[d.names[i]] = json.RawMessage(js)
		}
	}
	d.mu.Lock()
	line, _ := json.Marshal(map[string]any{
		"type": kind, "ops": d.ops.Load(), "errors": d.errs.Load(),
		"server_timeouts": d.serverTimeouts.Load(), "client_timeouts": d.clientTimeouts.Load(),
		"leaks": d.leaks.Load(), "late_max_ms": float64(d.lateMaxUs.Load()) / 1000,
		"leak_sample": d.leakSample, "late_sample": d.lateSample, "error_sample": d.errorSample, "pools": pools,
	})
	d.errorSample = ""
	out.Write(append(line, '\n')) // under d.mu: ticks and quiesce reports do not interleave
	out.Flush()
	d.mu.Unlock()
}

func main() {
	if len(os.Args) < 6 {
		fmt.Fprintln(os.Stderr, "usage: connpool-soak-go LABEL WORKERS POOL_SIZE DEADLINE_MS CONNINFO...")
		os.Exit(2)
	}
	label := os.Args[1]
	workers, _ := strconv.Atoi(os.Args[2])
	size, _ := strconv.Atoi(os.Args[3])
	deadlineMs, _ := strconv.Atoi(os.Args[4])
	d := &driver{deadline: time.Duration(deadlineMs) * time.Millisecond}
	d.lateMaxUs.Store(-d.deadline.Microseconds())
	for i, ci := range os.Args[5:] {
		name := fmt.Sprintf("%s_%d", label, i)
		opts := []connpool.Option{connpool.WithName(name), connpool.WithMinSize(2), connpool.WithMaxSize(size)}
		// SOAK_POOL_OPTIONS="key=value,...": more pool options (see the C driver)
		for _, kv := range strings.Split(os.Getenv("SOAK_POOL_OPTIONS"), ",") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				opts = append(opts, connpool.WithOption(k, v))
			}
		}
		p, err := connpool.Open(ci, opts...)
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err = p.WaitReady(ctx)
			cancel()
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "connpool-soak-go: pool %s: %v\n", name, err)
			os.Exit(2)
		}
		d.pools = append(d.pools, p)
		d.names = append(d.names, name)
	}
	var wg sync.WaitGroup
	for i, p := range d.pools {
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go d.worker(p, d.names[i], i*workers+w, &wg)
		}
	}
	go func() {
		for range time.Tick(time.Second) {
			d.report("tick")
		}
	}()

	quiesced := false
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch in.Text() {
		case "quiesce":
			if !quiesced {
				d.gate.Lock() // waits for the requests in flight
				quiesced = true
			}
			for _, p := range d.pools {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, _ = p.Check(ctx)
				cancel()
			}
			d.report("quiesced")
		case "resume":
			if quiesced {
				d.gate.Unlock()
				quiesced = false
			}
		case "drain":
			for _, p := range d.pools {
				_ = p.Drain()
			}
		case "exit":
			goto exit
		}
	}
exit:
	d.stopped.Store(true)
	if quiesced {
		d.gate.Unlock()
	}
	wg.Wait()
	for _, p := range d.pools {
		p.Close()
	}
}
