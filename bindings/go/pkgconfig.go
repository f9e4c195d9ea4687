//go:build !connpool_nopkgconfig

package connpool

// The library's compiler and linker flags come from pkg-config's connpool.pc: installed with
// the library (PKG_CONFIG_PATH=PREFIX/lib/pkgconfig for a prefix pkg-config does not search),
// or, for a build tree, the connpool-uninstalled.pc that CMake writes to
// BUILD/bindings/go/pkgconfig (PKG_CONFIG_PATH=BUILD/bindings/go/pkgconfig; pkg-config prefers
// an -uninstalled.pc it finds). Build with -tags connpool_nopkgconfig to give the flags in
// CGO_CFLAGS and CGO_LDFLAGS instead (nopkgconfig.go).

// #cgo pkg-config: connpool
import "C"
