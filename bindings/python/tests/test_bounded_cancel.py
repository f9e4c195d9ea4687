"""A cancel request against a server that accepts connections but never answers them gives up
at the cancel_timeout option (CONNPOOL_ERR_TIMEOUT, counted in cancel_timeouts) instead of
hanging the caller, and leaves no thread behind (Connection.cancel -> connpool_lease_cancel)."""

from __future__ import annotations

import os
import select
import socket
import threading
import time
import unittest

from support import PgTestCase, _read_conninfo, unique_app

import connpool
from connpool import dbapi

CANCEL_TIMEOUT_MS = 300


class SilentProxy:
    """Forwards TCP connections to PostgreSQL; once silent, accepts new ones and never answers
    (the connections already forwarded keep flowing)."""

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.silent = False
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.held: list[socket.socket] = []
        self.stopping = False
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def _accept(self) -> None:
        while not self.stopping:
            ready, _, _ = select.select([self.listener], [], [], 0.05)
            if not ready:
                continue
            client, _ = self.listener.accept()
            if self.silent:
                self.held.append(client)
                continue
            relay = threading.Thread(target=self._relay, args=(client,), daemon=True)
            self.threads.append(relay)
            relay.start()

    def _relay(self, client: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        with client, upstream:
            while not self.stopping:
                ready, _, _ = select.select([client, upstream], [], [], 0.05)
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    (upstream if s is client else client).sendall(data)

    def close(self) -> None:
        self.stopping = True
        for t in self.threads:
            t.join()
        for s in self.held:
            s.close()
        self.listener.close()


class BoundedCancelTest(PgTestCase):
    def setUp(self) -> None:
        tcp = _read_conninfo("conninfo_tcp")
        port = int(tcp.split("port=")[1].split()[0])
        self.proxy = SilentProxy(port)
        self.addCleanup(self.proxy.close)
        self.app = unique_app("py_bounded_cancel")
        conninfo = tcp.replace(f"port={port}", f"port={self.proxy.port}") + f" application_name={self.app}"
        self.pool = connpool.ConnectionPool(
            conninfo, max_size=1, timeout=10, cancel_timeout=CANCEL_TIMEOUT_MS / 1000
        )
        self.addCleanup(self.pool.close)

    def wait_active(self, pid: int) -> None:
        for _ in range(1000):
            if self.sql("SELECT state FROM pg_stat_activity WHERE pid = $1", [pid])[0][0] == "active":
                return
            time.sleep(0.005)

    def test_cancel_to_a_silent_server_ends_at_cancel_timeout(self):
        conn = dbapi.connect(pool=self.pool)
        try:
            cur = conn.cursor()
            cur.execute("SELECT pg_backend_pid()")
            pid = cur.fetchone()[0]
            outcome: list = []

            def sleep() -> None:
                try:
                    conn.cursor().execute("SELECT pg_sleep(30)")
                    outcome.append(None)
                except Exception as exc:  # the cancel's effect
                    outcome.append(exc)

            runner = threading.Thread(target=sleep)
            runner.start()
            self.wait_active(pid)
            self.proxy.silent = True
            threads_before = len(os.listdir("/proc/self/task"))
            for _ in range(5):
                started = time.monotonic()
                with self.assertRaises(connpool.Error) as caught:
                    conn.cancel()
                took = (time.monotonic() - started) * 1000
                self.assertGreaterEqual(took, CANCEL_TIMEOUT_MS - 5)
                self.assertLess(took, CANCEL_TIMEOUT_MS + 500)
                self.assertEqual(caught.exception.status_name, "CONNPOOL_ERR_TIMEOUT")
                self.assertIn("cancel_timeout", str(caught.exception))
            self.assertEqual(len(os.listdir("/proc/self/task")), threads_before)
            self.assertEqual(self.pool.get_stats()["cancel_timeouts"], 5)

            # The server answers again: the statement is cancelled promptly.
            self.proxy.silent = False
            started = time.monotonic()
            conn.cancel()
            runner.join(10)
            self.assertFalse(runner.is_alive())
            self.assertLess(time.monotonic() - started, 5)
            self.assertEqual(getattr(outcome[0], "sqlstate", None), "57014")
        finally:
            conn.close()


if __name__ == "__main__":
    unittest.main()
