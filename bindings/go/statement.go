package connpool

import "sync/atomic"

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
// Where the answer is mostly there already (a lone client whose backend ran on the same CPU
// while the sender was preempted), the look costs a system call more than reading at once: the
// pool keeps a hint of how often the first look found the answer (lookHint), and above one in
// two the first callback collects straight away, as before.
// None of the answer can already be in libpq's buffer, unseen by the look: libpq reads while
// sending only when the send could not finish, and such a statement waits to write.
type statement struct {
	lease uintptr
	enc   *encoder
	mode  collectMode

	r        execResult
	w        waitEvents // what the statement waits for (CONNPOOL_WAIT_*)
	looked   bool       // the first callback looked at the socket (readableNow)
	hint     *lookHint  // the pool's: whether to look first or collect first
	learn    bool       // the first collect tells the hint whether the answer was there
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
		if !s.w.write() {
			if s.hint.readFirst() {
				s.learn = true
			} else {
				ready := readableNow(fd)
				s.hint.note(ready)
				if !ready {
					return false // park until the answer's bytes arrive
				}
			}
		}
	}
	s.collect()
	if s.learn {
		s.learn = false
		s.hint.note(s.done)
	}
	return s.done
}

// lookHint is a pool's running score of first looks that found the answer already there:
// up by one for each that did, down by one for each that did not, within [0, lookHintMax].
// Above the middle the answer is there more often than not, and collecting first saves the
// look. Updates race benignly (a lost update only delays the switch).
type lookHint struct{ score atomic.Int32 }

const lookHintMax = 16

func (h *lookHint) readFirst() bool { return h != nil && h.score.Load() > lookHintMax/2 }

func (h *lookHint) note(ready bool) {
	if h == nil {
		return
	}
	v := h.score.Load()
	if ready && v < lookHintMax {
		h.score.Store(v + 1)
	} else if !ready && v > 0 {
		h.score.Store(v - 1)
	}
}

// collect advances the statement by one library call.
func (s *statement) collect() {
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
}

// rowBuf is the buffer the final collect of a QueryRow copies the first row into.
func (e *encoder) rowBuf() *rowBuf {
	if e.row == nil {
		e.row = newRowBuf()
	}
	return e.row
}
