"""``connpool.aio.pools``: the pools of a process (:mod:`connpool.pools`) for asyncio code.

The same registry and semantics, with :class:`connpool.AsyncConnectionPool` handles::

    from connpool import aio

    pool = aio.pools.get_or_create("main", "host=/run/postgresql dbname=app", max_size=8)
    async with pool.connection() as conn:
        await conn.execute("SELECT 1")
    await aio.pools.close_all()

:func:`get_or_create` and :func:`get` never wait for the server (as the AsyncConnectionPool
constructor), so they are plain functions; :func:`close` and :func:`close_all` close pools (a
bounded wait) in a thread and are coroutines. The readers (:func:`names`, :func:`stats`,
:func:`health`, :func:`metrics`) never block and are the synchronous ones.
"""

from __future__ import annotations

import asyncio

from . import pools as _pools
from .aio import AsyncConnectionPool
from .pools import health, metrics, names, set_connection_budget, stats

__all__ = [
    "close",
    "close_all",
    "get",
    "get_or_create",
    "health",
    "metrics",
    "names",
    "set_connection_budget",
    "stats",
]


def get_or_create(name: str, conninfo: str, *, executor=None, **options) -> AsyncConnectionPool:
    """As :func:`connpool.pools.get_or_create`, as an AsyncConnectionPool (``executor`` as its
    constructor takes it). Its ``close()`` closes the pool for every holder."""
    return AsyncConnectionPool._wrap(_pools.get_or_create(name, conninfo, **options), executor)


def get(name: str, *, executor=None) -> AsyncConnectionPool:
    """As :func:`connpool.pools.get` (PoolNotFound if there is no such pool)."""
    return AsyncConnectionPool._wrap(_pools.get(name), executor)


async def close(name: str) -> None:
    """As :func:`connpool.pools.close`, without blocking the loop."""
    await asyncio.get_running_loop().run_in_executor(None, _pools.close, name)


async def close_all() -> None:
    """As :func:`connpool.pools.close_all`, without blocking the loop."""
    await asyncio.get_running_loop().run_in_executor(None, _pools.close_all)
