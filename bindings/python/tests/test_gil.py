"""Which calls keep the GIL (issue 17, goal 4), and that keeping it is only done where safe.

ctypes' CDLL drops the GIL around every call and takes it back after; with several threads that
hand-off (a wake-up, then a wait for whoever took the GIL meanwhile) costs more than a short
call. The binding keeps the GIL (PyDLL) for calls that cannot wait: the result accessors, and
connpool_lease_release when neither a statement nor a cancel can be in flight on the lease
(pool.Connection._release). Everything that may wait (acquire, statements, cancel) drops it.
"""

from __future__ import annotations

import ctypes
import threading
import time
import unittest

from support import PgTestCase, conninfo

import connpool
from connpool import _ffi, dbapi
from connpool import pool as pool_module

BLOCKING = {name for name, _restype, _argtypes, blocking in _ffi.SIGNATURES if blocking}


def keeps_gil(function) -> bool:
    return bool(function._flags_ & ctypes._FUNCFLAG_PYTHONAPI)


class BindingTest(unittest.TestCase):
    def test_no_blocking_function_keeps_the_gil_in_the_fast_view(self):
        for name, _restype, _argtypes, blocking in _ffi.SIGNATURES:
            if not _ffi.has(name):
                continue
            with self.subTest(name=name):
                self.assertFalse(keeps_gil(getattr(_ffi.lib, name)), "lib must drop the GIL")
                self.assertEqual(keeps_gil(getattr(_ffi.fast, name)), not blocking)

    def test_held_view_is_only_the_listed_functions(self):
        self.assertEqual(_ffi.HELD_WHEN_SAFE, ("connpool_lease_release",))
        self.assertTrue(keeps_gil(_ffi.held.connpool_lease_release))
        self.assertIn("connpool_lease_release", BLOCKING)
        # Acquire may pre-ping (a round trip) even with timeout 0 or as try_acquire: never held.
        for name in ("connpool_pool_acquire", "connpool_pool_try_acquire", "connpool_lease_exec",
                     "connpool_lease_cancel"):
            self.assertFalse(hasattr(_ffi.held, name), name)


class ReleasePathTest(PgTestCase):
    """Counts which release a Connection uses, by wrapping both module-level functions."""

    def setUp(self) -> None:
        self.calls = []
        held, blocking = pool_module._lease_release_held, pool_module._lease_release

        def count(kind, real):
            def wrapper(*args):
                self.calls.append(kind)
                return real(*args)

            return wrapper

        pool_module._lease_release_held = count("held", held)
        pool_module._lease_release = count("blocking", blocking)
        self.addCleanup(setattr, pool_module, "_lease_release_held", held)
        self.addCleanup(setattr, pool_module, "_lease_release", blocking)
        self.pool = connpool.ConnectionPool(conninfo(), min_size=1, max_size=1, timeout=5)
        self.addCleanup(self.pool.close)

    def test_a_finished_statement_releases_with_the_gil_kept(self):
        with self.pool.connection() as conn:
            self.assertEqual(conn.execute("SELECT 1").scalar(), 1)
        conn = self.pool.getconn()
        self.pool.putconn(conn)  # no statement at all
        self.assertEqual(self.calls, ["held", "held"])

    def test_a_failed_statement_is_still_finished(self):
        with self.assertRaises(connpool.QueryError):
            with self.pool.connection() as conn:
                conn.execute("SELECT 1/0")
        self.assertEqual(self.calls, ["held"])
        with self.pool.connection() as conn:  # the connection is fine afterwards
            self.assertEqual(conn.execute("SELECT 2").scalar(), 2)

    def test_an_interrupted_statement_releases_with_the_gil_dropped(self):
        # An exception out of the statement call (KeyboardInterrupt in a worker thread is
        # simulated: the call itself raises) leaves the statement possibly in flight.
        real = pool_module._lease_exec_direct

        def interrupted(*args):
            raise KeyboardInterrupt

        pool_module._lease_exec_direct = interrupted
        self.addCleanup(setattr, pool_module, "_lease_exec_direct", real)
        errors = []

        def worker():
            try:
                with self.pool.connection() as conn:
                    conn.execute("SELECT 1")
            except KeyboardInterrupt:
                errors.append("interrupted")

        t = threading.Thread(target=worker)
        t.start()
        t.join(10)
        self.assertEqual(errors, ["interrupted"])
        self.assertEqual(self.calls, ["blocking"])

    def test_a_dbapi_connection_releases_with_the_gil_dropped(self):
        # Its cancel() may run in another thread, and a release waits for a running cancel.
        conn = dbapi.connect(pool=self.pool)
        conn.cursor().execute("SELECT 1")
        conn.close()
        self.assertEqual(self.calls, ["blocking"])

    def test_async_statement_marks_the_connection_in_flight_until_done(self):
        import asyncio

        from connpool import aio

        async def main():
            async with aio.AsyncConnectionPool(conninfo(), max_size=1, timeout=5) as apool:
                async with apool.connection() as conn:
                    self.assertEqual((await conn.execute("SELECT 3")).scalar(), 3)
                async with apool.connection() as conn:
                    task = asyncio.ensure_future(conn.execute("SELECT pg_sleep(2)"))
                    await asyncio.sleep(0.2)
                    task.cancel()
                    with self.assertRaises(asyncio.CancelledError):
                        await task

        asyncio.run(asyncio.wait_for(main(), 30))
        self.assertEqual(self.calls, ["held", "blocking"])


class ThreadsTest(PgTestCase):
    def test_threads_share_a_pool_with_held_releases(self):
        # 8 threads on 2 connections: waits happen in acquire (GIL dropped), releases keep it;
        # every statement gives its own value and no thread stalls the others.
        with connpool.ConnectionPool(conninfo(), min_size=2, max_size=2, timeout=10) as pool:
            pool.wait(10)
            results = [[] for _ in range(8)]

            def worker(i):
                for k in range(200):
                    with pool.connection() as conn:
                        results[i].append(conn.execute("SELECT $1::int", [i * 1000 + k]).scalar())

            threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
            t0 = time.monotonic()
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            self.assertLess(time.monotonic() - t0, 60)
            for i in range(8):
                self.assertEqual(results[i], [i * 1000 + k for k in range(200)])
            both = [pool.try_getconn(), pool.try_getconn()]  # both connections came back
            self.assertNotIn(None, both)
            for conn in both:
                pool.putconn(conn)


class ScalarResultTest(PgTestCase):
    """The one-row one-column shortcut of the result reader gives what the general path gives."""

    def test_scalars(self):
        with connpool.ConnectionPool(conninfo(), max_size=1, timeout=5) as pool:
            with pool.connection() as conn:
                r = conn.execute("SELECT NULL::int AS a")
                self.assertEqual(r.fetchall(), [(None,)])
                self.assertEqual(r.columns, ["a"])
                self.assertEqual(r.description[0].type_code, 23)
                self.assertEqual(r.rowcount, 1)
                self.assertEqual(conn.execute("SELECT ''::text AS b").fetchone(), ("",))
                self.assertEqual(conn.execute("SELECT 42::int8").scalar(), 42)
                self.assertEqual(conn.execute("SELECT true").scalar(), True)
                self.assertEqual(conn.execute("SELECT 1 WHERE false").fetchall(), [])
                two = conn.execute("SELECT 1 AS x, 2 AS y")
                self.assertEqual((two.fetchone(), two.columns), ((1, 2), ["x", "y"]))


if __name__ == "__main__":
    unittest.main()
