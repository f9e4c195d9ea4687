"""The pools of a process: named pools shared by every language loaded into it.

libconnpool keeps one registry of named pools per process. A pool registered here is the very
pool C code, a Go library (cgo) or another Python module reaches by its name: one set of
connections, one set of counters::

    import connpool

    pool = connpool.pools.get_or_create("main", "host=/run/postgresql dbname=app", max_size=8)
    with pool.connection() as conn:
        conn.execute("SELECT 1")

    connpool.pools.get("main")          # another handle to the same pool
    connpool.pools.stats()["aggregate"] # every registered pool, and their totals
    connpool.pools.close_all()          # before the process exits

Handles: every :func:`get_or_create` and :func:`get` returns a new :class:`RegisteredPool`
holding its own handle. Dropping it (garbage collection) frees that handle only: the pool stays
registered and open. ``pool.close()`` (or leaving ``with pool:``) closes the pool for every
holder, in every language, and unregisters it; so do :func:`close` and :func:`close_all`.

Names: 1 to 63 characters from ``[A-Za-z0-9_.-]``. The asyncio twin is ``connpool.aio.pools``.
"""

from __future__ import annotations

import ctypes
import json

from . import _ffi
from .errors import InvalidArgument, PoolClosed, error_from_status
from .pool import (
    METRICS_OPENMETRICS,
    METRICS_PROMETHEUS,
    ConnectionPool,
    _take_text,
    leak_labels_wanted,
    split_conninfo_options,
    with_options,
)

__all__ = [
    "RegisteredPool",
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

_lib = _ffi.lib
_byref = ctypes.byref
_c_void_p = ctypes.c_void_p


class RegisteredPool(ConnectionPool):
    """A handle to a registered pool: everything :class:`connpool.ConnectionPool` offers.

    :meth:`close` closes the pool for every holder (every handle, every language) and
    unregisters it; :attr:`closed` is true however it was closed. Garbage collection of this
    object frees its handle only."""

    @property
    def closed(self) -> bool:
        # Another handle, another language or connpool.pools.close() may have closed it.
        if self._closed:
            return True
        try:
            return bool(self.get_stats().get("closed_pool", False))
        except PoolClosed:
            return True

    def close(self) -> None:
        """Closes the pool for every holder and unregisters it. Idempotent, also when it was
        closed through another handle."""
        try:
            super().close()
        except PoolClosed:
            pass


def _check(status: int, err) -> None:
    if status:
        raise error_from_status(status, err)


def _name_bytes(name) -> bytes:
    if not isinstance(name, str):
        raise InvalidArgument(f"a pool name must be a str, not {type(name).__name__}")
    if "\0" in name:
        raise InvalidArgument("a pool name cannot contain NUL characters")
    return name.encode("utf-8")


def get_or_create(name: str, conninfo: str, **options) -> RegisteredPool:
    """The registered pool called ``name``, created and registered if there is none.

    ``options`` are those of :class:`connpool.ConnectionPool` (``max_size=8``, ``timeout=5``,
    durations in seconds...). An existing pool is returned only if ``conninfo`` and the options
    equal those it was created with; otherwise :class:`connpool.PoolConflict` names the first
    difference. Never waits for the server."""
    if not isinstance(conninfo, str):
        raise InvalidArgument(f"conninfo must be a str, not {type(conninfo).__name__}")
    if "name" in options:
        raise TypeError("get_or_create() takes the pool's name as its first argument only")
    if "timeout" in options:
        if "acquire_timeout" in options:
            raise TypeError("pass either timeout or acquire_timeout, not both")
        options["acquire_timeout"] = options.pop("timeout")
    raw_name = _name_bytes(name)
    conninfo = split_conninfo_options(conninfo, options.pop("kwargs", None), options)
    label_leases = leak_labels_wanted(options)

    def register(opts) -> int:
        handle = _c_void_p()
        err = _c_void_p()
        status = _lib.connpool_registry_get_or_create(
            _byref(handle), raw_name, conninfo.encode("utf-8"), opts, _byref(err)
        )
        _check(status, err)
        return handle.value

    pool = RegisteredPool._from_handle(with_options(options, register))
    pool._label_leases = label_leases
    return pool


def get(name: str) -> RegisteredPool:
    """A new handle to the registered pool called ``name``; :class:`connpool.PoolNotFound` (a
    KeyError) if there is none."""
    handle = _c_void_p()
    err = _c_void_p()
    _check(_lib.connpool_registry_lookup(_byref(handle), _name_bytes(name), _byref(err)), err)
    return RegisteredPool._from_handle(handle.value)


def names() -> list[str]:
    """The names of the registered pools, sorted."""
    out = _c_void_p()
    err = _c_void_p()
    _check(_lib.connpool_registry_names(_byref(out), _byref(err)), err)
    return _take_text(out).splitlines()


def stats() -> dict:
    """Statistics of every registered pool and their aggregate: ``{"pools": {name: <as
    ConnectionPool.get_stats()>}, "aggregate": {"pools": N, <each statistic summed>,
    "utilisation_percent": ..., "reuse_ratio": ...}}``."""
    out = _c_void_p()
    err = _c_void_p()
    _check(_lib.connpool_registry_stats_json(_byref(out), _byref(err)), err)
    return json.loads(_take_text(out))


def health() -> dict:
    """The registry-wide verdict: ``{"status": "healthy" | "degraded" | "unhealthy", "pools":
    {name: <as ConnectionPool.health()>}, "healthy_pools": N, "total_pools": N, "warnings":
    ["<name>: <reason>", ...]}``. Healthy when no pool is registered."""
    out = _c_void_p()
    err = _c_void_p()
    _check(_lib.connpool_registry_health_json(_byref(out), None, _byref(err)), err)
    return json.loads(_take_text(out))


def metrics(openmetrics: bool = False) -> str:
    """The metrics of every registered pool in one Prometheus text exposition (OpenMetrics
    with ``openmetrics=True``)."""
    out = _c_void_p()
    err = _c_void_p()
    fmt = METRICS_OPENMETRICS if openmetrics else METRICS_PROMETHEUS
    _check(_lib.connpool_registry_metrics(_byref(out), fmt, _byref(err)), err)
    return _take_text(out)


def close(name: str) -> None:
    """Closes the registered pool called ``name`` for every holder and unregisters it (the name
    is free at once). :class:`connpool.PoolNotFound` if there is none."""
    err = _c_void_p()
    _check(_lib.connpool_registry_close(_name_bytes(name), _byref(err)), err)


def close_all() -> None:
    """Closes and unregisters every registered pool (call it before the process exits:
    registered pools are not closed at exit)."""
    err = _c_void_p()
    _check(_lib.connpool_registry_close_all(_byref(err)), err)


def set_connection_budget(max_connections: int) -> None:
    """At most ``max_connections`` open connections across all registered pools together
    (0 turns the budget off, the default). A pool needing a connection while the budget is
    spent closes another pool's idle connection, else waits within its acquire timeout."""
    if isinstance(max_connections, bool) or not isinstance(max_connections, int):
        raise InvalidArgument(
            f"max_connections must be an int, not {type(max_connections).__name__}"
        )
    if not -(2**31) <= max_connections < 2**31:
        raise InvalidArgument(f"max_connections {max_connections} is out of range")
    err = _c_void_p()
    _check(_lib.connpool_registry_set_connection_budget(max_connections, _byref(err)), err)
