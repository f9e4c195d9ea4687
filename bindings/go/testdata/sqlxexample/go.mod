// A small program using sqlx over connpool's database/sql driver, built offline from this
// repository and Debian's golang-github-jmoiron-sqlx-dev (the CTest go.sqlx_example).
module example.com/connpool-sqlx-example

go 1.19

require (
	github.com/jmoiron/sqlx v1.3.5
	github.com/libconnpool/connpool-go v0.0.0
)

replace github.com/libconnpool/connpool-go => ../..

replace github.com/jmoiron/sqlx => /usr/share/gocode/src/github.com/jmoiron/sqlx

// sqlx's go.mod names the drivers of its own tests; module mode reads their go.mod files.
replace github.com/go-sql-driver/mysql => /usr/share/gocode/src/github.com/go-sql-driver/mysql

replace github.com/lib/pq => /usr/share/gocode/src/github.com/lib/pq

replace github.com/mattn/go-sqlite3 => /usr/share/gocode/src/github.com/mattn/go-sqlite3
