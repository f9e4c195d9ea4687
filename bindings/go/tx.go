package connpool

import (
	"context"
	"errors"
)

// Native transactions (pgx's Begin/BeginTx/Tx), on the package's own statement API; database/sql
// transactions (driver.go) use the same BEGIN text.

// TxIsoLevel is a transaction isolation level ("" = the server's default).
type TxIsoLevel string

// Isolation levels, as PostgreSQL spells them.
const (
	Serializable    TxIsoLevel = "serializable"
	RepeatableRead  TxIsoLevel = "repeatable read"
	ReadCommitted   TxIsoLevel = "read committed"
	ReadUncommitted TxIsoLevel = "read uncommitted"
)

// TxAccessMode is a transaction access mode ("" = the server's default).
type TxAccessMode string

// Access modes.
const (
	ReadWrite TxAccessMode = "read write"
	ReadOnly  TxAccessMode = "read only"
)

// TxDeferrableMode is a transaction deferrable mode ("" = the server's default).
type TxDeferrableMode string

// Deferrable modes (they matter for serializable read-only transactions).
const (
	Deferrable    TxDeferrableMode = "deferrable"
	NotDeferrable TxDeferrableMode = "not deferrable"
)

// TxOptions are the modes of a transaction (pgx's TxOptions); the zero value is a plain BEGIN.
type TxOptions struct {
	IsoLevel       TxIsoLevel
	AccessMode     TxAccessMode
	DeferrableMode TxDeferrableMode
}

// beginSQL is the BEGIN statement for o; only the constants above are accepted (the text goes
// into SQL).
func (o TxOptions) beginSQL() (string, error) {
	stmt := "BEGIN"
	switch o.IsoLevel {
	case "":
	case Serializable, RepeatableRead, ReadCommitted, ReadUncommitted:
		stmt += " ISOLATION LEVEL " + string(o.IsoLevel)
	default:
		return "", &Error{Status: StatusInvalidArgument, Message: "unknown isolation level " + string(o.IsoLevel)}
	}
	switch o.AccessMode {
	case "":
	case ReadWrite, ReadOnly:
		stmt += " " + string(o.AccessMode)
	default:
		return "", &Error{Status: StatusInvalidArgument, Message: "unknown access mode " + string(o.AccessMode)}
	}
	switch o.DeferrableMode {
	case "":
	case Deferrable, NotDeferrable:
		stmt += " " + string(o.DeferrableMode)
	default:
		return "", &Error{Status: StatusInvalidArgument, Message: "unknown deferrable mode " + string(o.DeferrableMode)}
	}
	return stmt, nil
}

// ErrTxClosed is returned by a Tx's methods after Commit or Rollback (so a deferred Rollback
// after a Commit is harmless: ignore this error).
var ErrTxClosed = errors.New("connpool: the transaction is already committed or rolled back")

// Tx is a transaction on one connection (Pool.Begin, Conn.Begin). Use it from one goroutine at
// a time and end it with Commit or Rollback; a Tx from Pool.Begin releases its connection then.
type Tx struct {
	conn    *Conn
	release bool // from Pool.Begin: the Tx owns the Conn
	done    bool
}

// Begin acquires a connection and starts a transaction on it: BeginTx with zero options.
func (p *Pool) Begin(ctx context.Context) (*Tx, error) { return p.BeginTx(ctx, TxOptions{}) }

// BeginTx acquires a connection (as Acquire, bounded by ctx) and starts a transaction with the
// given modes. Commit or Rollback releases the connection; so does a failed BEGIN.
func (p *Pool) BeginTx(ctx context.Context, opts TxOptions) (*Tx, error) {
	stmt, err := opts.beginSQL()
	if err != nil {
		return nil, err
	}
	c, err := p.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := c.Exec(ctx, stmt); err != nil {
		c.Release()
		return nil, err
	}
	return &Tx{conn: c, release: true}, nil
}

// Begin starts a transaction on the Conn: BeginTx with zero options.
func (c *Conn) Begin(ctx context.Context) (*Tx, error) { return c.BeginTx(ctx, TxOptions{}) }

// BeginTx starts a transaction on the Conn with the given modes. The Conn stays the caller's:
// Commit and Rollback do not release it.
func (c *Conn) BeginTx(ctx context.Context, opts TxOptions) (*Tx, error) {
	stmt, err := opts.beginSQL()
	if err != nil {
		return nil, err
	}
	if _, err := c.Exec(ctx, stmt); err != nil {
		return nil, err
	}
	return &Tx{conn: c}, nil
}

// Conn returns the transaction's connection.
func (tx *Tx) Conn() *Conn { return tx.conn }

// Exec runs one statement in the transaction (as Conn.Exec).
func (tx *Tx) Exec(ctx context.Context, sql string, args ...any) (Result, error) {
	if tx.done {
		return Result{}, ErrTxClosed
	}
	return tx.conn.Exec(ctx, sql, args...)
}

// Query runs one query in the transaction (as Conn.Query).
func (tx *Tx) Query(ctx context.Context, sql string, args ...any) (*Rows, error) {
	if tx.done {
		return nil, ErrTxClosed
	}
	return tx.conn.Query(ctx, sql, args...)
}

// QueryRow runs a query for at most one row in the transaction (as Conn.QueryRow).
func (tx *Tx) QueryRow(ctx context.Context, sql string, args ...any) *Row {
	if tx.done {
		return &Row{err: ErrTxClosed}
	}
	return tx.conn.QueryRow(ctx, sql, args...)
}

// Commit commits the transaction. When an earlier statement failed, the server allows only a
// rollback: Commit rolls back and returns ErrTxAborted. A Tx from Pool.Begin releases its
// connection (even when COMMIT fails: the pool then rolls it back or closes it).
func (tx *Tx) Commit(ctx context.Context) error {
	if tx.done {
		return ErrTxClosed
	}
	tx.done = true
	var err error
	if cTxStatus(tx.conn.lease) == txInError {
		if _, err = tx.conn.Exec(ctx, "ROLLBACK"); err == nil {
			err = ErrTxAborted
		}
	} else {
		_, err = tx.conn.Exec(ctx, "COMMIT")
	}
	tx.finish()
	return err
}

// Rollback rolls the transaction back; after Commit or Rollback it returns ErrTxClosed, so
// `defer tx.Rollback(ctx)` is safe. A Tx from Pool.Begin releases its connection (should the
// ROLLBACK fail, e.g. because ctx ended, the pool rolls back on release).
func (tx *Tx) Rollback(ctx context.Context) error {
	if tx.done {
		return ErrTxClosed
	}
	tx.done = true
	_, err := tx.conn.Exec(ctx, "ROLLBACK")
	tx.finish()
	return err
}

func (tx *Tx) finish() {
	if tx.release {
		tx.conn.Release()
	}
}
