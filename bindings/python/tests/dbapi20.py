"""A driver-independent Python DB-API 2.0 (PEP 249) compliance suite.

Written for libconnpool as an equivalent of Stuart Bishop's public-domain ``dbapi20.py``
(revision 1.12, the suite psycopg2, pg8000 and others run): it makes every check that suite
makes -- module globals, exception hierarchy and connection attributes, commit/rollback/close,
cursor isolation, description, rowcount, callproc, execute/executemany in the driver's
paramstyle, fetchone/fetchmany/fetchall/mixed fetches and arraysize, nextset (when the cursor
has it), setinputsizes/setoutputsize, NULL, the constructors and the type objects -- written
anew rather than copied.

Use it by subclassing (import the module, not the class, so that the base is not run itself):

    import dbapi20

    class MyDriverTest(dbapi20.DatabaseAPI20Test):
        driver = mydriver
        connect_args = ("dsn",)

        def test_setoutputsize(self):
            ...  # the driver-specific part
"""

from __future__ import annotations

import time
import unittest


class DatabaseAPI20Test(unittest.TestCase):
    #: The module under test (it has connect()).
    driver = None
    connect_args: tuple = ()
    connect_kw_args: dict = {}
    table_prefix = "dbapi20test_"

    ddl1 = f"create table {table_prefix}booze (name varchar(20))"
    ddl2 = f"create table {table_prefix}barflys (name varchar(20))"
    xddl1 = f"drop table {table_prefix}booze"
    xddl2 = f"drop table {table_prefix}barflys"

    #: A function of one string argument that lowercases it (for callproc); None to skip.
    lower_func = "lower"

    samples = ["Carlton Cold", "Carlton Draft", "Mountain Goat", "Redback", "Victoria Bitter", "XXXX"]

    # ---- hooks ----------------------------------------------------------------------------------
    def executeDDL1(self, cursor):  # noqa: N802 - the suite's hook names
        cursor.execute(self.ddl1)

    def executeDDL2(self, cursor):  # noqa: N802
        cursor.execute(self.ddl2)

    def help_nextset_setUp(self, cur):  # noqa: N802
        """Create a procedure `deleteme` returning two result sets (count, then names)."""
        raise NotImplementedError("a driver with nextset() overrides help_nextset_setUp")

    def help_nextset_tearDown(self, cur):  # noqa: N802
        raise NotImplementedError("a driver with nextset() overrides help_nextset_tearDown")

    def tearDown(self):
        con = self._connect()
        try:
            cur = con.cursor()
            for ddl in (self.xddl1, self.xddl2):
                try:
                    cur.execute(ddl)
                    con.commit()
                except self.driver.Error:
                    con.rollback()  # the table did not exist
        finally:
            con.close()

    def _connect(self):
        if not hasattr(self.driver, "connect"):
            self.fail("the driver module has no connect()")
        return self.driver.connect(*self.connect_args, **self.connect_kw_args)

    def _table(self, name: str) -> str:
        return f"{self.table_prefix}{name}"

    def _insert_sql(self, table: str):
        """An INSERT of one value in the driver's paramstyle, and how to pass the value."""
        style = self.driver.paramstyle
        sql = {
            "qmark": "insert into {} values (?)",
            "numeric": "insert into {} values (:1)",
            "named": "insert into {} values (:beer)",
            "format": "insert into {} values (%s)",
            "pyformat": "insert into {} values (%(beer)s)",
        }.get(style)
        if sql is None:
            self.fail(f"invalid paramstyle {style!r}")
        by_name = style in ("named", "pyformat")
        return sql.format(self._table(table)), (lambda v: {"beer": v}) if by_name else (lambda v: (v,))

    def _populate(self) -> list:
        return [f"insert into {self._table('booze')} values ('{s}')" for s in self.samples]

    def _paraminsert(self, cur):
        self.executeDDL1(cur)
        cur.execute(f"insert into {self._table('booze')} values ('Victoria Bitter')")
        self.assertIn(cur.rowcount, (-1, 1))
        sql, wrap = self._insert_sql("booze")
        cur.execute(sql, wrap("Cooper's"))
        self.assertIn(cur.rowcount, (-1, 1))
        cur.execute(f"select name from {self._table('booze')}")
        res = cur.fetchall()
        self.assertEqual(len(res), 2, "fetchall returned too few rows")
        self.assertEqual(sorted(r[0] for r in res), ["Cooper's", "Victoria Bitter"])

    # ---- module ---------------------------------------------------------------------------------
    def test_connect(self):
        self._connect().close()

    def test_apilevel(self):
        self.assertEqual(getattr(self.driver, "apilevel", None), "2.0")

    def test_threadsafety(self):
        self.assertIn(getattr(self.driver, "threadsafety", None), (0, 1, 2, 3))

    def test_paramstyle(self):
        self.assertIn(
            getattr(self.driver, "paramstyle", None), ("qmark", "numeric", "named", "format", "pyformat")
        )

    def test_Exceptions(self):  # noqa: N802
        d = self.driver
        self.assertTrue(issubclass(d.Warning, Exception))
        self.assertTrue(issubclass(d.Error, Exception))
        for name in ("InterfaceError", "DatabaseError"):
            self.assertTrue(issubclass(getattr(d, name), d.Error), name)
        for name in (
            "DataError", "OperationalError", "IntegrityError", "InternalError",
            "ProgrammingError", "NotSupportedError",
        ):
            self.assertTrue(issubclass(getattr(d, name), d.DatabaseError), name)
            self.assertTrue(issubclass(getattr(d, name), d.Error), name)

    def test_ExceptionsAsConnectionAttributes(self):  # noqa: N802 - optional extension
        con = self._connect()
        try:
            for name in (
                "Warning", "Error", "InterfaceError", "DatabaseError", "DataError",
                "OperationalError", "IntegrityError", "InternalError", "ProgrammingError",
                "NotSupportedError",
            ):
                self.assertIs(getattr(con, name), getattr(self.driver, name), name)
        finally:
            con.close()

    # ---- connection -----------------------------------------------------------------------------
    def test_commit(self):
        con = self._connect()
        try:
            con.commit()  # works with nothing to commit
        finally:
            con.close()

    def test_rollback(self):
        con = self._connect()
        try:
            if hasattr(con, "rollback"):
                try:
                    con.rollback()
                except self.driver.NotSupportedError:
                    pass
        finally:
            con.close()

    def test_cursor(self):
        con = self._connect()
        try:
            con.cursor()
        finally:
            con.close()

    def test_cursor_isolation(self):
        con = self._connect()
        try:
            cur1 = con.cursor()
            cur2 = con.cursor()
            self.executeDDL1(cur1)
            cur1.execute(f"insert into {self._table('booze')} values ('Victoria Bitter')")
            cur2.execute(f"select name from {self._table('booze')}")
            booze = cur2.fetchall()
            self.assertEqual(len(booze), 1)
            self.assertEqual(len(booze[0]), 1)
            self.assertEqual(booze[0][0], "Victoria Bitter")
        finally:
            con.close()

    def test_close(self):
        con = self._connect()
        try:
            cur = con.cursor()
        finally:
            con.close()
        self.assertRaises(self.driver.Error, self.executeDDL1, cur)
        self.assertRaises(self.driver.Error, con.commit)
        con.close()  # DB-SIG consensus: a second close() does not raise

    # ---- cursor ---------------------------------------------------------------------------------
    def test_description(self):
        con = self._connect()
        try:
            cur = con.cursor()
            self.executeDDL1(cur)
            self.assertIsNone(cur.description, "description after DDL must be None")
            cur.execute(f"select name from {self._table('booze')}")
            self.assertEqual(len(cur.description), 1)
            self.assertEqual(len(cur.description[0]), 7, "description items have 7 elements")
            self.assertEqual(cur.description[0][0].lower(), "name")
            self.assertEqual(cur.description[0][1], self.driver.STRING, f"type {cur.description[0][1]!r}")
            self.executeDDL2(cur)
            self.assertIsNone(cur.description, "description not reset to None by DDL")
        finally:
            con.close()

    def test_rowcount(self):
        con = self._connect()
        try:
            cur = con.cursor()
            self.executeDDL1(cur)
            self.assertEqual(cur.rowcount, -1, "rowcount after DDL must be -1")
            cur.execute(f"insert into {self._table('booze')} values ('Victoria Bitter')")
            self.assertIn(cur.rowcount, (-1, 1))
            cur.execute(f"select name from {self._table('booze')}")
            self.assertIn(cur.rowcount, (-1, 1))
            self.executeDDL2(cur)
            self.assertEqual(cur.rowcount, -1, "rowcount not reset to -1 by DDL")
        finally:
            con.close()

    def test_callproc(self):
        con = self._connect()
        try:
            cur = con.cursor()
            if self.lower_func and hasattr(cur, "callproc"):
                r = cur.callproc(self.lower_func, ("FOO",))
                self.assertEqual(len(r), 1)
                self.assertEqual(r[0], "FOO")
                r = cur.fetchall()
                self.assertEqual(len(r), 1, "callproc produced no result set")
                self.assertEqual(len(r[0]), 1)
                self.assertEqual(r[0][0], "foo")
        finally:
            con.close()

    def test_execute(self):
        con = self._connect()
        try:
            self._paraminsert(con.cursor())
        finally:
            con.close()

    def test_executemany(self):
        con = self._connect()
        try:
            cur = con.cursor()
            self.executeDDL1(cur)
            sql, wrap = self._insert_sql("booze")
            cur.executemany(sql, [wrap("Cooper's"), wrap("Boag's")])
            self.assertIn(cur.rowcount, (-1, 2), f"rowcount after executemany: {cur.rowcount!r}")
            cur.execute(f"select name from {self._table('booze')}")
            res = cur.fetchall()
            self.assertEqual(sorted(r[0] for r in res), ["Boag's", "Cooper's"])
        finally:
            con.close()

    def test_fetchone(self):
        con = self._connect()
        try:
            cur = con.cursor()
            self.assertRaises(self.driver.Error, cur.fetchone)  # nothing executed
            self.executeDDL1(cur)
            self.assertRaises(self.driver.Error, cur.fetchone)  # DDL returns no rows
            cur.execute(f"select name from {self._table('booze')}")
            self.assertIsNone(cur.fetchone(), "fetchone of an empty result must be None")
            self.assertIn(cur.rowcount, (-1, 0))
            cur.execute(f"insert into {self._table('booze')} values ('Victoria Bitter')")
            self.assertRaises(self.driver.Error, cur.fetchone)  # INSERT returns no rows
            cur.execute(f"select name from {self._table('booze')}")
            r = cur.fetchone()
            self.assertEqual(len(r), 1)
            self.assertEqual(r[0], "Victoria Bitter")
            self.assertIsNone(cur.fetchone(), "fetchone past the last row must be None")
            self.assertIn(cur.rowcount, (-1, 1))
        finally:
            con.close()

    def test_fetchmany(self):
        con = self._connect()
        try:
            cur = con.cursor()
            self.assertRaises(self.driver.Error, cur.fetchmany, 4)  # nothing executed
            self.executeDDL1(cur)
            for sql in self._populate():
                cur.execute(sql)
            select = f"select name from {self._table('booze')}"

            cur.execute(select)
            self.assertEqual(len(cur.fetchmany()), 1, "arraysize must default to 1")
            cur.arraysize = 10
            self.assertEqual(len(cur.fetchmany(3)), 3)
            self.assertEqual(len(cur.fetchmany(4)), 2)
            self.assertEqual(len(cur.fetchmany(4)), 0, "fetchmany after the end must be empty")
            self.assertIn(cur.rowcount, (-1, 6))

            cur.arraysize = 4
            cur.execute(select)
            self.assertEqual(len(cur.fetchmany()), 4, "arraysize not honoured")
            self.assertEqual(len(cur.fetchmany()), 2)
            self.assertEqual(len(cur.fetchmany()), 0)
            self.assertIn(cur.rowcount, (-1, 6))

            cur.arraysize = 6
            cur.execute(select)
            rows = cur.fetchmany()
            self.assertIn(cur.rowcount, (-1, 6))
            self.assertEqual(sorted(r[0] for r in rows), self.samples)
            self.assertEqual(len(cur.fetchmany()), 0)
            self.assertIn(cur.rowcount, (-1, 6))

            self.executeDDL2(cur)
            cur.execute(f"select name from {self._table('barflys')}")
            self.assertEqual(len(cur.fetchmany()), 0, "fetchmany of an empty result")
            self.assertIn(cur.rowcount, (-1, 0))
        finally:
            con.close()

    def test_fetchall(self):
        con = self._connect()
        try:
            cur = con.cursor()
            self.assertRaises(self.driver.Error, cur.fetchall)  # nothing executed
            self.executeDDL1(cur)
            for sql in self._populate():
                cur.execute(sql)
            self.assertRaises(self.driver.Error, cur.fetchall)  # INSERT returns no rows
            cur.execute(f"select name from {self._table('booze')}")
            rows = cur.fetchall()
            self.assertIn(cur.rowcount, (-1, len(self.samples)))
            self.assertEqual(sorted(r[0] for r in rows), self.samples)
            self.assertEqual(len(cur.fetchall()), 0, "fetchall after the end must be empty")
            self.assertIn(cur.rowcount, (-1, len(self.samples)))
            self.executeDDL2(cur)
            cur.execute(f"select name from {self._table('barflys')}")
            self.assertEqual(len(cur.fetchall()), 0)
            self.assertIn(cur.rowcount, (-1, 0))
        finally:
            con.close()

    def test_mixedfetch(self):
        con = self._connect()
        try:
            cur = con.cursor()
            self.executeDDL1(cur)
            for sql in self._populate():
                cur.execute(sql)
            cur.execute(f"select name from {self._table('booze')}")
            row1 = cur.fetchone()
            rows23 = cur.fetchmany(2)
            row4 = cur.fetchone()
            rows56 = cur.fetchall()
            self.assertIn(cur.rowcount, (-1, 6))
            self.assertEqual(len(rows23), 2)
            self.assertEqual(len(rows56), 2)
            names = [row1[0], rows23[0][0], rows23[1][0], row4[0], rows56[0][0], rows56[1][0]]
            self.assertEqual(sorted(names), self.samples)
        finally:
            con.close()

    def test_nextset(self):
        con = self._connect()
        try:
            cur = con.cursor()
            if not hasattr(cur, "nextset"):
                return  # optional
            try:
                self.executeDDL1(cur)
                for sql in self._populate():
                    cur.execute(sql)
                self.help_nextset_setUp(cur)
                cur.callproc("deleteme")
                self.assertEqual(cur.fetchone()[0], len(self.samples))
                self.assertTrue(cur.nextset())
                self.assertEqual(len(cur.fetchall()), len(self.samples))
                self.assertIsNone(cur.nextset(), "no more result sets: None")
            finally:
                self.help_nextset_tearDown(cur)
        finally:
            con.close()

    def test_arraysize(self):
        con = self._connect()
        try:
            self.assertTrue(hasattr(con.cursor(), "arraysize"))
        finally:
            con.close()

    def test_setinputsizes(self):
        con = self._connect()
        try:
            cur = con.cursor()
            cur.setinputsizes((25,))
            self._paraminsert(cur)  # the cursor still works
        finally:
            con.close()

    def test_setoutputsize_basic(self):
        con = self._connect()
        try:
            cur = con.cursor()
            cur.setoutputsize(1000)
            cur.setoutputsize(2000, 0)
            self._paraminsert(cur)  # the cursor still works
        finally:
            con.close()

    def test_setoutputsize(self):
        raise NotImplementedError("the driver's test overrides test_setoutputsize")

    def test_None(self):  # noqa: N802
        con = self._connect()
        try:
            cur = con.cursor()
            self.executeDDL1(cur)
            cur.execute(f"insert into {self._table('booze')} values (NULL)")
            cur.execute(f"select name from {self._table('booze')}")
            r = cur.fetchall()
            self.assertEqual(len(r), 1)
            self.assertEqual(len(r[0]), 1)
            self.assertIsNone(r[0][0], "NULL must come back as None")
        finally:
            con.close()

    # ---- constructors and type objects ----------------------------------------------------------
    def test_Date(self):  # noqa: N802
        self.driver.Date(2002, 12, 25)
        self.driver.DateFromTicks(time.mktime((2002, 12, 25, 0, 0, 0, 0, 0, 0)))

    def test_Time(self):  # noqa: N802
        self.driver.Time(13, 45, 30)
        self.driver.TimeFromTicks(time.mktime((2001, 1, 1, 13, 45, 30, 0, 0, 0)))

    def test_Timestamp(self):  # noqa: N802
        self.driver.Timestamp(2002, 12, 25, 13, 45, 30)
        self.driver.TimestampFromTicks(time.mktime((2002, 12, 25, 13, 45, 30, 0, 0, 0)))

    def test_Binary(self):  # noqa: N802
        self.driver.Binary(b"Something")
        self.driver.Binary(b"")

    def test_STRING(self):  # noqa: N802
        self.assertTrue(hasattr(self.driver, "STRING"))

    def test_BINARY(self):  # noqa: N802
        self.assertTrue(hasattr(self.driver, "BINARY"))

    def test_NUMBER(self):  # noqa: N802
        self.assertTrue(hasattr(self.driver, "NUMBER"))

    def test_DATETIME(self):  # noqa: N802
        self.assertTrue(hasattr(self.driver, "DATETIME"))

    def test_ROWID(self):  # noqa: N802
        self.assertTrue(hasattr(self.driver, "ROWID"))
