//go:build connpool_nopkgconfig

package connpool

// Without pkg-config (build tag connpool_nopkgconfig): the header and library are found
// through CGO_CFLAGS (-I.../include) and CGO_LDFLAGS (-L.../lib, plus -Wl,-rpath,... when the
// library is not in the loader's path), or the compiler's default paths.

// #cgo LDFLAGS: -lconnpool
import "C"
