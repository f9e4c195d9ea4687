package connpool

import (
	"reflect"
	"testing"
)

func TestDescribable(t *testing.T) {
	cases := map[string]bool{
		"SELECT 1":                           true,
		"  (select 1) union select 2":        true,
		"-- note\nINSERT INTO t VALUES ($1)": true,
		"/* a /* nested */ comment */ WITH x AS (SELECT 1) SELECT * FROM x": true,
		"update t set x = 1":     true,
		"invalid sql":            true, // PREPARE reports the syntax error
		"$1":                     true,
		"":                       false,
		"   -- only a comment":   false,
		"/* unterminated":        false,
		"CREATE TABLE t (x int)": false,
		"set search_path = x":    false,
		"CALL p($1)":             false,
		"explain select 1":       false,
		"BEGIN":                  false,
	}
	for sql, want := range cases {
		if got := describable(sql); got != want {
			t.Errorf("describable(%q) = %v, want %v", sql, got, want)
		}
	}
}

func TestParseOIDArray(t *testing.T) {
	for in, want := range map[string][]uint32{"{}": {}, "{17}": {17}, "{17,25,3802}": {17, 25, 3802}} {
		got, err := parseOIDArray(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("parseOIDArray(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := parseOIDArray("{x}"); err == nil {
		t.Error("parseOIDArray({x}): no error")
	}
}

// What the encoder writes for a []byte, with and without the parameter's type.
func TestBytesEncoding(t *testing.T) {
	cases := []struct {
		b       []byte
		target  bytesTarget
		want    string
		guessed bool
	}{
		{[]byte(`{"a":1}`), bytesUnknown, `{"a":1}`, false}, // same for bytea and text
		{[]byte(`{"a":"\""}`), bytesUnknown, `{"a":"\""}`, true},
		{[]byte{0, 0xff}, bytesUnknown, `\x00ff`, true},
		{[]byte{0xff}, bytesUnknown, `\xff`, true}, // not UTF-8: only bytea can take it
		{[]byte(`a\b`), bytesBytea, `\x615c62`, false},
		{[]byte(`a\b`), bytesText, `a\b`, false},
		{[]byte("é"), bytesUnknown, "é", false},
	}
	for _, c := range cases {
		var e encoder
		got := string(e.appendBytes(nil, c.b, c.target))
		if got != c.want || e.guessedBytes != c.guessed {
			t.Errorf("appendBytes(%q, %v) = %q guessed %v; want %q guessed %v",
				c.b, c.target, got, e.guessedBytes, c.want, c.guessed)
		}
	}
}
