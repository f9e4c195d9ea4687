// Command crosslang is built with -buildmode=c-shared into a library that a Python process
// loads with ctypes (bindings/python/tests/test_crosslang.py): it looks up a pool the Python
// side registered and runs queries through it, proving that one registered pool serves both
// languages in one process.
package main

/*
#include <stdint.h>
#include <string.h>
*/
import "C"

import (
	"context"
	"errors"
	"sync"
	"time"
	"unsafe"

	connpool "github.com/libconnpool/connpool-go"
)

// GoRunQueries looks up the registered pool `name` and runs n queries through it from
// `workers` goroutines at once, each returning its backend's pid. The distinct pids are
// written to pids (up to maxPids). It returns the number of queries that succeeded, or
// -(status) when the lookup failed (e.g. -17 for CONNPOOL_ERR_NOT_FOUND); on any failure the
// message of the first one goes to errbuf (NUL-terminated, at most errlen bytes).
//
//export GoRunQueries
func GoRunQueries(name *C.char, n, workers C.int, pids *C.int64_t, maxPids C.int, errbuf *C.char, errlen C.int) C.int {
	setError := func(err error) {
		if errbuf == nil || errlen <= 0 {
			return
		}
		b := []byte(err.Error())
		if len(b) > int(errlen)-1 {
			b = b[:int(errlen)-1]
		}
		dst := unsafe.Slice((*byte)(unsafe.Pointer(errbuf)), int(errlen))
		copy(dst, b)
		dst[len(b)] = 0
	}
	pool, err := connpool.Lookup(C.GoString(name))
	if err != nil {
		setError(err)
		var status connpool.Status
		if errors.As(err, &status) {
			return -C.int(status)
		}
		return -1
	}
	var (
		mu       sync.Mutex
		done     int
		firstErr error
		seen     = map[int64]bool{}
		wg       sync.WaitGroup
	)
	jobs := make(chan struct{}, int(n))
	for i := 0; i < int(n); i++ {
		jobs <- struct{}{}
	}
	close(jobs)
	for w := 0; w < int(workers); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				var pid int64
				err := pool.QueryRow(ctx, "SELECT pg_backend_pid()::int8 FROM pg_sleep(0.002)").Scan(&pid)
				cancel()
				mu.Lock()
				if err != nil {
					if firstErr == nil {
						firstErr = err
					}
				} else {
					done++
					seen[pid] = true
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		setError(firstErr)
	}
	out := unsafe.Slice((*int64)(unsafe.Pointer(pids)), int(maxPids))
	i := 0
	for pid := range seen {
		if i < len(out) {
			out[i] = pid
		}
		i++
	}
	return C.int(done)
}

// GoPoolAcquired returns the `acquired` counter of the registered pool `name` as the Go side
// sees it (through its own handle), or -1.
//
//export GoPoolAcquired
func GoPoolAcquired(name *C.char) C.int64_t {
	pool, err := connpool.Lookup(C.GoString(name))
	if err != nil {
		return -1
	}
	s, err := pool.Stat()
	if err != nil {
		return -1
	}
	return C.int64_t(s.Acquired)
}

func main() {}
