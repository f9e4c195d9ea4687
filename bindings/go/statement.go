package connpool

// statement is the state of one sent statement on the netpoller path: what the callback from
// RawConn.Read/Write collects, and what the last call found. It lives in the pooled encoder and
// its callback is bound once per encoder, so waiting for a statement allocates nothing here (a
// closure per statement cost several heap allocations: every captured variable escapes).
//
// The statement is always sent before the wait starts, and the first callback looks at the
// socket before the goroutine parks. Sending from inside the callback would save that look, but
// RawConn.Read first clears the socket's recorded readiness: whatever was already readable
// before the send (a backend's FATAL message and EOF after pg_terminate_backend, say) would
// then never wake the goroutine. Measured by TestBrokenConnectionIsReported, which hung that
// way.
//
// That first look is a poll(2) made from Go (readableNow), not a collect: right after the send
// the answer is usually not there yet (0.9 of the statements at 8 goroutines), and a collect
// then costs a cgo call, libpq's recv (EAGAIN) and the library's own poll. Bytes that arrive
// after the look wake the goroutine: RawConn.Read cleared the readiness before the first
// callback, so their edge is recorded. Statements that wait to write start with a collect.
// None of the answer can already be in libpq's buffer, unseen by the look: libpq reads while
// sending only when the send could not finish, and such a statement waits to write.
type statement struct {
	lease uintptr
	enc   *encoder
	mode  collectMode

	r        execResult
	w        waitEvents // what the statement waits for (CONNPOOL_WAIT_*)
	looked   bool       // the first callback looked at the socket (readableNow)
	done     bool
	released bool // collectRowRelease released the lease
	err      error

	step func(uintptr) bool // s.run, bound once
}

// collectMode says what the final collect keeps.
type collectMode uint8

const (
	collectResult     collectMode = iota // the result (Exec, Query)
	collectRow                           // QueryRow: the first row, copied into enc.row
	collectRowRelease                    // Pool.QueryRow: that, and the lease is released
)

// begin prepares s for the statement just sent on lease (sent: what it waits for).
func (s *statement) begin(lease uintptr, enc *encoder, mode collectMode, sent waitEvents) {
	*s = statement{lease: lease, enc: enc, mode: mode, w: sent, step: s.step}
	if s.step == nil {
		s.step = s.run
	}
}

// run is the callback: it advances the statement and reports whether it is done.
func (s *statement) run(fd uintptr) bool {
	if !s.looked {
		s.looked = true
		if !s.w.write() && !readableNow(fd) {
			return false // park until the answer's bytes arrive
		}
	}
	switch s.mode {
	case collectRowRelease:
		var released bool
		s.r, s.w, s.done, _, released, s.err = cCollectRowRelease(s.lease, s.enc.rowBuf())
		s.released = s.released || released
	case collectRow:
		s.r, s.w, s.done, _, s.err = cCollectRow(s.lease, s.enc.rowBuf())
	default:
		s.r, s.w, s.done, s.err = cCollect(s.lease)
	}
	return s.done
}

// rowBuf is the buffer the final collect of a QueryRow copies the first row into.
func (e *encoder) rowBuf() *rowBuf {
	if e.row == nil {
		e.row = newRowBuf()
	}
	return e.row
}
