"""asyncio: waiting costs no thread (1,000 tasks on a pool of 4), cancellation, timeouts, close."""

from __future__ import annotations

import asyncio
import os
import threading
import time
import unittest

from support import PgTestCase, conninfo, unique_app

import connpool


def os_threads() -> int:
    with open(f"/proc/{os.getpid()}/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    raise AssertionError("no Threads: line")


class AsyncTest(PgTestCase):
    def run_async(self, coro, timeout=60):
        return asyncio.run(asyncio.wait_for(coro, timeout))

    async def wait_for_stat(self, pool, key, value, timeout=5.0):
        deadline = time.monotonic() + timeout
        while pool.get_stats()[key] != value and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        self.assertEqual(pool.get_stats()[key], value, key)

    def test_basic_query_and_transaction(self):
        async def main():
            t = self.table("v int")
            async with connpool.AsyncConnectionPool(conninfo(), max_size=2, timeout=5) as pool:
                async with pool.connection() as conn:
                    r = await conn.execute("SELECT $1::int + 1, $2::text", [41, "x"])
                    self.assertEqual(r.fetchall(), [(42, "x")])
                    async with conn.transaction():
                        await conn.execute(f"INSERT INTO {t} VALUES (1)")
                    with self.assertRaises(connpool.QueryError) as cm:
                        async with conn.transaction():
                            await conn.execute(f"INSERT INTO {t} VALUES (2)")
                            await conn.execute("SELECT 1/0")
                    self.assertEqual(cm.exception.sqlstate, "22012")
                conn2 = await pool.getconn()
                self.assertEqual((await conn2.execute("SELECT count(*) FROM " + t)).scalar(), 1)
                await pool.putconn(conn2)
                with self.assertRaises(connpool.InvalidHandle):
                    await pool.putconn(conn2)
                with self.assertRaises(connpool.InvalidHandle):
                    await conn2.execute("SELECT 1")
                stats = pool.get_stats()
                self.assertEqual((stats["in_use"], stats["acquired"], stats["released"]), (0, 2, 2))
            self.assertTrue(pool.closed)

        self.run_async(main())

    def test_1000_tasks_on_a_pool_of_4_use_a_handful_of_threads(self):
        app = unique_app("py_async")
        n_tasks = 1000

        async def main():
            py_before, os_before = threading.active_count(), os_threads()
            pool = connpool.AsyncConnectionPool(conninfo(app), max_size=4, timeout=60)
            c_threads = os_threads() - os_before  # the pool's own C++ threads
            peaks = {"py": 0, "os": 0, "waiting_tasks": 0}
            pids = set()
            done = 0
            waiting_tasks = 0

            async def task(i):
                nonlocal done, waiting_tasks
                waiting_tasks += 1
                async with pool.connection() as conn:
                    waiting_tasks -= 1
                    r = await conn.execute("SELECT pg_backend_pid(), $1::int", [i])
                    pid, echo = r.fetchone()
                    assert echo == i
                    pids.add(pid)
                done += 1

            async def sampler():
                while True:
                    peaks["py"] = max(peaks["py"], threading.active_count())
                    peaks["os"] = max(peaks["os"], os_threads())
                    peaks["waiting_tasks"] = max(peaks["waiting_tasks"], waiting_tasks)
                    await asyncio.sleep(0.005)

            s = asyncio.create_task(sampler())
            t0 = time.monotonic()
            await asyncio.gather(*(task(i) for i in range(n_tasks)))
            elapsed = time.monotonic() - t0
            s.cancel()
            stats = pool.get_stats()
            await pool.close()
            self.assertEqual(done, n_tasks)
            self.assertGreater(peaks["waiting_tasks"], 900, "most tasks really waited at once")
            # 4 statement threads at most, whatever the number of waiting tasks
            self.assertLessEqual(peaks["py"] - py_before, 4, peaks)
            self.assertLessEqual(peaks["os"] - os_before, 4 + c_threads + 4, (peaks, c_threads))
            self.assertLessEqual(len(pids), 4)
            self.assertEqual((stats["acquired"], stats["released"]), (n_tasks, n_tasks))
            self.assertEqual((stats["in_use"], stats["acquire_timeouts"]), (0, 0))
            self.assertLessEqual(stats["created"], 4)
            self.assertLess(elapsed, 30)

        self.run_async(main())
        self.assertEqual(self.backends_after_close(app), 0)

    def test_cancelling_a_waiting_task(self):
        async def main():
            async with connpool.AsyncConnectionPool(conninfo(), max_size=2, timeout=30) as pool:
                held = [await pool.getconn(), await pool.getconn()]
                waiter = asyncio.create_task(pool.getconn())
                await asyncio.sleep(0.1)
                self.assertFalse(waiter.done())
                t0 = time.monotonic()
                waiter.cancel()
                with self.assertRaises(asyncio.CancelledError):
                    await waiter
                self.assertLess(time.monotonic() - t0, 0.5, "the wait is abandoned at once")
                if "canceled" in pool.get_stats():  # counter added with the async acquire
                    self.assertEqual(pool.get_stats()["canceled"], 1)
                self.assertEqual(pool.get_stats()["waiting"], 0)
                # The cancelled waiter must not swallow the next connection returned.
                await pool.putconn(held.pop())
                await self.wait_for_stat(pool, "idle", 1)
                self.assertEqual(pool.get_stats()["in_use"], 1)

                # wait_for timing out cancels the wait too
                extra = await pool.getconn(timeout=1)
                with self.assertRaises(asyncio.TimeoutError):
                    await asyncio.wait_for(pool.getconn(), 0.2)
                # many cancelled waiters, then everything still works
                tasks = [asyncio.create_task(pool.getconn()) for _ in range(200)]
                await asyncio.sleep(0.1)
                for t in tasks:
                    t.cancel()
                results = await asyncio.gather(*tasks, return_exceptions=True)
                self.assertTrue(all(isinstance(r, asyncio.CancelledError) for r in results))
                await pool.putconn(extra)
                await pool.putconn(held.pop())
                await self.wait_for_stat(pool, "idle", 2)
                async with pool.connection(timeout=1) as conn:
                    self.assertEqual((await conn.execute("SELECT 1")).scalar(), 1)
                stats = pool.get_stats()
                self.assertEqual((stats["in_use"], stats["waiting"]), (0, 0))
                self.assertEqual(stats["acquired"], stats["released"])

        self.run_async(main())

    def test_cancel_races_a_grant(self):
        # Cancel waiters at the moment connections come back: no connection may be lost.
        async def main():
            async with connpool.AsyncConnectionPool(conninfo(), max_size=3, timeout=30) as pool:
                for _ in range(30):
                    held = [await pool.getconn() for _ in range(3)]
                    waiters = [asyncio.create_task(pool.getconn()) for _ in range(3)]
                    await asyncio.sleep(0)
                    await asyncio.sleep(0)
                    for c in held:
                        await pool.putconn(c)
                    for w in waiters:
                        w.cancel()
                    for r in await asyncio.gather(*waiters, return_exceptions=True):
                        if isinstance(r, connpool.AsyncConnection):
                            await pool.putconn(r)
                await self.wait_for_stat(pool, "in_use", 0)
                stats = pool.get_stats()
                self.assertEqual(stats["acquired"], stats["released"])
                self.assertEqual(stats["idle"], stats["total"])
                self.assertLessEqual(stats["total"], 3)

        self.run_async(main())

    def test_timeout_is_enforced_by_the_library(self):
        async def main():
            async with connpool.AsyncConnectionPool(conninfo(), max_size=1, timeout=30) as pool:
                held = await pool.getconn()
                t0 = time.monotonic()
                with self.assertRaises(connpool.PoolTimeout) as cm:
                    await pool.getconn(timeout=0.3)
                elapsed = time.monotonic() - t0
                self.assertGreaterEqual(elapsed, 0.28)
                self.assertLess(elapsed, 1.5)
                self.assertEqual(cm.exception.status_name, "CONNPOOL_ERR_TIMEOUT")
                with self.assertRaises(connpool.PoolTimeout):
                    await pool.getconn(timeout=0)
                self.assertEqual(pool.get_stats()["acquire_timeouts"], 2)
                await pool.putconn(held)

        self.run_async(main())

    def test_loop_keeps_running_while_tasks_wait_and_close_wakes_them(self):
        async def main():
            pool = connpool.AsyncConnectionPool(conninfo(), max_size=1, timeout=30)
            held = await pool.getconn()
            waiters = [asyncio.create_task(pool.getconn()) for _ in range(50)]
            ticks = 0
            t_end = time.monotonic() + 0.3
            while time.monotonic() < t_end:
                await asyncio.sleep(0.01)
                ticks += 1
            self.assertGreater(ticks, 10, "the event loop was blocked")
            self.assertFalse(any(w.done() for w in waiters))
            t0 = time.monotonic()
            await pool.close()
            results = await asyncio.gather(*waiters, return_exceptions=True)
            self.assertLess(time.monotonic() - t0, 3)
            self.assertTrue(all(isinstance(r, connpool.PoolClosed) for r in results), results[:3])
            with self.assertRaises(connpool.PoolClosed):
                await pool.getconn()
            self.assertEqual((await held.execute("SELECT 2")).scalar(), 2)
            await pool.putconn(held)
            self.assertEqual(pool.get_stats()["total"], 0)

        self.run_async(main())

    def test_cancelling_a_running_statement_returns_the_connection_at_once(self):
        async def main():
            async with connpool.AsyncConnectionPool(conninfo(), max_size=1, timeout=5) as pool:
                async def slow():
                    async with pool.connection() as conn:
                        await conn.execute("SELECT pg_sleep(5)")

                t = asyncio.create_task(slow())
                await asyncio.sleep(0.1)
                t.cancel()
                with self.assertRaises(asyncio.CancelledError):
                    await t
                # cancelled on the server and drained: the connection is back, not busy
                self.assertEqual(pool.get_stats()["in_use"], 0)
                async with pool.connection(timeout=2) as conn:
                    self.assertEqual((await conn.execute("SELECT 3")).scalar(), 3)

        self.run_async(main())


if __name__ == "__main__":
    unittest.main()
