"""Session reset (issue 14) through the Python binding, with default options: what one
`with pool.connection()` block changed in its session (role, search_path, a temporary table, a
session advisory lock) is gone for the next block, on the same backend (max_size=1)."""

from __future__ import annotations

import unittest

from support import PgTestCase, conninfo, unique_app

import connpool

ROLE = "cp_py_reset_role"
LOCK_KEY = 4242101


class SessionResetTest(PgTestCase):
    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        with cls.admin.connection() as conn:
            conn.execute(
                "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '%s') "
                "THEN CREATE ROLE %s NOLOGIN; END IF; END $$" % (ROLE, ROLE))

    def setUp(self) -> None:
        self.pool = connpool.ConnectionPool(conninfo(unique_app("py_reset")), max_size=1, timeout=10)
        self.addCleanup(self.pool.close)

    def changed_then_seen(self, change: str, probe: str):
        """Runs `change` in one lease, `probe` in the next; returns what the probe saw."""
        with self.pool.connection() as conn:
            pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
            conn.execute(change)
        with self.pool.connection() as conn:
            self.assertEqual(conn.execute("SELECT pg_backend_pid()").fetchone()[0], pid,
                             "max_size=1: the same backend")
            return conn.execute(probe).fetchone()[0]

    def test_configure_hook_settings_survive_the_reset(self):
        # What configure sets up is the connection's own (connpool_lease_keep_session): the
        # reset after a dirty lease restores it, and undoes only that lease's own changes.
        def configure(conn):
            conn.execute("SET search_path = cp_configured, public")

        pool = connpool.ConnectionPool(conninfo(unique_app("py_keep")), max_size=1, timeout=10,
                                       configure=configure)
        self.addCleanup(pool.close)
        with pool.connection() as conn:
            conn.execute("SET search_path = cp_elsewhere")
            conn.execute("SET statement_timeout = '9s'")
        with pool.connection() as conn:
            self.assertEqual(conn.execute("SHOW search_path").fetchone()[0], "cp_configured, public")
            self.assertEqual(conn.execute("SHOW statement_timeout").fetchone()[0], "0")
        self.assertGreaterEqual(pool.get_stats()["resets"], 1)

    def test_role_does_not_leak(self):
        self.assertEqual(self.changed_then_seen(f"SET ROLE {ROLE}", "SELECT current_user"), "postgres")

    def test_search_path_does_not_leak(self):
        self.assertEqual(self.changed_then_seen("SET search_path = cp_nowhere", "SHOW search_path"),
                         '"$user", public')

    def test_temporary_table_does_not_leak(self):
        seen = self.changed_then_seen(
            "CREATE TEMP TABLE cp_py_tmp (x int)",
            "SELECT count(*) FROM pg_class WHERE relname = 'cp_py_tmp' AND relpersistence = 't'")
        self.assertEqual(seen, 0)

    def test_session_advisory_lock_is_released(self):
        seen = self.changed_then_seen(
            f"SELECT pg_advisory_lock({LOCK_KEY})",
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()")
        self.assertEqual(seen, 0)
        # Another session can take it now (one statement: the admin lease is reset too).
        self.assertTrue(self.sql(
            f"SELECT pg_try_advisory_lock({LOCK_KEY}) AND pg_advisory_unlock({LOCK_KEY})")[0][0])


if __name__ == "__main__":
    unittest.main()
