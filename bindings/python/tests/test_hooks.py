"""configure/reset hooks (psycopg_pool's semantics) and leak labels naming the caller."""

from __future__ import annotations

import asyncio
import threading
import time
import unittest

from support import PgTestCase, conninfo

import connpool


class ConfigureTest(PgTestCase):
    def test_configure_runs_once_per_new_connection_in_the_acquiring_thread(self):
        calls = []

        def configure(conn):
            calls.append((conn.info.connection_id, threading.get_ident()))
            conn.execute("SET application_name = 'configured'")

        with connpool.ConnectionPool(conninfo(), min_size=0, max_size=1, timeout=5,
                                     configure=configure) as pool:
            with pool.connection() as conn:
                self.assertEqual(conn.execute("SHOW application_name").scalar(), "configured")
                cid = conn.info.connection_id
            with pool.connection() as conn:
                self.assertEqual(conn.info.connection_id, cid)
            self.assertEqual(calls, [(cid, threading.get_ident())], "once, in this thread")
            pool.drain()  # a new connection: configured again
            with pool.connection() as conn:
                self.assertNotEqual(conn.info.connection_id, cid)
            self.assertEqual(len(calls), 2)

    def test_failing_configure_closes_the_connection_and_the_acquire_retries(self):
        attempts = []

        def configure(conn):
            attempts.append(conn.info.backend_pid)
            if len(attempts) == 1:
                raise RuntimeError("first one fails")

        with connpool.ConnectionPool(conninfo(), min_size=0, max_size=1, timeout=5,
                                     configure=configure) as pool:
            with pool.connection() as conn:
                pid = conn.execute("SELECT pg_backend_pid()").scalar()
            self.assertEqual(len(attempts), 2)
            self.assertEqual(attempts[1], pid)
            self.assertNotEqual(attempts[0], pid, "the failed connection was not reused")
            self.assertTrue(wait_for_gone(self, attempts[0]), "the failed one was closed")

    def test_always_failing_configure_ends_in_pool_timeout(self):
        def configure(conn):
            raise ValueError("broken configure")

        with connpool.ConnectionPool(conninfo(), min_size=0, max_size=1, timeout=5,
                                     configure=configure) as pool:
            t0 = time.monotonic()
            with self.assertRaises(connpool.PoolTimeout) as cm:
                pool.getconn(timeout=0.5)
            self.assertLess(time.monotonic() - t0, 3)
            self.assertIsInstance(cm.exception.__cause__, ValueError)
            self.assertEqual(pool.get_stats()["in_use"], 0, "nothing leaked")


def wait_for_gone(test, pid, timeout=3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if test.sql("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", [pid])[0][0] == 0:
            return True
        time.sleep(0.02)
    return False


class ResetTest(PgTestCase):
    def test_reset_runs_before_the_connection_goes_back(self):
        seen = []

        def reset(conn):
            seen.append(conn.execute("SHOW search_path").scalar())
            conn.execute("RESET search_path")

        with connpool.ConnectionPool(conninfo(), min_size=0, max_size=1, timeout=5,
                                     reset=reset) as pool:
            with pool.connection() as conn:
                conn.execute("SET search_path = pg_catalog")
            conn = pool.getconn()
            self.assertEqual(seen, ["pg_catalog"])
            self.assertNotEqual(conn.execute("SHOW search_path").scalar(), "pg_catalog")
            pool.putconn(conn)
            self.assertEqual(len(seen), 2)

    def test_failing_reset_closes_the_connection(self):
        def reset(conn):
            raise RuntimeError("cannot reset")

        with connpool.ConnectionPool(conninfo(), min_size=0, max_size=1, timeout=5,
                                     reset=reset) as pool:
            with pool.connection() as conn:
                pid = conn.execute("SELECT pg_backend_pid()").scalar()
                cid = conn.info.connection_id
            self.assertTrue(wait_for_gone(self, pid), "the backend went away")
            with pool.connection() as conn:
                self.assertNotEqual(conn.info.connection_id, cid)
                self.assertTrue(conn.info.is_new)


class AsyncHooksTest(PgTestCase):
    def test_async_configure_and_reset(self):
        log = []

        async def configure(aconn):
            await aconn.execute("SET application_name = 'aio_configured'")
            log.append("configure")

        async def reset(aconn):
            log.append("reset")
            if len([x for x in log if x == "reset"]) == 2:
                raise RuntimeError("second reset fails")

        async def main():
            async with connpool.AsyncConnectionPool(conninfo(), min_size=0, max_size=1,
                                                    timeout=5, configure=configure,
                                                    reset=reset) as pool:
                async with pool.connection() as conn:
                    name = (await conn.execute("SHOW application_name")).scalar()
                    first = conn.info.connection_id
                async with pool.connection() as conn:
                    self.assertEqual(conn.info.connection_id, first)
                async with pool.connection() as conn:  # the failed reset closed the old one
                    self.assertNotEqual(conn.info.connection_id, first)
                return name

        self.assertEqual(asyncio.run(main()), "aio_configured")
        self.assertEqual(log, ["configure", "reset", "reset", "configure", "reset"])


class LeakLabelTest(PgTestCase):
    def test_leases_are_labelled_with_the_caller_when_leak_threshold_is_set(self):
        with connpool.ConnectionPool(conninfo(), min_size=0, max_size=2, timeout=5,
                                     leak_threshold=60) as pool:
            with pool.connection() as conn:  # the line the label must name
                line = current_line() - 1
                labels = [c["label"] for c in pool.connections() if c["state"] == "in_use"]
            self.assertEqual(len(labels), 1)
            self.assertTrue(labels[0].startswith(f"test_hooks.py:{line} in "), labels[0])
            conn = pool.getconn()
            label = [c["label"] for c in pool.connections() if c["state"] == "in_use"][0]
            self.assertIn(f"test_hooks.py:{current_line() - 2}", label)
            pool.putconn(conn)

    def test_no_label_without_leak_threshold(self):
        with connpool.ConnectionPool(conninfo(), min_size=0, max_size=1, timeout=5) as pool:
            with pool.connection():
                labels = [c["label"] for c in pool.connections() if c["state"] == "in_use"]
            self.assertEqual(labels, [None])

    def test_async_leases_are_labelled(self):
        async def main():
            async with connpool.AsyncConnectionPool(conninfo(), max_size=1, timeout=5,
                                                    leak_threshold=60) as pool:
                async with pool.connection():
                    line = current_line() - 1
                    return line, pool.connections()[0]["label"]

        line, label = asyncio.run(main())
        self.assertTrue(label.startswith(f"test_hooks.py:{line} in main"), label)


def current_line() -> int:
    import sys

    return sys._getframe(1).f_lineno


if __name__ == "__main__":
    unittest.main()
