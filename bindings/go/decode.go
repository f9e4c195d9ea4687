package connpool

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"time"
)

// PostgreSQL type OIDs this package decodes specially (pg_type.oid).
const (
	oidBool        = 16
	oidBytea       = 17
	oidChar        = 18
	oidName        = 19
	oidInt8        = 20
	oidInt2        = 21
	oidInt4        = 23
	oidText        = 25
	oidOID         = 26
	oidJSON        = 114
	oidFloat4      = 700
	oidFloat8      = 701
	oidBPChar      = 1042
	oidVarchar     = 1043
	oidDate        = 1082
	oidTime        = 1083
	oidTimestamp   = 1114
	oidTimestamptz = 1184
	oidInterval    = 1186
	oidNumeric     = 1700
	oidUUID        = 2950
	oidJSONB       = 3802
)

var typeNames = map[uint32]string{
	oidBool: "BOOL", oidBytea: "BYTEA", oidChar: "CHAR", oidName: "NAME", oidInt8: "INT8",
	oidInt2: "INT2", oidInt4: "INT4", oidText: "TEXT", oidOID: "OID", oidJSON: "JSON",
	oidFloat4: "FLOAT4", oidFloat8: "FLOAT8", oidBPChar: "BPCHAR", oidVarchar: "VARCHAR",
	oidDate: "DATE", oidTime: "TIME", oidTimestamp: "TIMESTAMP", oidTimestamptz: "TIMESTAMPTZ",
	oidInterval: "INTERVAL", oidNumeric: "NUMERIC", oidUUID: "UUID", oidJSONB: "JSONB",
}

// errNull is wrapped when a NULL meets a destination that cannot hold it.
var errNull = errors.New("value is NULL")

// scanValue stores one text-format value (b; null for SQL NULL) of type oid into dest.
// b points into C memory: everything stored is copied.
func scanValue(dest any, b []byte, null bool, oid uint32) error {
	switch d := dest.(type) {
	case nil:
		return nil // skip the column
	case *any:
		if null {
			*d = nil
			return nil
		}
		*d = decodeValue(b, oid)
		return nil
	case *string:
		if null {
			return nullError(dest)
		}
		*d = string(b)
		return nil
	case *[]byte:
		if null {
			*d = nil
			return nil
		}
		v, err := decodeBytes(b, oid)
		*d = v
		return err
	case *int:
		n, err := parseInt(b, null, dest, strconv.IntSize)
		*d = int(n)
		return err
	case *int64:
		n, err := parseInt(b, null, dest, 64)
		*d = n
		return err
	case *int32:
		n, err := parseInt(b, null, dest, 32)
		*d = int32(n)
		return err
	case *int16:
		n, err := parseInt(b, null, dest, 16)
		*d = int16(n)
		return err
	case *float64:
		f, err := parseFloat(b, null, dest, 64)
		*d = f
		return err
	case *float32:
		f, err := parseFloat(b, null, dest, 32)
		*d = float32(f)
		return err
	case *bool:
		if null {
			return nullError(dest)
		}
		v, err := parseBool(b)
		*d = v
		return err
	case *time.Time:
		if null {
			return nullError(dest)
		}
		t, err := parseTime(b, oid)
		*d = t
		return err
	case sql.Scanner:
		if null {
			return d.Scan(nil)
		}
		return d.Scan(decodeValue(b, oid))
	}
	return scanReflect(dest, b, null, oid)
}

// scanReflect handles **T (NULL sets the pointer to nil, anything else allocates a T) and
// pointers to named types (type UserID int64).
func scanReflect(dest any, b []byte, null bool, oid uint32) error {
	rv := reflect.ValueOf(dest)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("destination %T is not a non-nil pointer", dest)
	}
	ev := rv.Elem()
	if ev.Kind() == reflect.Pointer {
		if null {
			ev.Set(reflect.Zero(ev.Type()))
			return nil
		}
		nv := reflect.New(ev.Type().Elem())
		if err := scanValue(nv.Interface(), b, false, oid); err != nil {
			return err
		}
		ev.Set(nv)
		return nil
	}
	if null {
		return nullError(dest)
	}
	switch ev.Kind() {
	case reflect.String:
		ev.SetString(string(b))
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := parseInt(b, false, dest, ev.Type().Bits())
		if err == nil {
			ev.SetInt(n)
		}
		return err
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(string(b), 10, ev.Type().Bits())
		if err == nil {
			ev.SetUint(n)
		}
		return err
	case reflect.Float32, reflect.Float64:
		f, err := parseFloat(b, false, dest, ev.Type().Bits())
		if err == nil {
			ev.SetFloat(f)
		}
		return err
	case reflect.Bool:
		v, err := parseBool(b)
		if err == nil {
			ev.SetBool(v)
		}
		return err
	case reflect.Slice:
		if ev.Type().Elem().Kind() == reflect.Uint8 {
			v, err := decodeBytes(b, oid)
			if err == nil {
				ev.SetBytes(v)
			}
			return err
		}
	}
	return fmt.Errorf("unsupported destination type %T", dest)
}

func nullError(dest any) error {
	return fmt.Errorf("%w: cannot store it in %T (scan into a pointer to a pointer, e.g. **string, or a sql.Null* type)", errNull, dest)
}

func parseInt(b []byte, null bool, dest any, bits int) (int64, error) {
	if null {
		return 0, nullError(dest)
	}
	// Fast path for the common short decimal.
	if len(b) > 0 && len(b) < 19 {
		neg := b[0] == '-'
		i := 0
		if neg || b[0] == '+' {
			i = 1
		}
		if i < len(b) {
			var n int64
			ok := true
			for ; i < len(b); i++ {
				c := b[i]
				if c < '0' || c > '9' {
					ok = false
					break
				}
				n = n*10 + int64(c-'0')
			}
			if ok {
				if neg {
					n = -n
				}
				if bits < 64 && (n < -(1<<(bits-1)) || n > 1<<(bits-1)-1) {
					return 0, fmt.Errorf("value %s out of range for %T", b, dest)
				}
				return n, nil
			}
		}
	}
	n, err := strconv.ParseInt(string(b), 10, bits)
	if err != nil {
		return 0, fmt.Errorf("cannot convert %q to %T: %w", b, dest, err)
	}
	return n, nil
}

func parseFloat(b []byte, null bool, dest any, bits int) (float64, error) {
	if null {
		return 0, nullError(dest)
	}
	s := string(b)
	switch s {
	case "Infinity":
		return math.Inf(1), nil
	case "-Infinity":
		return math.Inf(-1), nil
	}
	f, err := strconv.ParseFloat(s, bits)
	if err != nil {
		return 0, fmt.Errorf("cannot convert %q to %T: %w", b, dest, err)
	}
	return f, nil
}

func parseBool(b []byte) (bool, error) {
	switch string(b) {
	case "t", "true", "TRUE", "True", "1", "y", "yes", "on":
		return true, nil
	case "f", "false", "FALSE", "False", "0", "n", "no", "off":
		return false, nil
	}
	return false, fmt.Errorf("cannot convert %q to bool", b)
}

// decodeBytes copies a value; bytea (hex or escape output format) is decoded to its bytes.
func decodeBytes(b []byte, oid uint32) ([]byte, error) {
	if oid != oidBytea {
		return append([]byte{}, b...), nil
	}
	if len(b) >= 2 && b[0] == '\\' && b[1] == 'x' {
		hex := b[2:]
		if len(hex)%2 != 0 {
			return nil, fmt.Errorf("malformed bytea value")
		}
		out := make([]byte, len(hex)/2)
		for i := range out {
			hi, ok1 := unhex(hex[2*i])
			lo, ok2 := unhex(hex[2*i+1])
			if !ok1 || !ok2 {
				return nil, fmt.Errorf("malformed bytea value")
			}
			out[i] = hi<<4 | lo
		}
		return out, nil
	}
	// bytea_output = escape: \\ for a backslash, \ooo (octal) for other bytes.
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' {
			out = append(out, b[i])
			continue
		}
		if i+1 < len(b) && b[i+1] == '\\' {
			out = append(out, '\\')
			i++
			continue
		}
		if i+3 < len(b) {
			v, err := strconv.ParseUint(string(b[i+1:i+4]), 8, 8)
			if err == nil {
				out = append(out, byte(v))
				i += 3
				continue
			}
		}
		return nil, fmt.Errorf("malformed bytea value")
	}
	return out, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// decodeValue converts a non-NULL value to the Go type that represents its PostgreSQL type
// best: int64, float64, bool, []byte (bytea), time.Time (date, timestamp, timestamptz) or
// string (everything else, including numeric, to keep its precision). These are all
// driver.Value types.
func decodeValue(b []byte, oid uint32) driver.Value {
	switch oid {
	case oidInt2, oidInt4, oidInt8, oidOID:
		if n, err := strconv.ParseInt(string(b), 10, 64); err == nil {
			return n
		}
	case oidFloat4, oidFloat8:
		if f, err := parseFloat(b, false, (*float64)(nil), 64); err == nil {
			return f
		}
	case oidBool:
		if v, err := parseBool(b); err == nil {
			return v
		}
	case oidBytea:
		if v, err := decodeBytes(b, oid); err == nil {
			return v
		}
	case oidDate, oidTimestamp, oidTimestamptz:
		if t, err := parseTime(b, oid); err == nil {
			return t
		}
	}
	return string(b)
}

// parseTime reads PostgreSQL's ISO output (DateStyle ISO, the default): "2024-03-01",
// "2024-03-01 12:34:56.789", "2024-03-01 12:34:56.789+01" (or +05:30, +05:30:12), optionally
// followed by " BC". timestamptz values are returned in time.Local; timestamp and date in UTC
// (their wall clock, as written). "infinity" cannot be represented and is an error.
func parseTime(b []byte, oid uint32) (time.Time, error) {
	s := string(b)
	fail := func() (time.Time, error) { return time.Time{}, fmt.Errorf("cannot convert %q to time.Time", s) }
	p := 0
	num := func(minDigits, maxDigits int) (int, bool) {
		start, n := p, 0
		for p < len(s) && p-start < maxDigits && s[p] >= '0' && s[p] <= '9' {
			n = n*10 + int(s[p]-'0')
			p++
		}
		return n, p-start >= minDigits
	}
	expect := func(c byte) bool {
		if p < len(s) && s[p] == c {
			p++
			return true
		}
		return false
	}
	year, ok := num(4, 9)
	if !ok || !expect('-') {
		return fail()
	}
	month, ok := num(2, 2)
	if !ok || !expect('-') {
		return fail()
	}
	day, ok := num(2, 2)
	if !ok {
		return fail()
	}
	var hour, min, sec, nsec int
	loc := time.UTC
	if p < len(s) && (s[p] == ' ' || s[p] == 'T') && p+1 < len(s) && s[p+1] >= '0' && s[p+1] <= '9' {
		p++
		if hour, ok = num(2, 2); !ok || !expect(':') {
			return fail()
		}
		if min, ok = num(2, 2); !ok || !expect(':') {
			return fail()
		}
		if sec, ok = num(2, 2); !ok {
			return fail()
		}
		if expect('.') {
			start := p
			frac, ok := num(1, 9)
			if !ok {
				return fail()
			}
			for d := p - start; d < 9; d++ {
				frac *= 10
			}
			nsec = frac
			for p < len(s) && s[p] >= '0' && s[p] <= '9' { // beyond nanoseconds: drop
				p++
			}
		}
		if p < len(s) && (s[p] == '+' || s[p] == '-') {
			sign := 1
			if s[p] == '-' {
				sign = -1
			}
			p++
			oh, ok := num(2, 2)
			if !ok {
				return fail()
			}
			off := oh * 3600
			if expect(':') {
				om, ok := num(2, 2)
				if !ok {
					return fail()
				}
				off += om * 60
				if expect(':') {
					os, ok := num(2, 2)
					if !ok {
						return fail()
					}
					off += os
				}
			}
			loc = time.FixedZone("", sign*off)
		}
	}
	if p < len(s) {
		if s[p:] != " BC" {
			return fail()
		}
		year = 1 - year
	}
	t := time.Date(year, time.Month(month), day, hour, min, sec, nsec, loc)
	if oid == oidTimestamptz {
		t = t.In(time.Local)
	}
	return t, nil
}
