// Package example is a small program using sqlx with connpool: named inserts, IN lists,
// structs, JSON. Run by CTest (go.sqlx_example) against the postgres fixture.
package example

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/jmoiron/sqlx/types"
	connpool "github.com/libconnpool/connpool-go"
)

func conninfo(t *testing.T) string {
	dir := os.Getenv("CONNPOOL_TEST_PG_DIR")
	if dir == "" {
		t.Skip("no PostgreSQL: set CONNPOOL_TEST_PG_DIR")
	}
	b, err := os.ReadFile(filepath.Join(dir, "conninfo"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

type Player struct {
	ID    int            `db:"id"`
	Name  string         `db:"name"`
	Team  string         `db:"team"`
	Stats types.JSONText `db:"stats"`
}

// The README's way: one line tells sqlx that "connpool" uses $1, $2... placeholders.
func TestSqlxWithConnpool(t *testing.T) {
	sqlx.BindDriver("connpool", sqlx.DOLLAR)
	db, err := sqlx.Connect("connpool", conninfo(t)+" pool_max_size=4")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxIdleConns(0) // the pool does the pooling
	table := fmt.Sprintf("sqlx_players_%d", time.Now().UnixNano())
	db.MustExec(`CREATE TABLE ` + table + ` (id serial PRIMARY KEY, name text NOT NULL,
		team text NOT NULL, stats jsonb)`)
	defer db.Exec("DROP TABLE " + table)

	players := []Player{
		{Name: "Ada", Team: "red", Stats: types.JSONText(`{"goals": 3, "note": "a \"star\""}`)},
		{Name: "Bo", Team: "blue", Stats: types.JSONText(`{"goals": 1}`)},
		{Name: "Cy", Team: "green", Stats: types.JSONText(`{"goals": 0}`)},
	}
	// NamedExec, with a slice: one INSERT of three rows; []byte JSON goes into jsonb as JSON.
	res, err := db.NamedExec(`INSERT INTO `+table+` (name, team, stats) VALUES (:name, :team, :stats)`, players)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 3 {
		t.Fatalf("NamedExec inserted %d rows", n)
	}

	// In expands the slice into ?, ?; Rebind turns them into $1, $2 for PostgreSQL.
	q, args, err := sqlx.In(`SELECT * FROM `+table+` WHERE team IN (?) ORDER BY name`, []string{"red", "blue"})
	if err != nil {
		t.Fatal(err)
	}
	q = db.Rebind(q)
	if !strings.Contains(q, "$1, $2") {
		t.Fatalf("Rebind: %s", q)
	}
	var got []Player
	if err := db.Select(&got, q, args...); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Name != "Ada" || got[1].Name != "Bo" {
		t.Fatalf("Select: %+v", got)
	}
	var stats map[string]any
	if err := got[0].Stats.Unmarshal(&stats); err != nil || stats["note"] != `a "star"` {
		t.Errorf("jsonb came back as %s (%v)", got[0].Stats, err)
	}

	// Get with a named query through a prepared statement (described on the server).
	nstmt, err := db.PrepareNamed(`SELECT * FROM ` + table + ` WHERE name = :name`)
	if err != nil {
		t.Fatal(err)
	}
	defer nstmt.Close()
	var cy Player
	if err := nstmt.Get(&cy, map[string]any{"name": "Cy"}); err != nil || cy.Team != "green" {
		t.Errorf("PrepareNamed/Get: %+v %v", cy, err)
	}
	if _, err := db.PrepareNamed(`SELEC * FROM ` + table); err == nil {
		t.Error("PrepareNamed of invalid SQL: no error")
	}

	// A transaction with Rebind'ed and named statements.
	tx := db.MustBegin()
	tx.MustExec(tx.Rebind(`UPDATE `+table+` SET team = ? WHERE name = ?`), "blue", "Cy")
	if _, err := tx.NamedExec(`UPDATE `+table+` SET stats = :stats WHERE name = :name`,
		Player{Name: "Cy", Stats: types.JSONText(`{"goals": 2}`)}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	var goals int
	if err := db.Get(&goals, `SELECT (stats->>'goals')::int FROM `+table+` WHERE name = $1 AND team = $2`, "Cy", "blue"); err != nil || goals != 2 {
		t.Errorf("after the transaction: %d %v", goals, err)
	}
}

// Without BindDriver: sqlx.NewDb takes the driver name only to choose placeholders, so an
// existing pool can be wrapped as "postgres" (no second driver is registered).
func TestSqlxNewDbOverPool(t *testing.T) {
	pool, err := connpool.Open(conninfo(t), connpool.WithMaxSize(2))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	db := sqlx.NewDb(connpool.OpenDB(pool), "postgres")
	defer db.Close()
	q, args, err := sqlx.In(`SELECT x FROM generate_series(1, 5) AS x WHERE x IN (?) ORDER BY x`, []int{2, 3})
	if err != nil {
		t.Fatal(err)
	}
	var xs []int
	if err := db.Select(&xs, db.Rebind(q), args...); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(xs, []int{2, 3}) {
		t.Errorf("got %v", xs)
	}
	var doc json.RawMessage
	if err := db.Get(&doc, db.Rebind(`SELECT ?::jsonb`), []byte(`{"k": "back\\slash"}`)); err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(doc, &m); err != nil || m["k"] != `back\slash` {
		t.Errorf("jsonb: %s %v", doc, err)
	}
}
