package connpool

import (
	"reflect"
	"unsafe"
)

// Stats is filled from the library's connpool_stats by the layout the library itself
// describes (connpool_stats_field_describe: name and byte offset of each int64 field), matched
// to the Stats fields by their `stat` tags. No list of fields is repeated here: a statistic the
// library adds needs one tagged field in Stats, and TestEveryLibraryStatHasAStatsField fails
// until it has one.

// statCopy copies one int64 from connpool_stats (at from) into Stats (at to). A time.Duration
// field receives microseconds converted to a Duration.
type statCopy struct {
	from, to uintptr
	micros   bool
}

type statsCopier []statCopy

// statsLayout is built once, when the package loads.
var statsLayout = newStatsCopier()

func newStatsCopier() statsCopier {
	offsets := map[string]uintptr{}
	for i, n := 0, cStatsFieldCount(); i < n; i++ {
		f, err := cStatsFieldDescribe(i)
		if err != nil {
			break // the test above reports a library that cannot describe its fields
		}
		offsets[f.name] = uintptr(f.offset)
	}
	t := reflect.TypeOf(Stats{})
	var out statsCopier
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		from, ok := offsets[f.Tag.Get("stat")]
		if !ok || f.Type.Kind() != reflect.Int64 {
			continue
		}
		out = append(out, statCopy{from: from, to: f.Offset, micros: f.Type == durationType})
	}
	return out
}

// fill copies every described field that lies within the first size bytes of the
// connpool_stats at src (the struct as this package was compiled against) into s.
func (c statsCopier) fill(s *Stats, src unsafe.Pointer, size int) {
	dst := unsafe.Pointer(s)
	for _, f := range c {
		if f.from+8 > uintptr(size) {
			continue
		}
		v := *(*int64)(unsafe.Add(src, f.from))
		if f.micros {
			v = int64(microseconds(v))
		}
		*(*int64)(unsafe.Add(dst, f.to)) = v
	}
}
