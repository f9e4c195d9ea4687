"""Type conversion both ways, NULLs, result shape (fetch*, rowcount, description)."""

from __future__ import annotations

import datetime as dt
import decimal
import math
import unittest
import uuid

from support import PgTestCase, conninfo, unique_app

import connpool
from connpool import types as T

UTC = dt.timezone.utc


class TypesTest(PgTestCase):
    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.app = unique_app("py_types")
        cls.pool = connpool.ConnectionPool(conninfo(cls.app), max_size=2, timeout=10)
        cls.conn = cls.pool.getconn()
        # Fix the session settings the text formats depend on.
        cls.conn.execute("SET TimeZone = 'UTC'")
        cls.conn.execute("SET DateStyle = 'ISO, MDY'")
        cls.conn.execute("SET IntervalStyle = 'postgres'")

    @classmethod
    def tearDownClass(cls) -> None:
        cls.pool.putconn(cls.conn)
        cls.pool.close()
        super().tearDownClass()

    def one(self, sql, params=None):
        r = self.conn.execute(sql, params)
        self.assertEqual(len(r), 1)
        return r.fetchone()

    def value(self, sql, params=None):
        return self.one(sql, params)[0]

    # ---- PostgreSQL -> Python ----------------------------------------------------------------
    def test_decode_every_listed_type(self):
        cases = [
            ("32767::int2", T.INT2, 32767),
            ("(-2147483648)::int4", T.INT4, -2147483648),
            ("9223372036854775807::int8", T.INT8, 9223372036854775807),
            ("1.5::float4", T.FLOAT4, 1.5),
            ("-2.25e300::float8", T.FLOAT8, -2.25e300),
            ("'123456789012345678901234567890.000000001'::numeric", T.NUMERIC,
             decimal.Decimal("123456789012345678901234567890.000000001")),
            ("true", T.BOOL, True),
            ("false", T.BOOL, False),
            ("'héllo wörld ✓'::text", T.TEXT, "héllo wörld ✓"),
            ("'abc'::varchar(10)", T.VARCHAR, "abc"),
            ("'ab'::char(4)", T.BPCHAR, "ab  "),
            ("'pg_class'::name", T.NAME, "pg_class"),
            ("'\\x00ff10'::bytea", T.BYTEA, b"\x00\xff\x10"),
            ("'2024-02-29'::date", T.DATE, dt.date(2024, 2, 29)),
            ("'13:14:15.5'::time", T.TIME, dt.time(13, 14, 15, 500000)),
            ("'13:14:15+02:30'::timetz", T.TIMETZ,
             dt.time(13, 14, 15, tzinfo=dt.timezone(dt.timedelta(hours=2, minutes=30)))),
            ("'2024-01-02 03:04:05.123456'::timestamp", T.TIMESTAMP,
             dt.datetime(2024, 1, 2, 3, 4, 5, 123456)),
            ("'2024-01-02 03:04:05+00'::timestamptz", T.TIMESTAMPTZ,
             dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
            ("'1 day 02:03:04.5'::interval", T.INTERVAL,
             dt.timedelta(days=1, hours=2, minutes=3, seconds=4.5)),
            ("'-1 days +00:00:01'::interval", T.INTERVAL, dt.timedelta(days=-1, seconds=1)),
            ("'1 year 2 mons'::interval", T.INTERVAL, dt.timedelta(days=365 + 60)),
            ("'-00:00:02.25'::interval", T.INTERVAL, dt.timedelta(seconds=-2.25)),
            ("'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid", T.UUID,
             uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")),
            ("'{\"a\": [1, 2.5, null, \"x\"], \"b\": {\"c\": true}}'::json", T.JSON,
             {"a": [1, 2.5, None, "x"], "b": {"c": True}}),
            ("'[1, {\"k\": \"v\"}]'::jsonb", T.JSONB, [1, {"k": "v"}]),
            ("42::oid", T.OID, 42),
        ]
        for expr, oid, expected in cases:
            with self.subTest(expr=expr):
                r = self.conn.execute(f"SELECT {expr} AS v")
                self.assertEqual(r.description[0].type_code, oid)
                self.assertEqual(r.description[0].name, "v")
                got = r.fetchone()[0]
                self.assertEqual(got, expected)
                self.assertIs(type(got), type(expected))

    def test_timestamptz_follows_the_session_time_zone(self):
        with self.conn.transaction():
            self.conn.execute("SET LOCAL TimeZone = 'Asia/Kolkata'")
            v = self.value("SELECT '2024-01-02 00:00:00+00'::timestamptz")
        self.assertEqual(v.utcoffset(), dt.timedelta(hours=5, minutes=30))
        self.assertEqual(v, dt.datetime(2024, 1, 2, tzinfo=UTC))

    def test_special_float_and_numeric_values(self):
        self.assertTrue(math.isnan(self.value("SELECT 'NaN'::float8")))
        self.assertEqual(self.value("SELECT 'Infinity'::float8"), math.inf)
        self.assertEqual(self.value("SELECT '-Infinity'::float4"), -math.inf)
        self.assertTrue(self.value("SELECT 'NaN'::numeric").is_nan())
        self.assertEqual(self.value("SELECT 'Infinity'::numeric"), decimal.Decimal("Infinity"))

    def test_values_python_cannot_hold_come_back_as_text(self):
        self.assertEqual(self.value("SELECT 'infinity'::timestamp"), "infinity")
        self.assertEqual(self.value("SELECT '-infinity'::date"), "-infinity")
        self.assertEqual(self.value("SELECT '0044-03-15 BC'::date"), "0044-03-15 BC")
        self.assertEqual(self.value("SELECT '24:00:00'::time"), "24:00:00")

    def test_other_types_come_back_as_text(self):
        self.assertEqual(self.value("SELECT ARRAY[1,2,3]"), "{1,2,3}")
        self.assertEqual(self.value("SELECT point(1,2)"), "(1,2)")
        self.assertEqual(self.value("SELECT '192.168.0.1/24'::inet"), "192.168.0.1/24")

    def test_bytea_all_byte_values_both_output_formats(self):
        data = bytes(range(256))
        self.assertEqual(self.value("SELECT $1::bytea", [data]), data)
        with self.conn.transaction():
            self.conn.execute("SET LOCAL bytea_output = 'escape'")
            self.assertEqual(self.value("SELECT $1::bytea", [data]), data)
            self.assertEqual(self.value("SELECT ''::bytea"), b"")

    def test_nulls_of_every_type_are_none(self):
        for typ in ["int2", "int4", "int8", "float4", "float8", "numeric", "bool", "text",
                    "varchar", "bytea", "date", "time", "timestamp", "timestamptz", "interval",
                    "uuid", "json", "jsonb", "point"]:
            with self.subTest(type=typ):
                r = self.conn.execute(f"SELECT NULL::{typ}, $1::{typ}", [None])
                self.assertEqual(r.fetchone(), (None, None))

    def test_empty_string_is_not_null(self):
        self.assertEqual(self.one("SELECT ''::text, NULL::text, $1::text", [""]), ("", None, ""))

    # ---- Python -> PostgreSQL ----------------------------------------------------------------
    def test_encode_round_trips(self):
        cases = [
            ("int2", 7),
            ("int4", -123456),
            ("int8", -9223372036854775808),
            ("numeric", 10**40 + 1),
            ("float8", 0.1),
            ("float8", -1.5e-300),
            ("float4", 0.5),
            ("numeric", decimal.Decimal("-0.000000000000000000001")),
            ("numeric", decimal.Decimal("1E+5")),
            ("bool", True),
            ("bool", False),
            ("text", "snowman ☃ and 'quotes' and \\ backslash"),
            ("varchar", ""),
            ("bytea", b"\x00\x01binary\xff"),
            ("bytea", bytearray(b"ba")),
            ("bytea", memoryview(b"mv")),
            ("date", dt.date(1999, 12, 31)),
            ("time", dt.time(23, 59, 59, 999999)),
            ("timetz", dt.time(1, 2, 3, tzinfo=dt.timezone(dt.timedelta(hours=-5)))),
            ("timestamp", dt.datetime(2000, 1, 1, 0, 0, 0, 1)),
            ("timestamptz", dt.datetime(2020, 6, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=3)))),
            ("interval", dt.timedelta(days=3, seconds=7, microseconds=11)),
            ("interval", dt.timedelta(days=-2, seconds=5)),
            ("uuid", uuid.uuid4()),
            ("jsonb", {"a": [1, "two", None, {"b": False}]}),
            ("json", [1, 2, 3]),
        ]
        for typ, value in cases:
            with self.subTest(type=typ, value=value):
                got = self.value(f"SELECT $1::{typ}", [value])
                expected = value
                if isinstance(value, (bytearray, memoryview)):
                    expected = bytes(value)
                if typ == "numeric" and isinstance(value, int):
                    expected = decimal.Decimal(value)
                self.assertEqual(got, expected)

    def test_parameters_reach_the_server_as_the_right_values(self):
        # Compared on the server side, so a symmetric encode/decode bug cannot hide.
        row = self.one(
            "SELECT $1::int8 = 9223372036854775807, $2::bool = true, $3::text = 'x''y',"
            " $4::bytea = '\\xdeadbeef'::bytea, $5::date = '2024-02-29', $6::numeric = 1.25,"
            " $7::timestamptz = '2024-01-01 00:00:00+00', $8::uuid = '00000000-0000-0000-0000-000000000001',"
            " $9::jsonb = '{\"k\": [1]}', $10::float8 = 'NaN', $11::float8 = '-Infinity',"
            " $12::interval = '1 day 1 second'",
            [9223372036854775807, True, "x'y", b"\xde\xad\xbe\xef", dt.date(2024, 2, 29),
             decimal.Decimal("1.25"), dt.datetime(2024, 1, 1, tzinfo=UTC),
             uuid.UUID(int=1), {"k": [1]}, math.nan, -math.inf,
             dt.timedelta(days=1, seconds=1)],
        )
        self.assertEqual(row, (True,) * 12)

    def test_bool_and_int_subclasses(self):
        import enum

        class Color(enum.IntEnum):
            RED = 3

        self.assertEqual(self.one("SELECT $1::int, $2::bool", [Color.RED, True]), (3, True))

    def test_parameter_errors(self):
        with self.assertRaises(TypeError) as cm:
            self.conn.execute("SELECT $1::text", [object()])
        self.assertIn("object", str(cm.exception))
        with self.assertRaises(connpool.InvalidArgument) as cm:
            self.conn.execute("SELECT $1::text", ["a\x00b"])
        self.assertIn("NUL", str(cm.exception))
        # wrong number of parameters: the server says so, with its SQLSTATE
        with self.assertRaises(connpool.QueryError) as cm:
            self.conn.execute("SELECT $1::int, $2::int", [1])
        self.assertEqual(cm.exception.sqlstate, "08P01")
        self.assertEqual(self.value("SELECT 1"), 1, "the connection stays usable")

    # ---- result shape ------------------------------------------------------------------------
    def test_fetch_methods_iteration_rowcount_description(self):
        r = self.conn.execute("SELECT g, g * 2 AS twice FROM generate_series(1, 5) g")
        self.assertEqual(r.rowcount, 5)
        self.assertEqual([c.name for c in r.description], ["g", "twice"])
        self.assertEqual([c.type_code for c in r.description], [T.INT4, T.INT4])
        self.assertEqual(r.columns, ["g", "twice"])
        self.assertEqual(r.fetchone(), (1, 2))
        self.assertEqual(r.fetchmany(2), [(2, 4), (3, 6)])
        self.assertEqual(list(r), [(4, 8), (5, 10)])
        self.assertIsNone(r.fetchone())
        self.assertEqual(r.fetchall(), [])
        r = self.conn.execute("SELECT 1 WHERE false")
        self.assertEqual((r.rowcount, r.fetchall(), r.fetchone()), (0, [], None))
        self.assertEqual(len(r.description), 1)

    def test_rowcount_is_affected_rows(self):
        t = self.table("id int primary key, v text")
        r = self.conn.execute(f"INSERT INTO {t} SELECT g, 'v' FROM generate_series(1, 7) g")
        self.assertEqual(r.rowcount, 7)
        self.assertIsNone(r.description)
        self.assertEqual(r.fetchall(), [])
        self.assertEqual(self.conn.execute(f"UPDATE {t} SET v = 'w' WHERE id > 4").rowcount, 3)
        self.assertEqual(self.conn.execute(f"DELETE FROM {t} WHERE id = 1").rowcount, 1)
        self.assertEqual(self.conn.execute(f"DELETE FROM {t} WHERE id = 1").rowcount, 0)
        r = self.conn.execute(f"UPDATE {t} SET v = $1 WHERE id = $2 RETURNING id, v", ["z", 2])
        self.assertEqual((r.rowcount, r.fetchall()), (1, [(2, "z")]))
        self.assertEqual(self.conn.execute("SET application_name = 'x'").rowcount, -1)
        self.conn.execute(f"SET application_name = '{self.app}'")

    def test_many_rows_and_columns(self):
        r = self.conn.execute(
            "SELECT g, g::text, CASE WHEN g % 3 = 0 THEN NULL ELSE g * 1.5 END "
            "FROM generate_series(1, 3000) g")
        rows = r.fetchall()
        self.assertEqual(len(rows), 3000)
        self.assertEqual(rows[2], (3, "3", None))
        self.assertEqual(rows[3], (4, "4", decimal.Decimal("6.0")))


if __name__ == "__main__":
    unittest.main()
