package connpool

// The library's log messages, routed to Go (connpool_log_set_callback and
// connpool_pool_set_log_callback). The C callback is one trampoline (below) that calls the
// exported Go function in log_export.go with a registration id as its user data; the id names
// a LogFunc in logFuncs. C never holds a Go pointer.

/*
#include <connpool/connpool.h>
#include <stdint.h>
#include <stdlib.h>

extern void connpoolGoLog(uintptr_t id, int32_t level, char *pool, char *message);

static void cpgo_log_trampoline(void *user_data, int32_t level, const char *pool,
                                const char *message) {
    connpoolGoLog((uintptr_t)user_data, level, (char *)pool, (char *)message);
}

typedef struct { connpool_status st; connpool_error *err; } cpgo_log_status;

// id 0: no callback (back to stderr, or to the process-wide routing for a pool).
static cpgo_log_status cpgo_log_set(uintptr_t id, int32_t min_level) {
    cpgo_log_status r = {0, NULL};
    r.st = connpool_log_set_callback(id ? cpgo_log_trampoline : NULL, (void *)id, min_level,
                                     &r.err);
    return r;
}

static cpgo_log_status cpgo_pool_log_set(uintptr_t pool, uintptr_t id, int32_t min_level) {
    cpgo_log_status r = {0, NULL};
    r.st = connpool_pool_set_log_callback((connpool_pool *)pool, id ? cpgo_log_trampoline : NULL,
                                          (void *)id, min_level, &r.err);
    return r;
}
*/
import "C"

import (
	"fmt"
	"log"
	"sync"
	"sync/atomic"
)

// Level is the level of a library log message (CONNPOOL_LOG_*).
type Level int32

// The levels, lowest first. LevelOff as a minimum level silences the library.
const (
	LevelTrace Level = iota
	LevelDebug
	LevelInfo
	LevelWarn
	LevelError
	LevelCritical
	LevelOff
)

var levelNames = [...]string{"trace", "debug", "info", "warn", "error", "critical", "off"}

// String is the level's name as the log_level option spells it ("warn").
func (l Level) String() string {
	if l >= 0 && int(l) < len(levelNames) {
		return levelNames[l]
	}
	return fmt.Sprintf("Level(%d)", int32(l))
}

// LogFunc receives one library log message: its level, the pool's name (WithName) and the
// text, with passwords already removed. It is called from one library thread, one message at
// a time, never with a pool lock held and never from the goroutine that caused the message; a
// panic in it is recovered and ignored. If it is slower than the library logs, messages are
// dropped rather than waited for (LogDropped counts them): a slow LogFunc never stalls a pool.
type LogFunc func(level Level, pool, msg string)

// StdLogger adapts a *log.Logger: each message becomes one line "connpool: [pool] level: msg".
func StdLogger(l *log.Logger) LogFunc {
	return func(level Level, pool, msg string) {
		l.Printf("connpool: [%s] %s: %s", pool, level, msg)
	}
}

var (
	logFuncs  sync.Map // registration id (uintptr) -> LogFunc
	logSeq    atomic.Uintptr
	globalLog struct {
		sync.Mutex
		id uintptr
	}
)

func registerLogFunc(fn LogFunc) uintptr {
	id := logSeq.Add(1)
	logFuncs.Store(id, fn)
	return id
}

// deliverLog runs on the library's delivery thread (through connpoolGoLog).
func deliverLog(id uintptr, level Level, pool, msg string) {
	fn, ok := logFuncs.Load(id)
	if !ok {
		return
	}
	defer func() { _ = recover() }()
	fn.(LogFunc)(level, pool, msg)
}

// SetLogger routes the library's log messages at minLevel and above, from every pool without
// its own logger (WithLogger), to fn. A pool opened with the log_level option (WithLogLevel)
// keeps that level. fn == nil restores the default (stderr, at the level of log_level or
// $CONNPOOL_LOG_LEVEL; off when neither is set). SetLogger returns once the messages queued
// for the previous logger have been delivered (bounded: after 500 ms the rest are dropped), so
// the previous LogFunc is not called after it returns (unless SetLogger is called from a
// LogFunc, which cannot wait for itself).
func SetLogger(fn LogFunc, minLevel Level) error {
	globalLog.Lock()
	defer globalLog.Unlock()
	var id uintptr
	if fn != nil {
		id = registerLogFunc(fn)
	}
	r := C.cpgo_log_set(C.uintptr_t(id), C.int32_t(minLevel))
	if err := takeError(r.st, r.err); err != nil {
		logFuncs.Delete(id)
		return err
	}
	logFuncs.Delete(globalLog.id)
	globalLog.id = id
	return nil
}

// LogDropped returns how many log messages the library dropped because its delivery queue was
// full (the host's logger was slower than the library logged), process-wide, since it loaded.
func LogDropped() int64 { return int64(C.connpool_log_dropped_count()) }

// poolLogger is the value of a WithLogger option: applied by Open after the pool exists,
// never passed to connpool_options_set.
type poolLogger struct {
	fn       LogFunc
	minLevel Level
}

const poolLoggerKey = "(logger)"

// WithLogger gives the pool its own logger: its messages at minLevel and above go to fn
// instead of the process-wide SetLogger or stderr (the pool's log_level option, if set, still
// decides the level). The pool's first message ("pool created for ...") is logged before Open
// can install it, so it goes the process-wide way.
func WithLogger(fn LogFunc, minLevel Level) Option {
	return Option{poolLoggerKey, poolLogger{fn, minLevel}}
}

// setPoolLogger installs a WithLogger option on a new pool; it returns the registration id
// to pass to clearPoolLogger when the pool is freed.
func setPoolLogger(handle uintptr, l poolLogger) (uintptr, error) {
	if l.fn == nil {
		return 0, nil
	}
	id := registerLogFunc(l.fn)
	r := C.cpgo_pool_log_set(C.uintptr_t(handle), C.uintptr_t(id), C.int32_t(l.minLevel))
	if err := takeError(r.st, r.err); err != nil {
		logFuncs.Delete(id)
		return 0, err
	}
	return id, nil
}

// clearPoolLogger returns the pool to the process-wide routing (waiting, bounded, for its
// queued messages) and forgets its LogFunc.
func clearPoolLogger(handle, id uintptr) {
	if id == 0 {
		return
	}
	r := C.cpgo_pool_log_set(C.uintptr_t(handle), 0, C.int32_t(LevelOff))
	_ = takeError(r.st, r.err)
	logFuncs.Delete(id)
}
