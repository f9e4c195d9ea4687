"""psycopg_pool's ConnectionPool checks, re-expressed against connpool through a name-mapping
shim (our own code: the checks of psycopg_pool 3.1's test suite for sizes, getconn/putconn,
resize, check, configure, reset and statistics, not its text).

The shim, :class:`PsycopgStylePool`, is what a psycopg_pool user would write to move to
connpool: psycopg_pool's constructor arguments and defaults (max_size = min_size, timeout 30 s),
its method names, and its statistics names computed from connpool's (:data:`STAT_NAMES`).
Everything else is connpool's own API, unchanged.
"""

from __future__ import annotations

import threading
import time
import unittest

from support import PgTestCase, conninfo, unique_app

import connpool

#: psycopg_pool statistic -> how it is computed from connpool's get_stats().
STAT_NAMES = {
    "pool_min": lambda s: s["min_size"],
    "pool_max": lambda s: s["max_size"],
    "pool_size": lambda s: s["total"] + s["opening"],
    "pool_available": lambda s: s["idle"],
    "requests_waiting": lambda s: s["waiting"],
    "requests_num": lambda s: s["acquired"] + s["acquire_timeouts"] + s["waiters_rejected"],
    "requests_queued": lambda s: s["requests_queued"],
    "requests_wait_ms": lambda s: s["acquire_wait_us_total"] // 1000,
    "requests_errors": lambda s: s["acquire_timeouts"] + s["waiters_rejected"],
    "usage_ms": lambda s: s["usage_ms"],
    "connections_num": lambda s: s["created"] + s["connect_errors"],
    "connections_errors": lambda s: s["connect_errors"],
    "connections_lost": lambda s: s["keepalive_failures"],
    "returns_bad": lambda s: s["closed_broken"],
}
#: psycopg_pool's gauges: pop_stats() does not reset them.
GAUGES = {"pool_min", "pool_max", "pool_size", "pool_available", "requests_waiting"}


class PsycopgStylePool:
    """psycopg_pool.ConnectionPool's face over connpool.ConnectionPool."""

    def __init__(self, conninfo="", *, kwargs=None, min_size=4, max_size=None, open=True,
                 configure=None, reset=None, name=None, timeout=30.0, max_waiting=0,
                 max_lifetime=3600.0, max_idle=600.0, reconnect_timeout=300.0, num_workers=3):
        if max_size is None:
            max_size = min_size
        options = {"max_waiting": max_waiting} if max_waiting else {}
        self._pool = connpool.ConnectionPool(
            conninfo, kwargs=kwargs, min_size=min_size, max_size=max_size, timeout=timeout,
            max_lifetime=max_lifetime, max_idle=max_idle, configure=configure, reset=reset,
            name=name, **options)
        self.timeout = timeout
        self._last = {}

    # sizes and state
    min_size = property(lambda self: self._pool.min_size)
    max_size = property(lambda self: self._pool.max_size)
    closed = property(lambda self: self._pool.closed)
    name = property(lambda self: self._pool.name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self, timeout=5.0):
        self._pool.close()

    def wait(self, timeout=30.0):
        self._pool.wait(timeout)

    def connection(self, timeout=None):
        return self._pool.connection(timeout)

    def getconn(self, timeout=None):
        return self._pool.getconn(timeout)

    def putconn(self, conn):
        self._pool.putconn(conn)

    def resize(self, min_size, max_size=None):
        self._pool.resize(min_size, max_size)

    def check(self):
        return self._pool.check()

    def get_stats(self):
        raw = self._pool.get_stats()
        return {name: f(raw) for name, f in STAT_NAMES.items()}

    def pop_stats(self):
        now = self.get_stats()
        out = {}
        for name, value in now.items():
            out[name] = value if name in GAUGES else value - self._last.get(name, 0)
        self._last = {k: v for k, v in now.items() if k not in GAUGES}
        return out


def backend_pid(conn) -> int:
    return conn.execute("SELECT pg_backend_pid()").fetchone()[0]


class SizesTest(PgTestCase):
    def test_max_size_defaults_to_min_size(self):
        with PsycopgStylePool(conninfo(), min_size=2) as p:
            self.assertEqual((p.min_size, p.max_size), (2, 2))
        with PsycopgStylePool(conninfo(), min_size=2, max_size=4) as p:
            self.assertEqual((p.min_size, p.max_size), (2, 4))

    def test_bad_sizes_are_value_errors(self):
        for min_size, max_size in ((-1, None), (4, 2), (0, 0)):
            with self.assertRaises(ValueError):
                PsycopgStylePool(conninfo(), min_size=min_size, max_size=max_size)

    def test_context_closes(self):
        with PsycopgStylePool(conninfo(), min_size=1) as p:
            self.assertFalse(p.closed)
        self.assertTrue(p.closed)


class GetconnPutconnTest(PgTestCase):
    def test_its_really_a_pool(self):
        with PsycopgStylePool(conninfo(), min_size=2) as p:
            with p.connection() as conn:
                pid1 = backend_pid(conn)
                with p.connection() as conn2:
                    pid2 = backend_pid(conn2)
            with p.connection() as conn:
                self.assertIn(backend_pid(conn), (pid1, pid2))
            self.assertNotEqual(pid1, pid2)

    def test_connection_not_lost_on_exception(self):
        with PsycopgStylePool(conninfo(), min_size=1) as p:
            with self.assertRaises(ZeroDivisionError):
                with p.connection() as conn:
                    pid = backend_pid(conn)
                    1 / 0
            with p.connection() as conn:
                self.assertEqual(backend_pid(conn), pid)

    def test_getconn_putconn(self):
        with PsycopgStylePool(conninfo(), min_size=2) as p:
            conn = p.getconn()
            self.assertEqual(conn.execute("SELECT 1").fetchone(), (1,))
            p.putconn(conn)
            with self.assertRaises(connpool.Error):
                conn.execute("SELECT 1")  # returned: no longer usable

    def test_putconn_wrong_pool(self):
        with PsycopgStylePool(conninfo(), min_size=1) as p1, \
                PsycopgStylePool(conninfo(), min_size=1) as p2:
            conn = p1.getconn()
            with self.assertRaises(ValueError):
                p2.putconn(conn)
            p1.putconn(conn)

    def test_closed_getconn(self):
        p = PsycopgStylePool(conninfo(), min_size=1)
        p.close()
        with self.assertRaises(connpool.PoolClosed):
            p.getconn()

    def test_queue_timeout(self):
        with PsycopgStylePool(conninfo(), min_size=2, timeout=5) as p:
            held = [p.getconn(), p.getconn()]
            t0 = time.monotonic()
            with self.assertRaises(connpool.PoolTimeout):
                p.getconn(timeout=0.2)
            self.assertLess(time.monotonic() - t0, 2)
            for c in held:
                p.putconn(c)


class ConfigureResetTest(PgTestCase):
    def test_configure(self):
        inits = []

        def configure(conn):
            inits.append(1)
            with conn.transaction():
                conn.execute("SET default_transaction_read_only TO on")

        with PsycopgStylePool(conninfo(), min_size=1, configure=configure) as p:
            p.wait()
            with p.connection() as conn:
                self.assertEqual(conn.execute("SHOW default_transaction_read_only").fetchone()[0], "on")
            with p.connection() as conn:
                pass
        self.assertEqual(len(inits), 1)

    def test_configure_broken(self):
        def configure(conn):
            raise ZeroDivisionError()

        with PsycopgStylePool(conninfo(), min_size=1, configure=configure) as p:
            with self.assertRaises(connpool.PoolTimeout):
                with p.connection(timeout=0.5):
                    pass

    def test_reset(self):
        resets = []

        def reset(conn):
            resets.append(1)
            conn.execute("SET timezone TO DEFAULT")

        with PsycopgStylePool(conninfo(), min_size=1, reset=reset) as p:
            with p.connection() as conn:
                default = conn.execute("SHOW timezone").fetchone()[0]
                conn.execute("SET timezone TO 'Pacific/Kiritimati'")
                pid = backend_pid(conn)
            with p.connection() as conn:
                self.assertEqual(backend_pid(conn), pid)
                self.assertEqual(conn.execute("SHOW timezone").fetchone()[0], default)
        self.assertEqual(len(resets), 2)

    def test_reset_broken_discards_the_connection(self):
        def reset(conn):
            raise ZeroDivisionError()

        with PsycopgStylePool(conninfo(), min_size=1, reset=reset) as p:
            with p.connection() as conn:
                pid1 = backend_pid(conn)
            with p.connection() as conn:
                pid2 = backend_pid(conn)
            self.assertNotEqual(pid1, pid2)


class ResizeCheckTest(PgTestCase):
    def test_resize_grows_and_shrinks(self):
        app = unique_app("py_shim_resize")
        with PsycopgStylePool(conninfo(app), min_size=2, max_idle=0.2) as p:
            p.wait()
            sizes = [p.get_stats()["pool_size"]]
            p.resize(4)
            p.wait()
            sizes.append(p.get_stats()["pool_size"])
            p.resize(2)
            deadline = time.monotonic() + 5
            while p.get_stats()["pool_size"] > 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            sizes.append(p.get_stats()["pool_size"])
            self.assertEqual(sizes, [2, 4, 2])
            deadline = time.monotonic() + 3  # a backend exits shortly after its client left
            while self.backends(app) > 2 and time.monotonic() < deadline:
                time.sleep(0.02)
            self.assertEqual(self.backends(app), 2)

    def test_bad_resize(self):
        with PsycopgStylePool(conninfo(), min_size=2) as p:
            for args in ((-1,), (4, 2), (0, 0)):
                with self.assertRaises(ValueError):
                    p.resize(*args)

    def test_check(self):
        app = unique_app("py_shim_check")
        with PsycopgStylePool(conninfo(app), min_size=4) as p:
            p.wait(10)
            pids = {pid for (pid,) in self.sql(
                "SELECT pid FROM pg_stat_activity WHERE application_name = $1", [app])}
            self.assertEqual(len(pids), 4)
            killed = sorted(pids)[:2]
            for pid in killed:
                self.sql("SELECT pg_terminate_backend($1)", [pid])
            time.sleep(0.1)
            self.assertEqual(p.check(), 2)
            p.wait(10)
            self.assertEqual(p.get_stats()["pool_size"], 4)
            now = {pid for (pid,) in self.sql(
                "SELECT pid FROM pg_stat_activity WHERE application_name = $1", [app])}
            self.assertFalse(now & set(killed))
            self.assertEqual(p.get_stats()["connections_lost"], 2)


class StatsTest(PgTestCase):
    def test_stats_measures(self):
        with PsycopgStylePool(conninfo(), min_size=2, max_size=4) as p:
            p.wait(10)
            stats = p.get_stats()
            self.assertEqual((stats["pool_min"], stats["pool_max"], stats["pool_size"],
                              stats["pool_available"], stats["requests_waiting"]), (2, 4, 2, 2, 0))
            held = [p.getconn() for _ in range(4)]
            stats = p.get_stats()
            self.assertEqual((stats["pool_size"], stats["pool_available"]), (4, 0))
            waiters = [threading.Thread(target=lambda: p.putconn(p.getconn(timeout=5)))
                       for _ in range(2)]
            for t in waiters:
                t.start()
            deadline = time.monotonic() + 3
            while p.get_stats()["requests_waiting"] < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            self.assertEqual(p.get_stats()["requests_waiting"], 2)
            for c in held:
                p.putconn(c)
            for t in waiters:
                t.join(5)
            self.assertEqual(p.get_stats()["requests_waiting"], 0)

    def test_stats_usage(self):
        with PsycopgStylePool(conninfo(), min_size=1, timeout=5) as p:
            p.wait(10)
            conn = p.getconn()
            time.sleep(0.1)
            p.putconn(conn)
            holder = p.getconn()
            waited = threading.Thread(target=lambda: p.putconn(p.getconn(timeout=5)))
            waited.start()
            time.sleep(0.1)
            p.putconn(holder)
            waited.join(5)
            with self.assertRaises(connpool.PoolTimeout):
                held = p.getconn()
                try:
                    p.getconn(timeout=0.05)
                finally:
                    p.putconn(held)
            stats = p.get_stats()
            self.assertEqual(stats["requests_num"], 5)
            self.assertEqual(stats["requests_queued"], 2)
            self.assertGreaterEqual(stats["requests_wait_ms"], 50)
            self.assertEqual(stats["requests_errors"], 1)
            self.assertGreaterEqual(stats["usage_ms"], 150)
            popped = p.pop_stats()
            self.assertEqual(popped["requests_num"], 5)
            self.assertEqual(p.pop_stats()["requests_num"], 0, "counters reset by pop")
            self.assertEqual(p.pop_stats()["pool_size"], 1, "gauges kept by pop")

    def test_stats_connect(self):
        with PsycopgStylePool(conninfo(), min_size=3) as p:
            p.wait(10)
            stats = p.get_stats()
            self.assertEqual(stats["connections_num"], 3)
            self.assertEqual(stats["connections_errors"], 0)


if __name__ == "__main__":
    unittest.main()
