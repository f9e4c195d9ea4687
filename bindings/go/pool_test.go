package connpool_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	connpool "github.com/libconnpool/connpool-go"
)

func TestOpenBadOptionsNameTheOption(t *testing.T) {
	ci := testConninfo(t)
	cases := []struct {
		opt     connpool.Option
		want    error
		mention string
	}{
		{connpool.WithMaxSize(0), connpool.ErrInvalidArgument, "max_size"},
		{connpool.WithMaxConcurrentConnects(1000), connpool.ErrInvalidArgument, "max_concurrent_connects"},
		{connpool.WithAcquireTimeout(-time.Second), connpool.ErrInvalidArgument, "acquire_timeout"},
		{connpool.WithLogLevel("loud"), connpool.ErrInvalidArgument, "log_level"},
		{connpool.WithOption("no_such_option", "1"), connpool.ErrUnknownOption, "no_such_option"},
		{connpool.WithOptionValue("max_size", time.Second), connpool.ErrInvalidArgument, "max_size"},
		{connpool.WithOptionValue("acquire_timeout", 5), connpool.ErrInvalidArgument, "acquire_timeout"},
	}
	for _, c := range cases {
		p, err := connpool.Open(ci, c.opt)
		if err == nil {
			p.Close()
			t.Errorf("Open with %s=%q succeeded", c.opt.Key(), c.opt.Value())
			continue
		}
		if !errors.Is(err, c.want) {
			t.Errorf("%s=%q: got %v, want %v", c.opt.Key(), c.opt.Value(), err, c.want)
		}
		var cerr *connpool.Error
		if !errors.As(err, &cerr) || !strings.Contains(cerr.Message, c.mention) {
			t.Errorf("%s=%q: message %q does not name %q", c.opt.Key(), c.opt.Value(), err, c.mention)
		}
	}
	// Inconsistent options are refused at create, naming both.
	_, err := connpool.Open(ci, connpool.WithMinSize(5), connpool.WithMaxSize(2))
	if !errors.Is(err, connpool.ErrInvalidArgument) || !strings.Contains(err.Error(), "min_size") {
		t.Errorf("min_size > max_size: got %v", err)
	}
	// A malformed conninfo is refused, and the message does not echo it (it may hold a password).
	_, err = connpool.Open("host=x password=hunter2 'unterminated")
	if !errors.Is(err, connpool.ErrInvalidArgument) {
		t.Errorf("malformed conninfo: got %v", err)
	} else if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("message leaks the password: %v", err)
	}
}

func TestDurationOptionsAreMilliseconds(t *testing.T) {
	for _, c := range []struct {
		opt  connpool.Option
		want string
	}{
		{connpool.WithAcquireTimeout(2500 * time.Millisecond), "2500"},
		{connpool.WithMaxIdle(time.Microsecond), "1"}, // rounded up, never 0 = "never"
		{connpool.WithMaxLifetime(0), "0"},
		{connpool.WithPrePing(false), "off"},
		// by the kind the library reports for the key
		{connpool.WithOptionValue("leak_threshold", 1500*time.Millisecond), "1500"},
		{connpool.WithOptionValue("pre_ping", true), "on"},
		{connpool.WithOptionValue("max_waiting", 3), "3"},
	} {
		if c.opt.Value() != c.want {
			t.Errorf("%s: value %q, want %q", c.opt.Key(), c.opt.Value(), c.want)
		}
	}
}

func TestAcquireExecRelease(t *testing.T) {
	p := newPool(t, connpool.WithMaxSize(2))
	ctx := ctxTimeout(t, 10*time.Second)
	c, err := p.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := c.QueryRow(ctx, "SELECT $1::int + 1", 41).Scan(&n); err != nil || n != 42 {
		t.Fatalf("got %d, %v", n, err)
	}
	s := mustStat(t, p)
	if s.InUse != 1 || s.Acquired != 1 || s.Total != 1 {
		t.Errorf("stats while leased: %+v", s)
	}
	if err := c.Release(); err != nil {
		t.Fatal(err)
	}
	s = mustStat(t, p)
	if s.InUse != 0 || s.Idle != 1 || s.Released != 1 {
		t.Errorf("stats after release: %+v", s)
	}
}

func TestDoubleReleaseIsInvalidHandle(t *testing.T) {
	p := newPool(t)
	ctx := ctxTimeout(t, 10*time.Second)
	c, err := p.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Release(); err != nil {
		t.Fatalf("first Release: %v", err)
	}
	err = c.Release()
	if !errors.Is(err, connpool.ErrInvalidHandle) {
		t.Fatalf("second Release: got %v, want ErrInvalidHandle", err)
	}
	// The released lease cannot run statements either, even once its connection was handed
	// to someone else (handles are generation-tagged).
	c2, err := p.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Release()
	if _, err := c.Exec(ctx, "SELECT 1"); !errors.Is(err, connpool.ErrInvalidHandle) {
		t.Fatalf("Exec on a released Conn: got %v, want ErrInvalidHandle", err)
	}
	if _, err := c2.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatalf("the new lease of the same connection must work: %v", err)
	}
	if s := mustStat(t, p); s.Released != 1 || s.Acquired != 2 {
		t.Errorf("a rejected release must not count: %+v", s)
	}
}

func TestQueryErrorsCarrySQLSTATE(t *testing.T) {
	p := newPool(t, connpool.WithMaxSize(1))
	ctx := ctxTimeout(t, 10*time.Second)
	c, err := p.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	cases := []struct{ sql, code, msg string }{
		{"SELECT 1/0", "22012", "division by zero"},
		{"SELEC 1", "42601", "syntax error"},
		{"SELECT * FROM no_such_table_go", "42P01", "no_such_table_go"},
		{"SELECT $1::int", "22P02", "invalid input syntax"},
	}
	for _, tc := range cases {
		var args []any
		if strings.Contains(tc.sql, "$1") {
			args = append(args, "not a number")
		}
		_, err := c.Exec(ctx, tc.sql, args...)
		var pg *connpool.PgError
		if !errors.As(err, &pg) {
			t.Fatalf("%s: got %v (%T), want *PgError", tc.sql, err, err)
		}
		if pg.Code != tc.code || !strings.Contains(pg.Message, tc.msg) || pg.Severity != "ERROR" {
			t.Errorf("%s: got code %q severity %q message %q", tc.sql, pg.Code, pg.Severity, pg.Message)
		}
		if !errors.Is(err, connpool.ErrQueryFailed) {
			t.Errorf("%s: errors.Is(ErrQueryFailed) is false", tc.sql)
		}
		// Query and QueryRow report it the same way.
		if _, err := c.Query(ctx, tc.sql, args...); !errors.As(err, &pg) || pg.Code != tc.code {
			t.Errorf("Query %s: %v", tc.sql, err)
		}
		if err := c.QueryRow(ctx, tc.sql, args...).Scan(new(int)); !errors.As(err, &pg) || pg.Code != tc.code {
			t.Errorf("QueryRow %s: %v", tc.sql, err)
		}
	}
	// The connection stays usable.
	var one int
	if err := c.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("after errors: %d, %v", one, err)
	}
	// A unique violation through the pool-level helpers.
	tbl := "go_uniq_" + strings.ToLower(t.Name())
	c.Release()
	for _, stmt := range []string{"DROP TABLE IF EXISTS " + tbl, "CREATE TABLE " + tbl + " (id int PRIMARY KEY)"} {
		if _, err := p.Exec(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	defer p.Exec(context.Background(), "DROP TABLE "+tbl)
	if _, err := p.Exec(ctx, "INSERT INTO "+tbl+" VALUES ($1)", 1); err != nil {
		t.Fatal(err)
	}
	_, err = p.Exec(ctx, "INSERT INTO "+tbl+" VALUES ($1)", 1)
	var pg *connpool.PgError
	if !errors.As(err, &pg) || pg.Code != "23505" || pg.SQLState() != "23505" {
		t.Fatalf("unique violation: %v", err)
	}
}

func TestRowsIterationAndMetadata(t *testing.T) {
	p := newPool(t, connpool.WithMaxSize(1))
	ctx := ctxTimeout(t, 10*time.Second)
	rows, err := p.Query(ctx, "SELECT g AS n, 'row ' || g AS label FROM generate_series(1, $1::int) g", 5)
	if err != nil {
		t.Fatal(err)
	}
	// Pool.Query released its lease already: the rows outlive it.
	if s := mustStat(t, p); s.InUse != 0 {
		t.Errorf("Pool.Query holds a lease: %+v", s)
	}
	if got := rows.Columns(); !reflect.DeepEqual(got, []string{"n", "label"}) {
		t.Errorf("Columns: %v", got)
	}
	if got := rows.ColumnTypeOIDs(); !reflect.DeepEqual(got, []uint32{23, 25}) {
		t.Errorf("ColumnTypeOIDs: %v", got)
	}
	if err := rows.Scan(new(int), new(string)); err == nil {
		t.Error("Scan before Next must fail")
	}
	var ns []int
	for rows.Next() {
		var n int
		var label string
		if err := rows.Scan(&n, &label); err != nil {
			t.Fatal(err)
		}
		if label != "row "+string(rune('0'+n)) {
			t.Errorf("row %d: label %q", n, label)
		}
		if err := rows.Scan(&n); err == nil {
			t.Error("Scan with too few destinations must fail")
		}
		ns = append(ns, n)
	}
	if rows.Err() != nil || !reflect.DeepEqual(ns, []int{1, 2, 3, 4, 5}) {
		t.Fatalf("rows: %v, err %v", ns, rows.Err())
	}
	if rows.Next() || rows.Scan(new(int), new(string)) == nil {
		t.Error("Rows must be closed after the last row")
	}
	rows.Close() // idempotent

	// RowsAffected, and an early Close.
	r, err := p.Exec(ctx, "SELECT * FROM generate_series(1, 7)")
	if err != nil || r.RowsAffected() != 7 {
		t.Errorf("Exec RowsAffected: %d, %v", r.RowsAffected(), err)
	}
	rows, err = p.Query(ctx, "SELECT 1 UNION ALL SELECT 2")
	if err != nil {
		t.Fatal(err)
	}
	rows.Next()
	rows.Close()
	if rows.Next() {
		t.Error("Next after Close")
	}
	if err := p.QueryRow(ctx, "SELECT 1 WHERE false").Scan(new(int)); !errors.Is(err, connpool.ErrNoRows) {
		t.Errorf("no rows: %v", err)
	}
}

func TestParametersRejectedBeforeSending(t *testing.T) {
	p := newPool(t, connpool.WithMaxSize(1))
	ctx := ctxTimeout(t, 10*time.Second)
	for _, arg := range []any{"a\x00b", struct{}{}, []int{1}} {
		_, err := p.Exec(ctx, "SELECT $1", arg)
		if !errors.Is(err, connpool.ErrInvalidArgument) || !strings.Contains(err.Error(), "$1") {
			t.Errorf("%#v: got %v", arg, err)
		}
	}
	if _, err := p.Exec(ctx, "SELECT 1\x00"); !errors.Is(err, connpool.ErrInvalidArgument) {
		t.Errorf("NUL in SQL: %v", err)
	}
	if s := mustStat(t, p); s.InUse != 0 || s.Acquired != s.Released {
		t.Errorf("leases leaked on argument errors: %+v", s)
	}
}

func TestManyGoroutinesOnSmallPool(t *testing.T) {
	const (
		goroutines = 64
		perG       = 25
		maxSize    = 4
	)
	p := newPool(t, connpool.WithMaxSize(maxSize), connpool.WithAcquireTimeout(60*time.Second))
	ctx := ctxTimeout(t, 60*time.Second)
	var (
		mu   sync.Mutex
		pids = map[int]bool{}
		wg   sync.WaitGroup
		errs = make(chan error, goroutines)
		live sync.Map
	)
	var inFlight, maxInFlight int64
	var flightMu sync.Mutex
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < perG; i++ {
				c, err := p.Acquire(ctx)
				if err != nil {
					errs <- err
					return
				}
				flightMu.Lock()
				inFlight++
				if inFlight > maxInFlight {
					maxInFlight = inFlight
				}
				flightMu.Unlock()
				var pid, echo int
				err = c.QueryRow(ctx, "SELECT pg_backend_pid(), $1::int", g*1000+i).Scan(&pid, &echo)
				if _, dup := live.LoadOrStore(pid, g); dup {
					errs <- errors.New("two leases on the same backend at once")
				}
				live.Delete(pid)
				flightMu.Lock()
				inFlight--
				flightMu.Unlock()
				c.Release()
				if err != nil {
					errs <- err
					return
				}
				if echo != g*1000+i {
					errs <- errors.New("parameter/result mix-up")
					return
				}
				mu.Lock()
				pids[pid] = true
				mu.Unlock()
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	s := mustStat(t, p)
	total := int64(goroutines * perG)
	if s.Acquired != total || s.Released != total {
		t.Errorf("acquired %d released %d, want %d each", s.Acquired, s.Released, total)
	}
	if s.Total > maxSize || s.Created > maxSize || s.Idle != s.Total || s.InUse != 0 || s.Waiting != 0 {
		t.Errorf("gauges after the run: %+v", s)
	}
	if s.AcquireTimeouts != 0 || s.ConnectErrors != 0 || s.ClosedBroken != 0 {
		t.Errorf("failures: %+v", s)
	}
	if s.Reused != total-s.Created {
		t.Errorf("reused %d, want acquired-created = %d", s.Reused, total-s.Created)
	}
	if len(pids) > maxSize || maxInFlight > maxSize {
		t.Errorf("%d backends used, %d leases at once; max_size is %d", len(pids), maxInFlight, maxSize)
	}
	if s.AcquireWaitMax <= 0 || s.AcquireWaitTotal < s.AcquireWaitMax {
		t.Errorf("wait times: total %v max %v", s.AcquireWaitTotal, s.AcquireWaitMax)
	}
}

// holdOnly returns a pool of one connection and a Conn holding it.
func holdOnly(t *testing.T, opts ...connpool.Option) (*connpool.Pool, *connpool.Conn) {
	p := newPool(t, append([]connpool.Option{connpool.WithMaxSize(1)}, opts...)...)
	c, err := p.Acquire(ctxTimeout(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Release() })
	return p, c
}

func TestAcquireContextDeadline(t *testing.T) {
	p, _ := holdOnly(t)
	for _, d := range []time.Duration{0, 50 * time.Millisecond, 200 * time.Millisecond} {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		start := time.Now()
		c, err := p.Acquire(ctx)
		took := time.Since(start)
		cancel()
		if err == nil {
			c.Release()
			t.Fatalf("deadline %v: got a connection", d)
		}
		if !errors.Is(err, connpool.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("deadline %v: got %v, want ErrTimeout and context.DeadlineExceeded", d, err)
		}
		if took < d-time.Millisecond || took > d+250*time.Millisecond {
			t.Errorf("deadline %v: returned after %v", d, took)
		}
	}
	if s := mustStat(t, p); s.Waiting != 0 || s.InUse != 1 {
		t.Errorf("after timeouts: %+v", s)
	}
}

func TestAcquireCancelIsPrompt(t *testing.T) {
	p, held := holdOnly(t)
	var lat []time.Duration
	for i := 0; i < 10; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		var returned time.Time
		go func() {
			c, err := p.Acquire(ctx)
			returned = time.Now()
			if c != nil {
				c.Release()
			}
			done <- err
		}()
		waitFor(t, 5*time.Second, "the waiter", func() bool { return mustStat(t, p).Waiting == 1 })
		cancelled := time.Now()
		cancel()
		err := <-done
		lat = append(lat, returned.Sub(cancelled))
		if !errors.Is(err, context.Canceled) || !errors.Is(err, connpool.ErrCanceled) {
			t.Fatalf("got %v, want context.Canceled and ErrCanceled", err)
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("cancel-to-return latencies: %v", lat)
	if lat[len(lat)/2] > 5*time.Millisecond || lat[len(lat)-1] > 100*time.Millisecond {
		t.Errorf("cancel is not prompt: median %v, max %v", lat[len(lat)/2], lat[len(lat)-1])
	}
	s := mustStat(t, p)
	if s.Waiting != 0 || s.AcquireTimeouts != 0 || s.Canceled != 10 {
		t.Errorf("after cancels: %+v", s)
	}
	// The pool still works: the held connection goes to the next acquirer.
	held.Release()
	c, err := p.Acquire(ctxTimeout(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	c.Release()
}

func TestWaitersParkNoOSThreads(t *testing.T) {
	p, held := holdOnly(t)
	const waiters = 64
	before := osThreads(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	results := make(chan error, waiters)
	for i := 0; i < waiters; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := p.Acquire(ctx)
			if err == nil {
				c.Release()
			}
			results <- err
		}()
	}
	waitFor(t, 10*time.Second, "64 waiters", func() bool { return mustStat(t, p).Waiting == waiters })
	during := osThreads(t)
	t.Logf("OS threads: %d before, %d with %d goroutines waiting", before, during, waiters)
	if during > before+16 {
		t.Errorf("waiting goroutines hold OS threads: %d -> %d", before, during)
	}
	// Releasing the one connection serves every waiter in turn.
	held.Release()
	wg.Wait()
	close(results)
	for err := range results {
		if err != nil {
			t.Fatal(err)
		}
	}
	if s := mustStat(t, p); s.Acquired != waiters+1 || s.Waiting != 0 {
		t.Errorf("stats: %+v", s)
	}
}

func TestCloseWhileGoroutinesWait(t *testing.T) {
	p, held := holdOnly(t)
	const waiters = 8
	ctx := ctxTimeout(t, 30*time.Second)
	errs := make(chan error, waiters)
	for i := 0; i < waiters; i++ {
		acquireInBackground(ctx, p, errs)
	}
	waitFor(t, 5*time.Second, "the waiters", func() bool { return mustStat(t, p).Waiting == waiters })
	start := time.Now()
	p.Close()
	for i := 0; i < waiters; i++ {
		select {
		case err := <-errs:
			if !errors.Is(err, connpool.ErrClosed) {
				t.Errorf("waiter: got %v, want ErrClosed", err)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("a waiter did not return after Close")
		}
	}
	t.Logf("%d waiters returned %v after Close", waiters, time.Since(start))
	// The lease still out stays usable until released; later acquires fail.
	var one int
	if err := held.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Errorf("lease after Close: %v", err)
	}
	if err := held.Release(); err != nil {
		t.Errorf("Release after Close: %v", err)
	}
	if _, err := p.Acquire(ctx); !errors.Is(err, connpool.ErrClosed) {
		t.Errorf("Acquire after Close: %v", err)
	}
	s := mustStat(t, p) // Stat works on a closed pool
	if s.Total != 0 || s.Waiting != 0 {
		t.Errorf("closed pool: %+v", s)
	}
	p.Close() // idempotent
}

func TestStatMatchesEveryCField(t *testing.T) {
	p := newPool(t, connpool.WithMaxSize(3), connpool.WithMinSize(1), connpool.WithMaxOverflow(2))
	ctx := ctxTimeout(t, 10*time.Second)
	if err := p.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := p.Exec(ctx, "SELECT 1"); err != nil {
			t.Fatal(err)
		}
	}
	c, _ := p.Acquire(ctx)
	defer c.Release()
	s := mustStat(t, p)
	js, err := p.StatJSON()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(js), &m); err != nil {
		t.Fatalf("%v: %s", err, js)
	}
	// Every stats field of the C struct appears in the JSON under its C name, which is the
	// `stat` tag of its Stats field (the *_us fields are time.Durations).
	want := map[string]int64{}
	sv := reflect.ValueOf(s)
	for i := 0; i < sv.NumField(); i++ {
		tag := sv.Type().Field(i).Tag.Get("stat")
		if d, ok := sv.Field(i).Interface().(time.Duration); ok {
			want[tag] = d.Microseconds()
		} else {
			want[tag] = sv.Field(i).Int()
		}
	}
	for k, v := range want {
		got, ok := m[k].(float64)
		if !ok {
			t.Errorf("JSON has no numeric %q: %s", k, js)
			continue
		}
		if int64(got) != v {
			t.Errorf("%s: Stat %d, JSON %v", k, v, got)
		}
	}
	for k := range m {
		if _, ok := want[k]; !ok && k != "name" && k != "closed_pool" {
			t.Errorf("JSON field %q has no Stats field: the Go struct is missing a C stat", k)
		}
	}
	if s.MaxSize != 3 || s.MinSize != 1 || s.MaxOverflow != 2 || s.Acquired != 4 || s.Released != 3 || s.InUse != 1 {
		t.Errorf("stats: %+v", s)
	}
}

func TestFinalizerReleasesLeakedConn(t *testing.T) {
	p := newPool(t, connpool.WithMaxSize(1))
	var logbuf bytes.Buffer
	var logMu sync.Mutex
	oldOut := log.Writer()
	log.SetOutput(writerFunc(func(b []byte) (int, error) {
		logMu.Lock()
		defer logMu.Unlock()
		return logbuf.Write(b)
	}))
	defer log.SetOutput(oldOut)
	func() {
		c, err := p.Acquire(ctxTimeout(t, 5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.SetLabel("leaky handler"); err != nil {
			t.Fatal(err)
		}
		// leaked: never released
	}()
	waitFor(t, 10*time.Second, "the finalizer to release the leaked lease", func() bool {
		runtime.GC()
		return mustStat(t, p).Released == 1
	})
	logMu.Lock()
	msg := logbuf.String()
	logMu.Unlock()
	if !strings.Contains(msg, "without Release") || !strings.Contains(msg, `"leaky handler"`) {
		t.Errorf("no warning logged: %q", msg)
	}
	c, err := p.Acquire(ctxTimeout(t, 5*time.Second))
	if err != nil {
		t.Fatalf("the leaked connection did not come back: %v", err)
	}
	c.Release()
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

func TestStatementCancelledByContext(t *testing.T) {
	p := newPool(t, connpool.WithMaxSize(1))
	c, err := p.Acquire(ctxTimeout(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = c.Exec(ctx, "SELECT pg_sleep(10)")
	took := time.Since(start)
	var pg *connpool.PgError
	if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &pg) || pg.Code != "57014" {
		t.Fatalf("got %v, want DeadlineExceeded and SQLSTATE 57014", err)
	}
	if took > 3*time.Second {
		t.Errorf("cancel took %v", took)
	}
	var one int
	if err := c.QueryRow(context.Background(), "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Errorf("connection after a cancelled statement: %v", err)
	}
	// A context already done sends nothing.
	if _, err := c.Exec(ctx, "SELECT 1"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("done context: %v", err)
	}
}

func TestBrokenConnectionIsReported(t *testing.T) {
	p := newPool(t, connpool.WithMaxSize(2))
	ctx := ctxTimeout(t, 10*time.Second)
	victim, err := p.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	if err := victim.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	killer, err := p.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ok bool
	if err := killer.QueryRow(ctx, "SELECT pg_terminate_backend($1)", pid).Scan(&ok); err != nil || !ok {
		t.Fatalf("terminate: %v %v", ok, err)
	}
	killer.Release()
	time.Sleep(50 * time.Millisecond)
	_, err = victim.Exec(ctx, "SELECT 1")
	if !errors.Is(err, connpool.ErrConnectionBroken) {
		t.Fatalf("got %v, want ErrConnectionBroken", err)
	}
	victim.Release()
	if s := mustStat(t, p); s.ClosedBroken != 1 || s.InUse != 0 {
		t.Errorf("stats: %+v", s)
	}
	// The pool replaces it.
	if _, err := p.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
}

func TestTooManyWaitersAndUnreachableServer(t *testing.T) {
	p, _ := holdOnly(t, connpool.WithMaxWaiting(1))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := make(chan error, 1)
	acquireInBackground(ctx, p, first)
	waitFor(t, 5*time.Second, "the first waiter", func() bool { return mustStat(t, p).Waiting == 1 })
	start := time.Now()
	_, err := p.Acquire(ctxTimeout(t, 5*time.Second))
	if !errors.Is(err, connpool.ErrTooManyWaiters) || time.Since(start) > time.Second {
		t.Errorf("second waiter: %v after %v, want ErrTooManyWaiters at once", err, time.Since(start))
	}
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Errorf("first waiter: %v", err)
	}
	if s := mustStat(t, p); s.WaitersRejected != 1 {
		t.Errorf("stats: %+v", s)
	}

	// Nothing listens on this socket directory: the acquire ends with the connect error.
	bad := unreachablePool(t)
	_, err = bad.Acquire(ctxTimeout(t, 3*time.Second))
	if !errors.Is(err, connpool.ErrConnectFailed) && !errors.Is(err, connpool.ErrDatabaseUnavailable) {
		t.Fatalf("unreachable server: got %v", err)
	}
	if !strings.Contains(err.Error(), "nonexistent-connpool-dir") {
		t.Errorf("the message does not carry libpq's reason: %v", err)
	}
}

// Without a context deadline, the pool's acquire_timeout bounds the wait, also when the
// goroutine waits in the binding's gate (every connection busy) rather than in the library.
func TestAcquireTimeoutOptionBoundsAWaitWithoutDeadline(t *testing.T) {
	p, _ := holdOnly(t, connpool.WithAcquireTimeout(150*time.Millisecond))
	start := time.Now()
	_, err := p.Acquire(context.Background())
	took := time.Since(start)
	if !errors.Is(err, connpool.ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
	if took < 140*time.Millisecond || took > 2*time.Second {
		t.Errorf("waited %v, want about 150ms", took)
	}
	if s := mustStat(t, p); s.AcquireTimeouts != 1 || s.Waiting != 0 {
		t.Errorf("stats after the timeout: %+v", s)
	}
}

// Goroutines waiting in the binding's gate show in StatJSON as in Stat (and as the library
// counts its own waiters).
func TestStatJSONCountsGoroutinesWaitingInTheGate(t *testing.T) {
	p, _ := holdOnly(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	acquireInBackground(ctx, p, done)
	waitFor(t, 5*time.Second, "the waiter", func() bool { return mustStat(t, p).Waiting == 1 })
	jsonField := func(key string) int64 {
		js, err := p.StatJSON()
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(js), &m); err != nil {
			t.Fatalf("%v: %s", err, js)
		}
		v, ok := m[key].(float64)
		if !ok {
			t.Fatalf("no number %q in %s", key, js)
		}
		return int64(v)
	}
	if w := jsonField("waiting"); w != 1 {
		t.Errorf(`StatJSON "waiting" = %d, want 1`, w)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("waiter: %v", err)
	}
	if w, c := jsonField("waiting"), jsonField("canceled"); w != 0 || c != 1 {
		t.Errorf(`StatJSON after cancel: "waiting" %d "canceled" %d, want 0 and 1`, w, c)
	}
}

// A goroutine whose wait ends in the gate while connection attempts fail gets the library's
// classification (ErrConnectFailed, or ErrDatabaseUnavailable once the breaker opens), not a
// plain ErrTimeout that would blame a busy pool.
func TestGateTimeoutReportsFailingConnects(t *testing.T) {
	bad := unreachablePool(t, connpool.WithMaxSize(1))
	first := make(chan error, 1)
	go func() { // holds the only place, waiting inside the library for a connect that fails
		_, err := bad.Acquire(ctxTimeout(t, 3*time.Second))
		first <- err
	}()
	waitFor(t, 5*time.Second, "the first acquirer", func() bool { return mustStat(t, bad).Waiting >= 1 })
	_, err := bad.Acquire(ctxTimeout(t, 300*time.Millisecond)) // waits in the gate
	if !errors.Is(err, connpool.ErrConnectFailed) && !errors.Is(err, connpool.ErrDatabaseUnavailable) {
		t.Errorf("gate wait: got %v, want ErrConnectFailed or ErrDatabaseUnavailable", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("gate wait: %v does not match context.DeadlineExceeded", err)
	}
	if err := <-first; !errors.Is(err, connpool.ErrConnectFailed) && !errors.Is(err, connpool.ErrDatabaseUnavailable) {
		t.Errorf("first acquirer: %v", err)
	}
}
