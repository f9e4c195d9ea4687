"""connpool.dbapi beyond the compliance suite: the pyformat converter, transactions seen from
another connection, autocommit, SQLSTATE -> PEP 249 exceptions, values, pooling."""

from __future__ import annotations

import datetime as dt
import decimal
import os
import pickle
import threading
import unittest
import uuid

import support
from support import PgTestCase, conninfo, unique_app

import connpool
from connpool import dbapi
from connpool.dbapi_params import Json, convert, parse


class ConverterTest(unittest.TestCase):
    """%s / %(name)s -> $n, without a server."""

    def sql(self, statement, params):
        return convert(statement, params)[0]

    def test_positional_and_named(self):
        self.assertEqual(convert("SELECT %s, %s", (1, "a")), ("SELECT $1, $2", [b"1", b"a"]))
        sql, values = convert("SELECT %(b)s, %(a)s, %(b)s", {"a": 1, "b": 2, "unused": 3})
        self.assertEqual(sql, "SELECT $1, $2, $1")
        self.assertEqual(values, [b"2", b"1"])

    def test_percent_escapes(self):
        self.assertEqual(self.sql("SELECT 10 %% 3, %s", (1,)), "SELECT 10 % 3, $1")
        self.assertEqual(self.sql("SELECT 10 % 3, %s", (1,)), "SELECT 10 % 3, $1")
        self.assertEqual(self.sql("SELECT 'a%%b'", ()), "SELECT 'a%b'")

    def test_no_params_sends_text_untouched(self):
        cur = _FakeCursor()
        self.assertEqual(cur.run("SELECT '%s' %% %d", None), "SELECT '%s' %% %d")

    def test_placeholders_inside_literals_stay_text(self):
        cases = {
            "SELECT '%s', %s": "SELECT '%s', $1",
            "SELECT 'it''s %s', %s": "SELECT 'it''s %s', $1",
            "SELECT E'\\'%s', %s": "SELECT E'\\'%s', $1",
            "SELECT e'a\\\\', %s": "SELECT e'a\\\\', $1",
            'SELECT "col%s""x", %s': 'SELECT "col%s""x", $1',
            "SELECT 1 -- %s comment\n, %s": "SELECT 1 -- %s comment\n, $1",
            "SELECT /* %s /* nested %s */ still %s */ %s": "SELECT /* %s /* nested %s */ still %s */ $1",
            "SELECT $$ %s ' $$, %s": "SELECT $$ %s ' $$, $1",
            "SELECT $fn$ %s $x$ %s $fn$, %s": "SELECT $fn$ %s $x$ %s $fn$, $1",
            "SELECT a$b, %s": "SELECT a$b, $1",
        }
        for statement, expected in cases.items():
            with self.subTest(statement=statement):
                self.assertEqual(self.sql(statement, (1,)), expected)

    def test_backslash_in_standard_string_does_not_escape(self):
        # 'a\' is a complete literal when standard_conforming_strings is on.
        self.assertEqual(self.sql("SELECT 'a\\', %s", (1,)), "SELECT 'a\\', $1")

    def test_in_tuple_expansion(self):
        sql, values = convert("SELECT 1 WHERE x IN %s AND y = %s", ((1, 2, 3), "y"))
        self.assertEqual(sql, "SELECT 1 WHERE x IN ($1,$2,$3) AND y = $4")
        self.assertEqual(values, [b"1", b"2", b"3", b"y"])
        sql, _ = convert("SELECT %(t)s, %(u)s, %(t)s", {"t": (1, 2), "u": 3})
        self.assertEqual(sql, "SELECT ($1,$2), $3, ($1,$2)")
        with self.assertRaises(dbapi.ProgrammingError):
            convert("SELECT 1 WHERE x IN %s", ((),))

    def test_errors(self):
        bad = [
            ("SELECT %s, %(a)s", (1,)),  # mixed kinds
            ("SELECT %d", (1,)),  # only %s
            ("SELECT %(a)d", {"a": 1}),
            ("SELECT %(a", {"a": 1}),
            ("SELECT %s", (1, 2)),  # count
            ("SELECT %s, %s", (1,)),
            ("SELECT %s", {"a": 1}),  # kind of params
            ("SELECT %(a)s", (1,)),
            ("SELECT %(a)s", {"b": 1}),  # missing name
            ("SELECT 1", (1,)),
            ("SELECT %s", (object(),)),  # unsupported type
        ]
        for statement, params in bad:
            with self.subTest(statement=statement, params=params):
                with self.assertRaises(dbapi.ProgrammingError):
                    convert(statement, params)

    def test_parse_is_cached(self):
        self.assertIs(parse("SELECT %s -- cached"), parse("SELECT %s -- cached"))

    def test_values(self):
        _, values = convert(
            "%s %s %s %s %s %s",
            (None, True, [1, None, "a\"b\\c", [2]], Json({"k": [1]}), {"d": 1}, b"\x00\xff"),
        )
        self.assertEqual(
            values,
            [None, b"true", b'{"1",NULL,"a\\"b\\\\c",{"2"}}', b'{"k": [1]}', b'{"d": 1}', b"\\x00ff"],
        )


class _FakeCursor(dbapi.Cursor):
    """A cursor whose connection only records the statement."""

    def __init__(self):
        class Conn:
            closed = False

            def _execute(self, sql, values):
                self.sent = sql
                return connpool.Result((), (), (), -1)

        super().__init__(Conn())

    def run(self, sql, params):
        self.execute(sql, params)
        return self.connection.sent


class DBAPITestCase(PgTestCase):
    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.app = unique_app("connpool_py_dbapi")
        cls.dsn = conninfo(cls.app)

    @classmethod
    def tearDownClass(cls) -> None:
        dbapi.close_pools()
        super().tearDownClass()

    def connect(self, **kwargs) -> dbapi.Connection:
        conn = dbapi.connect(self.dsn, **kwargs)
        self.addCleanup(conn.close)
        return conn

    def scalar(self, conn, sql, params=None):
        cur = conn.cursor()
        cur.execute(sql, params)
        return cur.fetchone()[0]


class TransactionTest(DBAPITestCase):
    def test_commit_is_visible_to_another_connection_and_rollback_is_not(self):
        table = self.table("id int")
        writer, reader = self.connect(), self.connect()
        cur = writer.cursor()
        cur.execute(f"INSERT INTO {table} VALUES (%s)", (1,))
        self.assertEqual(self.scalar(reader, f"SELECT count(*) FROM {table}"), 0, "uncommitted")
        writer.commit()
        reader.rollback()  # a new snapshot for the reader's next transaction
        self.assertEqual(self.scalar(reader, f"SELECT count(*) FROM {table}"), 1)
        cur.execute(f"INSERT INTO {table} VALUES (%s)", (2,))
        writer.rollback()
        self.assertEqual(self.sql(f"SELECT array_agg(id) FROM {table}"), [("{1}",)])

    def test_begin_is_lazy_and_close_rolls_back(self):
        table = self.table("id int")
        conn = self.connect()
        self.assertEqual(conn._status(), 0, "no BEGIN before the first statement")
        conn.cursor().execute(f"INSERT INTO {table} VALUES (1)")
        self.assertEqual(conn._status(), 2, "inside a transaction")
        conn.close()
        self.assertEqual(self.sql(f"SELECT count(*) FROM {table}"), [(0,)])
        with self.assertRaises(dbapi.InterfaceError):
            conn.cursor()

    def test_autocommit(self):
        table = self.table("id int")
        conn = self.connect(autocommit=True)
        conn.cursor().execute(f"INSERT INTO {table} VALUES (1)")
        self.assertEqual(conn._status(), 0)
        self.assertEqual(self.sql(f"SELECT count(*) FROM {table}"), [(1,)])
        conn.autocommit = False
        conn.cursor().execute(f"INSERT INTO {table} VALUES (2)")
        with self.assertRaises(dbapi.ProgrammingError):
            conn.autocommit = True  # inside a transaction
        conn.commit()
        conn.autocommit = True
        # VACUUM refuses to run inside a transaction block: autocommit lets it run.
        conn.cursor().execute(f"VACUUM {table}")

    def test_commit_after_a_failed_statement_raises_and_rolls_back(self):
        table = self.table("id int")
        conn = self.connect()
        cur = conn.cursor()
        cur.execute(f"INSERT INTO {table} VALUES (1)")
        with self.assertRaises(dbapi.ProgrammingError):
            cur.execute("SELECT * FROM no_such_table_dbapi")
        with self.assertRaises(dbapi.InternalError) as ctx:
            cur.execute("SELECT 1")  # 25P02: the transaction is aborted
        self.assertEqual(ctx.exception.sqlstate, "25P02")
        with self.assertRaises(dbapi.InternalError):
            conn.commit()
        self.assertEqual(conn._status(), 0)
        self.assertEqual(self.sql(f"SELECT count(*) FROM {table}"), [(0,)])
        self.assertEqual(self.scalar(conn, "SELECT 1"), 1, "usable after the rollback")

    def test_isolation_level_and_read_only_apply_to_begin_only(self):
        conn = self.connect()
        conn.isolation_level = "serializable"
        conn.read_only = True
        self.assertEqual(self.scalar(conn, "SHOW transaction_isolation"), "serializable")
        self.assertEqual(self.scalar(conn, "SHOW transaction_read_only"), "on")
        with self.assertRaises(dbapi.ProgrammingError):
            conn.isolation_level = "READ COMMITTED"  # inside a transaction
        conn.rollback()
        conn.isolation_level = None
        conn.read_only = None
        self.assertEqual(self.scalar(conn, "SHOW transaction_isolation"), "read committed")
        self.assertEqual(self.scalar(conn, "SHOW transaction_read_only"), "off")
        with self.assertRaises(dbapi.ProgrammingError):
            conn.isolation_level = "sometimes"

    def test_context_manager_commits_or_rolls_back_and_closes(self):
        table = self.table("id int")
        with dbapi.connect(self.dsn) as conn:
            conn.cursor().execute(f"INSERT INTO {table} VALUES (1)")
        self.assertTrue(conn.closed)
        with self.assertRaises(ZeroDivisionError):
            with dbapi.connect(self.dsn) as conn:
                conn.cursor().execute(f"INSERT INTO {table} VALUES (2)")
                1 / 0
        self.assertTrue(conn.closed)
        self.assertEqual(self.sql(f"SELECT array_agg(id) FROM {table}"), [("{1}",)])


class ExceptionTest(DBAPITestCase):
    def raised(self, sql, params=None):
        conn = self.connect(autocommit=True)
        with self.assertRaises(dbapi.Error) as ctx:
            conn.cursor().execute(sql, params)
        return ctx.exception

    def test_sqlstate_classes(self):
        table = self.table("id int PRIMARY KEY, v int CHECK (v > 0)")
        self.sql(f"INSERT INTO {table} VALUES (1, 1)")
        cases = [
            (f"INSERT INTO {table} VALUES (1, 1)", "23505", dbapi.IntegrityError),
            (f"INSERT INTO {table} VALUES (2, 0)", "23514", dbapi.IntegrityError),
            ("SELECT 1/0", "22012", dbapi.DataError),
            ("SELECT 'x'::int", "22P02", dbapi.DataError),
            ("SELEC 1", "42601", dbapi.ProgrammingError),
            ("SELECT * FROM no_such_table_dbapi", "42P01", dbapi.ProgrammingError),
            ("SET statement_timeout = 1; SELECT 1", "42601", dbapi.ProgrammingError),
            ("DO $$ BEGIN RAISE EXCEPTION 'boom'; END $$", "P0001", dbapi.InternalError),
        ]
        for sql, sqlstate, cls in cases:
            with self.subTest(sql=sql):
                e = self.raised(sql)
                self.assertEqual(e.sqlstate, sqlstate)
                self.assertEqual(e.pgcode, sqlstate)
                self.assertIsInstance(e, cls)
                self.assertIsInstance(e, dbapi.DatabaseError)
                self.assertIsInstance(e, connpool.QueryError, "existing except clauses still work")
                self.assertIs(type(pickle.loads(pickle.dumps(e))), type(e))

    def test_canceled_statement_is_operational_error(self):
        conn = self.connect()
        cur = conn.cursor()
        cur.execute("SET LOCAL statement_timeout = 50")  # this transaction only
        with self.assertRaises(dbapi.OperationalError) as ctx:
            cur.execute("SELECT pg_sleep(5)")
        self.assertEqual(ctx.exception.sqlstate, "57014")
        self.assertIsInstance(ctx.exception, connpool.QueryError)

    def test_cancel_from_another_thread(self):
        conn = self.connect()
        timer = threading.Timer(0.2, conn.cancel)
        timer.start()
        self.addCleanup(timer.cancel)
        with self.assertRaises(dbapi.OperationalError) as ctx:
            conn.cursor().execute("SELECT pg_sleep(10)")
        self.assertEqual(ctx.exception.sqlstate, "57014")

    def test_library_statuses_have_pep249_bases(self):
        self.assertTrue(issubclass(connpool.PoolTimeout, dbapi.OperationalError))
        self.assertTrue(issubclass(connpool.PoolTimeout, TimeoutError))
        self.assertTrue(issubclass(connpool.ConnectError, dbapi.OperationalError))
        self.assertTrue(issubclass(connpool.ConnectionBroken, dbapi.OperationalError))
        self.assertTrue(issubclass(connpool.InvalidHandle, dbapi.InterfaceError))
        self.assertTrue(issubclass(connpool.InvalidArgument, dbapi.ProgrammingError))
        self.assertTrue(issubclass(connpool.InternalError, dbapi.DatabaseError))
        self.assertIs(dbapi.Error, connpool.Error)

    def test_connect_failure_is_operational_error(self):
        with self.assertRaises(dbapi.OperationalError):
            dbapi.connect("host=/nonexistent-dbapi-socket-dir connect_timeout=1", acquire_timeout=2)

    def test_closed_cursor_and_connection(self):
        conn = self.connect()
        cur = conn.cursor()
        cur.close()
        with self.assertRaises(dbapi.InterfaceError):
            cur.execute("SELECT 1")
        cur = conn.cursor()
        conn.close()
        with self.assertRaises(dbapi.InterfaceError):
            cur.fetchall()
        with self.assertRaises(dbapi.InterfaceError):
            conn.rollback()


class ValueTest(DBAPITestCase):
    def roundtrip(self, value, cast):
        if not hasattr(self, "_conn"):
            self._conn = self.connect()
        return self.scalar(self._conn, f"SELECT %s::{cast}", (value,))

    def test_scalars(self):
        cases = [
            (None, "int", None),
            (True, "bool", True),
            (2**40, "int8", 2**40),
            (1.5, "float8", 1.5),
            (decimal.Decimal("1.10"), "numeric", decimal.Decimal("1.10")),
            ("é'\"", "text", "é'\""),
            (b"\x00\x01", "bytea", b"\x00\x01"),
            (dt.date(2024, 2, 29), "date", dt.date(2024, 2, 29)),
            (dt.time(1, 2, 3), "time", dt.time(1, 2, 3)),
            (dt.datetime(2024, 1, 2, 3, 4, 5), "timestamp", dt.datetime(2024, 1, 2, 3, 4, 5)),
            (dt.timedelta(days=1, seconds=3), "interval", dt.timedelta(days=1, seconds=3)),
            (uuid.UUID(int=5), "uuid", uuid.UUID(int=5)),
            (Json({"a": [1, None]}), "jsonb", {"a": [1, None]}),
        ]
        for value, cast, expected in cases:
            with self.subTest(value=value):
                self.assertEqual(self.roundtrip(value, cast), expected)

    def test_arrays(self):
        self.assertEqual(self.roundtrip([1, None, 3], "int[]"), [1, None, 3])
        self.assertEqual(self.roundtrip([["a,b", 'q"'], ["\\", "NULL"]], "text[]"),
                         [["a,b", 'q"'], ["\\", "NULL"]])
        self.assertEqual(self.roundtrip([], "int[]"), [])
        self.assertEqual(self.roundtrip([b"\x01"], "bytea[]"), [b"\x01"])
        conn = self.connect()
        self.assertEqual(self.scalar(conn, "SELECT '[0:1]={7,8}'::int[]"), [7, 8])
        self.assertEqual(self.scalar(conn, "SELECT 2 = ANY(%s)", ([1, 2],)), True)

    def test_array_oids_match_the_server(self):
        from connpool.dbapi_types import ARRAY_ELEMENTS

        rows = self.sql("SELECT oid::int, typelem::int FROM pg_type WHERE oid = ANY($1::oid[])",
                        ["{" + ",".join(map(str, ARRAY_ELEMENTS)) + "}"])
        self.assertEqual(dict(rows), ARRAY_ELEMENTS)

    def test_type_objects_match_description(self):
        conn = self.connect()
        cur = conn.cursor()
        cur.execute("SELECT 'a'::text, 1::int, 1.5::numeric, now(), 'x'::bytea, 1::oid")
        kinds = [dbapi.STRING, dbapi.NUMBER, dbapi.NUMBER, dbapi.DATETIME, dbapi.BINARY, dbapi.ROWID]
        for column, kind in zip(cur.description, kinds):
            self.assertEqual(column.type_code, kind)
        self.assertNotEqual(cur.description[0].type_code, dbapi.NUMBER)

    def test_in_tuple_and_iteration(self):
        conn = self.connect()
        cur = conn.cursor()
        cur.execute("SELECT g FROM generate_series(1, 5) g WHERE g IN %s ORDER BY g", ((2, 4),))
        self.assertEqual(list(cur), [(2,), (4,)])

    def test_callproc_and_executemany_rowcount(self):
        table = self.table("id int")
        conn = self.connect()
        cur = conn.cursor()
        cur.executemany(f"INSERT INTO {table} VALUES (%(id)s)", [{"id": i} for i in range(4)])
        self.assertEqual(cur.rowcount, 4)
        self.assertIsNone(cur.description)
        cur.execute(f"UPDATE {table} SET id = id + 1 WHERE id >= %s", (2,))
        self.assertEqual(cur.rowcount, 2)
        self.assertEqual(cur.callproc("upper", ["ab"]), ["ab"])
        self.assertEqual(cur.fetchall(), [("AB",)])


class PoolingTest(DBAPITestCase):
    def test_connect_reuses_one_pool_per_conninfo_and_options(self):
        a = self.connect()
        b = self.connect()
        self.assertIs(a.pool, b.pool)
        c = self.connect(max_size=3)
        self.assertIsNot(c.pool, a.pool)
        d = self.connect(pool_options={"max_size": 3})
        self.assertIs(d.pool, c.pool)

    def test_close_returns_the_lease(self):
        conn = self.connect(max_size=1, acquire_timeout=1)
        pool = conn.pool
        pid = self.scalar(conn, "SELECT pg_backend_pid()")
        conn.close()
        again = self.connect(max_size=1, acquire_timeout=1)
        self.assertIs(again.pool, pool)
        self.assertEqual(self.scalar(again, "SELECT pg_backend_pid()"), pid, "the same connection")
        with self.assertRaises(connpool.PoolTimeout):
            dbapi.connect(self.dsn, max_size=1, acquire_timeout=1, timeout=0.05)

    def test_existing_pool(self):
        with connpool.ConnectionPool(self.dsn, max_size=2) as pool:
            conn = dbapi.connect(pool=pool)
            self.assertIs(conn.pool, pool)
            self.assertEqual(self.scalar(conn, "SELECT 40 + %s", (2,)), 42)
            conn.close()
            with self.assertRaises(dbapi.ProgrammingError):
                dbapi.connect(self.dsn, pool=pool)

    def test_keywords_build_the_conninfo(self):
        info = dict(part.split("=", 1) for part in support.conninfo().split())
        conn = dbapi.connect(host=info["host"], port=int(info["port"]), database=info["dbname"],
                             user=info["user"], application_name=self.app + "_kw")
        try:
            self.assertEqual(self.scalar(conn, "SELECT current_setting('application_name')"),
                             self.app + "_kw")
        finally:
            conn.close()

    def test_forked_child_gets_its_own_pool(self):
        parent_pool = self.connect().pool
        pid = os.fork()
        if pid == 0:  # child: the cached pool belongs to the parent; connect() makes a new one
            code = 1
            try:
                conn = dbapi.connect(self.dsn)
                cur = conn.cursor()
                cur.execute("SELECT 1")
                code = 0 if conn.pool is not parent_pool and cur.fetchone() == (1,) else 2
                conn.close()
                dbapi.close_pools()
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        self.assertEqual(os.waitstatus_to_exitcode(status), 0)
        self.assertIs(self.connect().pool, parent_pool, "the parent's cache is intact")

    def test_threads_share_a_connection(self):
        conn = self.connect()
        errors = []

        def work(n):
            try:
                for _ in range(20):
                    cur = conn.cursor()
                    cur.execute("SELECT %s::int", (n,))
                    if cur.fetchone() != (n,):
                        errors.append(n)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual(errors, [])


if __name__ == "__main__":
    unittest.main()
