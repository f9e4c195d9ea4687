"""Run-time operations from Python: resize, pause/resume, drain, check, set_conninfo,
connections(), conn.info, try_getconn, min_size/max_size, pop_stats; and the asyncio twins."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
import unittest

from support import PgTestCase, conninfo, unique_app

import connpool


def wait_until(predicate, timeout=5.0, interval=0.02):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


class ResizeTest(PgTestCase):
    def test_grow_and_shrink_with_exact_backend_counts(self):
        app = unique_app("py_resize")
        with connpool.ConnectionPool(conninfo(app), min_size=1, max_size=2, timeout=5) as pool:
            pool.wait(10)
            self.assertEqual((pool.min_size, pool.max_size), (1, 2))
            pool.resize(4, 6)
            self.assertEqual((pool.min_size, pool.max_size), (4, 6))
            pool.wait(10)
            self.assertTrue(wait_until(lambda: self.backends(app) == 4), self.backends(app))
            held = [pool.getconn() for _ in range(6)]
            self.assertEqual(self.backends(app), 6)
            pool.resize(1, 2)  # leased ones above the new max retire when released
            self.assertEqual((pool.min_size, pool.max_size), (1, 2))
            self.assertEqual(self.backends(app), 6, "leases are not affected")
            for conn in held:
                pool.putconn(conn)
            self.assertTrue(wait_until(lambda: self.backends(app) == 2), self.backends(app))
            self.assertLessEqual(pool.get_stats()["total"], 2)
            self.assertGreaterEqual(pool.get_stats()["resizes"], 2)

    def test_psycopg_style_single_argument_and_bad_values(self):
        with connpool.ConnectionPool(conninfo(), min_size=0, max_size=2) as pool:
            pool.resize(3)  # max_size defaults to min_size, as in psycopg_pool
            self.assertEqual((pool.min_size, pool.max_size), (3, 3))
            with self.assertRaises(connpool.InvalidArgument) as cm:
                pool.resize(5, 2)
            self.assertIn("min_size", str(cm.exception))
            with self.assertRaises(connpool.InvalidArgument):
                pool.resize("2")  # type: ignore[arg-type]
            self.assertEqual((pool.min_size, pool.max_size), (3, 3), "a refused resize changes nothing")


class PauseTest(PgTestCase):
    def test_waiters_wait_until_resume_and_time_out_when_paused(self):
        with connpool.ConnectionPool(conninfo(), min_size=1, max_size=2, timeout=5) as pool:
            pool.wait(10)
            held = pool.getconn()
            pool.pause()
            self.assertTrue(pool.paused)
            self.assertEqual(pool.get_stats()["paused"], 1)
            self.assertIsNone(pool.try_getconn(), "nothing is handed out while paused")
            t0 = time.monotonic()
            with self.assertRaises(connpool.PoolTimeout) as cm:
                pool.getconn(timeout=0.3)
            elapsed = time.monotonic() - t0
            self.assertGreaterEqual(elapsed, 0.25)
            self.assertLess(elapsed, 3)
            self.assertIn("paused", str(cm.exception))
            self.assertEqual(held.execute("SELECT 1").scalar(), 1, "leases out are unaffected")
            got = []
            waiter = threading.Thread(target=lambda: got.append(pool.getconn(timeout=5)))
            waiter.start()
            time.sleep(0.2)
            self.assertEqual(got, [], "the waiter waits while paused")
            pool.resume()
            waiter.join(5)
            self.assertEqual(len(got), 1)
            self.assertFalse(pool.paused)
            pool.putconn(got[0])
            pool.putconn(held)
            pool.resume()  # idempotent


class DrainCheckTest(PgTestCase):
    def test_drain_replaces_idle_now_and_leased_on_release(self):
        app = unique_app("py_drain")
        with connpool.ConnectionPool(conninfo(app), min_size=2, max_size=3, timeout=5) as pool:
            pool.wait(10)
            leased = pool.getconn()
            leased_pid = leased.execute("SELECT pg_backend_pid()").scalar()
            before = {pid for (pid,) in self.sql(
                "SELECT pid FROM pg_stat_activity WHERE application_name = $1", [app])}
            pool.drain()
            self.assertEqual(leased.execute("SELECT 1").scalar(), 1, "the lease goes on")
            pool.putconn(leased)
            pool.wait(10)

            def all_new():
                pids = {pid for (pid,) in self.sql(
                    "SELECT pid FROM pg_stat_activity WHERE application_name = $1", [app])}
                return pids and not (pids & before)

            self.assertTrue(wait_until(all_new), "every connection was replaced")
            with pool.connection() as conn:
                self.assertNotEqual(conn.execute("SELECT pg_backend_pid()").scalar(), leased_pid)
            stats = pool.get_stats()
            self.assertEqual(stats["drains"], 1)
            self.assertGreaterEqual(stats["closed_drained"], 2)

    def test_check_closes_a_backend_killed_while_idle(self):
        app = unique_app("py_check")
        with connpool.ConnectionPool(conninfo(app), min_size=2, max_size=2, timeout=5) as pool:
            pool.wait(10)
            self.assertEqual(pool.check(), 0, "nothing to close on a healthy pool")
            victim = self.sql(
                "SELECT pid FROM pg_stat_activity WHERE application_name = $1 LIMIT 1", [app])[0][0]
            self.sql("SELECT pg_terminate_backend($1)", [victim])
            # Gone from pg_stat_activity: its goodbye is on the pool's socket (a fixed sleep
            # was not always enough on a loaded machine).
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and self.sql(
                    "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", [victim])[0][0]:
                time.sleep(0.01)
            self.assertEqual(pool.check(), 1)
            stats = pool.get_stats()
            self.assertGreaterEqual(stats["keepalive_checks"], 2)
            self.assertGreaterEqual(stats["keepalive_failures"], 1)
            pool.wait(10)
            with pool.connection() as conn:
                self.assertNotEqual(conn.execute("SELECT pg_backend_pid()").scalar(), victim)


class MetadataTest(PgTestCase):
    def test_lease_info(self):
        with connpool.ConnectionPool(conninfo(), min_size=0, max_size=1, timeout=5) as pool:
            t0 = dt.datetime.now(dt.timezone.utc)
            with pool.connection() as conn:
                first = conn.info
                pid = conn.execute("SELECT pg_backend_pid()").scalar()
                time.sleep(0.05)  # held 50 ms: its end is clearly after the connection's birth
            self.assertIsInstance(first, connpool.LeaseInfo)
            self.assertTrue(first.is_new)
            self.assertEqual(first.use_count, 1)
            self.assertEqual(first.backend_pid, pid)
            self.assertGreater(first.connection_id, 0)
            self.assertIsNotNone(first.created_at.tzinfo)
            self.assertLess(abs((first.created_at - t0).total_seconds()), 5)
            time.sleep(0.02)
            with pool.connection() as conn:
                second = conn.info
            self.assertFalse(second.is_new)
            self.assertEqual(second.use_count, 2)
            self.assertEqual(second.connection_id, first.connection_id)
            self.assertEqual(second.created_at, first.created_at)
            # The release time comes from the pool's coarse clock (a few ms of resolution).
            held = (second.last_used_at - first.created_at).total_seconds()
            self.assertGreater(held, 0.03)
            self.assertLess(held, 5)

    def test_connections_list(self):
        app = unique_app("py_conns")
        with connpool.ConnectionPool(conninfo(app), min_size=2, max_size=2, timeout=5) as pool:
            pool.wait(10)
            conn = pool.getconn()
            conn.set_label("reporting job")
            listed = pool.connections()
            self.assertEqual(len(listed), 2)
            by_state = {c["state"]: c for c in listed}
            self.assertEqual(set(by_state), {"idle", "in_use"})
            self.assertEqual(by_state["in_use"]["label"], "reporting job")
            self.assertEqual(by_state["in_use"]["id"], conn.info.connection_id)
            self.assertEqual(by_state["in_use"]["backend_pid"], conn.info.backend_pid)
            pids = {pid for (pid,) in self.sql(
                "SELECT pid FROM pg_stat_activity WHERE application_name = $1", [app])}
            self.assertEqual({c["backend_pid"] for c in listed}, pids)
            snapshot = pool.connections_snapshot()
            self.assertEqual((snapshot["min_size"], snapshot["max_size"]), (2, 2))
            self.assertIs(snapshot["paused"], False)
            self.assertNotIn("password", repr(snapshot))
            pool.putconn(conn)


class SetConninfoTest(PgTestCase):
    def test_new_connections_use_the_new_conninfo(self):
        old_app, new_app = unique_app("py_rot_old"), unique_app("py_rot_new")
        with connpool.ConnectionPool(conninfo(old_app), min_size=1, max_size=2, timeout=5) as pool:
            pool.wait(10)
            self.assertEqual(self.backends(old_app), 1)
            pool.set_conninfo(conninfo(), application_name=new_app)
            pool.drain()
            self.assertTrue(wait_until(lambda: self.backends(new_app) == 1 and self.backends(old_app) == 0))
            with self.assertRaises(connpool.InvalidArgument) as cm:
                pool.set_conninfo("host=x password=hunter2 = =")
            self.assertNotIn("hunter2", str(cm.exception))
            with pool.connection() as conn:
                self.assertEqual(conn.execute("SHOW application_name").scalar(), new_app)


class TryGetconnAndStatsTest(PgTestCase):
    def test_try_getconn(self):
        with connpool.ConnectionPool(conninfo(), min_size=1, max_size=1, timeout=5) as pool:
            pool.wait(10)
            conn = pool.try_getconn()
            self.assertIsNotNone(conn)
            self.assertEqual(conn.execute("SELECT 7").scalar(), 7)
            t0 = time.monotonic()
            self.assertIsNone(pool.try_getconn(), "none idle: None at once")
            self.assertLess(time.monotonic() - t0, 0.5)
            pool.putconn(conn)
            again = pool.try_getconn()
            self.assertIsNotNone(again)
            pool.putconn(again)
        with self.assertRaises(connpool.PoolClosed):
            pool.try_getconn()

    def test_new_stats_and_pop_stats(self):
        with connpool.ConnectionPool(conninfo(), min_size=1, max_size=2, timeout=5) as pool:
            stats = pool.get_stats()
            for name in ("paused", "drains", "closed_drained", "keepalive_checks",
                         "keepalive_failures", "resizes"):
                self.assertIn(name, stats)
            for _ in range(3):
                with pool.connection():
                    pass
            first = pool.pop_stats()
            self.assertEqual(first["acquired"], 3)
            with pool.connection():
                pass
            second = pool.pop_stats()
            self.assertEqual(second["acquired"], 1, "counters since the previous pop")
            self.assertEqual(second["max_size"], 2, "gauges are current values")
            self.assertEqual(pool.get_stats()["acquired"], 4)


class AsyncOperationsTest(PgTestCase):
    def test_async_operations(self):
        app = unique_app("py_aio_ops")

        async def main():
            async with connpool.AsyncConnectionPool(conninfo(app), min_size=1, max_size=2,
                                                    timeout=5) as pool:
                await pool.wait(10)
                await pool.resize(2, 3)
                self.assertEqual((pool.min_size, pool.max_size), (2, 3))
                await pool.wait(10)
                async with pool.connection() as conn:
                    info = conn.info
                    self.assertEqual(info.backend_pid,
                                     (await conn.execute("SELECT pg_backend_pid()")).scalar())
                await pool.pause()
                self.assertTrue(pool.paused)
                self.assertIsNone(await pool.try_getconn())
                with self.assertRaises(connpool.PoolTimeout):
                    await pool.getconn(timeout=0.2)
                waiter = asyncio.ensure_future(pool.getconn(timeout=5))
                await asyncio.sleep(0.1)
                self.assertFalse(waiter.done())
                await pool.resume()
                conn = await asyncio.wait_for(waiter, 5)
                await pool.putconn(conn)
                self.assertEqual(await pool.check(), 0)
                await pool.drain()
                await pool.set_conninfo(conninfo(app + "_b"))
                self.assertEqual(pool.get_stats()["drains"], 1)
                self.assertGreaterEqual(len(pool.connections()), 0)
                self.assertIn("acquired", pool.pop_stats())

        asyncio.run(main())


if __name__ == "__main__":
    unittest.main()
