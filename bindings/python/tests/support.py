"""Shared helpers for the binding's tests: where the test server is, and backend inspection."""

from __future__ import annotations

import os
import pathlib
import sys
import unittest
import time
import uuid

HERE = pathlib.Path(__file__).resolve().parent
PACKAGE_ROOT = HERE.parent  # bindings/python
REPO = PACKAGE_ROOT.parent.parent
HEADER = REPO / "include" / "connpool" / "connpool.h"

if str(PACKAGE_ROOT) not in sys.path:
    sys.path.insert(0, str(PACKAGE_ROOT))

import connpool  # noqa: E402


def _read_conninfo(name: str) -> str:
    env = os.environ.get("CONNPOOL_TEST_CONNINFO")
    if env and name == "conninfo":
        return env
    pg_dir = os.environ.get("CONNPOOL_TEST_PG_DIR")
    if not pg_dir:
        raise RuntimeError(
            "set CONNPOOL_TEST_PG_DIR (a scripts/pg-server directory) or CONNPOOL_TEST_CONNINFO; "
            "ctest does it (ctest -L python)"
        )
    path = pathlib.Path(pg_dir) / name
    if not path.is_file():
        raise RuntimeError(f"{path} does not exist: is the test PostgreSQL running?")
    return path.read_text().strip()


def conninfo(app: str | None = None) -> str:
    """The Unix-socket conninfo of the test server, optionally with an application_name that
    tags this test's backends."""
    base = _read_conninfo("conninfo")
    if app:
        if base.startswith(("postgres://", "postgresql://")):
            base += ("&" if "?" in base else "?") + f"application_name={app}"
        else:
            base += f" application_name={app}"
    return base


def unique_app(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


class PgTestCase(unittest.TestCase):
    """A test with an admin pool (1 connection) to inspect the server."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.admin = connpool.ConnectionPool(conninfo("connpool_py_admin"), max_size=1, timeout=10, name="admin")

    @classmethod
    def tearDownClass(cls) -> None:
        cls.admin.close()

    def sql(self, query: str, params=None) -> list:
        with self.admin.connection() as conn:
            return conn.execute(query, params).fetchall()

    def backends(self, app: str) -> int:
        return self.sql("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", [app])[0][0]

    def backends_after_close(self, app: str, timeout: float = 3.0) -> int:
        """Backends left once the pool closed: a backend exits shortly after its client hangs
        up, so poll briefly instead of sampling once."""
        deadline = time.monotonic() + timeout
        while True:
            n = self.backends(app)
            if n == 0 or time.monotonic() >= deadline:
                return n
            time.sleep(0.02)

    def table(self, columns: str) -> str:
        """A fresh table (dropped after the test)."""
        name = f"pytest_{uuid.uuid4().hex[:12]}"
        self.sql(f"CREATE TABLE {name} ({columns})")
        self.addCleanup(self.sql, f"DROP TABLE IF EXISTS {name}")
        return name
