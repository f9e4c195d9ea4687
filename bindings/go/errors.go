package connpool

import (
	"context"
	"database/sql"
	"strings"
)

// Status is a libconnpool status code (connpool.h). Its values are pinned by the C ABI. A
// Status is itself an error: the Err* sentinels below are Status values, and every error this
// package returns for a library failure unwraps to one, so errors.Is(err, connpool.ErrTimeout)
// works on an *Error, a *PgError and a context-bounded acquire failure alike.
type Status int32

// Status codes, one per CONNPOOL_* constant. The values are pinned by the C ABI; their names
// and descriptions come from the library (String, Description), and a test checks that every
// status the loaded library reports has its constant here.
const (
	StatusOK                  Status = 0
	StatusInvalidArgument     Status = 1
	StatusInvalidHandle       Status = 2
	StatusNoMemory            Status = 3
	StatusTimeout             Status = 4
	StatusPoolClosed          Status = 5
	StatusConnectFailed       Status = 6
	StatusQueryFailed         Status = 7
	StatusConnectionBroken    Status = 8
	StatusUnknownOption       Status = 9
	StatusInternal            Status = 10
	StatusCanceled            Status = 11
	StatusInProgress          Status = 12
	StatusDatabaseUnavailable Status = 13
	StatusTooManyWaiters      Status = 14
	StatusForked              Status = 15
	StatusWouldBlock          Status = 16 // TryAcquire: nothing idle (ErrWouldBlock)
	StatusNotFound            Status = 17 // no registered pool has that name (Lookup, Close)
	StatusConflict            Status = 18 // GetOrCreate: the name is taken with other settings
)

// Sentinel errors for errors.Is, one per failure status.
var (
	ErrInvalidArgument     error = StatusInvalidArgument
	ErrInvalidHandle       error = StatusInvalidHandle
	ErrNoMemory            error = StatusNoMemory
	ErrTimeout             error = StatusTimeout
	ErrClosed              error = StatusPoolClosed
	ErrConnectFailed       error = StatusConnectFailed
	ErrQueryFailed         error = StatusQueryFailed
	ErrConnectionBroken    error = StatusConnectionBroken
	ErrUnknownOption       error = StatusUnknownOption
	ErrInternal            error = StatusInternal
	ErrCanceled            error = StatusCanceled
	ErrInProgress          error = StatusInProgress
	ErrDatabaseUnavailable error = StatusDatabaseUnavailable
	ErrTooManyWaiters      error = StatusTooManyWaiters
	ErrForked              error = StatusForked
	ErrNotFound            error = StatusNotFound
	ErrConflict            error = StatusConflict
	// ErrWouldBlock is TryAcquire's answer when no connection can be had without waiting.
	ErrWouldBlock error = StatusWouldBlock
)

// ErrNoRows is returned by Row.Scan when the query returned no row. It is database/sql's
// sql.ErrNoRows, so code shared between both APIs can test for one value.
var ErrNoRows = sql.ErrNoRows

// unknownStatusName is what connpool_status_name gives for a value the library does not define.
const unknownStatusName = "CONNPOOL_UNKNOWN_STATUS"

// statusNames and statusDescriptions are read from the library at init (connpool_status_name
// and connpool_status_description over 0, 1, 2... up to the first unknown value): the Status
// constants above are the Go API, the names and texts are the library's.
var statusNames, statusDescriptions = loadStatuses()

func loadStatuses() (names, descriptions []string) {
	for s := Status(0); s < 4096; s++ { // the bound only guards against a broken library
		name := cStatusName(s)
		if name == unknownStatusName {
			break
		}
		names = append(names, name)
		descriptions = append(descriptions, cStatusDescription(s))
	}
	return names, descriptions
}

// String returns the symbolic C name, e.g. "CONNPOOL_ERR_TIMEOUT" ("CONNPOOL_UNKNOWN_STATUS"
// for a value the loaded library does not define).
func (s Status) String() string {
	if s >= 0 && int(s) < len(statusNames) {
		return statusNames[s]
	}
	return cStatusName(s)
}

// Description returns the library's one-line description of the status, e.g. "the pool was
// closed".
func (s Status) Description() string {
	if s >= 0 && int(s) < len(statusDescriptions) {
		return statusDescriptions[s]
	}
	return cStatusDescription(s)
}

// Error makes a Status usable as an error (the sentinels).
func (s Status) Error() string { return "connpool: " + s.String() }

// Error is a failure reported by libconnpool: its status, and the library's message (which
// says what went wrong and what to do; it never contains a password).
type Error struct {
	Status  Status
	Message string
}

func (e *Error) Error() string {
	if e.Message == "" {
		return "connpool: " + e.Status.String()
	}
	return "connpool: " + e.Status.String() + ": " + e.Message
}

// Unwrap returns the Status, so errors.Is(err, connpool.ErrTimeout) etc. work.
func (e *Error) Unwrap() error { return e.Status }

// PgError is a statement the server rejected (Status StatusQueryFailed), or a connection the
// server ended with a reason (StatusConnectionBroken, e.g. Code "57P01" for a terminated
// backend). Use errors.As to get it; it also unwraps to its Status.
type PgError struct {
	Status   Status // StatusQueryFailed or StatusConnectionBroken
	Code     string // the five-character SQLSTATE, e.g. "23505"
	Severity string // "ERROR", "FATAL"... when the message carried it
	Message  string // the server's message, without the severity prefix
}

func (e *PgError) Error() string {
	sev := e.Severity
	if sev == "" {
		sev = "ERROR"
	}
	return sev + ": " + e.Message + " (SQLSTATE " + e.Code + ")"
}

// Unwrap returns the Status, so errors.Is(err, connpool.ErrQueryFailed) works.
func (e *PgError) Unwrap() error { return e.Status }

// SQLState returns the SQLSTATE (the same interface lib/pq and pgx errors offer).
func (e *PgError) SQLState() string { return e.Code }

var severities = []string{"ERROR", "FATAL", "PANIC", "WARNING", "NOTICE"}

func newError(status Status, msg, sqlstate string) error {
	if sqlstate == "" {
		return &Error{Status: status, Message: msg}
	}
	e := &PgError{Status: status, Code: sqlstate, Message: msg}
	for _, sev := range severities {
		if rest := strings.TrimPrefix(msg, sev+":"); rest != msg {
			e.Severity = sev
			e.Message = strings.TrimLeft(rest, " ")
			break
		}
	}
	return e
}

// ctxError is an acquire abandoned because its context ended. It matches both the context's
// error and the corresponding status: errors.Is(err, context.DeadlineExceeded) and
// errors.Is(err, ErrTimeout) for a deadline; context.Canceled and ErrCanceled for a cancel.
type ctxError struct {
	ctxErr error
	status Status
	msg    string
}

func (e *ctxError) Error() string { return "connpool: " + e.msg + " (" + e.ctxErr.Error() + ")" }
func (e *ctxError) Unwrap() error { return e.ctxErr }
func (e *ctxError) Is(target error) bool {
	return target == e.ctxErr || target == error(e.status)
}

func contextError(ctx context.Context, what string) error {
	err := ctx.Err()
	if err == nil {
		err = context.Canceled
	}
	st := StatusCanceled
	if err == context.DeadlineExceeded {
		st = StatusTimeout
	}
	return &ctxError{ctxErr: err, status: st, msg: what}
}
