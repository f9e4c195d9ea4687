package connpool

import (
	"runtime"
	"time"
	"unsafe"
)

// LeaseInfo describes the connection behind a Conn (Conn.Info).
type LeaseInfo struct {
	ID         uint64    // as Conn.ID: unique in the process, never reused
	BackendPID int32     // the server process serving the connection
	CreatedAt  time.Time // when the connection was opened
	LastUsedAt time.Time // when its previous lease ended (CreatedAt on its first lease)
	Uses       int64     // leases of this connection so far, this one included
	IsNew      bool      // this is the connection's first lease
}

// Info returns what the Conn's connection is: its id, backend pid, when it was opened and last
// used, how often it was leased, and whether this is its first lease. A direct connection
// (Connect) reports Uses 1 and IsNew true. It never blocks.
func (c *Conn) Info() (LeaseInfo, error) {
	i, err := cLeaseGetInfo(c.lease)
	runtime.KeepAlive(c)
	if err != nil {
		return LeaseInfo{}, err
	}
	return LeaseInfo{ID: i.id, BackendPID: i.backendPID, CreatedAt: i.created, LastUsedAt: i.lastUsed,
		Uses: i.uses, IsNew: i.isNew}, nil
}

// ID returns a number identifying the Conn's server connection: unique within the process,
// never reused, the same for every lease of that connection (as Pool.Connections reports
// it). It is 0 after Release.
func (c *Conn) ID() uint64 {
	id, err := cLeaseConnectionID(c.lease)
	runtime.KeepAlive(c)
	if err != nil {
		return 0
	}
	return id
}

// PgConn returns the connection's libpq handle (a PGconn *) for code that calls libpq itself
// through cgo, e.g. for COPY: (*C.PGconn)(ptr). It belongs to the pool: do not PQfinish it,
// do not use it after Release, and use it from the goroutine holding the Conn only. Leave it
// idle (no result pending, not in pipeline mode, same session user) before Release, or the
// pool closes it rather than reusing it. Taking it makes the connection's prepared-statement
// cache forget its entries (statement names starting with "_connpool_" are reserved).
func (c *Conn) PgConn() (unsafe.Pointer, error) {
	p, err := cLeasePgconn(c.lease)
	runtime.KeepAlive(c)
	return p, err
}

// Close is Release; it reads better for a direct connection (Connect), which it closes.
func (c *Conn) Close() error { return c.Release() }
