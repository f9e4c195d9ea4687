"""The DB-API 2.0 compliance suite (dbapi20.py) against connpool.dbapi and the test server."""

from __future__ import annotations

import unittest

import support  # noqa: F401 - puts the package on sys.path
import dbapi20

from connpool import dbapi


class ConnpoolDBAPI20Test(dbapi20.DatabaseAPI20Test):
    driver = dbapi

    @classmethod
    def setUpClass(cls) -> None:
        cls.connect_args = (support.conninfo("connpool_py_dbapi20"),)

    @classmethod
    def tearDownClass(cls) -> None:
        dbapi.close_pools()

    def test_setoutputsize(self):
        # Results are read whole; setoutputsize is accepted and changes nothing.
        con = self._connect()
        try:
            cur = con.cursor()
            cur.setoutputsize(1, 0)
            cur.execute("select repeat('x', 100)")
            self.assertEqual(cur.fetchone()[0], "x" * 100)
        finally:
            con.close()


if __name__ == "__main__":
    unittest.main()
