"""connpool.connect() (a connection outside any pool) and conninfo from keyword arguments."""

from __future__ import annotations

import asyncio
import unittest

from support import PgTestCase, conninfo, unique_app

import connpool
import connpool.aio


class MakeConninfoTest(unittest.TestCase):
    def test_keywords_override_the_string_and_values_are_quoted(self):
        self.assertEqual(connpool.make_conninfo("dbname=app"), "dbname=app", "as it is")
        text = connpool.make_conninfo("dbname=app port=5432", port=5433, host="db.example")
        self.assertEqual(connpool.conninfo_to_dict(text),
                         {"dbname": "app", "port": "5433", "host": "db.example"})
        quoted = connpool.make_conninfo(password="it's a \\secret", application_name="")
        self.assertEqual(quoted, "password='it\\'s a \\\\secret' application_name=''")
        self.assertEqual(connpool.conninfo_to_dict(quoted),
                         {"password": "it's a \\secret", "application_name": ""})

    def test_none_removes_a_key_and_uris_are_parsed(self):
        text = connpool.make_conninfo("postgresql://alice@h1:5433/app?sslmode=disable",
                                      sslmode=None, user="bob")
        self.assertEqual(connpool.conninfo_to_dict(text),
                         {"user": "bob", "dbname": "app", "host": "h1", "port": "5433"})

    def test_unknown_keyword_and_unparsable_string(self):
        with self.assertRaises(connpool.InvalidArgument) as cm:
            connpool.make_conninfo("dbname=app", hots="x")
        self.assertIn("'hots'", str(cm.exception))
        with self.assertRaises(connpool.InvalidArgument) as cm:
            connpool.make_conninfo("password=hunter2 = =", host="x")
        self.assertNotIn("hunter2", str(cm.exception))


class KwargsPoolTest(PgTestCase):
    def test_pool_from_keyword_arguments(self):
        app = unique_app("py_kw")
        params = connpool.conninfo_to_dict(conninfo())
        with connpool.ConnectionPool(min_size=0, max_size=1, timeout=5, application_name=app,
                                     **params) as pool:
            with pool.connection() as conn:
                self.assertEqual(conn.execute("SHOW application_name").scalar(), app)
        app2 = unique_app("py_kwd")
        with connpool.ConnectionPool(conninfo(), kwargs={"application_name": app2},
                                     max_size=1, timeout=5) as pool:
            with pool.connection() as conn:
                self.assertEqual(conn.execute("SHOW application_name").scalar(), app2)


class ConnectTest(PgTestCase):
    def test_connection_is_closed_on_exit(self):
        app = unique_app("py_direct")
        with connpool.connect(conninfo(), application_name=app, connect_timeout=5) as conn:
            self.assertIsInstance(conn, connpool.DirectConnection)
            self.assertEqual(self.backends(app), 1)
            self.assertEqual(conn.execute("SELECT $1::int * 2", [21]).scalar(), 42)
            with conn.transaction():
                conn.execute("CREATE TEMP TABLE t (x int)")
                conn.execute("INSERT INTO t VALUES (1)")
            self.assertEqual(conn.execute("SELECT count(*) FROM t").scalar(), 1)
            info = conn.info
            self.assertTrue(info.is_new)
            self.assertEqual(info.use_count, 1)
            self.assertEqual(info.backend_pid, conn.execute("SELECT pg_backend_pid()").scalar())
            self.assertIsNone(conn.pool)
        self.assertTrue(conn.closed)
        self.assertEqual(self.backends_after_close(app), 0)
        with self.assertRaises(connpool.InvalidHandle):
            conn.execute("SELECT 1")
        conn.close()  # idempotent

    def test_init_sql_and_close(self):
        conn = connpool.connect(conninfo(), init_sql="SET search_path = pg_catalog")
        try:
            self.assertEqual(conn.execute("SHOW search_path").scalar(), "pg_catalog")
        finally:
            conn.close()

    def test_failures(self):
        with self.assertRaises(connpool.ConnectError) as cm:
            connpool.connect(conninfo(), init_sql="SELECT * FROM no_such_table_here")
        self.assertEqual(cm.exception.sqlstate, "42P01")
        with self.assertRaises(connpool.ConnectError) as cm:
            connpool.connect(conninfo(), user="no_such_role_xyz", password="hunter2")
        self.assertNotIn("hunter2", str(cm.exception))
        with self.assertRaises(connpool.InvalidArgument):
            connpool.connect(conninfo(), no_such_keyword=1)


class AsyncConnectTest(PgTestCase):
    def test_async_connect(self):
        app = unique_app("py_adirect")

        async def main():
            async with await connpool.aio.connect(conninfo(), application_name=app) as conn:
                self.assertEqual(self.backends(app), 1)
                value = (await conn.execute("SELECT $1::int + 1", [1])).scalar()
                self.assertTrue(conn.info.is_new)
            self.assertTrue(conn.closed)
            return value

        self.assertEqual(asyncio.run(main()), 2)
        self.assertEqual(self.backends_after_close(app), 0)


if __name__ == "__main__":
    unittest.main()
