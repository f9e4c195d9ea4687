package connpool

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"
)

// DriverName is the name this package registers with database/sql.
const DriverName = "connpool"

func init() { sql.Register(DriverName, &Driver{}) }

// Driver is the database/sql driver: sql.Open("connpool", dsn). The DSN is a libpq conninfo
// (key=value or URI) in which keys starting with "pool_" are pool options rather than libpq
// settings: "host=/run/postgresql dbname=app pool_max_size=8 pool_acquire_timeout=5000", or
// "postgresql://app@db/app?pool_max_size=8" (values as in connpool_options_set: durations in
// milliseconds). Every sql.DB opened this way owns one Pool, closed by db.Close().
//
// Each database/sql connection is a lease from the pool (Connect acquires, Close releases).
// database/sql keeps up to SetMaxIdleConns (default 2) of them idle, and an idle
// database/sql connection still holds its lease: the pool counts it as in use, does not
// health-check or expire it, and cannot hand it to anyone else. Either let the pool do the
// pooling (db.SetMaxIdleConns(0): every statement then acquires and releases a lease, which
// costs about a microsecond and no network round trip; OpenDB does this), or keep
// SetMaxIdleConns small and SetConnMaxIdleTime short. Keep SetMaxOpenConns at or below
// max_size + max_overflow, or extra connections just wait in Acquire (bounded by the context
// or acquire_timeout).
type Driver struct {
	mu    sync.Mutex
	pools map[string]*Pool // for the legacy Open(dsn) path only
}

// OpenConnector parses dsn and creates the pool (no connection is opened yet).
func (d *Driver) OpenConnector(dsn string) (driver.Connector, error) {
	conninfo, opts, err := ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	p, err := Open(conninfo, opts...)
	if err != nil {
		return nil, err
	}
	return &Connector{pool: p, owned: true, drv: d}, nil
}

// Open implements driver.Driver for callers that bypass OpenConnector (database/sql itself
// never does): connections for the same DSN share one pool that lives until the process ends.
func (d *Driver) Open(dsn string) (driver.Conn, error) {
	d.mu.Lock()
	p := d.pools[dsn]
	if p == nil {
		conninfo, opts, err := ParseDSN(dsn)
		if err == nil {
			p, err = Open(conninfo, opts...)
		}
		if err != nil {
			d.mu.Unlock()
			return nil, err
		}
		if d.pools == nil {
			d.pools = make(map[string]*Pool)
		}
		d.pools[dsn] = p
	}
	d.mu.Unlock()
	return (&Connector{pool: p, drv: d}).Connect(context.Background())
}

// ParseDSN splits a DSN into the libpq conninfo and the pool options given as pool_* keys.
func ParseDSN(dsn string) (string, []Option, error) {
	if strings.HasPrefix(dsn, "postgresql://") || strings.HasPrefix(dsn, "postgres://") {
		u, err := url.Parse(dsn)
		if err != nil {
			// Do not quote the DSN: it may hold a password.
			return "", nil, &Error{Status: StatusInvalidArgument, Message: "the DSN is not a valid URI"}
		}
		q := u.Query()
		var opts []Option
		for key, vals := range q {
			if strings.HasPrefix(key, "pool_") {
				for _, v := range vals {
					opts = append(opts, Option{strings.TrimPrefix(key, "pool_"), v})
				}
				q.Del(key)
			}
		}
		if len(opts) == 0 {
			return dsn, nil, nil
		}
		u.RawQuery = q.Encode()
		return u.String(), opts, nil
	}
	var (
		b    strings.Builder
		opts []Option
	)
	s := dsn
	for {
		s = strings.TrimLeft(s, " \t\n\r")
		if s == "" {
			break
		}
		key, value, rest, raw, err := nextConninfoPair(s)
		if err != nil {
			return "", nil, err
		}
		if strings.HasPrefix(key, "pool_") {
			opts = append(opts, Option{strings.TrimPrefix(key, "pool_"), value})
		} else {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(raw)
		}
		s = rest
	}
	if len(opts) == 0 {
		return dsn, nil, nil
	}
	return b.String(), opts, nil
}

// nextConninfoPair reads `key = value` (value bare, or single-quoted with \' and \\) from the
// start of s, returning the unquoted value, the remainder and the pair's original text.
func nextConninfoPair(s string) (key, value, rest, raw string, err error) {
	bad := &Error{Status: StatusInvalidArgument,
		Message: "the DSN is not a valid conninfo (expected key=value pairs)"}
	i := strings.IndexByte(s, '=')
	if i <= 0 {
		return "", "", "", "", bad
	}
	key = strings.TrimRight(s[:i], " \t\n\r")
	if key == "" || strings.ContainsAny(key, " \t\n\r'") {
		return "", "", "", "", bad
	}
	j := i + 1
	for j < len(s) && strings.IndexByte(" \t\n\r", s[j]) >= 0 {
		j++
	}
	var v strings.Builder
	if j < len(s) && s[j] == '\'' {
		j++
		for {
			if j >= len(s) {
				return "", "", "", "", bad // unterminated quote
			}
			c := s[j]
			if c == '\\' && j+1 < len(s) {
				v.WriteByte(s[j+1])
				j += 2
				continue
			}
			j++
			if c == '\'' {
				break
			}
			v.WriteByte(c)
		}
	} else {
		for j < len(s) && strings.IndexByte(" \t\n\r", s[j]) < 0 {
			c := s[j]
			if c == '\\' && j+1 < len(s) {
				v.WriteByte(s[j+1])
				j += 2
				continue
			}
			v.WriteByte(c)
			j++
		}
	}
	return key, v.String(), s[j:], s[:j], nil
}

// Connector makes database/sql connections from a Pool: sql.OpenDB(connpool.NewConnector(p)).
type Connector struct {
	pool  *Pool
	owned bool // created from a DSN: closed with the sql.DB
	drv   *Driver
}

// NewConnector returns a Connector over an existing pool, which the caller keeps owning (and
// closes after closing the sql.DB).
func NewConnector(p *Pool) *Connector { return &Connector{pool: p} }

// OpenDB returns a *sql.DB over an existing pool, with db.SetMaxIdleConns(0) so that idle
// connections stay in the pool rather than as leases held by database/sql (see Driver).
func OpenDB(p *Pool) *sql.DB {
	db := sql.OpenDB(NewConnector(p))
	db.SetMaxIdleConns(0)
	return db
}

// Pool returns the pool behind the connector.
func (c *Connector) Pool() *Pool { return c.pool }

// Connect acquires a lease (bounded by ctx, as Pool.Acquire).
func (c *Connector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	return &sqlConn{c: conn}, nil
}

// Driver returns the package's driver.
func (c *Connector) Driver() driver.Driver {
	if c.drv != nil {
		return c.drv
	}
	return &Driver{}
}

// Close closes the pool if the connector created it from a DSN (sql.DB.Close calls this).
func (c *Connector) Close() error {
	if c.owned {
		c.pool.Close()
	}
	return nil
}

// sqlConn is one database/sql connection: one lease.
type sqlConn struct {
	c *Conn
}

var (
	_ driver.Conn               = (*sqlConn)(nil)
	_ driver.ConnBeginTx        = (*sqlConn)(nil)
	_ driver.ConnPrepareContext = (*sqlConn)(nil)
	_ driver.ExecerContext      = (*sqlConn)(nil)
	_ driver.QueryerContext     = (*sqlConn)(nil)
	_ driver.Pinger             = (*sqlConn)(nil)
	_ driver.SessionResetter    = (*sqlConn)(nil)
	_ driver.Validator          = (*sqlConn)(nil)
	_ driver.NamedValueChecker  = (*sqlConn)(nil)
)

func (s *sqlConn) Prepare(query string) (driver.Stmt, error) {
	return s.PrepareContext(context.Background(), query)
}

// PrepareContext checks the statement on the server and learns its parameter types (see
// describe.go: PREPARE, a look-up, DEALLOCATE), so that invalid SQL fails here with the
// server's *PgError (SQLSTATE in Code), NumInput is the real parameter count and []byte
// arguments are encoded for their targets without asking again. Statements PREPARE does not
// take (utility statements such as CREATE, SET, CALL) are checked when they run. The
// statement itself is not kept prepared: each execution is sent with its parameters through
// the library's statement cache, which prepares statement texts that repeat on a connection.
func (s *sqlConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	st := &sqlStmt{conn: s, query: query}
	if describable(query) {
		types, err := s.c.describe(ctx, query)
		if err != nil {
			return nil, err
		}
		st.types = types
	}
	return st, nil
}

// Close releases the lease.
func (s *sqlConn) Close() error { return s.c.Release() }

// Pool returns the pool the connection's lease came from (reachable through sql.Conn.Raw).
func (s *sqlConn) Pool() *Pool { return s.c.pool }

// Conn returns the lease behind the database/sql connection (reachable through sql.Conn.Raw),
// e.g. to use the package's Query/Scan directly. Do not Release it: database/sql owns it.
func (s *sqlConn) Conn() *Conn { return s.c }

func (s *sqlConn) Begin() (driver.Tx, error) {
	return s.BeginTx(context.Background(), driver.TxOptions{})
}

func (s *sqlConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	var o TxOptions
	switch sql.IsolationLevel(opts.Isolation) {
	case sql.LevelDefault:
	case sql.LevelReadUncommitted:
		o.IsoLevel = ReadUncommitted
	case sql.LevelReadCommitted:
		o.IsoLevel = ReadCommitted
	case sql.LevelRepeatableRead, sql.LevelSnapshot:
		o.IsoLevel = RepeatableRead
	case sql.LevelSerializable, sql.LevelLinearizable:
		o.IsoLevel = Serializable
	default:
		return nil, fmt.Errorf("connpool: isolation level %v is not supported", sql.IsolationLevel(opts.Isolation))
	}
	if opts.ReadOnly {
		o.AccessMode = ReadOnly
	}
	if _, err := s.c.BeginTx(ctx, o); err != nil {
		return nil, err
	}
	return &sqlTx{conn: s}, nil
}

// ErrTxAborted is returned by a database/sql Commit when an earlier statement failed inside
// the transaction: the server only allows a rollback, which Commit then performs.
var ErrTxAborted = errors.New("connpool: the transaction was aborted by an earlier error and has been rolled back")

type sqlTx struct{ conn *sqlConn }

func (t *sqlTx) Commit() error {
	if cTxStatus(t.conn.c.lease) == txInError {
		if _, err := t.conn.c.Exec(context.Background(), "ROLLBACK"); err != nil {
			return err
		}
		return ErrTxAborted
	}
	_, err := t.conn.c.Exec(context.Background(), "COMMIT")
	return err
}

func (t *sqlTx) Rollback() error {
	_, err := t.conn.c.Exec(context.Background(), "ROLLBACK")
	return err
}

func (s *sqlConn) CheckNamedValue(nv *driver.NamedValue) error {
	// Every value goes to the encoder as is (it knows driver.Valuer, pointers, named types).
	return nil
}

func namedArgs(named []driver.NamedValue) ([]any, error) {
	args := make([]any, len(named))
	for _, nv := range named {
		if nv.Name != "" {
			return nil, fmt.Errorf("connpool: named parameter %q: use $1, $2... placeholders", nv.Name)
		}
		if nv.Ordinal < 1 || nv.Ordinal > len(named) {
			return nil, fmt.Errorf("connpool: bad parameter ordinal %d", nv.Ordinal)
		}
		args[nv.Ordinal-1] = nv.Value
	}
	return args, nil
}

func (s *sqlConn) ExecContext(ctx context.Context, query string, named []driver.NamedValue) (driver.Result, error) {
	return s.execTyped(ctx, query, named, nil)
}

func (s *sqlConn) QueryContext(ctx context.Context, query string, named []driver.NamedValue) (driver.Rows, error) {
	return s.queryTyped(ctx, query, named, nil)
}

// execTyped runs query; types are its parameter types when a Prepare described it, else nil.
func (s *sqlConn) execTyped(ctx context.Context, query string, named []driver.NamedValue, types []uint32) (driver.Result, error) {
	args, err := namedArgs(named)
	if err != nil {
		return nil, err
	}
	r, err := s.c.exec(ctx, query, args, types)
	if err != nil {
		return nil, err
	}
	cResultFree(r.res)
	return sqlResult{rowsAffected: r.affected}, nil
}

func (s *sqlConn) queryTyped(ctx context.Context, query string, named []driver.NamedValue, types []uint32) (driver.Rows, error) {
	args, err := namedArgs(named)
	if err != nil {
		return nil, err
	}
	r, err := s.c.exec(ctx, query, args, types)
	if err != nil {
		return nil, err
	}
	return &sqlRows{rows: newRows(r)}, nil
}

func (s *sqlConn) Ping(ctx context.Context) error {
	_, err := s.c.Exec(ctx, "SELECT 1")
	if err != nil && s.c.broken {
		return driver.ErrBadConn
	}
	return err
}

// ResetSession runs before database/sql reuses an idle connection: a broken one is dropped.
func (s *sqlConn) ResetSession(ctx context.Context) error {
	if !s.IsValid() {
		return driver.ErrBadConn
	}
	return nil
}

// IsValid is false once the connection broke; database/sql then closes (releases) it.
func (s *sqlConn) IsValid() bool { return !s.c.broken && !s.c.released.Load() }

type sqlResult Result

func (r sqlResult) LastInsertId() (int64, error) {
	return 0, errors.New("connpool: LastInsertId is not supported by PostgreSQL; use INSERT ... RETURNING")
}

func (r sqlResult) RowsAffected() (int64, error) {
	if r.rowsAffected < 0 {
		return 0, errors.New("connpool: the statement reported no row count")
	}
	return r.rowsAffected, nil
}

type sqlStmt struct {
	conn  *sqlConn
	query string
	types []uint32 // the parameter types, as described by Prepare; nil when not described
}

func (st *sqlStmt) Close() error { return nil }

// NumInput is the statement's parameter count when Prepare described it (database/sql then
// checks the argument count), else -1.
func (st *sqlStmt) NumInput() int {
	if st.types == nil {
		return -1
	}
	return len(st.types)
}

func (st *sqlStmt) Exec(args []driver.Value) (driver.Result, error) {
	return st.ExecContext(context.Background(), valuesToNamed(args))
}

func (st *sqlStmt) Query(args []driver.Value) (driver.Rows, error) {
	return st.QueryContext(context.Background(), valuesToNamed(args))
}

func (st *sqlStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	return st.conn.execTyped(ctx, st.query, args, st.types)
}

func (st *sqlStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	return st.conn.queryTyped(ctx, st.query, args, st.types)
}

func (st *sqlStmt) CheckNamedValue(nv *driver.NamedValue) error { return nil }

func valuesToNamed(args []driver.Value) []driver.NamedValue {
	named := make([]driver.NamedValue, len(args))
	for i, v := range args {
		named[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	return named
}

type sqlRows struct{ rows *Rows }

func (r *sqlRows) Columns() []string { return r.rows.Columns() }
func (r *sqlRows) Close() error      { r.rows.Close(); return nil }

func (r *sqlRows) Next(dest []driver.Value) error {
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return io.EOF
	}
	r.rows.loadTypes()
	for i := range dest {
		c := r.rows.cells[i]
		if c.null() {
			dest[i] = nil
		} else {
			dest[i] = driverValue(c.bytes(), r.rows.types[i])
		}
	}
	return nil
}

// driverValue is decodeValue, except that json and jsonb come as []byte, as lib/pq gives
// them: database/sql then scans them into json.RawMessage and other named []byte types too.
func driverValue(b []byte, oid uint32) driver.Value {
	if oid == oidJSON || oid == oidJSONB {
		return append([]byte(nil), b...)
	}
	return decodeValue(b, oid)
}

// ColumnTypeDatabaseTypeName reports the PostgreSQL type name ("INT4", "TEXT"...) for the
// types this package knows, else the OID as a string.
func (r *sqlRows) ColumnTypeDatabaseTypeName(i int) string {
	oids := r.rows.ColumnTypeOIDs()
	if i < 0 || i >= len(oids) {
		return ""
	}
	oid := oids[i]
	if name, ok := typeNames[oid]; ok {
		return name
	}
	return fmt.Sprint(oid)
}
