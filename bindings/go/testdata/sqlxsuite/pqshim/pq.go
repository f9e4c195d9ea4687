// Package pq stands in for github.com/lib/pq when sqlx's own test suite runs against
// connpool (bindings/go/testdata/sqlxsuite/run): the suite hard-codes the driver name
// "postgres", which lib/pq registers, so this package registers connpool's driver under that
// name instead. It exists only in that test's module; the connpool package itself registers
// only "connpool" (a second "postgres" would make sql.Register panic next to lib/pq).
package pq

import (
	"database/sql"

	connpool "github.com/libconnpool/connpool-go"
)

func init() { sql.Register("postgres", &connpool.Driver{}) }
