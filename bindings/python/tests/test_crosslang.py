"""One registered pool shared by Python and Go inside one process.

This Python process registers a pool with connpool.pools.get_or_create(); a Go library built
with `go build -buildmode=c-shared` (bindings/go/testdata/crosslang, path in
$CONNPOOL_CROSSLANG_LIB) is loaded into it with ctypes, looks the pool up by name
(connpool.Lookup) and runs queries through it while Python threads do the same. Both link the
same libconnpool.so, so there is one registry, one pool, one set of counters; the server never
sees more than max_size backends for it.
"""

from __future__ import annotations

import ctypes
import os
import threading
import time
import unittest

from support import PgTestCase, conninfo, unique_app

import connpool
from connpool import _ffi

MAX_SIZE = 3
PY_THREADS, PY_QUERIES = 3, 40
GO_WORKERS, GO_QUERIES = 4, 60
PID_QUERY = "SELECT pg_backend_pid()::int8 FROM pg_sleep(0.002)"


def _load_go_library() -> ctypes.CDLL:
    path = os.environ.get("CONNPOOL_CROSSLANG_LIB")
    if not path:
        raise unittest.SkipTest("CONNPOOL_CROSSLANG_LIB is not set (ctest sets it: ctest -R crosslang)")
    lib = ctypes.CDLL(path)
    lib.GoRunQueries.restype = ctypes.c_int
    lib.GoRunQueries.argtypes = [
        ctypes.c_char_p, ctypes.c_int, ctypes.c_int,
        ctypes.POINTER(ctypes.c_int64), ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
    ]  # fmt: skip
    lib.GoPoolAcquired.restype = ctypes.c_int64
    lib.GoPoolAcquired.argtypes = [ctypes.c_char_p]
    return lib


def _libconnpool_mappings() -> set[str]:
    """The files named libconnpool.so* mapped into this process."""
    out = set()
    with open("/proc/self/maps") as maps:
        for line in maps:
            parts = line.split(maxsplit=5)
            if len(parts) == 6 and os.path.basename(parts[5].strip()).startswith("libconnpool.so"):
                out.add(os.path.realpath(parts[5].strip()))
    return out


class CrossLanguageTest(PgTestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.go = _load_go_library()
        super().setUpClass()

    def run_go(self, name: str, n: int, workers: int) -> tuple[int, set[int], str]:
        pids = (ctypes.c_int64 * 64)()
        errbuf = ctypes.create_string_buffer(512)
        done = self.go.GoRunQueries(name.encode(), n, workers, pids, len(pids), errbuf, len(errbuf))
        return done, {p for p in pids if p}, errbuf.value.decode("utf-8", "replace")

    def test_one_library_instance(self):
        # The Go library's libconnpool dependency resolved to the one this binding loaded: the
        # same file, mapped once, hence one registry.
        self.assertEqual(_libconnpool_mappings(), {os.path.realpath(_ffi.path)})

    def test_go_sees_not_found_for_an_unknown_pool(self):
        done, _, message = self.run_go("xlang_no_such_pool", 1, 1)
        self.assertEqual(done, -_ffi.ERR_NOT_FOUND, message)
        self.assertIn("CONNPOOL_ERR_NOT_FOUND", message)

    def test_python_and_go_share_one_registered_pool(self):
        app = unique_app("connpool_xlang")
        name = app.replace("connpool_", "x")
        pool = connpool.pools.get_or_create(name, conninfo(app), max_size=MAX_SIZE, timeout=20)
        self.addCleanup(connpool.pools.close_all)

        py_pids: set[int] = set()
        py_done = [0]
        go_result: list = []
        stop = threading.Event()
        seen_backends = [0]
        lock = threading.Lock()

        def python_worker() -> None:
            for _ in range(PY_QUERIES):
                with pool.connection() as conn:
                    pid = conn.execute(PID_QUERY).scalar()
                with lock:
                    py_pids.add(pid)
                    py_done[0] += 1

        def go_worker() -> None:  # ctypes releases the GIL for the call
            go_result.append(self.run_go(name, GO_QUERIES, GO_WORKERS))

        def sampler() -> None:
            while not stop.is_set():
                seen_backends[0] = max(seen_backends[0], self.backends(app))
                time.sleep(0.005)

        watch = threading.Thread(target=sampler)
        watch.start()
        workers = [threading.Thread(target=python_worker) for _ in range(PY_THREADS)]
        workers.append(threading.Thread(target=go_worker))
        for t in workers:
            t.start()
        for t in workers:
            t.join(60)
        stop.set()
        watch.join(10)

        go_done, go_pids, go_error = go_result[0]
        self.assertEqual(go_done, GO_QUERIES, f"Go: {go_error}")
        self.assertEqual(py_done[0], PY_THREADS * PY_QUERIES)

        # One pool, one set of counters: both languages' leases, seen alike from both sides.
        stats = pool.get_stats()
        self.assertGreaterEqual(stats["acquired"], PY_THREADS * PY_QUERIES + GO_QUERIES)
        self.assertEqual(self.go.GoPoolAcquired(name.encode()), stats["acquired"])
        self.assertEqual(connpool.pools.stats()["pools"][name]["acquired"], stats["acquired"])
        self.assertLessEqual(stats["created"], MAX_SIZE)

        # The server saw at most max_size backends for this pool, and both languages ran on them.
        self.assertLessEqual(seen_backends[0], MAX_SIZE)
        self.assertGreaterEqual(seen_backends[0], 1)
        self.assertLessEqual(self.backends(app), MAX_SIZE)
        self.assertLessEqual(len(py_pids | go_pids), MAX_SIZE, (py_pids, go_pids))
        live = {row[0] for row in self.sql(
            "SELECT pid::int8 FROM pg_stat_activity WHERE application_name = $1", [app])}
        # Every backend either language used is one of this pool's (still open: max_idle is
        # minutes), so Go did not open connections of its own.
        self.assertLessEqual(py_pids | go_pids, live)

        # Closed from Python: gone for Go too.
        connpool.pools.close(name)
        done, _, message = self.run_go(name, 1, 1)
        self.assertEqual(done, -_ffi.ERR_NOT_FOUND, message)
        self.assertEqual(self.backends_after_close(app), 0)


if __name__ == "__main__":
    unittest.main()
