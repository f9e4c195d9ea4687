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

// The look-first hint starts by looking, switches to collecting first once most first looks
// found the answer there, and back when they stop finding it.
func TestLookHintFollowsTheAnswers(t *testing.T) {
	var h lookHint
	if h.readFirst() {
		t.Fatal("a new hint collects first")
	}
	for i := 0; i < 3*lookHintMax; i++ {
		h.note(i%4 != 0) // three in four found the answer
	}
	if !h.readFirst() {
		t.Errorf("score %d: three answers in four there, still looking first", h.score.Load())
	}
	for i := 0; i < lookHintMax; i++ {
		h.note(false)
	}
	if h.readFirst() || h.score.Load() != 0 {
		t.Errorf("score %d after %d misses: still collecting first", h.score.Load(), lookHintMax)
	}
	var none *lookHint // a statement without a pool's hint looks first
	none.note(true)
	if none.readFirst() {
		t.Error("a nil hint collects first")
	}
}
