"""Cancellation crosses the language boundary (issue 14): an asyncio cancellation or a
KeyboardInterrupt (any exception a signal handler raises in the main thread) during a running
statement cancels it on the server and drains it, so the next acquire on a pool of 1 is served
at once instead of waiting for the statement (before: ~2.8 s of a 3 s pg_sleep).

Timings are printed (stderr) and asserted with slack for a loaded machine: the target is
~100 ms, the bound 0.5 s.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time
import unittest
import uuid

from support import PACKAGE_ROOT, PgTestCase, conninfo

import connpool
from connpool import _cancel, _ffi, dbapi

NEXT_ACQUIRE_BOUND = 0.5  # seconds; ~1 ms normally
# The interrupted statement returns a few ms after the interruption normally; well under the
# 3 s it would have run even on a loaded machine.
INTERRUPT_SLACK = 1.5
SLEEP = 3  # the statement that gets interrupted: pg_sleep(3)


def report(what: str, seconds: float) -> None:
    print(f"\n[test_cancel] {what}: {seconds * 1000:.1f} ms", file=sys.stderr, flush=True)


def tagged_sleep(tag: str) -> str:
    return f"SELECT pg_sleep({SLEEP}) /* {tag} */"


class CancelTestCase(PgTestCase):
    def still_running(self, tag: str) -> int:
        """Backends still running the statement tagged ``tag``."""
        return self.sql(
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE $1 "
            "AND pid <> pg_backend_pid()",
            [f"%{tag}%"],
        )[0][0]

    def assert_not_running(self, tag: str) -> None:
        self.assertEqual(self.still_running(tag), 0, f"{tag}: the interrupted statement still runs")


class AsyncCancelTest(CancelTestCase):
    def run_async(self, coro, timeout=30):
        return asyncio.run(asyncio.wait_for(coro, timeout))

    async def next_acquire(self, pool, what: str) -> int:
        """Times the next acquire + SELECT 1 on the pool; returns its backend pid."""
        t0 = time.monotonic()
        async with pool.connection(timeout=5) as conn:
            pid = (await conn.execute("SELECT pg_backend_pid()")).scalar()
        took = time.monotonic() - t0
        report(f"{what}: next acquire + SELECT 1 on the pool of 1", took)
        self.assertLess(took, NEXT_ACQUIRE_BOUND, what)
        return pid

    async def interrupted(self, pool, interrupt, tag: str) -> int:
        """Runs the tagged pg_sleep under ``interrupt`` (a coroutine function taking the
        statement's coroutine), checks it was interrupted promptly; returns its backend pid."""
        async with pool.connection(timeout=5) as conn:
            pid = (await conn.execute("SELECT pg_backend_pid()")).scalar()
            t0 = time.monotonic()
            with self.assertRaises((asyncio.TimeoutError, asyncio.CancelledError)):
                await interrupt(conn.execute(tagged_sleep(tag)))
            took = time.monotonic() - t0
            report(f"{tag}: interrupted statement returned after", took)
            self.assertLess(took, 0.2 + INTERRUPT_SLACK, tag)
            # drained, not merely abandoned: this very connection runs the next statement
            self.assertEqual((await conn.execute("SELECT 7")).scalar(), 7)
        return pid

    def check(self, interrupt, tag: str) -> None:
        async def main():
            async with connpool.AsyncConnectionPool(conninfo(), max_size=1, timeout=5) as pool:
                pid = await self.interrupted(pool, interrupt, tag)
                self.assertEqual(await self.next_acquire(pool, tag), pid, "the connection was reused")
                stats = pool.get_stats()
                self.assertEqual((stats["in_use"], stats["closed"]), (0, 0), stats)

        self.run_async(main())
        self.assert_not_running(tag)

    def test_wait_for_timeout_cancels_on_the_server(self):
        async def interrupt(coro):
            await asyncio.wait_for(coro, 0.2)

        self.check(interrupt, "py_cancel_wait_for")

    @unittest.skipUnless(hasattr(asyncio, "timeout"), "asyncio.timeout needs Python 3.11")
    def test_asyncio_timeout_cancels_on_the_server(self):
        async def interrupt(coro):
            async with asyncio.timeout(0.2):
                await coro

        self.check(interrupt, "py_cancel_asyncio_timeout")

    def test_task_cancel_cancels_on_the_server(self):
        async def interrupt(coro):
            task = asyncio.ensure_future(coro)
            await asyncio.sleep(0.2)
            task.cancel()
            await task

        self.check(interrupt, "py_cancel_task_cancel")

    def test_timeout_exits_the_connection_block_then_next_acquire_is_prompt(self):
        """The issue's scenario: the timeout leaves the ``async with`` block at once."""
        tag = "py_cancel_block"

        async def main():
            async with connpool.AsyncConnectionPool(conninfo(), max_size=1, timeout=5) as pool:
                async def work():
                    async with pool.connection() as conn:
                        await conn.execute(tagged_sleep(tag))

                with self.assertRaises(asyncio.TimeoutError):
                    await asyncio.wait_for(work(), 0.2)
                await self.next_acquire(pool, tag)

        self.run_async(main())
        self.assert_not_running(tag)

    def test_cancel_inside_a_transaction_block(self):
        tag = "py_cancel_transaction"

        async def main():
            async with connpool.AsyncConnectionPool(conninfo(), max_size=1, timeout=5) as pool:
                with self.assertRaises(asyncio.TimeoutError):
                    async with pool.connection() as conn:
                        async with conn.transaction():
                            await asyncio.wait_for(conn.execute(tagged_sleep(tag)), 0.2)
                await self.next_acquire(pool, tag)

        self.run_async(main())
        self.assert_not_running(tag)

    def test_direct_connection(self):
        tag = "py_cancel_direct"

        async def main():
            async with await connpool.aio.connect(conninfo()) as conn:
                with self.assertRaises(asyncio.TimeoutError):
                    await asyncio.wait_for(conn.execute(tagged_sleep(tag)), 0.2)
                t0 = time.monotonic()
                self.assertEqual((await conn.execute("SELECT 1")).scalar(), 1)
                report(f"{tag}: next SELECT 1", time.monotonic() - t0)
                self.assertLess(time.monotonic() - t0, NEXT_ACQUIRE_BOUND)

        self.run_async(main())
        self.assert_not_running(tag)

    def test_statements_still_work_concurrently(self):
        """Many tasks on the loop (no thread per statement), results and errors unchanged."""

        async def main():
            async with connpool.AsyncConnectionPool(conninfo(), max_size=4, timeout=10) as pool:
                async def one(i):
                    async with pool.connection() as conn:
                        return (await conn.execute("SELECT $1::int * 2", [i])).scalar()

                self.assertEqual(await asyncio.gather(*(one(i) for i in range(200))),
                                 [i * 2 for i in range(200)])
                async with pool.connection() as conn:
                    with self.assertRaises(connpool.QueryError) as cm:
                        await conn.execute("SELECT 1/0")
                    self.assertEqual(cm.exception.sqlstate, "22012")
                    self.assertEqual((await conn.execute("SELECT 'ok'")).scalar(), "ok")

        self.run_async(main())


class _Interrupted(Exception):
    pass


class SignalInMainThreadTest(CancelTestCase):
    """In-process: a SIGALRM handler raising in the main thread (as SIGINT's handler raises
    KeyboardInterrupt) interrupts a synchronous statement."""

    def interrupt_after(self, seconds: float):
        def handler(signum, frame):
            raise _Interrupted()

        previous = signal.signal(signal.SIGALRM, handler)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        return previous

    def restore(self, previous) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)

    def check(self, run_sleep, tag: str) -> None:
        with connpool.ConnectionPool(conninfo(), max_size=1, timeout=5) as pool:
            with pool.connection() as conn:
                pid = conn.execute("SELECT pg_backend_pid()").scalar()
                previous = self.interrupt_after(0.2)
                t0 = time.monotonic()
                try:
                    with self.assertRaises(_Interrupted):
                        run_sleep(conn)
                finally:
                    self.restore(previous)
                took = time.monotonic() - t0
                report(f"{tag}: interrupted statement returned after", took)
                self.assertLess(took, 0.2 + INTERRUPT_SLACK)
            t0 = time.monotonic()
            with pool.connection(timeout=5) as conn:
                self.assertEqual(conn.execute("SELECT pg_backend_pid()").scalar(), pid)
            took = time.monotonic() - t0
            report(f"{tag}: next acquire + SELECT 1 on the pool of 1", took)
            self.assertLess(took, NEXT_ACQUIRE_BOUND)
        self.assert_not_running(tag)

    def test_pool_connection(self):
        tag = "py_cancel_sigalrm_pool"
        self.check(lambda conn: conn.execute(tagged_sleep(tag)), tag)

    def test_dbapi_cursor(self):
        tag = "py_cancel_sigalrm_dbapi"

        def run(conn):
            dconn = dbapi.Connection(conn.pool, conn, autocommit=True)
            dconn.cursor().execute(tagged_sleep(tag))

        self.check(run, tag)


# The child of the KeyboardInterrupt tests: a pool of 1 runs pg_sleep(3) in the main thread
# until the parent's SIGINT; then the next acquire + SELECT 1 is timed.
CHILD = r"""
import json, sys, time
import connpool
from connpool import dbapi

mode, conninfo, tag = sys.argv[1:4]
pool = connpool.ConnectionPool(conninfo, max_size=1, timeout=5)
out = {}
with pool.connection() as conn:
    out["pid"] = conn.execute("SELECT pg_backend_pid()").scalar()
    print("ready", flush=True)
    t0 = time.monotonic()
    try:
        if mode == "dbapi":
            dbapi.Connection(pool, conn).cursor().execute(f"SELECT pg_sleep(3) /* {tag} */")
        else:
            conn.execute(f"SELECT pg_sleep(3) /* {tag} */")
        out["interrupted"] = False
    except KeyboardInterrupt:
        out["interrupted"] = True
    out["statement_s"] = time.monotonic() - t0
    if mode == "dbapi":
        conn.execute("ROLLBACK")
t0 = time.monotonic()
with pool.connection(timeout=5) as conn:
    out["next_pid"] = conn.execute("SELECT pg_backend_pid()").scalar()
    out["one"] = conn.execute("SELECT 1").scalar()
out["next_s"] = time.monotonic() - t0
print(json.dumps(out), flush=True)
pool.close()
"""


class KeyboardInterruptTest(CancelTestCase):
    def run_child(self, mode: str) -> dict:
        tag = f"py_cancel_sigint_{mode}_{uuid.uuid4().hex[:8]}"
        env = dict(os.environ, PYTHONPATH=str(PACKAGE_ROOT))
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, mode, conninfo(), tag],
            stdout=subprocess.PIPE, text=True, env=env,
        )
        try:
            self.assertEqual(child.stdout.readline().strip(), "ready")
            time.sleep(0.3)
            deadline = time.monotonic() + 5  # a loaded machine may start it late
            while (running := self.still_running(tag)) == 0 and time.monotonic() < deadline:
                time.sleep(0.02)
            child.send_signal(signal.SIGINT)
            out = json.loads(child.stdout.readline())
            self.assertEqual(child.wait(10), 0)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        report(f"SIGINT ({mode}): interrupted statement returned after", out["statement_s"])
        report(f"SIGINT ({mode}): next acquire + SELECT 1 on the pool of 1", out["next_s"])
        self.assertEqual(running, 1, "pg_sleep was running when SIGINT was sent")
        self.assertTrue(out["interrupted"], out)
        self.assertLess(out["statement_s"], 0.3 + INTERRUPT_SLACK, out)
        self.assertEqual(out["one"], 1)
        self.assertLess(out["next_s"], NEXT_ACQUIRE_BOUND, out)
        self.assertEqual(out["next_pid"], out["pid"], "the drained connection was reused")
        self.assert_not_running(tag)
        return out

    def test_keyboard_interrupt_cancels_a_pool_statement(self):
        self.run_child("pool")

    def test_keyboard_interrupt_cancels_a_dbapi_statement(self):
        self.run_child("dbapi")


class MainThreadOverheadTest(PgTestCase):
    """The main thread's interruptible path (send, poll, collect) against the blocking
    connpool_lease_exec, SELECT 1 on the same connection: the overhead is printed."""

    def per_statement(self, lease: int, run, n: int) -> float:
        sql = b"SELECT 1"
        out = ctypes.c_void_p()
        err = ctypes.c_void_p()
        free = _ffi.fast.connpool_result_free
        t0 = time.perf_counter()
        for _ in range(n):
            status = run(ctypes.byref(out), lease, sql, 0, None, ctypes.byref(err))
            assert status == 0, status
            free(out.value)
        return (time.perf_counter() - t0) / n

    def test_only_the_main_thread_takes_the_interruptible_path(self):
        sends = []
        real_send = _cancel._send

        def counting_send(*args):
            sends.append(threading.current_thread().name)
            return real_send(*args)

        _cancel._send = counting_send
        try:
            with connpool.ConnectionPool(conninfo(), max_size=1, timeout=5) as pool:
                with pool.connection() as conn:
                    worker = threading.Thread(target=conn.execute, args=("SELECT 1",), name="worker")
                    worker.start()
                    worker.join(10)
                    self.assertEqual(sends, [], "a non-main thread uses connpool_lease_exec")
                    self.assertEqual(conn.execute("SELECT 2").scalar(), 2)
                    self.assertEqual(sends, ["MainThread"])
        finally:
            _cancel._send = real_send

    def test_overhead_of_the_interruptible_path(self):
        self.assertIs(threading.current_thread(), threading.main_thread())
        blocking = _ffi.lib.connpool_lease_exec
        with connpool.ConnectionPool(conninfo(), max_size=1, timeout=5) as pool:
            with pool.connection() as conn:
                lease = conn._lease
                self.per_statement(lease, _cancel.lease_exec, 200)  # warm up
                best = {"blocking": 1.0, "interruptible": 1.0}
                # Short rounds, alternating, keeping the best round of each: on a loaded
                # machine a long round mostly measures the other processes.
                for _ in range(30):
                    best["blocking"] = min(best["blocking"], self.per_statement(lease, blocking, 200))
                    best["interruptible"] = min(
                        best["interruptible"], self.per_statement(lease, _cancel.lease_exec, 200))
        overhead = best["interruptible"] - best["blocking"]
        print(f"\n[test_cancel] SELECT 1 in the main thread: blocking {best['blocking'] * 1e6:.1f} us, "
              f"interruptible {best['interruptible'] * 1e6:.1f} us, overhead {overhead * 1e6:.1f} us "
              f"per statement", file=sys.stderr, flush=True)
        self.assertLess(overhead, 50e-6, best)  # 2-5 microseconds normally


if __name__ == "__main__":
    unittest.main()
