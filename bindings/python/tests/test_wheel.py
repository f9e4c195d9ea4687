"""The wheel build_wheel.py makes carries a stripped libconnpool.so and the SQLAlchemy entry
point, and works unpacked on its own (no $CONNPOOL_LIBRARY, no source tree on the path)."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import tempfile
import unittest
import zipfile

import support

sys.path.insert(0, str(support.PACKAGE_ROOT))
import build_wheel  # noqa: E402

import connpool  # noqa: E402

# What the unpacked wheel runs: the bundled library, the DB-API module, and the dialect found
# through the installed entry point only (connpool.sqlalchemy_dialect is never imported here).
_PROBE = """
import importlib.metadata, os, sys
import connpool
from connpool import dbapi
assert os.path.dirname(connpool.library_path) == os.path.dirname(connpool.__file__), connpool.library_path
conn = dbapi.connect(sys.argv[1])
cur = conn.cursor()
cur.execute("SELECT %s::int + 1", (41,))
assert cur.fetchone() == (42,)
conn.close()
names = [e.name for e in importlib.metadata.entry_points(group="sqlalchemy.dialects")]
assert "postgresql.connpool" in names, names
import sqlalchemy
assert "connpool.sqlalchemy_dialect" not in sys.modules
info = dict(p.split("=", 1) for p in sys.argv[1].split())
url = sqlalchemy.engine.URL.create("postgresql+connpool", username=info["user"],
    database=info["dbname"], query={"host": info["host"], "port": info["port"]})
with sqlalchemy.create_engine(url, future=True).connect() as c:
    assert c.execute(sqlalchemy.text("SELECT 6 * 7")).scalar() == 42
print("ok")
"""


class WheelTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.tmp = tempfile.TemporaryDirectory(prefix="connpool-wheel-test-")
        library = pathlib.Path(os.environ.get("CONNPOOL_LIBRARY") or connpool.library_path)
        cls.wheel = build_wheel.build_wheel(library, pathlib.Path(cls.tmp.name) / "dist")

    @classmethod
    def tearDownClass(cls) -> None:
        cls.tmp.cleanup()

    def test_contents(self):
        with zipfile.ZipFile(self.wheel) as whl:
            names = set(whl.namelist())
            for module in ("__init__", "dbapi", "dbapi_params", "dbapi_types", "sqlalchemy_dialect"):
                self.assertIn(f"connpool/{module}.py", names)
            self.assertFalse(any(n.startswith("tests/") for n in names), "tests are not shipped")
            lib = whl.getinfo("connpool/libconnpool.so")
            self.assertLess(lib.file_size, 4 * 1024 * 1024, "the bundled library is stripped")
            entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
            text = whl.read(entry_points).decode()
        self.assertIn("[sqlalchemy.dialects]", text)
        self.assertIn("postgresql.connpool = connpool.sqlalchemy_dialect:PGDialect_connpool", text)
        self.assertNotIn("-none-any", self.wheel.name, "native code: a platform tag")

    def test_unpacked_wheel_works_alone(self):
        site = pathlib.Path(self.tmp.name) / "site"
        with zipfile.ZipFile(self.wheel) as whl:
            whl.extractall(site)
        env = {k: v for k, v in os.environ.items() if k not in ("CONNPOOL_LIBRARY", "PYTHONPATH")}
        env["PYTHONPATH"] = str(site)
        env["SQLALCHEMY_SILENCE_UBER_WARNING"] = "1"
        done = subprocess.run(
            [sys.executable, "-c", _PROBE, support.conninfo("connpool_py_wheel")],
            cwd=self.tmp.name, env=env, capture_output=True, text=True, timeout=60,
        )
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(done.stdout.strip(), "ok")


if __name__ == "__main__":
    unittest.main()
