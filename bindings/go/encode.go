package connpool

import (
	"bytes"
	"database/sql/driver"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// encoder packs a statement for cpgo_exec: the SQL text and every non-NULL parameter, each
// NUL-terminated, in one byte buffer, plus each parameter's offset (-1 for NULL). Both slices
// are plain Go memory without pointers, handed to C for the duration of the call only.
type encoder struct {
	buf  []byte
	offs []int64
	row  *rowBuf   // QueryRow's first row, copied in the final collect
	st   statement // the statement in flight on the netpoller path (statement.go)
	// The last encode wrote a []byte whose meaning depends on the parameter's type (see
	// bytesTarget) without knowing that type: describing the statement would settle it.
	guessedBytes bool
}

const maxParams = 65535 // PostgreSQL's protocol limit

// encode packs sql and args. types are the parameters' type OIDs as the server described them
// (describe.go), or nil when unknown; they only decide how []byte values are written.
func (e *encoder) encode(sql string, args []any, types []uint32) error {
	if strings.IndexByte(sql, 0) >= 0 {
		return &Error{Status: StatusInvalidArgument, Message: "the SQL text contains a NUL byte"}
	}
	if len(args) > maxParams {
		return &Error{Status: StatusInvalidArgument,
			Message: fmt.Sprintf("%d parameters given; PostgreSQL accepts at most %d", len(args), maxParams)}
	}
	e.buf = append(append(e.buf[:0], sql...), 0)
	e.offs = e.offs[:0]
	e.guessedBytes = false
	for i, a := range args {
		start := len(e.buf)
		var (
			null bool
			err  error
		)
		target := bytesUnknown
		if types != nil {
			target = bytesText
			if i < len(types) && types[i] == oidBytea {
				target = bytesBytea
			}
		}
		e.buf, null, err = e.appendValue(e.buf, a, target, 0)
		if err != nil {
			return &Error{Status: StatusInvalidArgument, Message: fmt.Sprintf("parameter $%d: %v", i+1, err)}
		}
		if null {
			e.buf = e.buf[:start]
			e.offs = append(e.offs, -1)
			continue
		}
		if bytes.IndexByte(e.buf[start:], 0) >= 0 {
			return &Error{Status: StatusInvalidArgument,
				Message: fmt.Sprintf("parameter $%d contains a NUL byte (not allowed in PostgreSQL text)", i+1)}
		}
		e.buf = append(e.buf, 0)
		e.offs = append(e.offs, int64(start))
	}
	return nil
}

// reset drops buffers that grew unusually large, so one big statement does not pin memory.
func (e *encoder) reset() {
	if cap(e.buf) > 64<<10 {
		e.buf = nil
	}
	if cap(e.offs) > 1024 {
		e.offs = nil
	}
}

const hexDigits = "0123456789abcdef"

// bytesTarget is what a []byte parameter goes to, as far as the encoder knows.
type bytesTarget uint8

const (
	bytesUnknown bytesTarget = iota // the statement was not described
	bytesBytea                      // a bytea parameter: the bytes, in bytea's hex format
	bytesText                       // any other type: the bytes are its text, unchanged
)

// appendBytes writes a []byte parameter. Its bytes go to a bytea parameter as bytes and to
// any other as text (as lib/pq does: json.Marshal output into json, jsonb or text stays JSON).
// Without the parameter's type: bytes that are valid UTF-8 without a backslash or NUL mean the
// same to bytea's input (its escape format treats only backslashes specially) as to text, so
// they are sent unchanged; anything else is a guess, recorded so that the caller can describe
// the statement and encode again: bytea (hex) when the bytes cannot be text (a NUL or invalid
// UTF-8), else text.
func (e *encoder) appendBytes(buf, b []byte, target bytesTarget) []byte {
	switch target {
	case bytesBytea:
		return appendBytea(buf, b)
	case bytesText:
		return append(buf, b...)
	}
	if bytes.IndexByte(b, '\\') < 0 && bytes.IndexByte(b, 0) < 0 && utf8.Valid(b) {
		return append(buf, b...)
	}
	e.guessedBytes = true
	if bytes.IndexByte(b, 0) >= 0 || !utf8.Valid(b) {
		return appendBytea(buf, b)
	}
	return append(buf, b...)
}

// appendValue appends the PostgreSQL text form of v. Parameters are sent as text and the
// server infers their types, so the text must be valid input for the type the statement
// expects: see "Parameters" in the package documentation. target applies to []byte values.
func (e *encoder) appendValue(buf []byte, v any, target bytesTarget, depth int) ([]byte, bool, error) {
	switch x := v.(type) {
	case nil:
		return buf, true, nil
	case string:
		return append(buf, x...), false, nil
	case []byte:
		if x == nil {
			return buf, true, nil
		}
		return e.appendBytes(buf, x, target), false, nil
	case int:
		return strconv.AppendInt(buf, int64(x), 10), false, nil
	case int64:
		return strconv.AppendInt(buf, x, 10), false, nil
	case int32:
		return strconv.AppendInt(buf, int64(x), 10), false, nil
	case int16:
		return strconv.AppendInt(buf, int64(x), 10), false, nil
	case int8:
		return strconv.AppendInt(buf, int64(x), 10), false, nil
	case uint:
		return strconv.AppendUint(buf, uint64(x), 10), false, nil
	case uint64:
		return strconv.AppendUint(buf, x, 10), false, nil
	case uint32:
		return strconv.AppendUint(buf, uint64(x), 10), false, nil
	case uint16:
		return strconv.AppendUint(buf, uint64(x), 10), false, nil
	case uint8:
		return strconv.AppendUint(buf, uint64(x), 10), false, nil
	case float64:
		return appendFloat(buf, x, 64), false, nil
	case float32:
		return appendFloat(buf, float64(x), 32), false, nil
	case bool:
		if x {
			return append(buf, "true"...), false, nil
		}
		return append(buf, "false"...), false, nil
	case time.Time:
		return appendTime(buf, x), false, nil
	case driver.Valuer:
		if depth > 8 {
			return buf, false, fmt.Errorf("%T: driver.Valuer nesting too deep", v)
		}
		rv := reflect.ValueOf(x)
		if rv.Kind() == reflect.Pointer && rv.IsNil() {
			return buf, true, nil // as database/sql does for a nil pointer Valuer
		}
		val, err := x.Value()
		if err != nil {
			return buf, false, fmt.Errorf("%T.Value: %w", v, err)
		}
		return e.appendValue(buf, val, target, depth+1)
	}
	// Pointers and named types (type UserID int64, ...).
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer:
		if rv.IsNil() {
			return buf, true, nil
		}
		if depth > 8 {
			return buf, false, fmt.Errorf("%T: pointer nesting too deep", v)
		}
		return e.appendValue(buf, rv.Elem().Interface(), target, depth+1)
	case reflect.String:
		return append(buf, rv.String()...), false, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.AppendInt(buf, rv.Int(), 10), false, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return strconv.AppendUint(buf, rv.Uint(), 10), false, nil
	case reflect.Float32:
		return appendFloat(buf, rv.Float(), 32), false, nil
	case reflect.Float64:
		return appendFloat(buf, rv.Float(), 64), false, nil
	case reflect.Bool:
		return e.appendValue(buf, rv.Bool(), target, depth+1)
	case reflect.Slice:
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			if rv.IsNil() {
				return buf, true, nil
			}
			return e.appendBytes(buf, rv.Bytes(), target), false, nil
		}
	}
	return buf, false, fmt.Errorf("unsupported type %T (use string, []byte, integers, floats, bool, "+
		"time.Time, nil, pointers to these, or a driver.Valuer)", v)
}

// appendBytea writes bytea's hex input format: \x followed by two hex digits per byte.
func appendBytea(buf, b []byte) []byte {
	buf = append(buf, '\\', 'x')
	for _, c := range b {
		buf = append(buf, hexDigits[c>>4], hexDigits[c&15])
	}
	return buf
}

func appendFloat(buf []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(buf, "NaN"...)
	case math.IsInf(f, 1):
		return append(buf, "Infinity"...)
	case math.IsInf(f, -1):
		return append(buf, "-Infinity"...)
	}
	return strconv.AppendFloat(buf, f, 'g', -1, bits)
}

// appendTime writes an ISO 8601 timestamp with its UTC offset, which is exact for timestamptz
// (a timestamp without time zone takes the wall clock and ignores the offset; pass UTC or
// local times deliberately, or a string). A date parameter takes the date part.
func appendTime(buf []byte, t time.Time) []byte {
	if _, off := t.Zone(); off%60 != 0 {
		t = t.UTC() // an offset with seconds (historical LMT zones): send the UTC instant
	}
	year := t.Year()
	bc := year <= 0
	if bc {
		year = 1 - year // 1 BC is year 0 in Go's proleptic calendar
	}
	for i := digits(year); i < 4; i++ {
		buf = append(buf, '0')
	}
	buf = strconv.AppendInt(buf, int64(year), 10)
	buf = t.AppendFormat(buf, "-01-02 15:04:05.999999999-07:00")
	if bc {
		buf = append(buf, " BC"...)
	}
	return buf
}

func digits(n int) int {
	d := 1
	for n >= 10 {
		n /= 10
		d++
	}
	return d
}
