"""Sizing policies from Python (issue 13, items 5, 9, 10): keepalive_interval finds a backend
killed while idle with no acquire; idle_order lifo/fifo; min_idle keeps idle connections above
those in use. The options go through the generic option path; these tests show their effect."""

from __future__ import annotations

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


class KeepaliveTest(PgTestCase):
    def test_a_backend_killed_while_idle_is_replaced_without_an_acquire(self):
        app = unique_app("py_keepalive")
        with connpool.ConnectionPool(conninfo(app), min_size=2, max_size=2, pre_ping=False,
                                     keepalive_interval=0.1, maintenance_interval=0.05) as pool:
            pool.wait(10)
            pids = [r[0] for r in self.sql(
                "SELECT pid FROM pg_stat_activity WHERE application_name = $1", [app])]
            self.assertEqual(len(pids), 2)
            self.sql("SELECT pg_terminate_backend($1)", [pids[0]])
            self.assertTrue(wait_until(lambda: pool.get_stats()["keepalive_failures"] == 1))
            self.assertTrue(wait_until(lambda: self.backends(app) == 2), self.backends(app))
            stats = pool.get_stats()
            self.assertEqual(stats["acquired"], 0, "no acquire was involved")
            self.assertEqual(stats["total"], 2)
            self.assertGreaterEqual(stats["created"], 3)


class IdleOrderTest(PgTestCase):
    def pids_of_cycles(self, pool, n):
        pids = []
        for _ in range(n):
            with pool.connection() as conn:
                pids.append(conn.execute("SELECT pg_backend_pid()").fetchone()[0])
        return pids

    def test_lifo_keeps_one_warm_and_fifo_rotates(self):
        with connpool.ConnectionPool(conninfo(unique_app("py_lifo")), min_size=3,
                                     max_size=3) as pool:
            pool.wait(10)
            self.assertEqual(len(set(self.pids_of_cycles(pool, 6))), 1)
        with connpool.ConnectionPool(conninfo(unique_app("py_fifo")), min_size=3, max_size=3,
                                     idle_order="fifo") as pool:
            pool.wait(10)
            self.assertEqual(len(set(self.pids_of_cycles(pool, 6))), 3)


class MinIdleTest(PgTestCase):
    def test_idle_connections_are_kept_above_those_in_use(self):
        app = unique_app("py_min_idle")
        with connpool.ConnectionPool(conninfo(app), min_size=0, max_size=4, min_idle=2) as pool:
            self.assertTrue(wait_until(lambda: pool.get_stats()["idle"] == 2), pool.get_stats())
            conn = pool.getconn()
            self.assertTrue(wait_until(lambda: pool.get_stats()["total"] == 3), pool.get_stats())
            self.assertEqual(self.backends(app), 3)
            pool.putconn(conn)


class TargetUtilisationTest(PgTestCase):
    def test_connections_are_opened_ahead_of_demand(self):
        app = unique_app("py_target")
        with connpool.ConnectionPool(conninfo(app), min_size=0, max_size=8,
                                     target_utilisation=50) as pool:
            held = [pool.getconn() for _ in range(2)]
            # 2 in use at most 50 % of the total: at least 4 open, without a third acquire.
            self.assertTrue(wait_until(lambda: pool.get_stats()["total"] >= 4), pool.get_stats())
            self.assertEqual(pool.get_stats()["acquired"], 2)
            for conn in held:
                pool.putconn(conn)


class ThreadAffinityTest(PgTestCase):
    def test_on_a_thread_gets_back_what_it_released_off_it_gets_the_latest(self):
        with connpool.ConnectionPool(conninfo(unique_app("py_affinity")), min_size=2,
                                     max_size=2, thread_affinity=True) as pool:
            pool.wait(10)
            self.assertEqual(*self.released_then_reacquired(pool))
        with connpool.ConnectionPool(conninfo(unique_app("py_no_affinity")), min_size=2,
                                     max_size=2) as pool:
            pool.wait(10)
            got, mine = self.released_then_reacquired(pool)
            self.assertNotEqual(got, mine)

    @staticmethod
    def released_then_reacquired(pool):
        """The main thread releases its connection, then another thread releases a second one;
        the main thread acquires again: (backend it gets, backend it released)."""
        pid = lambda c: c.execute("SELECT pg_backend_pid()").fetchone()[0]
        mine_conn, other_conn = pool.getconn(), pool.getconn()
        mine = pid(mine_conn)
        pool.putconn(mine_conn)
        t = threading.Thread(target=pool.putconn, args=(other_conn,))
        t.start()
        t.join()
        with pool.connection() as conn:
            return pid(conn), mine


if __name__ == "__main__":
    unittest.main()
