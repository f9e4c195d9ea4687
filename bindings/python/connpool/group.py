"""Pool groups: one logical pool over a primary and its streaming-replication standbys.

``PoolGroup(conninfo)`` takes a multi-host connection string (``host=a,b,c port=...``) and keeps
one pool per host. ``group.connection(read_only=True)`` borrows a connection of a healthy
standby (round robin; the primary when no standby qualifies); ``read_only=False`` (the default)
always borrows from the primary. Connections are ordinary :class:`connpool.Connection` objects.
How nodes are checked (role, health, replica lag): README "Read-only routing".
"""

from __future__ import annotations

import ctypes
import json
import weakref

from . import _ffi
from .errors import InvalidArgument, error_from_status
from .pool import Connection, _timeout_ms, with_options

__all__ = ["PoolGroup", "READ_WRITE", "READ_ONLY"]

#: Routing modes (CONNPOOL_ROUTE_READ_WRITE / CONNPOOL_ROUTE_READ_ONLY).
READ_WRITE = 0
READ_ONLY = 1

# Declared with every other function in _ffi (the header's one list); a library without pool
# groups has stand-ins there that raise when called.
_c = _ffi.lib
_vp = ctypes.c_void_p


def _check(status: int, err) -> None:
    if status:
        raise error_from_status(status, err)


def _free_group(handle: int) -> None:
    _c.connpool_group_free(handle)


class PoolGroup:
    """A pool group over every host of ``conninfo``. Keyword arguments are pool options as for
    :class:`connpool.ConnectionPool` (they apply to each node's pool), plus
    ``replica_max_lag`` (seconds; a standby lagging more is skipped by read-only connections;
    None = no bound) and ``replica_check_interval`` (seconds, default 1).

    No connection is opened by the constructor; :meth:`wait` waits for every node's first
    check.
    """

    def __init__(self, conninfo: str, *, timeout=None, replica_max_lag=None,
                 replica_check_interval=None, **options) -> None:
        if not isinstance(conninfo, str):
            raise InvalidArgument(f"conninfo must be a str, not {type(conninfo).__name__}")
        self._closed = False
        named = dict(options)
        named.update(
            acquire_timeout=timeout,
            replica_max_lag=replica_max_lag,
            replica_check_interval=replica_check_interval,
        )

        def create(opts) -> int:
            handle = _vp()
            err = _vp()
            _check(_c.connpool_group_create(ctypes.byref(handle), conninfo.encode("utf-8"), opts,
                                            ctypes.byref(err)), err)
            return handle.value

        self._handle = with_options(named, create)
        self._finalizer = weakref.finalize(self, _free_group, self._handle)

    def __enter__(self) -> "PoolGroup":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()

    def close(self) -> None:
        """Closes every node's pool (connections still out close when returned). Idempotent."""
        if self._closed:
            return
        self._closed = True
        err = _vp()
        _check(_c.connpool_group_close(self._handle, ctypes.byref(err)), err)

    @property
    def closed(self) -> bool:
        return self._closed

    def wait(self, timeout=None) -> None:
        """Blocks until every node has been checked once (its role known, or found down)."""
        err = _vp()
        _check(_c.connpool_group_wait_ready(self._handle, _timeout_ms(timeout), ctypes.byref(err)),
               err)

    def getconn(self, read_only: bool = False, timeout=None) -> Connection:
        """Borrows a connection of a standby (``read_only=True``; the primary if no standby is
        healthy) or of the primary. Return it with :meth:`putconn`. Raises DatabaseUnavailable
        when no node can serve, PoolTimeout, PoolClosed..."""
        out = _vp()
        err = _vp()
        mode = READ_ONLY if read_only else READ_WRITE
        _check(_c.connpool_group_acquire(ctypes.byref(out), self._handle, mode,
                                         _timeout_ms(timeout), ctypes.byref(err)), err)
        return Connection(self, out.value)

    def putconn(self, conn: Connection) -> None:
        """Returns a connection borrowed from this group."""
        if not isinstance(conn, Connection) or conn.pool is not self:
            raise InvalidArgument("putconn(): not a connection of this group")
        conn._release()

    def connection(self, read_only: bool = False, timeout=None) -> "_GroupConnection":
        """``with group.connection(read_only=True) as conn:`` borrows and always returns."""
        return _GroupConnection(self, read_only, timeout)

    def get_stats(self) -> dict:
        """The group's statistics: counters, and ``nodes``: one dict per host with ``host``,
        ``port``, ``role``, ``healthy``, ``lag_ms``, ``checks``, ``last_error`` and ``stats``
        (that node pool's statistics, as ConnectionPool.get_stats())."""
        out = _vp()
        err = _vp()
        _check(_c.connpool_group_stats_json(ctypes.byref(out), self._handle, ctypes.byref(err)),
               err)
        try:
            return json.loads(ctypes.string_at(out.value))
        finally:
            _ffi.fast.connpool_string_free(out)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<connpool.PoolGroup {state}>"


class _GroupConnection:
    __slots__ = ("_group", "_read_only", "_timeout", "_conn")

    def __init__(self, group: PoolGroup, read_only: bool, timeout) -> None:
        self._group = group
        self._read_only = read_only
        self._timeout = timeout
        self._conn = None

    def __enter__(self) -> Connection:
        self._conn = self._group.getconn(self._read_only, self._timeout)
        return self._conn

    def __exit__(self, exc_type, exc, tb) -> None:
        conn, self._conn = self._conn, None
        try:
            conn._release()
        except Exception:
            if exc_type is None:
                raise
