package connpool

// The one Go function C calls: the log trampoline in log.go. A file with //export may only
// declare in its preamble, which is why the trampoline lives there.

// #include <stdint.h>
import "C"

//export connpoolGoLog
func connpoolGoLog(id C.uintptr_t, level C.int32_t, pool, msg *C.char) {
	deliverLog(uintptr(id), Level(level), C.GoString(pool), C.GoString(msg))
}
