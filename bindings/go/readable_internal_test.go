package connpool

import (
	"syscall"
	"testing"
)

// readableNow sees bytes waiting and a closed peer, and nothing on a quiet socket.
func TestReadableNow(t *testing.T) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fds[0])
	if readableNow(uintptr(fds[0])) {
		t.Error("a quiet socket reads as readable")
	}
	if _, err := syscall.Write(fds[1], []byte{'Z'}); err != nil {
		t.Fatal(err)
	}
	if !readableNow(uintptr(fds[0])) {
		t.Error("a byte waiting is not seen")
	}
	var b [1]byte
	if _, err := syscall.Read(fds[0], b[:]); err != nil {
		t.Fatal(err)
	}
	syscall.Close(fds[1])
	if !readableNow(uintptr(fds[0])) {
		t.Error("a closed peer is not seen")
	}
}
