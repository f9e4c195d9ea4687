//go:build !linux

package connpool

// readableNow answers true where poll(2) is not wired up: the caller then asks the library.
func readableNow(fd uintptr) bool { return true }
