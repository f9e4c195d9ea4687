"""ConnectionPool.execute: multiplexed statements without a borrowed connection."""

from __future__ import annotations

import threading
import time
import unittest

from support import conninfo, unique_app

import connpool


class MuxTest(unittest.TestCase):
    def setUp(self) -> None:
        self.pool = connpool.ConnectionPool(
            conninfo(unique_app("py_mux")), max_size=4, multiplexing_connections=2, timeout=10
        )

    def tearDown(self) -> None:
        self.pool.close()

    def test_rows_come_back_converted(self):
        result = self.pool.execute("SELECT $1::int AS n, $2::text AS t", [41, "x"])
        self.assertEqual(result.fetchall(), [(41, "x")])
        self.assertEqual(result.columns, ["n", "t"])

    def test_many_threads_get_their_own_values(self):
        wrong = []

        def caller(t: int) -> None:
            for i in range(100):
                mine = t * 1000 + i
                got = self.pool.execute("SELECT $1::int", [mine]).fetchone()[0]
                if got != mine:
                    wrong.append((mine, got))

        threads = [threading.Thread(target=caller, args=(t,)) for t in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(wrong, [])

    def test_query_error_carries_sqlstate_and_others_go_on(self):
        with self.assertRaises(connpool.QueryError) as cm:
            self.pool.execute("SELECT 1 / 0")
        self.assertEqual(cm.exception.sqlstate, "22012")
        self.assertEqual(self.pool.execute("SELECT 2").fetchone(), (2,))

    def test_timeout(self):
        start = time.monotonic()
        with self.assertRaises(connpool.PoolTimeout):
            self.pool.execute("SELECT pg_sleep(1)", timeout=0.1)
        self.assertLess(time.monotonic() - start, 0.9)
        self.assertEqual(self.pool.execute("SELECT 3").fetchone(), (3,))

    def test_begin_is_refused(self):
        with self.assertRaises(connpool.InvalidArgument) as cm:
            self.pool.execute("BEGIN")
        self.assertIn("lease", str(cm.exception))

    def test_option_off_names_the_option(self):
        with connpool.ConnectionPool(conninfo(unique_app("py_mux_off")), max_size=1) as pool:
            with self.assertRaises(connpool.InvalidArgument) as cm:
                pool.execute("SELECT 1")
        self.assertIn("multiplexing_connections", str(cm.exception))


if __name__ == "__main__":
    unittest.main()
