"""The library's log messages in Python's logging: loggers, levels, redaction, slow handlers."""

from __future__ import annotations

import logging
import threading
import time
import unittest

from support import PgTestCase, _read_conninfo, conninfo, unique_app

import connpool
from connpool import _logging


class Capture(logging.Handler):
    """Collects records (thread-safe: emit runs on the library's delivery thread)."""

    def __init__(self) -> None:
        super().__init__(level=logging.NOTSET)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def messages(self) -> list[str]:
        return [r.getMessage() for r in self.records]

    def wait_for(self, fragment: str, timeout: float = 5.0) -> logging.LogRecord:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for record in list(self.records):
                if fragment in record.getMessage():
                    return record
            time.sleep(0.01)
        raise AssertionError(f"no log record containing {fragment!r}; got {self.messages()}")


class LoggingTestCase(PgTestCase):
    def setUp(self) -> None:
        self.logger = logging.getLogger("connpool")
        self.saved_level = self.logger.level
        self.capture = Capture()
        self.logger.addHandler(self.capture)
        self.addCleanup(self.restore)

    def restore(self) -> None:
        self.logger.removeHandler(self.capture)
        self.logger.setLevel(self.saved_level)
        connpool.set_log_level(None)
        connpool.sync_log_level()

    def pool(self, **options) -> connpool.ConnectionPool:
        pool = connpool.ConnectionPool(conninfo(unique_app("pylog")), timeout=10, **options)
        self.addCleanup(pool.close)
        return pool


class LevelMappingTest(unittest.TestCase):
    def test_python_levels_map_to_the_lowest_library_level_they_let_through(self):
        self.assertEqual(_logging.c_level_for(logging.NOTSET), 0)
        self.assertEqual(_logging.c_level_for(_logging.TRACE), 0)
        self.assertEqual(_logging.c_level_for(logging.DEBUG), 1)
        self.assertEqual(_logging.c_level_for(15), 2)  # between DEBUG and INFO
        self.assertEqual(_logging.c_level_for(logging.INFO), 2)
        self.assertEqual(_logging.c_level_for(logging.WARNING), 3)
        self.assertEqual(_logging.c_level_for(logging.ERROR), 4)
        self.assertEqual(_logging.c_level_for(logging.CRITICAL), 5)
        self.assertEqual(_logging.c_level_for(logging.CRITICAL + 1), 6)

    def test_set_log_level_refuses_unknown_levels(self):
        with self.assertRaises(ValueError):
            connpool.set_log_level("LOUD")
        with self.assertRaises(TypeError):
            connpool.set_log_level(2.5)


class RoutingTest(LoggingTestCase):
    def test_messages_reach_per_pool_child_loggers(self):
        with self.assertLogs("connpool", level="DEBUG") as logs:
            # Creating the pool re-reads the logger's level (assertLogs lowered it to DEBUG).
            pool = self.pool(name="pylog_routing", min_size=1)
            pool.wait(10)
            with pool.connection() as conn:
                conn.execute("SELECT 1")
            connpool.flush_logs()
        records = [r for r in logs.records if r.name == "connpool.pylog_routing"]
        created = [r for r in records if "pool created for" in r.getMessage()]
        opened = [r for r in records if "opened a connection" in r.getMessage()]
        self.assertTrue(created, logs.output)
        self.assertTrue(opened, logs.output)
        self.assertEqual(created[0].levelno, logging.INFO)
        self.assertEqual(opened[0].levelno, logging.DEBUG)
        self.assertEqual(created[0].pool_name, "pylog_routing")
        # Delivered on the library's thread, not the one that created the pool.
        self.assertNotEqual(created[0].thread, threading.get_ident())

    def test_library_level_follows_the_logger(self):
        self.logger.setLevel(logging.WARNING)
        pool = self.pool(name="pylog_quiet", min_size=1)
        pool.wait(10)
        connpool.flush_logs()
        self.assertEqual([m for m in self.capture.messages() if "pool created" in m], [])
        # After a change, sync_log_level (or the next pool) brings the library along.
        self.logger.setLevel(logging.DEBUG)
        connpool.sync_log_level()
        pool.close()
        record = self.capture.wait_for("closing 1 idle connection")
        self.assertEqual(record.name, "connpool.pylog_quiet")
        self.assertEqual(record.levelno, logging.DEBUG)

    def test_set_log_level_pins_the_library_level(self):
        self.logger.setLevel(logging.DEBUG)
        connpool.set_log_level(logging.ERROR)
        pool = self.pool(name="pylog_pinned", min_size=1)
        pool.wait(10)
        connpool.flush_logs()
        self.assertEqual([r for r in self.capture.records if r.name == "connpool.pylog_pinned"], [])
        connpool.set_log_level(None)  # follows the logger (DEBUG) again
        self.pool(name="pylog_pinned2")
        self.capture.wait_for("pool created for")

    def test_pool_log_level_option_keeps_its_level(self):
        self.logger.setLevel(logging.DEBUG)
        pool = self.pool(name="pylog_own", min_size=1, log_level="error")
        pool.wait(10)
        connpool.flush_logs()
        self.assertEqual([r for r in self.capture.records if r.name == "connpool.pylog_own"], [])

    def test_a_failing_logging_setup_never_breaks_the_delivery(self):
        self.logger.setLevel(logging.DEBUG)

        class Boom(logging.Filter):
            def filter(self, record):
                raise RuntimeError("a broken filter")

        child = logging.getLogger("connpool.pylog_boom")
        boom = Boom()
        child.addFilter(boom)
        self.addCleanup(child.removeFilter, boom)
        self.pool(name="pylog_boom", min_size=1).wait(10)
        connpool.flush_logs()
        self.pool(name="pylog_after_boom")
        self.capture.wait_for("pool created for")
        self.assertIsInstance(connpool.log_dropped_count(), int)


class RedactionTest(LoggingTestCase):
    def test_planted_password_never_reaches_logging(self):
        try:
            tcp = _read_conninfo("conninfo_tcp")
        except RuntimeError as exc:
            self.skipTest(str(exc))
        real = tcp.split("password=", 1)[1].split()[0]
        planted = "Pl4nted-PySecret-frobozz"
        self.logger.setLevel(_logging.TRACE)
        good = connpool.ConnectionPool(tcp, name="pylog_good", min_size=1, timeout=10)
        self.addCleanup(good.close)
        good.wait(10)
        bad = connpool.ConnectionPool(
            f"{tcp} password={planted} application_name={unique_app('pylog')}",
            name="pylog_bad",
            min_size=1,
            timeout=1,
        )
        self.addCleanup(bad.close)
        record = self.capture.wait_for("password authentication failed")
        self.assertEqual(record.levelno, logging.WARNING)
        self.assertEqual(record.name, "connpool.pylog_bad")
        self.capture.wait_for("password=********")
        connpool.flush_logs()
        for record in self.capture.records:
            text = record.getMessage()
            self.assertNotIn(planted, text)
            self.assertNotIn(real, text)


if __name__ == "__main__":
    unittest.main()
