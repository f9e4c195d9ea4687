"""The Python asyncio driver of bench/soak (the orchestrator starts it).

    /usr/bin/python3 py_driver.py LABEL WORKERS POOL_SIZE DEADLINE_MS CONNINFO...

One connpool.aio pool per CONNINFO, named LABEL_0, LABEL_1, ... (the same name is the
conninfo's application_name), WORKERS asyncio tasks per pool, each looping over requests as
the C driver does (bench/soak/c_driver.c): acquire, session-isolation check, work, sometimes
dirty the session, release, the whole request bounded by asyncio.wait_for(DEADLINE_MS).

Commands on stdin (quiesce, resume, drain, exit) and JSON lines on stdout ("tick" every
second, "quiesced"), as the C driver. The library is found as the binding's tests find it
(CONNPOOL_LIBRARY, PYTHONPATH=bindings/python).
"""

import asyncio
import json
import os
import random
import sys
import time

import connpool.aio as aio
from connpool.errors import Error, PoolTimeout, QueryError

CHECK_SQL = (
    "SELECT coalesce(current_setting('soak.owner', true), ''), current_setting('search_path'), "
    "(SELECT count(*) FROM pg_class WHERE relnamespace = pg_my_temp_schema())"
)
DEFAULT_SEARCH_PATH = '"$user", public'


class Driver:
    def __init__(self, label, workers, pool_size, deadline_ms, conninfos):
        self.label = label
        self.workers = workers
        self.deadline = deadline_ms / 1000
        # SOAK_POOL_OPTIONS="key=value,...": more pool options (see the C driver)
        extra = dict(kv.split("=", 1) for kv in os.environ.get("SOAK_POOL_OPTIONS", "").split(",")
                     if "=" in kv)
        # reset= (a str) is the library's option only with a binding that tells it from the
        # reset hook (a callable); older bindings would take it for the hook.
        self.pools = [
            aio.AsyncConnectionPool(ci, name=f"{label}_{i}", min_size=2, max_size=pool_size,
                                    **extra)
            for i, ci in enumerate(conninfos)
        ]
        self.counts = dict(ops=0, errors=0, server_timeouts=0, client_timeouts=0, leaks=0)
        self.late_max = -self.deadline
        self.leak_sample = ""
        self.error_sample = ""
        self.late_sample = ""
        self.running = asyncio.Event()
        self.running.set()
        self.busy = 0  # requests in flight
        self.stop = False

    def note_error(self, what, exc):
        if not self.error_sample:
            self.error_sample = " ".join(f"{what}: {exc}".split())[:200]

    async def request(self, pool, me, where):
        where[0] = "acquire"
        async with pool.connection(timeout=self.deadline / 2) as conn:
            where[0] = "check"
            owner, path, temps = (await conn.execute(CHECK_SQL)).fetchone()
            if owner or path != DEFAULT_SEARCH_PATH or int(temps) != 0:
                self.counts["leaks"] += 1
                if not self.leak_sample:
                    self.leak_sample = (
                        f"{me} saw soak.owner='{owner}' search_path='{path}' temp tables={temps}"
                    )
            dice = random.randrange(1000)
            where[0] = "work"
            if dice < 20:  # longer than statement_timeout: the server ends it (57014)
                await conn.execute("SELECT pg_sleep(5)")
            else:
                rows = str(random.randint(100, 5100))
                await conn.execute("SELECT count(*) FROM generate_series(1, $1::int)", [rows])
            if dice % 2 == 0:
                where[0] = "dirty"
                await conn.execute(
                    "SELECT set_config('soak.owner', $1, false), "
                    "set_config('search_path', 'soak_private, public', false)",
                    [me],
                )
            if dice % 16 == 1:
                where[0] = "temp table"
                await conn.execute("CREATE TEMP TABLE IF NOT EXISTS soak_private(owner text)")

    async def worker(self, pool, wid):
        lease_no = 0
        while not self.stop:
            await self.running.wait()
            if self.stop:
                return
            lease_no += 1
            me = f"{pool.name}:{wid}:{lease_no}"
            self.busy += 1
            deadline = time.monotonic() + self.deadline
            outcome = "ops"
            where = [""]
            try:
                await asyncio.wait_for(self.request(pool, me, where), self.deadline)
            except (asyncio.TimeoutError, PoolTimeout):
                outcome = "client_timeouts"
            except QueryError as exc:
                if exc.sqlstate == "57014":
                    outcome = "server_timeouts"
                else:
                    outcome = "errors"
                    self.note_error("statement", exc)
            except Error as exc:
                outcome = "errors"
                self.note_error(type(exc).__name__, exc)
            finally:
                self.busy -= 1
            late = time.monotonic() - deadline
            if late > self.late_max:
                self.late_max = late
                if late > 0:
                    self.late_sample = (f"{pool.name} task {wid}: {late * 1000:.0f} ms late in "
                                        f"{where[0]} ({outcome})")
            self.counts[outcome] += 1
            if outcome == "errors":
                await asyncio.sleep(0.02)  # e.g. the server is restarting: do not spin

    def report(self, kind):
        out = dict(type=kind, **self.counts, late_max_ms=round(self.late_max * 1000, 1),
                   leak_sample=self.leak_sample, late_sample=self.late_sample,
                   error_sample=self.error_sample,
                   pools={p.name: p.get_stats() for p in self.pools})
        self.error_sample = ""
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()

    async def quiesce(self):
        self.running.clear()
        while self.busy:
            await asyncio.sleep(0.01)
        for pool in self.pools:
            await pool.check()
        self.report("quiesced")

    async def ticker(self):
        while not self.stop:
            await asyncio.sleep(1)
            self.report("tick")

    async def commands(self):
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while True:
            line = (await reader.readline()).decode().strip()
            if line in ("", "exit"):
                return
            if line == "quiesce":
                await self.quiesce()
            elif line == "resume":
                self.running.set()
            elif line == "drain":
                for pool in self.pools:
                    await pool.drain()

    async def main(self):
        for pool in self.pools:
            await pool.wait(30)
        tasks = [asyncio.create_task(self.worker(pool, w))
                 for pool in self.pools for w in range(self.workers)]
        tick = asyncio.create_task(self.ticker())
        await self.commands()
        self.stop = True
        self.running.set()
        tick.cancel()
        await asyncio.wait(tasks, timeout=self.deadline * 2)
        for pool in self.pools:
            await pool.close()


def main():
    if len(sys.argv) < 6:
        sys.exit("usage: py_driver.py LABEL WORKERS POOL_SIZE DEADLINE_MS CONNINFO...")
    label, workers, size, deadline_ms = sys.argv[1], *map(int, sys.argv[2:5])
    driver = Driver(label, workers, size, deadline_ms, sys.argv[5:])
    asyncio.run(driver.main())
    os._exit(0)  # executor threads stuck behind a stalled proxy must not hold the exit


if __name__ == "__main__":
    main()
