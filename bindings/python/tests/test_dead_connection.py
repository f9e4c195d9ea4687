"""Issue 14: a connection the server already closed is never handed out, even within 1 ms of its
last statement. The backend is terminated right after each release and gone from
pg_stat_activity before the next acquire; with max_size=1 the next lease's first statement must
still succeed (on a fresh connection). Over the Unix socket and over TCP."""

from __future__ import annotations

import time
import unittest

from support import PgTestCase, _read_conninfo, conninfo, connpool, unique_app

ROUNDS = 60


class DeadConnectionTest(PgTestCase):
    def terminate_and_wait(self, pid: int) -> None:
        self.assertTrue(self.sql("SELECT pg_terminate_backend($1)", [pid])[0][0])
        deadline = time.monotonic() + 5
        while self.sql("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", [pid])[0][0]:
            self.assertLess(time.monotonic(), deadline, "backend did not exit")
            time.sleep(0.005)

    def kill_after_every_release(self, target: str) -> None:
        with connpool.ConnectionPool(target, min_size=1, max_size=1, timeout=10) as pool:
            pids = set()
            for round_ in range(ROUNDS):
                with pool.connection() as conn:
                    # The first statement of the lease: never 57P01 / ConnectionBroken.
                    pid = conn.execute("SELECT pg_backend_pid()").scalar()
                self.assertNotIn(pid, pids, f"round {round_}: a killed backend came back")
                pids.add(pid)
                self.terminate_and_wait(pid)
            self.assertGreaterEqual(pool.get_stats()["closed_broken"], ROUNDS - 1)

    def test_unix_socket(self):
        self.kill_after_every_release(conninfo(unique_app("py_dead")))

    def test_tcp(self):
        try:
            tcp = _read_conninfo("conninfo_tcp")
        except RuntimeError as exc:
            self.skipTest(str(exc))
        self.kill_after_every_release(f"{tcp} application_name={unique_app('py_dead_tcp')}")


if __name__ == "__main__":
    unittest.main()
