// Command connpool-go-bench compares `SELECT 1` round trips through the libconnpool Go binding
// and through pgx v4's pgxpool, at several goroutine counts with equal pool sizes, against one
// PostgreSQL server. Build and run it with ./run_bench (GOPATH mode, offline, against Debian's
// golang-github-jackc-pgx-v4-dev sources).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v4/pgxpool"
	connpool "github.com/libconnpool/connpool-go"
)

type result struct {
	Impl      string  `json:"impl"`
	Clients   int     `json:"clients"`
	PoolSize  int     `json:"pool_size"`
	Ops       int64   `json:"ops"`
	Seconds   float64 `json:"seconds"`
	OpsPerSec float64 `json:"ops_per_sec"`
	P50us     float64 `json:"p50_us"`
	P90us     float64 `json:"p90_us"`
	P99us     float64 `json:"p99_us"`
	// CPU time of this process (user + system) per operation while measuring: on a machine
	// where client and server share the CPUs, what the client takes the server cannot use.
	CPUusPerOp float64 `json:"client_cpu_us_per_op"`
	// connpool-go only: its ops/s over pgxpool's in the same round (the two run back to back),
	// median and range over the rounds. Less noisy than the ratio of the two medians when the
	// machine drifts between modes from round to round.
	PairedRatio    float64 `json:"paired_ratio_median,omitempty"`
	PairedRatioMin float64 `json:"paired_ratio_min,omitempty"`
	PairedRatioMax float64 `json:"paired_ratio_max,omitempty"`
}

// runner does one `SELECT 1` round trip, checking the answer.
type runner func(ctx context.Context) error

type impl struct {
	name string
	open func(conninfo string, size int) (runner, func(), error)
}

func openConnpool(conninfo string, size int) (runner, func(), error) {
	p, err := connpool.Open(conninfo, connpool.WithMaxSize(size), connpool.WithMinSize(size),
		connpool.WithName("bench"))
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.WaitReady(ctx); err != nil {
		p.Close()
		return nil, nil, err
	}
	if *mode == "acquire" {
		return func(ctx context.Context) error {
			c, err := p.Acquire(ctx)
			if err != nil {
				return err
			}
			return c.Release()
		}, p.Close, nil
	}
	return func(ctx context.Context) error {
		var n int
		if err := p.QueryRow(ctx, "SELECT 1").Scan(&n); err != nil {
			return err
		}
		if n != 1 {
			return fmt.Errorf("SELECT 1 returned %d", n)
		}
		return nil
	}, p.Close, nil
}

func openPgxpool(conninfo string, size int) (runner, func(), error) {
	cfg, err := pgxpool.ParseConfig(conninfo)
	if err != nil {
		return nil, nil, err
	}
	switch *pgxMode {
	case "simple": // simple query protocol: parse and plan per statement, as PQexecParams does
		cfg.ConnConfig.PreferSimpleProtocol = true
	case "describe": // no prepared statement cache: unnamed prepare + execute per statement
		cfg.ConnConfig.BuildStatementCache = nil
	}
	cfg.MaxConns = int32(size)
	cfg.MinConns = int32(size)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := pgxpool.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	// Open every connection up front, as WaitReady does for the other pool.
	var wg sync.WaitGroup
	errs := make(chan error, size)
	for i := 0; i < size; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := p.Acquire(ctx)
			if err != nil {
				errs <- err
				return
			}
			time.Sleep(20 * time.Millisecond)
			c.Release()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		p.Close()
		return nil, nil, err
	}
	if *mode == "acquire" {
		return func(ctx context.Context) error {
			c, err := p.Acquire(ctx)
			if err != nil {
				return err
			}
			c.Release()
			return nil
		}, p.Close, nil
	}
	return func(ctx context.Context) error {
		var n int
		if err := p.QueryRow(ctx, "SELECT 1").Scan(&n); err != nil {
			return err
		}
		if n != 1 {
			return fmt.Errorf("SELECT 1 returned %d", n)
		}
		return nil
	}, p.Close, nil
}

// --mode acquire: acquire + release only (no statement), on real connections.
var mode = flag.String("mode", "select", "select (acquire, SELECT 1, read it, release) or acquire (acquire + release only)")

var pgxMode = flag.String("pgx-mode", "default", "pgx statement mode: default (prepared statement cache), simple (simple protocol), describe (no cache)")

var impls = []impl{
	{"connpool-go", openConnpool},
	{"pgxpool", openPgxpool},
}

// measure runs `clients` goroutines for d and returns ops and latency percentiles.
func measure(run runner, clients int, d time.Duration) (int64, time.Duration, []float64, error) {
	ctx := context.Background()
	lat := make([][]float64, clients)
	errs := make(chan error, clients)
	var start sync.WaitGroup
	start.Add(1)
	var wg sync.WaitGroup
	var end time.Time
	for g := 0; g < clients; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			samples := make([]float64, 0, 1<<14)
			start.Wait()
			for {
				t0 := time.Now()
				if !t0.Before(end) {
					break
				}
				if err := run(ctx); err != nil {
					errs <- err
					return
				}
				samples = append(samples, float64(time.Since(t0).Nanoseconds())/1e3)
			}
			lat[g] = samples
		}(g)
	}
	t0 := time.Now()
	end = t0.Add(d)
	start.Done()
	wg.Wait()
	elapsed := time.Since(t0)
	close(errs)
	for err := range errs {
		return 0, 0, nil, err
	}
	var all []float64
	for _, s := range lat {
		all = append(all, s...)
	}
	return int64(len(all)), elapsed, all, nil
}

// processCPU is the user + system CPU time this process has used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p * float64(len(sorted)-1))
	return sorted[i]
}

func median(xs []result) result {
	sort.Slice(xs, func(i, j int) bool { return xs[i].OpsPerSec < xs[j].OpsPerSec })
	return xs[len(xs)/2]
}

func main() {
	conninfo := flag.String("conninfo", os.Getenv("CONNPOOL_CONNINFO"), "libpq conninfo of the server")
	seconds := flag.Float64("seconds", 5, "measured seconds per point")
	clientList := flag.String("clients", "1,8,64", "comma-separated goroutine counts")
	poolSize := flag.Int("pool-size", 0, "pool size for both pools (default: the goroutine count)")
	rounds := flag.Int("rounds", 1, "rounds per point; the median round is reported")
	jsonOut := flag.String("json", "", "write the results here as JSON")
	profileDir := flag.String("cpuprofile-dir", "", "write a CPU profile per impl/clients here")
	only := flag.String("impls", "", "run only these implementations (comma-separated; default: all)")
	flag.Parse()
	if *only != "" {
		var keep []impl
		for _, im := range impls {
			if strings.Contains(","+*only+",", ","+im.name+",") {
				keep = append(keep, im)
			}
		}
		if len(keep) == 0 {
			fmt.Fprintf(os.Stderr, "--impls %q matches nothing (connpool-go, pgxpool)\n", *only)
			os.Exit(2)
		}
		impls = keep
	}
	if *conninfo == "" {
		fmt.Fprintln(os.Stderr, "--conninfo is required")
		os.Exit(2)
	}
	var clients []int
	for _, s := range strings.Split(*clientList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "bad --clients entry %q\n", s)
			os.Exit(2)
		}
		clients = append(clients, n)
	}
	d := time.Duration(*seconds * float64(time.Second))
	warm := d / 5
	if warm > time.Second {
		warm = time.Second
	}

	fmt.Printf("connpool-go-bench: libconnpool %s, %s, GOMAXPROCS=%d, %v per point, %d round(s)\n",
		connpool.Version(), runtime.Version(), runtime.GOMAXPROCS(0), d, *rounds)
	var results []result
	for _, n := range clients {
		size := *poolSize
		if size <= 0 {
			size = n
		}
		perImpl := map[string][]result{}
		for r := 0; r < *rounds; r++ {
			order := impls
			if len(impls) == 2 && (r+len(results)/2)%2 == 1 { // alternate who goes first
				order = []impl{impls[1], impls[0]}
			}
			for _, im := range order {
				run, closeFn, err := im.open(*conninfo, size)
				if err != nil {
					fmt.Fprintf(os.Stderr, "%s: open: %v\n", im.name, err)
					os.Exit(1)
				}
				if _, _, _, err := measure(run, n, warm); err != nil {
					fmt.Fprintf(os.Stderr, "%s: warm-up: %v\n", im.name, err)
					os.Exit(1)
				}
				var pf *os.File
				if *profileDir != "" && r == 0 {
					pf, _ = os.Create(fmt.Sprintf("%s/%s-%d.pprof", *profileDir, im.name, n))
					pprof.StartCPUProfile(pf)
				}
				cpu0 := processCPU()
				ops, elapsed, lat, err := measure(run, n, d)
				cpu := processCPU() - cpu0
				if pf != nil {
					pprof.StopCPUProfile()
					pf.Close()
				}
				closeFn()
				if err != nil {
					fmt.Fprintf(os.Stderr, "%s: %v\n", im.name, err)
					os.Exit(1)
				}
				sort.Float64s(lat)
				perImpl[im.name] = append(perImpl[im.name], result{
					Impl: im.name, Clients: n, PoolSize: size, Ops: ops, Seconds: elapsed.Seconds(),
					OpsPerSec: float64(ops) / elapsed.Seconds(),
					P50us:     percentile(lat, 0.50), P90us: percentile(lat, 0.90), P99us: percentile(lat, 0.99),
					CPUusPerOp: float64(cpu.Microseconds()) / float64(max64(ops, 1)),
				})
				last := perImpl[im.name][len(perImpl[im.name])-1]
				fmt.Fprintf(os.Stderr, "  %d goroutines, round %d/%d: %-12s %9.0f ops/s  p50 %6.1f µs\n",
					n, r+1, *rounds, im.name, last.OpsPerSec, last.P50us)
				runtime.GC()
			}
		}
		var paired []float64
		if a, b := perImpl["connpool-go"], perImpl["pgxpool"]; len(a) == len(b) {
			for i := range a {
				paired = append(paired, a[i].OpsPerSec/b[i].OpsPerSec)
			}
			sort.Float64s(paired)
		}
		for _, im := range impls {
			m := median(perImpl[im.name])
			if im.name == "connpool-go" && len(paired) > 0 {
				m.PairedRatio = paired[len(paired)/2]
				m.PairedRatioMin, m.PairedRatioMax = paired[0], paired[len(paired)-1]
			}
			results = append(results, m)
		}
	}

	fmt.Printf("\n%-8s %-6s %-12s %14s %10s %10s %10s %12s\n", "clients", "pool", "impl", "ops/s", "p50 µs", "p90 µs", "p99 µs", "cpu µs/op")
	byKey := map[string]result{}
	for _, r := range results {
		byKey[fmt.Sprintf("%s/%d", r.Impl, r.Clients)] = r
		fmt.Printf("%-8d %-6d %-12s %14.0f %10.1f %10.1f %10.1f %12.2f\n", r.Clients, r.PoolSize, r.Impl, r.OpsPerSec, r.P50us, r.P90us, r.P99us, r.CPUusPerOp)
	}
	if len(impls) == 2 {
		fmt.Printf("\n%-8s %22s %34s\n", "clients", "connpool-go / pgxpool", "median of per-round ratios (range)")
		for _, n := range clients {
			a, b := byKey[fmt.Sprintf("connpool-go/%d", n)], byKey[fmt.Sprintf("pgxpool/%d", n)]
			fmt.Printf("%-8d %21.2fx %21.2fx (%.2f-%.2f)\n", n, a.OpsPerSec/b.OpsPerSec,
				a.PairedRatio, a.PairedRatioMin, a.PairedRatioMax)
		}
	}
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(results, "", "  ")
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("\nwrote %s\n", *jsonOut)
	}
}
