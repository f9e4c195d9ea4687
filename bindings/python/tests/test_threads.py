"""Threads: 32 threads on a pool of 4 with exact stats; the GIL is released while C blocks."""

from __future__ import annotations

import threading
import time
import unittest

from support import PgTestCase, conninfo, unique_app

import connpool


class ThreadsTest(PgTestCase):
    def test_32_threads_on_a_pool_of_4(self):
        app = unique_app("py_threads")
        threads_n, cycles = 32, 40
        pids: set[int] = set()
        errors: list[BaseException] = []
        lock = threading.Lock()
        peak_backends = [0]
        start = threading.Barrier(threads_n + 1)

        with connpool.ConnectionPool(conninfo(app), max_size=4, timeout=30) as pool:

            def worker(i: int) -> None:
                start.wait()
                try:
                    for k in range(cycles):
                        with pool.connection() as conn:
                            r = conn.execute("SELECT pg_backend_pid(), $1::int * 2", [i * 1000 + k])
                            pid, doubled = r.fetchone()
                            assert doubled == (i * 1000 + k) * 2, doubled
                            with lock:
                                pids.add(pid)
                except BaseException as e:  # noqa: BLE001
                    with lock:
                        errors.append(e)

            threads = [threading.Thread(target=worker, args=(i,)) for i in range(threads_n)]
            for th in threads:
                th.start()
            start.wait()
            # sample the gauges while the storm runs: never more than 4 connections
            while any(th.is_alive() for th in threads):
                s = pool.get_stats()
                self.assertLessEqual(s["total"], 4)
                self.assertEqual(s["idle"] + s["in_use"], s["total"])
                peak_backends[0] = max(peak_backends[0], s["total"])
                time.sleep(0.005)
            for th in threads:
                th.join()
            self.assertEqual(errors, [])
            stats = pool.get_stats()
            total = threads_n * cycles
            self.assertEqual(stats["acquired"], total)
            self.assertEqual(stats["released"], total)
            self.assertEqual(stats["acquire_timeouts"], 0)
            self.assertEqual((stats["in_use"], stats["waiting"]), (0, 0))
            self.assertLessEqual(stats["created"], 4)
            self.assertEqual(stats["reused"], total - stats["created"])
            self.assertLessEqual(len(pids), 4)
            self.assertEqual(len(pids), stats["created"])
            self.assertLessEqual(self.backends(app), 4)

    def test_blocking_calls_release_the_gil(self):
        # Four threads each sleep 1 s in the server: in parallel that takes ~1 s, serially 4 s
        # (the bound leaves room for a loaded machine and still proves the calls overlap).
        with connpool.ConnectionPool(conninfo(), max_size=4, timeout=10) as pool:
            with pool.connection() as conn:
                conn.execute("SELECT 1")
            barrier = threading.Barrier(4)

            def sleeper():
                barrier.wait()
                with pool.connection() as conn:
                    conn.execute("SELECT pg_sleep(1.0)")

            threads = [threading.Thread(target=sleeper) for _ in range(4)]
            t0 = time.monotonic()
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            elapsed = time.monotonic() - t0
            self.assertLess(elapsed, 2.5, f"queries did not overlap ({elapsed:.2f} s)")

            # A thread blocked in acquire leaves the interpreter to the others.
            held = [pool.getconn() for _ in range(4)]
            outcome = []

            def blocked_acquire():
                try:
                    pool.getconn(0.5)
                except connpool.PoolTimeout as e:
                    outcome.append(e)

            blocked = threading.Thread(target=blocked_acquire)
            blocked.start()
            time.sleep(0.05)
            spins = 0
            t_end = time.monotonic() + 0.3
            while time.monotonic() < t_end:
                spins += 1
            blocked.join()
            self.assertEqual(len(outcome), 1)
            self.assertGreater(spins, 10000, "the main thread was starved while another waited")
            for c in held:
                pool.putconn(c)

    def test_concurrent_double_release_exactly_one_wins(self):
        with connpool.ConnectionPool(conninfo(), max_size=2, timeout=10) as pool:
            for _ in range(20):
                conn = pool.getconn()
                outcomes = []
                barrier = threading.Barrier(2)

                def put():
                    barrier.wait()
                    try:
                        pool.putconn(conn)
                        outcomes.append("ok")
                    except connpool.InvalidHandle:
                        outcomes.append("invalid")

                ts = [threading.Thread(target=put) for _ in range(2)]
                for t in ts:
                    t.start()
                for t in ts:
                    t.join()
                self.assertEqual(sorted(outcomes), ["invalid", "ok"])
            stats = pool.get_stats()
            self.assertEqual((stats["acquired"], stats["released"], stats["in_use"]), (20, 20, 0))


if __name__ == "__main__":
    unittest.main()
