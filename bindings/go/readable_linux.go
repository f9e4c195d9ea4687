package connpool

import (
	"syscall"
	"unsafe"
)

// pollfd is struct pollfd of <poll.h>.
type pollfd struct {
	fd      int32
	events  int16
	revents int16
}

const (
	pollIn  = 0x1
	pollErr = 0x8
	pollHup = 0x10
)

// readableNow reports whether the socket fd has bytes to read (or an error or hang-up to
// report) at this instant: poll(2) with a zero timeout, called directly (no cgo call, and no
// scheduler hand-off: it never blocks). A failed poll answers true, so that the caller asks
// the library, which knows.
func readableNow(fd uintptr) bool {
	p := pollfd{fd: int32(fd), events: pollIn}
	var zero syscall.Timespec // ppoll, not poll: linux/arm64 has only ppoll
	n, _, errno := syscall.RawSyscall6(syscall.SYS_PPOLL, uintptr(unsafe.Pointer(&p)), 1,
		uintptr(unsafe.Pointer(&zero)), 0, 0, 0)
	if errno != 0 {
		return true
	}
	return n != 0 && p.revents&(pollIn|pollErr|pollHup) != 0
}
