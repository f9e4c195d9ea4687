"""ConnectionPool: options, borrowing, transactions, errors, timeouts, handles, close, stats."""

from __future__ import annotations

import ctypes
import gc
import threading
import time
import unittest
import warnings

from support import PgTestCase, conninfo, unique_app

import connpool
from connpool import _ffi


class OptionsTest(PgTestCase):
    def assert_rejected(self, exc_type, option, **kwargs):
        with self.assertRaises(exc_type) as cm:
            connpool.ConnectionPool(conninfo(), **kwargs)
        self.assertIn(f'"{option}"', str(cm.exception), "the message names the option")
        return cm.exception

    def test_bad_values_are_rejected_naming_the_option(self):
        e = self.assert_rejected(connpool.InvalidArgument, "max_size", max_size=0)
        self.assertEqual(e.status_name, "CONNPOOL_ERR_INVALID_ARGUMENT")
        self.assert_rejected(connpool.InvalidArgument, "min_size", min_size=-1)
        self.assert_rejected(connpool.InvalidArgument, "acquire_timeout", timeout=-1)
        self.assert_rejected(connpool.InvalidArgument, "max_lifetime", max_lifetime=float("inf"))
        self.assert_rejected(connpool.InvalidArgument, "pre_ping", pre_ping="maybe")
        self.assert_rejected(connpool.InvalidArgument, "max_overflow", max_overflow="lots")
        self.assert_rejected(connpool.InvalidArgument, "log_level", log_level="loud")
        self.assert_rejected(connpool.InvalidArgument, "name", name="n" * 100)
        self.assert_rejected(connpool.InvalidArgument, "connect_timeout", connect_timeout=0)

    def test_unknown_option(self):
        e = self.assert_rejected(connpool.UnknownOption, "no_such_option", no_such_option=1)
        self.assertIn("max_size", str(e), "the message lists the known options")
        self.assertEqual(e.status, 9)

    def test_min_size_above_max_size(self):
        with self.assertRaises(connpool.InvalidArgument) as cm:
            connpool.ConnectionPool(conninfo(), min_size=5, max_size=2)
        self.assertIn("min_size", str(cm.exception))

    def test_bad_conninfo_never_echoes_the_password(self):
        with self.assertRaises(connpool.InvalidArgument) as cm:
            connpool.ConnectionPool("host=x password=hunter2 = =")
        self.assertNotIn("hunter2", str(cm.exception))
        with self.assertRaises(connpool.InvalidArgument):
            connpool.ConnectionPool(42)  # type: ignore[arg-type]

    def test_options_reach_the_library(self):
        app = unique_app("py_opts")
        with connpool.ConnectionPool(conninfo(app), name="opts-pool", min_size=2, max_size=3,
                                     max_overflow=1, timeout=0.3, max_lifetime=60, max_idle=30,
                                     pre_ping=False, reset_query="DISCARD ALL",
                                     connect_timeout=5) as pool:
            stats = pool.get_stats()
            self.assertEqual((stats["name"], stats["min_size"], stats["max_size"], stats["max_overflow"]),
                             ("opts-pool", 2, 3, 1))
            self.assertEqual(pool.name, "opts-pool")
            pool.wait(10)
            self.assertGreaterEqual(pool.get_stats()["total"], 2)
            held = [pool.getconn() for _ in range(4)]  # 3 + 1 overflow
            t0 = time.monotonic()
            with self.assertRaises(connpool.PoolTimeout):
                pool.getconn()  # the pool's acquire_timeout: 0.3 s
            elapsed = time.monotonic() - t0
            self.assertGreaterEqual(elapsed, 0.25)
            self.assertLess(elapsed, 3)
            for c in held:
                pool.putconn(c)
            # with a reset_query, returned connections are reset by a worker first
            deadline = time.monotonic() + 5
            while pool.get_stats()["in_use"] and time.monotonic() < deadline:
                time.sleep(0.02)
            stats = pool.get_stats()
            self.assertEqual((stats["closed_overflow"], stats["total"], stats["resets"]), (1, 3, 4))

    def test_durations_are_seconds(self):
        from connpool.pool import _option_text, seconds_to_ms
        import datetime as dt

        self.assertEqual(seconds_to_ms(0.1), 100)
        self.assertEqual(seconds_to_ms(1.5), 1500)
        self.assertEqual(seconds_to_ms(0.0001), 1)  # never rounded down to "do not wait"
        self.assertEqual(seconds_to_ms(dt.timedelta(minutes=1)), 60000)
        self.assertEqual(_option_text("max_idle", 2), "2000")
        self.assertEqual(_option_text("max_idle", "2"), "2", "a str is the C value verbatim")
        self.assertEqual(_option_text("pre_ping", True), "on")
        self.assertEqual(_option_text("max_size", 8), "8")


class BorrowTest(PgTestCase):
    def setUp(self) -> None:
        self.app = unique_app("py_pool")
        self.pool = connpool.ConnectionPool(conninfo(self.app), max_size=2, timeout=5, name="borrow")
        self.addCleanup(self.pool.close)

    def test_connection_context_returns_and_reuses(self):
        with self.pool.connection() as conn:
            pid1 = conn.execute("SELECT pg_backend_pid()").scalar()
        self.assertTrue(conn.returned)
        with self.pool.connection() as conn:
            pid2 = conn.execute("SELECT pg_backend_pid()").scalar()
        self.assertEqual(pid1, pid2, "the idle connection is reused")
        stats = self.pool.get_stats()
        self.assertEqual((stats["acquired"], stats["released"], stats["reused"], stats["created"]),
                         (2, 2, 1, 1))
        self.assertEqual(stats["in_use"], 0)

    def test_connection_context_returns_on_exception_and_pool_rolls_back(self):
        t = self.table("v int")
        with self.assertRaises(ZeroDivisionError):
            with self.pool.connection() as conn:
                pid = conn.execute("SELECT pg_backend_pid()").scalar()
                conn.execute("BEGIN")
                conn.execute(f"INSERT INTO {t} VALUES (1)")
                1 / 0
        self.assertTrue(conn.returned)
        deadline = time.monotonic() + 5
        while self.pool.get_stats()["in_use"] and time.monotonic() < deadline:
            time.sleep(0.01)  # the rollback is done by a pool worker
        self.assertEqual(self.pool.get_stats()["resets"], 1)
        self.assertEqual(self.sql("SELECT state FROM pg_stat_activity WHERE pid = $1", [pid]),
                         [("idle",)], "not idle in transaction any more")
        with self.pool.connection() as conn:
            self.assertEqual(conn.execute("SELECT pg_backend_pid()").scalar(), pid)
            self.assertIsNone(conn.execute("SELECT txid_current_if_assigned()").scalar(),
                              "the next user is not inside the old transaction")
            conn.execute(f"INSERT INTO {t} VALUES (2)")
        self.assertEqual(self.sql(f"SELECT array_agg(v) FROM {t}")[0][0], "{2}")

    def test_getconn_putconn(self):
        a = self.pool.getconn()
        b = self.pool.getconn(timeout=1)
        self.assertEqual(self.pool.get_stats()["in_use"], 2)
        self.assertNotEqual(a.execute("SELECT pg_backend_pid()").scalar(),
                            b.execute("SELECT pg_backend_pid()").scalar())
        self.pool.putconn(a)
        self.pool.putconn(b)
        self.assertEqual(self.pool.get_stats()["in_use"], 0)
        self.assertEqual(self.backends(self.app), 2)
        with self.assertRaises(connpool.InvalidArgument):
            self.pool.putconn("not a connection")  # type: ignore[arg-type]

    def test_double_putconn_and_use_after_return_raise_invalid_handle(self):
        conn = self.pool.getconn()
        self.pool.putconn(conn)
        with self.assertRaises(connpool.InvalidHandle) as cm:
            self.pool.putconn(conn)
        self.assertEqual(cm.exception.status_name, "CONNPOOL_ERR_INVALID_HANDLE")
        self.assertIn("lease", str(cm.exception))
        with self.assertRaises(connpool.InvalidHandle):
            conn.execute("SELECT 1")
        with self.assertRaises(connpool.InvalidHandle):
            conn.set_label("late")
        with self.assertRaises(connpool.InvalidHandle):
            conn.pgconn  # noqa: B018
        # The same pooled connection, now lent to someone else, is untouchable through the old
        # object: its session is not disturbed.
        new = self.pool.getconn()
        new.execute("BEGIN")
        new.execute("SET LOCAL application_name = 'mine'")
        with self.assertRaises(connpool.InvalidHandle):
            conn.execute("ROLLBACK")
        with self.assertRaises(connpool.InvalidHandle):
            self.pool.putconn(conn)
        self.assertEqual(new.execute("SHOW application_name").scalar(), "mine")
        new.execute("COMMIT")
        self.pool.putconn(new)
        stats = self.pool.get_stats()
        self.assertEqual((stats["acquired"], stats["released"], stats["in_use"]), (2, 2, 0))

    def test_double_return_through_context_manager(self):
        with self.assertRaises(connpool.InvalidHandle):
            with self.pool.connection() as conn:
                self.pool.putconn(conn)
        self.assertEqual(self.pool.get_stats()["in_use"], 0)

    def test_forgotten_connection_is_returned_when_collected(self):
        conn = self.pool.getconn()
        self.assertEqual(self.pool.get_stats()["in_use"], 1)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            del conn
            gc.collect()
        self.assertTrue(any(issubclass(w.category, ResourceWarning) for w in caught))
        self.assertEqual(self.pool.get_stats()["in_use"], 0)

    def test_label_and_pgconn(self):
        with self.pool.connection() as conn:
            conn.set_label("test_label_and_pgconn")
            conn.set_label(None)
            self.assertIsInstance(conn.pgconn, int)
            self.assertNotEqual(conn.pgconn, 0)


class ErrorsTest(PgTestCase):
    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.pool = connpool.ConnectionPool(conninfo(), max_size=1, timeout=5)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.pool.close()
        super().tearDownClass()

    def test_query_errors_carry_sqlstate_and_keep_the_connection(self):
        t = self.table("id int primary key")
        cases = [
            ("SELEC 1", "42601"),
            ("SELECT * FROM no_such_table_xyz", "42P01"),
            ("SELECT 1/0", "22012"),
            ("SELECT 'abc'::int", "22P02"),
            (f"INSERT INTO {t} VALUES (1), (1)", "23505"),
            ("SELECT no_such_column", "42703"),
        ]
        with self.pool.connection() as conn:
            pid = conn.execute("SELECT pg_backend_pid()").scalar()
            for sql, sqlstate in cases:
                with self.subTest(sql=sql):
                    with self.assertRaises(connpool.QueryError) as cm:
                        conn.execute(sql)
                    e = cm.exception
                    self.assertEqual(e.sqlstate, sqlstate)
                    self.assertEqual(e.status, 7)
                    self.assertEqual(e.status_name, "CONNPOOL_ERR_QUERY_FAILED")
                    self.assertTrue(str(e))
                    self.assertEqual(conn.execute("SELECT pg_backend_pid()").scalar(), pid)

    def test_raise_exception_message(self):
        with self.pool.connection() as conn:
            with self.assertRaises(connpool.QueryError) as cm:
                conn.execute("DO $$ BEGIN RAISE EXCEPTION 'custom failure %', 42 "
                             "USING ERRCODE = 'P0042'; END $$")
        self.assertEqual(cm.exception.sqlstate, "P0042")
        self.assertIn("custom failure 42", str(cm.exception))

    def test_broken_connection(self):
        conn = self.pool.getconn()
        pid = conn.execute("SELECT pg_backend_pid()").scalar()
        self.sql("SELECT pg_terminate_backend($1)", [pid])
        time.sleep(0.1)
        with self.assertRaises((connpool.ConnectionBroken, connpool.QueryError)) as cm:
            conn.execute("SELECT 1")
        if isinstance(cm.exception, connpool.QueryError):
            self.assertEqual(cm.exception.sqlstate, "57P01")
        self.pool.putconn(conn)
        with self.pool.connection() as conn:  # replaced
            self.assertNotEqual(conn.execute("SELECT pg_backend_pid()").scalar(), pid)
        self.assertGreaterEqual(self.pool.get_stats()["closed_broken"], 1)

    def test_unreachable_server(self):
        with connpool.ConnectionPool("host=127.0.0.1 port=1 dbname=x user=x", max_size=1,
                                     min_size=1, connect_timeout=1) as pool:
            t0 = time.monotonic()
            with self.assertRaises((connpool.ConnectError, connpool.DatabaseUnavailable)) as cm:
                pool.wait(timeout=2)
            self.assertLess(time.monotonic() - t0, 5)
            self.assertTrue(str(cm.exception))
            with self.assertRaises((connpool.ConnectError, connpool.DatabaseUnavailable,
                                    connpool.PoolTimeout)):
                pool.getconn(timeout=0.5)
            self.assertGreaterEqual(pool.get_stats()["connect_errors"], 1)


class TransactionTest(PgTestCase):
    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.pool = connpool.ConnectionPool(conninfo(), max_size=1, timeout=5)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.pool.close()
        super().tearDownClass()

    def count(self, t):
        return self.sql(f"SELECT count(*) FROM {t}")[0][0]

    def test_commit(self):
        t = self.table("v int")
        with self.pool.connection() as conn:
            with conn.transaction() as tx:
                self.assertIs(tx.connection, conn)
                conn.execute(f"INSERT INTO {t} VALUES (1), (2)")
                self.assertEqual(self.count(t), 0, "not visible before COMMIT")
            self.assertEqual(self.count(t), 2)

    def test_rollback_on_exception(self):
        t = self.table("v int")
        with self.pool.connection() as conn:
            with self.assertRaises(KeyError):
                with conn.transaction():
                    conn.execute(f"INSERT INTO {t} VALUES (1)")
                    raise KeyError("boom")
            self.assertEqual(self.count(t), 0)
            self.assertEqual(conn.execute("SELECT 1").scalar(), 1, "not left in a transaction")
            with self.assertRaises(connpool.QueryError) as cm:
                with conn.transaction():
                    conn.execute(f"INSERT INTO {t} VALUES (1)")
                    conn.execute(f"INSERT INTO {t} VALUES ('x')")
            self.assertEqual(cm.exception.sqlstate, "22P02")
            self.assertEqual(self.count(t), 0)

    def test_nested_blocks_use_savepoints(self):
        t = self.table("v int")
        with self.pool.connection() as conn:
            with conn.transaction():
                conn.execute(f"INSERT INTO {t} VALUES (1)")
                with self.assertRaises(connpool.QueryError):
                    with conn.transaction():
                        conn.execute(f"INSERT INTO {t} VALUES (2)")
                        conn.execute("SELECT 1/0")
                with conn.transaction():
                    conn.execute(f"INSERT INTO {t} VALUES (3)")
            self.assertEqual(self.sql(f"SELECT array_agg(v ORDER BY v) FROM {t}")[0][0], "{1,3}")

    def test_swallowed_error_is_not_a_silent_commit(self):
        t = self.table("v int")
        with self.pool.connection() as conn:
            with self.assertRaises(connpool.QueryError) as cm:
                with conn.transaction():
                    conn.execute(f"INSERT INTO {t} VALUES (1)")
                    try:
                        conn.execute("SELECT 1/0")
                    except connpool.QueryError:
                        pass
            self.assertEqual(cm.exception.sqlstate, "25P02")
            self.assertIn("rolled back", str(cm.exception))
            self.assertEqual(self.count(t), 0)
            with conn.transaction():  # usable again
                conn.execute(f"INSERT INTO {t} VALUES (5)")
            self.assertEqual(self.count(t), 1)


class TimeoutAndCloseTest(PgTestCase):
    def test_exhaustion_and_timeouts(self):
        with connpool.ConnectionPool(conninfo(), max_size=2, timeout=10) as pool:
            held = [pool.getconn(), pool.getconn()]
            t0 = time.monotonic()
            with self.assertRaises(connpool.PoolTimeout) as cm:
                pool.getconn(timeout=0)
            self.assertLess(time.monotonic() - t0, 0.5, "timeout=0 does not wait")
            self.assertIsInstance(cm.exception, TimeoutError)
            self.assertEqual(cm.exception.status_name, "CONNPOOL_ERR_TIMEOUT")
            t0 = time.monotonic()
            with self.assertRaises(connpool.PoolTimeout) as cm:
                with pool.connection(timeout=0.3):
                    self.fail("no connection expected")
            elapsed = time.monotonic() - t0
            self.assertGreaterEqual(elapsed, 0.28)
            self.assertLess(elapsed, 2.0)
            self.assertIn("2", str(cm.exception), "the message gives the pool's state")
            stats = pool.get_stats()
            self.assertEqual((stats["acquire_timeouts"], stats["in_use"], stats["total"]), (2, 2, 2))
            # a waiter is served when a connection comes back
            result = []

            def waiter():
                with pool.connection(timeout=5) as conn:
                    result.append(conn.execute("SELECT 7").scalar())

            th = threading.Thread(target=waiter)
            th.start()
            time.sleep(0.2)
            self.assertEqual(pool.get_stats()["waiting"], 1)
            pool.putconn(held.pop())
            th.join(5)
            self.assertEqual(result, [7])
            pool.putconn(held.pop())
            with self.assertRaises(connpool.InvalidArgument):
                pool.getconn(timeout=-1)

    def test_too_many_waiters(self):
        try:
            pool = connpool.ConnectionPool(conninfo(), max_size=1, max_waiting=1, timeout=10)
        except connpool.UnknownOption:
            self.skipTest("this libconnpool has no max_waiting option")
        with pool:
            held = pool.getconn()
            th = threading.Thread(target=lambda: self.assertRaises(connpool.PoolTimeout, pool.getconn, 1))
            th.start()
            deadline = time.monotonic() + 5
            while pool.get_stats()["waiting"] < 1 and time.monotonic() < deadline:
                time.sleep(0.01)
            with self.assertRaises(connpool.TooManyWaiters) as cm:
                pool.getconn(timeout=5)
            self.assertEqual(cm.exception.status_name, "CONNPOOL_ERR_TOO_MANY_WAITERS")
            self.assertIn("max_waiting", str(cm.exception))
            th.join()
            self.assertEqual(pool.get_stats()["waiters_rejected"], 1)
            pool.putconn(held)

    def test_close_while_threads_wait(self):
        app = unique_app("py_close")
        pool = connpool.ConnectionPool(conninfo(app), max_size=1, timeout=30)
        held = pool.getconn()
        outcomes = []
        lock = threading.Lock()

        def waiter():
            t0 = time.monotonic()
            try:
                pool.getconn(timeout=30)
                outcome = "got a connection"
            except connpool.Error as e:
                outcome = type(e)
            with lock:
                outcomes.append((outcome, time.monotonic() - t0))

        threads = [threading.Thread(target=waiter) for _ in range(6)]
        for th in threads:
            th.start()
        deadline = time.monotonic() + 5
        while pool.get_stats()["waiting"] < 6 and time.monotonic() < deadline:
            time.sleep(0.01)
        self.assertEqual(pool.get_stats()["waiting"], 6)
        t0 = time.monotonic()
        pool.close()
        for th in threads:
            th.join(5)
        self.assertLess(time.monotonic() - t0, 3, "close wakes the waiters promptly")
        self.assertEqual([o for o, _ in outcomes], [connpool.PoolClosed] * 6)
        self.assertTrue(pool.closed)
        with self.assertRaises(connpool.PoolClosed):
            pool.getconn(timeout=1)
        with self.assertRaises(connpool.PoolClosed):
            with pool.connection():
                pass
        # the connection still out stays usable until returned, then it is closed
        self.assertEqual(held.execute("SELECT 1").scalar(), 1)
        pool.putconn(held)
        stats = pool.get_stats()
        self.assertTrue(stats["closed_pool"])
        self.assertEqual((stats["total"], stats["in_use"], stats["waiting"]), (0, 0, 0))
        pool.close()  # idempotent
        deadline = time.monotonic() + 5
        while self.backends(app) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.backends_after_close(app), 0, "no backend left behind")


class OptionsFromTheLibraryTest(PgTestCase):
    """Every option connpool_option_describe reports goes through the constructor."""

    def _library_accepts(self, key: str, value: str) -> bool:
        opts = ctypes.c_void_p()
        self.assertEqual(_ffi.lib.connpool_options_new(ctypes.byref(opts), None), 0)
        try:
            return _ffi.lib.connpool_options_set(opts, key.encode(), value.encode(), None) == 0
        finally:
            _ffi.lib.connpool_options_free(opts)

    @staticmethod
    def _typed(info):
        """The default as the Python value a caller would pass (seconds for durations...)."""
        text = info.default_value
        if info.kind == _ffi.OPTION_INTEGER:
            return int(text)
        if info.kind == _ffi.OPTION_DURATION_MS:
            return int(text) / 1000
        if info.kind == _ffi.OPTION_BOOLEAN:
            return text.lower() in ("on", "true", "yes", "1")
        return text

    def test_every_option_can_be_set_with_its_default(self):
        from connpool.pool import _option_text

        self.assertGreater(len(_ffi.OPTIONS), 0)
        for key, info in _ffi.OPTIONS.items():
            with self.subTest(option=key):
                self.assertTrue(self._library_accepts(key, info.default_value),
                                f"the library rejects its own default {info.default_value!r} "
                                f"for {key!r} (connpool_option_describe vs connpool_options_set)")
                typed = self._typed(info)
                self.assertEqual(_option_text(key, typed).lower(), info.default_value.lower(),
                                 "the Python value converts back to the library's default")
                for value in (info.default_value, typed):
                    with connpool.ConnectionPool(conninfo(), **{key: value}) as pool:
                        stats = pool.get_stats()
                    if key in stats and info.kind == _ffi.OPTION_INTEGER:
                        self.assertEqual(stats[key], typed, "the stat of the same name")

    def test_all_defaults_at_once(self):
        options = {key: self._typed(info) for key, info in _ffi.OPTIONS.items()
                   if self._library_accepts(key, info.default_value)}
        with connpool.ConnectionPool(conninfo(), **options) as pool:
            with pool.connection() as conn:
                self.assertEqual(conn.execute("SELECT 1").scalar(), 1)


class StatsTest(PgTestCase):
    def test_every_c_stat_is_in_the_dict_and_agrees_with_the_struct(self):
        with connpool.ConnectionPool(conninfo(), max_size=3, name="stats") as pool:
            with pool.connection() as conn:
                conn.execute("SELECT 1")
                stats = pool.get_stats()
                s = _ffi.connpool_stats()
                s.struct_size = ctypes.sizeof(s)
                self.assertEqual(_ffi.lib.connpool_pool_stats(ctypes.byref(s), pool._handle, None), 0)
            fields = [f.name for f in _ffi.STATS_FIELDS]
            self.assertEqual(list(_ffi.stats_to_dict(s)), fields)
            self.assertEqual(set(stats) - {"name", "closed_pool"}, set(fields),
                             "the JSON and connpool_stats_field_describe list the same fields")
            for f in fields:
                with self.subTest(field=f):
                    self.assertIn(f, stats)
                    self.assertIs(type(stats[f]), int)
                    self.assertIs(type(getattr(s, f)), int)
                    if not f.startswith("acquire_wait"):
                        self.assertEqual(stats[f], getattr(s, f), f)
            self.assertEqual(stats["name"], "stats")
            self.assertIs(stats["closed_pool"], False)
            self.assertEqual((stats["in_use"], stats["total"], stats["acquired"]), (1, 1, 1))
            self.assertEqual(stats["idle"] + stats["in_use"], stats["total"])

    def test_counters_only_rise(self):
        kinds = {f.name: f.kind for f in _ffi.STATS_FIELDS}
        with connpool.ConnectionPool(conninfo(), max_size=2) as pool:
            before = pool.get_stats()
            for _ in range(3):
                with pool.connection() as conn:
                    conn.execute("SELECT 1")
            after = pool.get_stats()
        for name, kind in kinds.items():
            if kind == _ffi.STAT_COUNTER:
                self.assertGreaterEqual(after[name], before[name], name)
        self.assertEqual(kinds["acquired"], _ffi.STAT_COUNTER)
        self.assertEqual(kinds["in_use"], _ffi.STAT_GAUGE)
        self.assertEqual(after["acquired"] - before["acquired"], 3)


if __name__ == "__main__":
    unittest.main()
