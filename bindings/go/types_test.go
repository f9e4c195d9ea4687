package connpool_test

import (
	"bytes"
	"database/sql"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	connpool "github.com/libconnpool/connpool-go"
)

type userID int64

func TestTypesRoundTrip(t *testing.T) {
	p := newPool(t, connpool.WithMaxSize(1))
	ctx := ctxTimeout(t, 10*time.Second)
	c, err := p.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()

	// Go -> PostgreSQL: each value is checked by the server, not only echoed back.
	var okAll bool
	ts := time.Date(2024, 2, 29, 13, 14, 15, 123456000, time.FixedZone("", 5*3600+30*60))
	blob := []byte{0, 1, 2, 0x7f, 0x80, 0xfe, 0xff, '\\', '\''}
	err = c.QueryRow(ctx, `SELECT $1::int4 = 2147483647 AND $2::int8 = -9223372036854775808
		AND $3::float8 = 0.1 AND $4::text = 'héllo ''quoted'' \n' AND $5::bytea = '\x000102 7f80feff 5c27'::bytea
		AND $6::bool AND NOT $7::bool AND $8::timestamptz = '2024-02-29 07:44:15.123456+00'
		AND $9::int2 = 7 AND $10::int8 = 42 AND $11::float4 = 1.5 AND $12::text IS NULL
		AND $13::int IS NULL AND $14::date = '2024-02-29' AND $15::bytea = ''::bytea
		AND $16::float8 = 'Infinity' AND $17::int8 = 7 AND $18::timestamptz = '0044-03-15 12:00:00+00 BC'`,
		int32(math.MaxInt32), int64(math.MinInt64), 0.1, "héllo 'quoted' \\n", blob,
		true, false, ts,
		int16(7), userID(42), float32(1.5), nil,
		(*int)(nil), time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), []byte{},
		math.Inf(1), ptr(int64(7)), time.Date(-43, 3, 15, 12, 0, 0, 0, time.UTC),
	).Scan(&okAll)
	if err != nil || !okAll {
		t.Fatalf("server-side comparison: %v, %v", okAll, err)
	}

	// PostgreSQL -> Go.
	var (
		i     int
		i32   int32
		i64   int64
		i16   int16
		f64   float64
		f32   float32
		s     string
		b     []byte
		raw   []byte
		yes   bool
		no    bool
		tstz  time.Time
		tsn   time.Time
		date  time.Time
		uid   userID
		inf   float64
		nan   float64
		any1  any
		empty string
	)
	err = c.QueryRow(ctx, `SELECT 2147483647::int4, (-2147483648)::int4, 9223372036854775807::int8,
		(-32768)::int2, 0.1::float8, 1.25::float4, 'héllo ''q'''::text, '\x00ff5c'::bytea,
		'raw text'::text, true, false, '2024-02-29 07:44:15.123456+00'::timestamptz,
		'2024-02-29 13:14:15.5'::timestamp, '2024-02-29'::date, 42::int8,
		'-Infinity'::float8, 'NaN'::float8, 12.50::numeric, ''::text`).
		Scan(&i, &i32, &i64, &i16, &f64, &f32, &s, &b, &raw, &yes, &no, &tstz, &tsn, &date, &uid, &inf, &nan, &any1, &empty)
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, ok bool, got any) {
		t.Helper()
		if !ok {
			t.Errorf("%s: got %#v", name, got)
		}
	}
	check("int", i == math.MaxInt32, i)
	check("int32", i32 == math.MinInt32, i32)
	check("int64", i64 == math.MaxInt64, i64)
	check("int16", i16 == math.MinInt16, i16)
	check("float64", f64 == 0.1, f64)
	check("float32", f32 == 1.25, f32)
	check("string", s == "héllo 'q'", s)
	check("bytea", bytes.Equal(b, []byte{0, 0xff, '\\'}), b)
	check("[]byte of text", string(raw) == "raw text", raw)
	check("bool", yes && !no, []bool{yes, no})
	check("timestamptz", tstz.Equal(time.Date(2024, 2, 29, 7, 44, 15, 123456000, time.UTC)) && tstz.Location() == time.Local, tstz)
	check("timestamp", tsn.Equal(time.Date(2024, 2, 29, 13, 14, 15, 500000000, time.UTC)), tsn)
	check("date", date.Equal(time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)), date)
	check("named int", uid == 42, uid)
	check("-Infinity", math.IsInf(inf, -1), inf)
	check("NaN", math.IsNaN(nan), nan)
	check("numeric as any", any1 == "12.50", any1)
	check("empty string", empty == "", empty)

	// A timestamptz round trip through a table keeps the instant to the microsecond, in any
	// session time zone.
	if _, err := c.Exec(ctx, "SET TIME ZONE 'America/St_Johns'"); err != nil {
		t.Fatal(err)
	}
	var back time.Time
	if err := c.QueryRow(ctx, "SELECT $1::timestamptz", ts).Scan(&back); err != nil || !back.Equal(ts.Truncate(time.Microsecond)) {
		t.Errorf("timestamptz round trip in another zone: %v -> %v (%v)", ts, back, err)
	}
	if _, err := c.Exec(ctx, "RESET TIME ZONE"); err != nil {
		t.Fatal(err)
	}

	// Out of range and malformed conversions are errors, not silent truncation.
	if err := c.QueryRow(ctx, "SELECT 2147483648::int8").Scan(&i32); err == nil {
		t.Error("int8 2147483648 scanned into int32")
	}
	if err := c.QueryRow(ctx, "SELECT 'abc'").Scan(&i64); err == nil {
		t.Error("'abc' scanned into int64")
	}
	if err := c.QueryRow(ctx, "SELECT 'infinity'::timestamptz").Scan(&tstz); err == nil {
		t.Error("infinity scanned into time.Time")
	}
}

func ptr[T any](v T) *T { return &v }

func TestNulls(t *testing.T) {
	p := newPool(t, connpool.WithMaxSize(1))
	ctx := ctxTimeout(t, 10*time.Second)
	const q = "SELECT NULL::int8, NULL::text, NULL::bytea, NULL::bool, NULL::timestamptz, NULL::float8, NULL::int4"

	// Pointers to pointers receive nil; []byte and any receive nil; sql.Null* are invalid.
	var (
		pi = ptr(int64(5))
		ps = ptr("x")
		b  = []byte("x")
		pb = ptr(true)
		pt = ptr(time.Now())
		nf sql.NullFloat64
		av any = "x"
	)
	if err := p.QueryRow(ctx, q).Scan(&pi, &ps, &b, &pb, &pt, &nf, &av); err != nil {
		t.Fatal(err)
	}
	if pi != nil || ps != nil || b != nil || pb != nil || pt != nil || nf.Valid || av != nil {
		t.Errorf("NULLs: %v %v %v %v %v %v %v", pi, ps, b, pb, pt, nf, av)
	}

	// Non-NULL values through the same destinations.
	var ns sql.NullString
	if err := p.QueryRow(ctx, "SELECT 5::int8, 'y', 'abc'::text").Scan(&pi, &ps, &ns); err != nil {
		t.Fatal(err)
	}
	if pi == nil || *pi != 5 || ps == nil || *ps != "y" || !ns.Valid || ns.String != "abc" {
		t.Errorf("values: %v %v %v", pi, ps, ns)
	}

	// A NULL into a plain destination is an error that says what to do.
	var n int64
	err := p.QueryRow(ctx, "SELECT NULL::int8").Scan(&n)
	if err == nil || !strings.Contains(err.Error(), "NULL") {
		t.Errorf("NULL into *int64: %v", err)
	}

	// NULL parameters: nil, nil pointers, nil []byte, invalid sql.Null*, a nil Valuer pointer.
	var nilTime *time.Time
	var nilNull *sql.NullString
	var allNull bool
	err = p.QueryRow(ctx, "SELECT $1::int IS NULL AND $2::text IS NULL AND $3::bytea IS NULL AND $4::timestamptz IS NULL AND $5::text IS NULL AND $6::text IS NULL",
		nil, (*string)(nil), []byte(nil), nilTime, sql.NullString{}, nilNull).Scan(&allNull)
	if err != nil || !allNull {
		t.Errorf("NULL parameters: %v, %v", allNull, err)
	}
	var notNull bool
	if err := p.QueryRow(ctx, "SELECT $1::text = ''", "").Scan(&notNull); err != nil || !notNull {
		t.Errorf("empty string parameter must not be NULL: %v %v", notNull, err)
	}
	if err := p.QueryRow(ctx, "SELECT $1::text", sql.NullString{String: "v", Valid: true}).Scan(&ns); err != nil || ns.String != "v" {
		t.Errorf("Valuer parameter: %v %v", ns, err)
	}
	if !errors.Is(connpool.ErrNoRows, sql.ErrNoRows) {
		t.Error("ErrNoRows must be sql.ErrNoRows")
	}
}
