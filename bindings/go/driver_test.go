package connpool_test

import (
	"context"
	"database/sql"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	connpool "github.com/libconnpool/connpool-go"
)

func TestParseDSN(t *testing.T) {
	cases := []struct {
		dsn, conninfo string
		opts          map[string]string
	}{
		{"host=/tmp dbname=app", "host=/tmp dbname=app", nil},
		{"host=/tmp pool_max_size=8 dbname = 'my db' pool_acquire_timeout=5000",
			"host=/tmp dbname = 'my db'", map[string]string{"max_size": "8", "acquire_timeout": "5000"}},
		{"pool_reset_query='DISCARD ALL' password='a \\' b'",
			"password='a \\' b'", map[string]string{"reset_query": "DISCARD ALL"}},
		{"postgresql://u@h:5/db?sslmode=disable&pool_max_size=3",
			"postgresql://u@h:5/db?sslmode=disable", map[string]string{"max_size": "3"}},
	}
	for _, c := range cases {
		ci, opts, err := connpool.ParseDSN(c.dsn)
		if err != nil {
			t.Errorf("%q: %v", c.dsn, err)
			continue
		}
		got := map[string]string{}
		for _, o := range opts {
			got[o.Key()] = o.Value()
		}
		if ci != c.conninfo || (len(got) > 0 || c.opts != nil) && !reflect.DeepEqual(got, c.opts) {
			t.Errorf("%q: got %q %v, want %q %v", c.dsn, ci, got, c.conninfo, c.opts)
		}
	}
	if _, _, err := connpool.ParseDSN("host=x password='secret"); err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("unterminated quote: %v", err)
	}
}

func openDB(t *testing.T, extra string) *sql.DB {
	t.Helper()
	db, err := sql.Open("connpool", testConninfo(t)+" "+extra)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestDatabaseSQLBasics(t *testing.T) {
	db := openDB(t, "pool_max_size=3 pool_name=go-sql")
	db.SetMaxIdleConns(0)
	ctx := ctxTimeout(t, 20*time.Second)
	if err := db.PingContext(ctx); err != nil {
		t.Fatal(err)
	}
	var (
		n    int64
		s    string
		b    []byte
		ts   time.Time
		null sql.NullInt64
		f    float64
		ok   bool
	)
	err := db.QueryRowContext(ctx, "SELECT $1::int8 * 2, $2::text, $3::bytea, $4::timestamptz, NULL::int8, $5::float8, $6::bool",
		21, "x", []byte{1, 2}, time.Unix(1700000000, 0), 2.5, true).Scan(&n, &s, &b, &ts, &null, &f, &ok)
	if err != nil {
		t.Fatal(err)
	}
	if n != 42 || s != "x" || !reflect.DeepEqual(b, []byte{1, 2}) || ts.Unix() != 1700000000 || null.Valid || f != 2.5 || !ok {
		t.Errorf("values: %v %v %v %v %v %v %v", n, s, b, ts, null, f, ok)
	}
	if err := db.QueryRowContext(ctx, "SELECT 1 WHERE false").Scan(&n); !errors.Is(err, sql.ErrNoRows) {
		t.Errorf("no rows: %v", err)
	}
	_, err = db.ExecContext(ctx, "SELECT 1/0")
	var pg *connpool.PgError
	if !errors.As(err, &pg) || pg.Code != "22012" {
		t.Errorf("error through database/sql: %v", err)
	}
	rows, err := db.QueryContext(ctx, "SELECT g, g::text FROM generate_series(1,3) g")
	if err != nil {
		t.Fatal(err)
	}
	cts, _ := rows.ColumnTypes()
	if len(cts) != 2 || cts[0].DatabaseTypeName() != "INT4" || cts[1].DatabaseTypeName() != "TEXT" {
		t.Errorf("column types: %v", cts)
	}
	var sum int
	for rows.Next() {
		var a int
		var txt string
		if err := rows.Scan(&a, &txt); err != nil {
			t.Fatal(err)
		}
		sum += a
	}
	if rows.Err() != nil || sum != 6 {
		t.Errorf("rows: %d %v", sum, rows.Err())
	}
	rows.Close()
	if _, err := db.ExecContext(ctx, "SELECT $name", sql.Named("name", 1)); err == nil {
		t.Error("named parameters must be refused")
	}

	// With SetMaxIdleConns(0) every lease goes back to the pool between statements.
	pool := poolOf(t, db)
	st := mustStat(t, pool)
	if st.InUse != 0 || st.Acquired != st.Released || st.MaxSize != 3 {
		t.Errorf("pool behind database/sql: %+v", st)
	}
}

// poolOf digs the Pool out of a *sql.DB opened with the connpool driver.
func poolOf(t *testing.T, db *sql.DB) *connpool.Pool {
	c, ok := db.Driver().(*connpool.Driver)
	if !ok {
		t.Fatalf("driver is %T", db.Driver())
	}
	_ = c
	// database/sql does not expose its connector; use a connection to find the pool.
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var p *connpool.Pool
	err = conn.Raw(func(dc any) error {
		p = dc.(interface{ Pool() *connpool.Pool }).Pool()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDatabaseSQLTransactions(t *testing.T) {
	p := newPool(t, connpool.WithMaxSize(2))
	db := connpool.OpenDB(p)
	defer db.Close()
	ctx := ctxTimeout(t, 20*time.Second)
	tbl := "go_tx_test"
	for _, q := range []string{"DROP TABLE IF EXISTS " + tbl, "CREATE TABLE " + tbl + " (id int PRIMARY KEY, v text)"} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	defer db.Exec("DROP TABLE " + tbl)
	count := func() int {
		var n int
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM "+tbl).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// Rollback discards.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO "+tbl+" VALUES ($1, $2)", 1, "a"); err != nil {
		t.Fatal(err)
	}
	var inside int
	tx.QueryRowContext(ctx, "SELECT count(*) FROM "+tbl).Scan(&inside)
	if inside != 1 || count() != 0 {
		t.Errorf("isolation: inside %d, outside %d", inside, count())
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if count() != 0 {
		t.Error("rolled-back row is visible")
	}

	// Commit keeps.
	tx, _ = db.BeginTx(ctx, nil)
	tx.ExecContext(ctx, "INSERT INTO "+tbl+" VALUES ($1, $2)", 2, "b")
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if count() != 1 {
		t.Error("committed row is missing")
	}

	// A failed statement aborts the transaction: Commit reports it and nothing is kept.
	tx, _ = db.BeginTx(ctx, nil)
	tx.ExecContext(ctx, "INSERT INTO "+tbl+" VALUES ($1, $2)", 3, "c")
	_, err = tx.ExecContext(ctx, "INSERT INTO "+tbl+" VALUES ($1, $2)", 2, "duplicate")
	var pg *connpool.PgError
	if !errors.As(err, &pg) || pg.Code != "23505" {
		t.Fatalf("duplicate: %v", err)
	}
	if err := tx.Commit(); !errors.Is(err, connpool.ErrTxAborted) {
		t.Errorf("Commit of an aborted transaction: %v", err)
	}
	if count() != 1 {
		t.Error("a row of the aborted transaction was kept")
	}

	// Isolation level and read-only.
	tx, err = db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelSerializable, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var level string
	tx.QueryRowContext(ctx, "SHOW transaction_isolation").Scan(&level)
	if level != "serializable" {
		t.Errorf("isolation level %q", level)
	}
	_, err = tx.ExecContext(ctx, "INSERT INTO "+tbl+" VALUES (9, 'ro')")
	if !errors.As(err, &pg) || pg.Code != "25006" {
		t.Errorf("write in a read-only transaction: %v", err)
	}
	tx.Rollback()

	// A transaction abandoned without Commit/Rollback (lease released mid-transaction) is
	// rolled back by the pool before reuse.
	c, _ := p.Acquire(ctx)
	c.Exec(ctx, "BEGIN")
	c.Exec(ctx, "INSERT INTO "+tbl+" VALUES (10, 'abandoned')")
	c.Release()
	if count() != 1 {
		t.Error("an abandoned transaction's row is visible")
	}
	// The rollback runs in a background worker after the release: wait for it.
	waitFor(t, 5*time.Second, "the rollback of the abandoned transaction", func() bool {
		st := mustStat(t, p)
		return st.InUse == 0 && st.Resets >= 1
	})
}

func TestDatabaseSQLConcurrentWithIdleConns(t *testing.T) {
	// With database/sql's default idle pool, idle *sql.DB connections hold leases: the
	// pool counts them in use. Check the arithmetic and that nothing leaks on Close.
	p := newPool(t, connpool.WithMaxSize(4))
	db := sql.OpenDB(connpool.NewConnector(p))
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(2)
	ctx := ctxTimeout(t, 30*time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				var v int
				if err := db.QueryRowContext(ctx, "SELECT $1::int", g).Scan(&v); err != nil || v != g {
					errs <- err
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	dbStats := db.Stats()
	st := mustStat(t, p)
	if int64(dbStats.Idle) != st.InUse || st.Total > 4 {
		t.Errorf("database/sql idle %d vs pool in_use %d (pool %+v)", dbStats.Idle, st.InUse, st)
	}
	db.Close()
	if st := mustStat(t, p); st.InUse != 0 || st.Acquired != st.Released {
		t.Errorf("after db.Close: %+v", st)
	}
}
