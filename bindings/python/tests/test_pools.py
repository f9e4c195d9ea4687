"""connpool.pools (and connpool.aio.pools): the process's registry of named pools, health and
metrics, against the test server."""

from __future__ import annotations

import asyncio
import gc
import threading
import uuid

from support import PgTestCase, conninfo, unique_app

import connpool
from connpool import aio, pools

UNREACHABLE = "host=/nonexistent-connpool-dir port=1 dbname=x user=x"


def unique_name(prefix: str = "py") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class RegistryTestCase(PgTestCase):
    def registered(self, conninfo_: str | None = None, name: str | None = None, **options):
        """A new registered pool, closed (unregistered) at cleanup."""
        name = name or unique_name()
        pool = pools.get_or_create(name, conninfo_ or conninfo(), **options)
        self.addCleanup(self._close_quietly, name)
        return name, pool

    @staticmethod
    def _close_quietly(name: str) -> None:
        try:
            pools.close(name)
        except connpool.PoolNotFound:
            pass

    @staticmethod
    def run_one(pool) -> int:
        with pool.connection() as conn:
            return conn.execute("SELECT 1").scalar()


class GetOrCreateTest(RegistryTestCase):
    def test_same_name_and_settings_reach_one_pool(self):
        name, a = self.registered(max_size=2, timeout=5)
        b = pools.get_or_create(name, conninfo(), max_size=2, timeout=5)
        c = pools.get(name)
        for p in (a, b, c):
            self.assertIsInstance(p, pools.RegisteredPool)
            self.assertIsInstance(p, connpool.ConnectionPool)
            self.assertEqual(p.name, name)
            self.run_one(p)
        for p in (a, b, c):
            stats = p.get_stats()
            self.assertEqual((stats["acquired"], stats["max_size"]), (3, 2))
        self.assertIn(name, pools.names())
        self.assertEqual(pools.names(), sorted(pools.names()))

    def test_conflicting_settings_are_refused_naming_the_difference(self):
        name, _ = self.registered(max_size=2)
        with self.assertRaises(connpool.PoolConflict) as cm:
            pools.get_or_create(name, conninfo(), max_size=3)
        self.assertIn("max_size", str(cm.exception))
        self.assertIsInstance(cm.exception, ValueError)
        self.assertEqual(cm.exception.status_name, "CONNPOOL_ERR_CONFLICT")
        with self.assertRaises(connpool.PoolConflict) as cm:
            pools.get_or_create(name, conninfo() + " password=hunter2secret", max_size=2)
        self.assertNotIn("hunter2secret", str(cm.exception))

    def test_bad_arguments(self):
        for bad in ("", "has space", "a/b", "x" * 64):
            with self.subTest(name=bad), self.assertRaises(connpool.InvalidArgument):
                pools.get_or_create(bad, conninfo())
        with self.assertRaises(connpool.InvalidArgument):
            pools.get_or_create("nul\0name", conninfo())
        with self.assertRaises(connpool.InvalidArgument):
            pools.get_or_create(unique_name(), 42)
        with self.assertRaises(TypeError):
            pools.get_or_create(unique_name(), conninfo(), name="other")
        with self.assertRaises(TypeError):
            pools.get_or_create(unique_name(), conninfo(), timeout=1, acquire_timeout=1)
        with self.assertRaises(connpool.InvalidArgument) as cm:
            pools.get_or_create(unique_name(), conninfo(), max_size=0)
        self.assertIn("max_size", str(cm.exception))
        with self.assertRaises(connpool.UnknownOption):
            pools.get_or_create(unique_name(), conninfo(), no_such_option=1)

    def test_unknown_name_is_not_found_a_key_error(self):
        with self.assertRaises(connpool.PoolNotFound) as cm:
            pools.get("py-no-such-pool")
        self.assertIsInstance(cm.exception, KeyError)
        self.assertEqual(cm.exception.status, connpool._ffi.ERR_NOT_FOUND)
        self.assertFalse(str(cm.exception).startswith("'"), "the message, not a KeyError repr")
        with self.assertRaises(KeyError):
            pools.close("py-no-such-pool")

    def test_durations_in_seconds_like_connection_pool(self):
        name, pool = self.registered(timeout=2.5, max_idle=60)
        # the same values in the C form (milliseconds, verbatim strings) are the same options
        same = pools.get_or_create(name, conninfo(), acquire_timeout="2500", max_idle="60000")
        self.assertEqual(same.name, name)

    def test_concurrent_get_or_create_makes_one_pool(self):
        name = unique_name()
        self.addCleanup(self._close_quietly, name)
        got, errors = [], []

        def create() -> None:
            try:
                got.append(pools.get_or_create(name, conninfo(), max_size=2))
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=create) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        self.assertEqual(errors, [])
        self.assertEqual(len(got), 8)
        self.run_one(got[0])
        self.assertEqual({p.get_stats()["acquired"] for p in got}, {1})


class LifecycleTest(RegistryTestCase):
    def test_close_on_any_handle_closes_for_everyone(self):
        name, a = self.registered()
        b = pools.get(name)
        self.run_one(b)
        a.close()
        self.assertTrue(a.closed)
        self.assertTrue(b.closed, "closed through another handle")
        with self.assertRaises(connpool.PoolClosed):
            b.getconn(timeout=1)
        with self.assertRaises(connpool.PoolNotFound):
            pools.get(name)
        self.assertNotIn(name, pools.names())
        b.close()  # idempotent, also for the other handle
        # the name is free at once, for a new pool with its own counters
        c = pools.get_or_create(name, conninfo(), max_size=1)
        self.assertFalse(c.closed)
        self.assertEqual(c.get_stats()["acquired"], 0)

    def test_with_block_closes_the_pool_for_everyone(self):
        name, a = self.registered()
        with pools.get(name) as b:
            self.run_one(b)
        self.assertTrue(a.closed)

    def test_garbage_collected_handle_frees_only_itself(self):
        app = unique_app("connpool_py_gc")
        name, pool = self.registered(conninfo(app), min_size=1)
        pool.wait(10)
        self.run_one(pool)
        del pool
        gc.collect()
        again = pools.get(name)
        self.assertFalse(again.closed)
        self.run_one(again)
        self.assertEqual(again.get_stats()["acquired"], 2)
        self.assertEqual(self.backends(app), 1, "the pool's connection stayed open")

    def test_close_by_name_and_close_all(self):
        app = unique_app("connpool_py_closeall")
        one, a = self.registered(conninfo(app), min_size=1)
        two, b = self.registered(conninfo(app), min_size=1)
        a.wait(10)
        b.wait(10)
        pools.close(one)
        self.assertTrue(a.closed)
        self.assertFalse(b.closed)
        self.assertNotIn(one, pools.names())
        pools.close_all()
        self.assertTrue(b.closed)
        self.assertEqual(pools.names(), [])
        self.assertEqual(self.backends_after_close(app), 0)

    def test_connection_budget_spans_pools(self):
        with self.assertRaises(connpool.InvalidArgument):
            pools.set_connection_budget(-1)
        with self.assertRaises(connpool.InvalidArgument):
            pools.set_connection_budget(2**40)
        with self.assertRaises(connpool.InvalidArgument):
            pools.set_connection_budget("2")
        app = unique_app("connpool_py_budget")
        pools.set_connection_budget(2)
        self.addCleanup(pools.set_connection_budget, 0)
        _, a = self.registered(conninfo(app), max_size=2)
        _, b = self.registered(conninfo(app), max_size=2)
        held = [a.getconn(timeout=5), a.getconn(timeout=5)]
        with self.assertRaises(connpool.PoolTimeout):
            b.getconn(timeout=0.3)  # budget spent, nothing idle
        for conn in held:
            a.putconn(conn)
        with b.connection(timeout=5):  # closes an idle connection of a to open its own
            self.assertLessEqual(self.backends(app), 2)
        self.assertLessEqual(a.get_stats()["total"] + b.get_stats()["total"], 2)


class StatsHealthMetricsTest(RegistryTestCase):
    def test_stats_per_pool_and_aggregate(self):
        one, a = self.registered(max_size=2)
        two, b = self.registered(max_size=3, max_overflow=1)
        self.run_one(a)
        self.run_one(a)
        self.run_one(b)
        snapshot = pools.stats()
        self.assertEqual(snapshot["pools"][one]["acquired"], 2)
        self.assertEqual(snapshot["pools"][two]["max_overflow"], 1)
        agg = snapshot["aggregate"]
        per_pool = snapshot["pools"].values()
        self.assertEqual(agg["pools"], len(snapshot["pools"]))
        for key in ("acquired", "created", "reused", "max_size"):
            self.assertEqual(agg[key], sum(p[key] for p in per_pool), key)
        self.assertEqual(agg["utilisation_percent"], 0)
        created = agg["created"]
        self.assertAlmostEqual(agg["reuse_ratio"], agg["reused"] / created if created else 0, places=3)

    def test_pool_health_and_utilisation(self):
        name, pool = self.registered(max_size=2)
        health = pool.health()
        self.assertEqual((health["name"], health["status"]), (name, "healthy"))
        self.assertEqual(health["utilisation_percent"], 0)
        with pool.connection():
            self.assertEqual(pool.health()["utilisation_percent"], 50)
        registry = pools.health()
        self.assertEqual(registry["status"], "healthy")
        self.assertEqual(registry["pools"][name]["status"], "healthy")
        self.assertGreaterEqual(registry["total_pools"], 1)
        # an unregistered pool has a verdict too; a closed one is unhealthy
        with connpool.ConnectionPool(conninfo(), name="plain") as plain:
            self.assertEqual(plain.health()["status"], "healthy")
        self.assertEqual(plain.health()["status"], "unhealthy")

    def test_unhealthy_pool_makes_the_registry_unhealthy(self):
        name, pool = self.registered(UNREACHABLE, breaker_threshold=1, connect_timeout=1)
        with self.assertRaises(connpool.Error):
            pool.getconn(timeout=3)
        self.wait_until(lambda: pool.get_stats()["breaker_state"] == 1, "the breaker to open")
        health = pool.health()
        self.assertEqual(health["status"], "unhealthy")
        self.assertTrue(health["reasons"])
        registry = pools.health()
        self.assertEqual(registry["status"], "unhealthy")
        self.assertTrue(any(w.startswith(f"{name}: ") for w in registry["warnings"]), registry)

    def test_metrics(self):
        name, pool = self.registered()
        self.run_one(pool)
        text = pool.metrics()
        self.assertIn(f'pool_name="{name}"', text)
        self.assertIn("# TYPE ", text)
        self.assertTrue(pool.metrics(openmetrics=True).endswith("# EOF\n"))
        everything = pools.metrics()
        self.assertIn(f'pool_name="{name}"', everything)
        self.assertTrue(pools.metrics(openmetrics=True).endswith("# EOF\n"))

    def wait_until(self, cond, what: str, timeout: float = 5.0) -> None:
        import time

        deadline = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > deadline:
                self.fail(f"timed out waiting for {what}")
            time.sleep(0.01)


class AsyncPoolsTest(RegistryTestCase):
    def test_async_twin(self):
        async def main() -> None:
            name = unique_name("pya")
            self.addCleanup(self._close_quietly, name)
            a = aio.pools.get_or_create(name, conninfo(), max_size=2, timeout=5)
            self.assertIsInstance(a, connpool.AsyncConnectionPool)
            async with a.connection() as conn:
                self.assertEqual((await conn.execute("SELECT 41 + 1")).scalar(), 42)
            b = aio.pools.get(name)
            sync_view = pools.get(name)
            self.assertEqual(b.get_stats()["acquired"], 1)
            self.assertEqual(sync_view.get_stats()["acquired"], 1, "one pool for both APIs")
            self.assertEqual(b.health()["status"], "healthy")
            self.assertIn(f'pool_name="{name}"', b.metrics())
            self.assertIn(name, aio.pools.names())
            self.assertIn(name, aio.pools.stats()["pools"])
            with self.assertRaises(connpool.PoolNotFound):
                aio.pools.get("pya-no-such-pool")
            await aio.pools.close(name)
            self.assertTrue(a.closed)
            self.assertTrue(b.closed)
            await b.close()  # idempotent
            other = aio.pools.get_or_create(unique_name("pya"), conninfo())
            self.addCleanup(self._close_quietly, other.name)
            await aio.pools.close_all()
            self.assertTrue(other.closed)
            self.assertEqual(aio.pools.names(), [])

        asyncio.run(main())

    def test_async_close_closes_for_everyone(self):
        async def main() -> None:
            name = unique_name("pya")
            self.addCleanup(self._close_quietly, name)
            async with aio.pools.get_or_create(name, conninfo()) as a:
                async with a.connection() as conn:
                    await conn.execute("SELECT 1")
            with self.assertRaises(connpool.PoolNotFound):
                pools.get(name)

        asyncio.run(main())
