// Package connpool is the Go binding of libconnpool, a PostgreSQL connection pool with a C
// ABI (libconnpool.so). It uses cgo and the standard library only.
//
//	pool, err := connpool.Open("host=/run/postgresql dbname=app",
//		connpool.WithMaxSize(8), connpool.WithAcquireTimeout(5*time.Second))
//	if err != nil { ... }
//	defer pool.Close()
//
//	var n int
//	err = pool.QueryRow(ctx, "SELECT $1::int + 1", 41).Scan(&n)
//
//	conn, err := pool.Acquire(ctx) // ctx bounds the wait; cancelling it abandons the wait
//	if err != nil { ... }
//	defer conn.Release()
//	rows, err := conn.Query(ctx, "SELECT id, name FROM users WHERE team = $1", team)
//
// # Acquire and contexts
//
// When every connection is busy, Acquire waits in the binding: at most max_size+max_overflow
// goroutines are inside the library's acquire at once, the others wait on a channel, and a
// release lets the next one in (a hand-off inside the Go scheduler). Goroutines inside the
// library that must wait (a connection being opened) use its asynchronous acquire, parked on
// the request's eventfd through Go's netpoller. Either way a thousand waiting goroutines cost
// no OS threads. Without a context deadline the pool's acquire_timeout bounds the wait;
// max_waiting applies too, and Stat counts these waiters. The context's deadline becomes the library's acquire timeout; cancelling the
// context cancels the request at once. Errors match both vocabularies: errors.Is(err,
// ErrTimeout) and errors.Is(err, context.DeadlineExceeded); context.Canceled and ErrCanceled.
//
// Statements are sent with the library's asynchronous statement API and the goroutine parks
// on the connection's socket through the netpoller, so statements in flight hold no OS
// thread either. The context is checked before a statement is sent, and cancelling it while
// the statement runs sends a cancel request to the server (connpool_lease_cancel): the
// statement then fails with an error that matches the context's error and is a *PgError with
// SQLSTATE 57014. If the server does not answer the cancel within 250 ms the statement is
// abandoned: the error matches the context's error and ErrConnectionBroken, and the connection
// is closed when released.
//
// The library prepares statements per connection (statement_cache_size, prepare_threshold;
// WithStatementCacheSize, WithPrepareThreshold): repeated statement texts skip the server's
// parse and plan.
//
// # Run-time operations, transactions and hooks
//
// A running pool can be resized (Pool.Resize), paused (Pause, Resume), have every connection
// replaced (Reset, alias Drain), its idle connections validated (Check) and its conninfo
// rotated (SetConnInfo); Pool.Connections lists what each connection is doing and Conn.Info
// describes a lease's connection. Pool.TryAcquire never waits (nil, ErrWouldBlock).
// Pool.Begin/BeginTx start a transaction on a connection of their own (Tx: Exec, Query,
// QueryRow, Commit, Rollback), Conn.Begin one on a held Conn. WithAfterConnect runs Go code on
// the first lease of each new connection, WithAfterRelease decides whether a released
// connection is reused. Connect opens one connection outside any pool. With leak_threshold
// set (WithLeakThreshold), each lease is labelled with its caller's file:line for the leak
// report.
//
// # Parameters
//
// Parameters are $1, $2... and travel as text; the server infers their types from the
// statement (add a cast such as $1::int8 where it cannot). Go values are written as:
// nil and nil pointers as NULL; string as is; []byte (nil is NULL) as bytes (bytea's hex
// format) to a bytea parameter and as its text, unchanged, to any other type, as lib/pq does
// (json.Marshal output stays JSON in text, json and jsonb); integers and floats in decimal (NaN, ±Infinity spelled as PostgreSQL does); bool as
// true/false; time.Time as an ISO 8601 timestamp with its UTC offset; driver.Valuer
// (sql.NullString...) through its Value; named types through their kind. One statement per
// call: the extended query protocol does not allow several statements separated by ';'.
//
// The target type of a []byte matters only when its bytes read differently as bytea input and
// as text (a backslash, a NUL byte, invalid UTF-8). Then the binding first asks the server for
// the statement's parameter types on the same connection (PREPARE, pg_prepared_statements,
// DEALLOCATE: see describe.go); statements PREPARE does not take (CALL, DO...) get such bytes
// as bytea when they cannot be text, else as text.
//
// # Results
//
// Results arrive in text format and are copied out of C memory by Scan: into *string,
// *[]byte (bytea is decoded), *int, *int16, *int32, *int64, *float32, *float64, *bool,
// *time.Time (date, timestamp, timestamptz; timestamptz comes back in time.Local, the others
// in UTC), *any, a sql.Scanner, or a pointer to a pointer of those (nil for SQL NULL). A NULL
// into a destination that cannot hold it is an error.
//
// # Errors
//
// Library failures are *Error values that unwrap to a Status; the Err* sentinels are Status
// values, so errors.Is(err, connpool.ErrClosed) works. A statement the server rejected is a
// *PgError with the SQLSTATE in Code (errors.As), also matching ErrQueryFailed.
//
// # Memory and lifetimes
//
// Handles are the library's 64-bit tokens (bit 63 set), kept as uintptr and never
// dereferenced. C never keeps a Go pointer: statement text and parameters are passed in one
// Go byte buffer for the duration of the call; results stay in C memory owned by Rows until
// Close (or until the last Next), and QueryRow copies its row out at once. A Conn that is
// garbage-collected without Release is released by a finalizer, which logs a warning: call
// Release. Rows left unclosed are freed by a finalizer too. The tests run with -race and
// GODEBUG=cgocheck=2.
//
// # database/sql
//
// Importing the package registers the driver "connpool": sql.Open("connpool", dsn), where the
// DSN is a libpq conninfo whose pool_* keys are pool options ("host=/run/postgresql
// pool_max_size=8"). Each database/sql connection is one lease. See Driver for how
// database/sql's idle connections interact with the pool (in short: SetMaxIdleConns(0) lets
// the pool do the pooling; OpenDB does that for an existing Pool).
//
// Prepare checks the statement on the server (the describe above): invalid SQL fails there
// with a *PgError carrying the SQLSTATE, and NumInput is the real parameter count. Utility
// statements, which PREPARE refuses, are checked when they run. json and jsonb results come as
// []byte, as from lib/pq. For sqlx, call sqlx.BindDriver("connpool", sqlx.DOLLAR) once, or wrap
// with sqlx.NewDb(db, "postgres"); the package registers no name but "connpool".
package connpool
