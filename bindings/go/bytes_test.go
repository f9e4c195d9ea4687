package connpool_test

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	connpool "github.com/libconnpool/connpool-go"
)

// A table with one column of each kind a []byte may go to, dropped at cleanup.
func bytesTable(t *testing.T, db *sql.DB) string {
	t.Helper()
	name := fmt.Sprintf("go_bytes_%d", time.Now().UnixNano())
	if _, err := db.Exec("CREATE TABLE " + name + " (id int PRIMARY KEY, txt text, js json, jb jsonb, bin bytea)"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Exec("DROP TABLE " + name) })
	return name
}

// The []byte rule: a bytea parameter gets the bytes, any other type gets them as its text
// (as lib/pq does), whether or not the bytes could be read either way.
func TestBytesParamsFollowTheirTarget(t *testing.T) {
	db := openDB(t, "pool_max_size=2")
	db.SetMaxIdleConns(0)
	ctx := ctxTimeout(t, 20*time.Second)
	table := bytesTable(t, db)

	escaped, err := json.Marshal(map[string]any{"quote": `say "hi"`, "line": "a\nb", "n": []int{1, 2}})
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte(`{"k": "v", "n": 3}`)
	binary := []byte{0, 1, 0xfe, 0xff, '\\', 'x', '4', '1'}
	cases := []struct {
		name     string
		doc, bin []byte // to txt/js/jb, and to bin
	}{
		{"json with escapes, binary bytes", escaped, binary},
		{"json without backslashes, text-like bytes", plain, []byte("plain ascii")},
		{"backslashes both ways", []byte(`{"p": "C:\\dir"}`), []byte(`\x41\\`)},
	}
	insert := "INSERT INTO " + table + " (id, txt, js, jb, bin) VALUES ($1, $2, $3, $4, $5)"
	for i, c := range cases {
		if _, err := db.ExecContext(ctx, insert, i, c.doc, c.doc, c.doc, c.bin); err != nil {
			t.Fatalf("%s: insert: %v", c.name, err)
		}
		var (
			txt, js string
			jbOK    bool
			bin     []byte
		)
		err := db.QueryRowContext(ctx, "SELECT txt, js::text, jb = $2::jsonb, bin FROM "+table+" WHERE id = $1",
			i, c.doc).Scan(&txt, &js, &jbOK, &bin)
		if err != nil {
			t.Fatalf("%s: select: %v", c.name, err)
		}
		if txt != string(c.doc) || js != string(c.doc) || !jbOK || !bytes.Equal(bin, c.bin) {
			t.Errorf("%s: got txt %q json %q jsonb equal %v bytea %q; want %q and bytea %q",
				c.name, txt, js, jbOK, bin, c.doc, c.bin)
		}
	}

	// json.RawMessage (a named []byte) into jsonb, decoded back into a Go value.
	raw := json.RawMessage(escaped)
	if _, err := db.ExecContext(ctx, "UPDATE "+table+" SET jb = $1 WHERE id = 0", raw); err != nil {
		t.Fatal(err)
	}
	var back json.RawMessage // database/sql gives json and jsonb as []byte, as lib/pq does
	if err := db.QueryRowContext(ctx, "SELECT jb FROM "+table+" WHERE id = 0").Scan(&back); err != nil {
		t.Fatal(err)
	}
	var got, want map[string]any
	if err := json.Unmarshal(back, &got); err != nil {
		t.Fatalf("jsonb came back as %q: %v", back, err)
	}
	_ = json.Unmarshal(escaped, &want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("jsonb: got %v, want %v", got, want)
	}

	// A prepared statement knows its parameter types already; a transaction stays usable.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	stmt, err := tx.PrepareContext(ctx, "UPDATE "+table+" SET txt = $1, bin = $2 WHERE id = $3")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stmt.ExecContext(ctx, escaped, binary, 2); err != nil {
		t.Fatal(err)
	}
	var txt string
	var bin []byte
	if err := tx.QueryRowContext(ctx, "SELECT txt, bin FROM "+table+" WHERE id = 2").Scan(&txt, &bin); err != nil {
		t.Fatal(err)
	}
	if txt != string(escaped) || !bytes.Equal(bin, binary) {
		t.Errorf("prepared in a transaction: got %q %q", txt, bin)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// The same rule in the package's own API, including Pool.QueryRow's one-call path.
func TestBytesParamsNativeAPI(t *testing.T) {
	p := newPool(t, connpool.WithMaxSize(2))
	ctx := ctxTimeout(t, 20*time.Second)
	doc := []byte(`{"s": "tab\there \"quoted\""}`)
	var s string
	if err := p.QueryRow(ctx, "SELECT ($1::jsonb)->>'s'", doc).Scan(&s); err != nil {
		t.Fatal(err)
	}
	if s != "tab\there \"quoted\"" {
		t.Errorf("jsonb: got %q", s)
	}
	bin := []byte{'\\', 0, 0xc3}
	var back []byte
	if err := p.QueryRow(ctx, "SELECT $1::bytea", bin).Scan(&back); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back, bin) {
		t.Errorf("bytea: got %q, want %q", back, bin)
	}
	conn, err := p.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	// Repeated past prepare_threshold: the describing statements go through the library's
	// statement cache like any other.
	for i := 0; i < 8; i++ {
		if err := conn.QueryRow(ctx, "SELECT $1::text || $2::text", []byte(`a\`), []byte(`\b`)).Scan(&s); err != nil {
			t.Fatal(err)
		}
		if s != `a\\b` {
			t.Errorf("text: got %q", s)
		}
	}
	// Describing leaves no prepared statement behind on the connection.
	var left int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_prepared_statements WHERE name = 'connpool_go_describe'").Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Errorf("%d prepared statements left on the connection", left)
	}
}

// database/sql's Prepare reports what the server says about the statement, with the SQLSTATE.
func TestPrepareReportsServerErrors(t *testing.T) {
	db := openDB(t, "pool_max_size=2")
	db.SetMaxIdleConns(0)
	ctx := ctxTimeout(t, 20*time.Second)
	cases := []struct{ sql, code string }{
		{"invalid sql", "42601"},
		{"SELECT * FROM person WHERE first_name=$1:name", "42601"},
		{"SELECT * FROM go_no_such_table", "42P01"},
		{"  -- a comment\n  SELECT no_such_column FROM pg_class", "42703"},
		{"INSERT INTO go_no_such_table VALUES ($1)", "42P01"},
	}
	for _, c := range cases {
		stmt, err := db.PrepareContext(ctx, c.sql)
		if err == nil {
			stmt.Close()
			t.Errorf("Prepare(%q): no error", c.sql)
			continue
		}
		var pg *connpool.PgError
		if !errors.As(err, &pg) || pg.Code != c.code || pg.SQLState() != c.code {
			t.Errorf("Prepare(%q): %v, want a *PgError with SQLSTATE %s", c.sql, err, c.code)
		}
	}

	// A valid statement: its parameter count is known, so database/sql checks arguments.
	stmt, err := db.PrepareContext(ctx, "SELECT $1::int + $2::int")
	if err != nil {
		t.Fatal(err)
	}
	defer stmt.Close()
	var n int
	if err := stmt.QueryRowContext(ctx, 40, 2).Scan(&n); err != nil || n != 42 {
		t.Errorf("prepared: %v %v", n, err)
	}
	if err := stmt.QueryRowContext(ctx, 40).Scan(&n); err == nil || !strings.Contains(err.Error(), "expected 2 arguments, got 1") {
		t.Errorf("one argument for two: %v", err)
	}

	// Utility statements are not described: Prepare succeeds and the statement runs.
	table := fmt.Sprintf("go_prep_%d", time.Now().UnixNano())
	create, err := db.PrepareContext(ctx, "CREATE TABLE "+table+" (x int)")
	if err != nil {
		t.Fatal(err)
	}
	defer create.Close()
	if _, err := create.ExecContext(ctx); err != nil {
		t.Fatal(err)
	}
	defer db.Exec("DROP TABLE " + table)

	// In a transaction, a failed Prepare aborts it, as the statement itself would.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.PrepareContext(ctx, "invalid sql"); err == nil {
		t.Error("Prepare in a transaction: no error")
	}
	if err := tx.Commit(); !errors.Is(err, connpool.ErrTxAborted) {
		t.Errorf("Commit after a failed Prepare: %v, want ErrTxAborted", err)
	}
}
