"""connpool.PoolGroup against a real primary with two streaming standbys (the CTest fixture
postgres_cluster, scripts/pg-cluster): read-only connections on standbys, spread over both,
read-write on the primary, per-node statistics."""

from __future__ import annotations

import os
import pathlib
import unittest

import support  # noqa: F401  (puts the package on sys.path)
import connpool

CLUSTER = os.environ.get("CONNPOOL_TEST_CLUSTER_DIR")


def _read(name: str) -> str:
    return (pathlib.Path(CLUSTER) / name).read_text().strip()


def _port(node: int) -> str:
    conninfo = _read(f"node{node}.conninfo")
    return conninfo.split("port=", 1)[1].split()[0]


@unittest.skipUnless(CLUSTER, "needs CONNPOOL_TEST_CLUSTER_DIR (ctest -R python.group)")
class PoolGroupTest(unittest.TestCase):
    def setUp(self) -> None:
        self.group = connpool.PoolGroup(
            _read("conninfo") + " application_name=cp_py_group",
            max_size=4,
            timeout=5,
            replica_check_interval=0.2,
        )
        self.group.wait(timeout=10)

    def tearDown(self) -> None:
        self.group.close()

    def served_by(self, read_only: bool) -> str:
        with self.group.connection(read_only=read_only) as conn:
            return conn.execute("SELECT current_setting('port')").scalar()

    def test_read_only_on_standby_read_write_on_primary(self) -> None:
        with self.group.connection(read_only=True) as conn:
            self.assertIs(conn.execute("SELECT pg_is_in_recovery()").scalar(), True)
        with self.group.connection() as conn:
            self.assertIs(conn.execute("SELECT pg_is_in_recovery()").scalar(), False)
            conn.execute("CREATE TEMP TABLE t (v int)")
        self.assertEqual(self.served_by(read_only=False), _port(0))

    def test_read_only_spread_over_both_standbys(self) -> None:
        ports = [self.served_by(read_only=True) for _ in range(8)]
        self.assertNotIn(_port(0), ports)
        self.assertGreaterEqual(ports.count(_port(1)), 3, ports)
        self.assertGreaterEqual(ports.count(_port(2)), 3, ports)

    def test_stats_per_node(self) -> None:
        self.served_by(read_only=True)
        stats = self.group.get_stats()
        self.assertEqual(stats["read_only_acquires"], 1)
        self.assertEqual(stats["read_only_on_primary"], 0)
        nodes = stats["nodes"]
        self.assertEqual([n["port"] for n in nodes], [_port(0), _port(1), _port(2)])
        self.assertEqual([n["role"] for n in nodes], ["primary", "standby", "standby"])
        self.assertTrue(all(n["healthy"] for n in nodes))
        self.assertIsNone(nodes[0]["lag_ms"])
        self.assertGreaterEqual(nodes[1]["lag_ms"], 0)
        acquired = sum(n["stats"]["acquired"] for n in nodes)
        self.assertGreaterEqual(acquired, sum(n["checks"] for n in nodes) + 1)

    def test_closed_group_and_bad_input(self) -> None:
        with self.assertRaises(connpool.InvalidArgument):
            connpool.PoolGroup("host=a,b,c port=1,2")
        with self.assertRaises(connpool.UnknownOption):
            connpool.PoolGroup(_read("conninfo"), replica_max_lagg=1)
        self.group.close()
        with self.assertRaises(connpool.PoolClosed):
            self.group.getconn(read_only=True, timeout=0.1)


if __name__ == "__main__":
    unittest.main()
