"""The synchronous API: ConnectionPool, Connection, Result, Transaction."""

from __future__ import annotations

import collections
import ctypes
import datetime as _dt
import json
import math
import threading
import time
import warnings
import weakref

from . import _cancel, _ffi, _logging
from ._lease_meta import LeaseInfo, caller_label, is_new, keep_session, lease_info
from .conninfo import libpq_keywords, make_conninfo
from .errors import Error, InvalidArgument, PoolTimeout, QueryError, error_from_status
from .types import DECODERS, _text, encode

_lib = _ffi.lib
_fast = _ffi.fast
_byref = ctypes.byref
_c_void_p = ctypes.c_void_p
_c_char_p = ctypes.c_char_p

# Blocking calls: GIL released.
_pool_acquire = _lib.connpool_pool_acquire
_lease_release = _lib.connpool_lease_release
# The same release with the GIL kept, for a lease that cannot make it wait (Connection._release).
_lease_release_held = _ffi.held.connpool_lease_release
# connpool_lease_exec, interruptible in the main thread (cancels on the server: _cancel.py);
# other threads call the library directly (signal handlers run in the main thread only).
_lease_exec = _cancel.lease_exec
_lease_exec_direct = _lib.connpool_lease_exec
_get_ident = threading.get_ident
_MAIN_THREAD = _cancel._MAIN_THREAD
# Accessors: GIL kept (they never block).
_result_free = _fast.connpool_result_free
_row_count = _fast.connpool_result_row_count
_column_count = _fast.connpool_result_column_count
_affected_rows = _fast.connpool_result_affected_rows
_column_name = _fast.connpool_result_column_name
_column_type = _fast.connpool_result_column_type
_is_null = _fast.connpool_result_is_null
_value = _fast.connpool_result_value

_QUERY_FAILED = _ffi.ERR_QUERY_FAILED
_WOULD_BLOCK = _ffi.ERR_WOULD_BLOCK

#: connpool_pool_metrics / connpool_registry_metrics formats (CONNPOOL_METRICS_* in the header).
METRICS_PROMETHEUS = 0
METRICS_OPENMETRICS = 1

#: Option keys whose C value is a duration in milliseconds (kind CONNPOOL_OPTION_DURATION_MS, as
#: connpool_option_describe reports it). The binding takes them in seconds (int, float or
#: datetime.timedelta); a str value is always passed to C verbatim (milliseconds).
DURATION_OPTIONS = frozenset(
    key for key, info in _ffi.OPTIONS.items() if info.kind == _ffi.OPTION_DURATION_MS
)

#: Option keys of kind CONNPOOL_OPTION_BOOLEAN: a bool value becomes "on"/"off".
BOOLEAN_OPTIONS = frozenset(
    key for key, info in _ffi.OPTIONS.items() if info.kind == _ffi.OPTION_BOOLEAN
)

_MAX_MS = 2**62

#: ConnectionPool keywords that belong to the binding, not to the library's options:
#: connection parameters (psycopg_pool's ``kwargs``) and the configure/reset hooks (``reset``
#: is also a library option: a str value goes to it, see :func:`split_reset_option`).
BINDING_KEYWORDS = frozenset({"kwargs", "configure", "reset"})


def seconds_to_ms(seconds) -> int:
    """Seconds (int/float/timedelta) to whole milliseconds, rounding a fraction of a millisecond
    up (so that a tiny positive timeout never becomes 0, which means "do not wait")."""
    if isinstance(seconds, _dt.timedelta):
        seconds = seconds.total_seconds()
    ms = seconds * 1000
    nearest = round(ms)
    if abs(ms - nearest) < 1e-6:
        return int(nearest)
    return int(math.ceil(ms))


def _option_text(key: str, value) -> str:
    """The string connpool_options_set() takes for a Python option value, by the option's kind."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        info = _ffi.OPTIONS.get(key)
        if info is not None and key not in BOOLEAN_OPTIONS:
            raise InvalidArgument(
                f"option {key!r} is a {_ffi.option_kind_name(info.kind)} option, not a boolean "
                f"(got {value!r})"
            )
        return "on" if value else "off"  # an unknown key: the library names it
    if key in DURATION_OPTIONS and isinstance(value, (int, float, _dt.timedelta)):
        if isinstance(value, float) and not math.isfinite(value):
            return str(value)  # the library rejects it, naming the option
        return str(seconds_to_ms(value))
    return str(value)


def _timeout_ms(timeout) -> int:
    """A Python timeout (None = the pool's acquire_timeout, else seconds >= 0) for the C call."""
    if timeout is None:
        return -1
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float, _dt.timedelta)):
        raise InvalidArgument(f"timeout must be None or a number of seconds, not {timeout!r}")
    ms = seconds_to_ms(timeout) if not (isinstance(timeout, float) and math.isinf(timeout)) else _MAX_MS
    if ms < 0 or (isinstance(timeout, float) and math.isnan(timeout)):
        raise InvalidArgument(f"timeout must be None or >= 0 seconds, not {timeout!r}")
    return min(ms, _MAX_MS)


def _raise(status: int, err) -> None:
    raise error_from_status(status, err)


def _free_pool(handle: int) -> None:
    # weakref.finalize callback: also runs at interpreter exit for pools never closed.
    _lib.connpool_pool_free(handle)


def with_options(named: dict, create):
    """Calls ``create(options_handle)`` with a connpool_options holding the Python option values
    in ``named`` (None values left out, converted by :func:`_option_text`); frees the options
    after. Returns what ``create`` returns."""
    settings = [(k, _option_text(k, v)) for k, v in named.items() if v is not None]
    _logging.sync_log_level()  # the new pool logs at the "connpool" logger's current level
    opts = _c_void_p()
    err = _c_void_p()
    status = _lib.connpool_options_new(_byref(opts), _byref(err))
    if status:
        _raise(status, err)
    try:
        for key, value in settings:
            status = _lib.connpool_options_set(
                opts, key.encode("utf-8"), value.encode("utf-8"), _byref(err)
            )
            if status:
                _raise(status, err)
        return create(opts)
    finally:
        _lib.connpool_options_free(opts)


def split_conninfo_options(conninfo, kwargs, options: dict) -> str:
    """The conninfo a pool is created with: ``conninfo`` updated with the ``kwargs`` dict
    (psycopg_pool's argument) and with the keys of ``options`` that are libpq connection
    keywords and no pool option (``host=``, ``port=``, ``dbname=``... ; ``connect_timeout`` is
    the pool's option). Those keys are removed from ``options``."""
    params = dict(kwargs or {})
    for key in [k for k in options if k not in _ffi.OPTIONS and k in libpq_keywords()]:
        params[key] = options.pop(key)
    return make_conninfo(conninfo, **params)


def split_reset_option(reset, options: dict):
    """``reset`` names two things: psycopg_pool's hook (a callable) and the library's ``reset``
    option (a str, e.g. "rollback"). A str goes into ``options``; returns the hook (or None)."""
    if isinstance(reset, str):
        options["reset"] = reset
        return None
    return reset


def leak_labels_wanted(options: dict) -> bool:
    """True when the pool reports leaks (a nonzero leak_threshold): leases then get labels."""
    value = options.get("leak_threshold")
    if value is None:
        return False
    if isinstance(value, str):
        return value.strip() not in ("", "0")
    if isinstance(value, _dt.timedelta):
        return value.total_seconds() > 0
    return value > 0


def _take_text(out) -> str:
    """The text of a string the library allocated (``char **`` out-parameter), freed here."""
    try:
        return ctypes.string_at(out.value).decode("utf-8")
    finally:
        _fast.connpool_string_free(out)


Column = collections.namedtuple(
    "Column", ["name", "type_code", "display_size", "internal_size", "precision", "scale", "null_ok"]
)
Column.__doc__ = "DB-API style column description: name and type OID (the rest is None)."


class ConnectionPool:
    """A pool of PostgreSQL connections (libconnpool).

    ``conninfo`` is a libpq connection string (``"host=/run/postgresql dbname=app"`` or a
    ``postgresql://`` URI). Keyword arguments map 1:1 to the C options (README "Options"):
    ``timeout`` is ``acquire_timeout``; durations are in seconds (int, float or timedelta) and
    are converted to the C option's milliseconds; booleans become ``on``/``off``; a ``str``
    value is passed to the library verbatim. Any other option key goes through ``**options``
    (e.g. ``reset_query="DISCARD ALL"``, ``connect_timeout=5``). The library validates every
    value: :class:`UnknownOption` / :class:`InvalidArgument` name the offending option.

    No connection is opened by the constructor (``min_size`` ones are opened in the background:
    call :meth:`wait` to wait for them).

    Connection parameters may also be given as keywords, as psycopg takes them: ``kwargs``
    (a dict, psycopg_pool's argument) or libpq keywords among ``**options`` (``host=``,
    ``port=``, ``dbname=``, ``user=``, ``password=``...); they override keys of ``conninfo``
    (see :func:`connpool.make_conninfo`).

    Hooks (psycopg_pool's): ``configure(conn)`` runs in the acquiring thread on the first lease
    of each new connection; if it raises, that connection is closed and the acquire takes
    another one, until its timeout (then :class:`PoolTimeout`, chained to the hook's exception).
    The settings configure leaves in the session (``SET``, ``set_config``, ``SET ROLE``) are the
    connection's own from then on: the session reset restores them after every lease (temporary
    tables, locks and ``LISTEN`` do not survive it).
    ``reset(conn)`` runs when a connection is returned, before the pool gets it back; if it
    raises, the connection is closed instead of reused (the exception is logged, not raised).
    A ``str`` given as ``reset`` is the library's ``reset`` option instead (``"auto"``,
    ``"always"``, ``"rollback"``: how the pool cleans a session between leases).

    With a ``leak_threshold``, every lease is labelled with its caller's ``file:line`` (the
    innermost frames outside connpool), so leak reports name the code that holds it.
    """

    def __init__(
        self,
        conninfo: str = "",
        *,
        kwargs=None,
        configure=None,
        reset=None,
        min_size=None,
        max_size=None,
        max_overflow=None,
        timeout=None,
        max_lifetime=None,
        max_idle=None,
        pre_ping=None,
        name=None,
        **options,
    ) -> None:
        self._handle = None
        self._closed = False
        if not isinstance(conninfo, str):
            raise InvalidArgument(f"conninfo must be a str, not {type(conninfo).__name__}")
        conninfo = split_conninfo_options(conninfo, kwargs, options)
        reset = split_reset_option(reset, options)
        if timeout is not None and "acquire_timeout" in options:
            raise TypeError("pass either timeout or acquire_timeout, not both")
        named = {
            "name": name,
            "min_size": min_size,
            "max_size": max_size,
            "max_overflow": max_overflow,
            "acquire_timeout": timeout,
            "max_lifetime": max_lifetime,
            "max_idle": max_idle,
            "pre_ping": pre_ping,
        }
        named.update(options)

        def create(opts) -> int:
            handle = _c_void_p()
            err = _c_void_p()
            status = _lib.connpool_pool_create(
                _byref(handle), conninfo.encode("utf-8"), opts, _byref(err)
            )
            if status:
                _raise(status, err)
            return handle.value

        self._adopt(with_options(named, create), name)
        self._configure = configure
        self._reset = reset
        self._label_leases = leak_labels_wanted(named)

    @classmethod
    def _from_handle(cls, handle: int) -> "ConnectionPool":
        """Wraps a pool handle the new object owns (frees when collected): e.g. a handle to a
        registered pool (``connpool.pools``)."""
        self = cls.__new__(cls)
        self._handle = None
        self._closed = False
        self._adopt(handle, None)
        return self

    def _adopt(self, handle: int, name) -> None:
        self._configure = None
        self._reset = None
        self._label_leases = False
        self._popped = {}
        self._handle = handle
        self._finalizer = weakref.finalize(self, _free_pool, self._handle)
        self.name = self.get_stats().get("name", name)

    # ---- lifecycle ------------------------------------------------------------------------------
    def __enter__(self) -> "ConnectionPool":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()

    def close(self) -> None:
        """Closes the pool: waiting and later acquires raise PoolClosed, idle connections are
        closed. Connections still out stay usable until returned. Idempotent. Statistics remain
        available."""
        if self._handle is None or self._closed:
            return
        self._closed = True
        err = _c_void_p()
        status = _lib.connpool_pool_close(self._handle, _byref(err))
        if status:
            _raise(status, err)

    @property
    def closed(self) -> bool:
        return self._closed

    def wait(self, timeout=None) -> None:
        """Blocks until min_size connections are open. ``timeout`` in seconds; None = the pool's
        acquire_timeout. Raises PoolTimeout, ConnectError (with libpq's reason) or PoolClosed."""
        err = _c_void_p()
        status = _lib.connpool_pool_wait_ready(self._handle, _timeout_ms(timeout), _byref(err))
        if status:
            _raise(status, err)

    # ---- borrowing ------------------------------------------------------------------------------
    def getconn(self, timeout=None) -> "Connection":
        """Borrows a connection; return it with :meth:`putconn`. ``timeout`` in seconds (0 = do
        not wait; None = the pool's acquire_timeout). Raises PoolTimeout, ConnectError,
        PoolClosed..."""
        timeout_ms = -1 if timeout is None else _timeout_ms(timeout)
        if self._configure is None and not self._label_leases:
            # The common case in one frame: no hook, no label. (ctypes passes a c_void_p by
            # reference itself where the argument is a POINTER(c_void_p): no byref() call.)
            out = _c_void_p()
            err = _c_void_p()
            status = _pool_acquire(out, self._handle, timeout_ms, err)
            if status:
                _raise(status, err)
            return Connection(self, out.value)
        if self._configure is None:
            return self._lease(self._acquire(timeout_ms))
        return self._getconn_configured(timeout_ms)

    def _acquire(self, timeout_ms: int) -> int:
        out = _c_void_p()
        err = _c_void_p()
        status = _pool_acquire(_byref(out), self._handle, timeout_ms, _byref(err))
        if status:
            _raise(status, err)
        return out.value

    def _lease(self, lease: int) -> "Connection":
        conn = Connection(self, lease)
        if self._label_leases:
            conn.set_label(caller_label())
        return conn

    def _getconn_configured(self, timeout_ms: int) -> "Connection":
        # Each new connection goes through configure() before its first use; a failing one is
        # closed and another acquired, within the same deadline (psycopg_pool: a failed
        # configure is a failed connection attempt).
        deadline = None if timeout_ms < 0 else time.monotonic() + timeout_ms / 1000
        failure = None
        while True:
            if deadline is None:
                remaining = -1
            else:
                remaining = max(0, math.ceil((deadline - time.monotonic()) * 1000))
            try:
                conn = self._lease(self._acquire(remaining))
            except PoolTimeout as exc:
                if failure is not None:
                    raise exc from failure
                raise
            if not is_new(conn._lease):
                return conn
            try:
                self._configure(conn)
                keep_session(conn._lease)  # what configure set survives the session reset
            except Exception as exc:  # the hook's failure closes this connection only
                failure = exc
                _logging.logger_for(self.name).warning(
                    "configure() failed on a new connection; closing it: %r", exc
                )
                conn._discard()
                if deadline is not None and time.monotonic() >= deadline:
                    raise PoolTimeout(
                        f"pool {self.name!r}: no configured connection within the timeout "
                        f"(configure() raised {exc!r})"
                    ) from exc
                time.sleep(0.01)  # a hook failing at once must not make a busy loop
                continue
            return conn

    def try_getconn(self):
        """An idle connection if one can be had without waiting, else None (never waits,
        never opens a connection; None also while the pool is paused). A new connection still
        goes through ``configure``; if that fails, None. Return it with :meth:`putconn`."""
        out = _c_void_p()
        err = _c_void_p()
        status = _lib.connpool_pool_try_acquire(_byref(out), self._handle, _byref(err))
        if status == _WOULD_BLOCK:
            _lib.connpool_error_free(err)
            return None
        if status:
            _raise(status, err)
        conn = self._lease(out.value)
        if self._configure is not None and is_new(conn._lease):
            try:
                self._configure(conn)
                keep_session(conn._lease)
            except Exception as exc:
                _logging.logger_for(self.name).warning(
                    "configure() failed on a new connection; closing it: %r", exc
                )
                conn._discard()
                return None
        return conn

    def putconn(self, conn: "Connection") -> None:
        """Returns a connection. A second return (or any use after it) raises InvalidHandle.
        A transaction left open is rolled back by the pool before reuse. With a ``reset``
        hook, it runs first; if it raises, the connection is closed instead."""
        if not isinstance(conn, Connection):
            raise InvalidArgument(f"putconn() takes a Connection, not {type(conn).__name__}")
        if conn._pool is not self:
            raise InvalidArgument("putconn(): this connection belongs to another pool")
        self._return(conn)

    def _return(self, conn: "Connection") -> None:
        if self._reset is None:
            conn._release()
            return
        if not conn._returned:
            try:
                self._reset(conn)
            except Exception as exc:
                _logging.logger_for(self.name).warning(
                    "reset() failed on a returned connection; closing it: %r", exc
                )
                conn._discard()
                return
        conn._release()

    def connection(self, timeout=None) -> "_ConnectionContext":
        """``with pool.connection() as conn:`` borrows a connection and always returns it, also
        when the block raises (an open transaction is then rolled back by the pool)."""
        return _ConnectionContext(self, timeout)

    # ---- statistics -----------------------------------------------------------------------------
    def get_stats(self) -> dict:
        """Every statistic of the pool (README "Statistics"), plus ``name`` and ``closed_pool``."""
        out = _c_void_p()
        err = _c_void_p()
        status = _fast.connpool_pool_stats_json(_byref(out), self._handle, _byref(err))
        if status:
            _raise(status, err)
        try:
            text = ctypes.string_at(out.value)
        finally:
            _fast.connpool_string_free(out)
        return json.loads(text)

    def pop_stats(self) -> dict:
        """As :meth:`get_stats`, with the counters (kind counter in README "Statistics") counted
        since the previous pop_stats() of this object instead of since the pool was created
        (psycopg_pool's pop_stats; gauges are the current values)."""
        stats = self.get_stats()
        out = dict(stats)
        for field in _ffi.STATS_FIELDS:
            if field.kind == _ffi.STAT_COUNTER and field.name in stats:
                out[field.name] = stats[field.name] - self._popped.get(field.name, 0)
                self._popped[field.name] = stats[field.name]
        return out

    @property
    def min_size(self) -> int:
        """min_size in force (the option, or the last :meth:`resize`)."""
        return self.get_stats()["min_size"]

    @property
    def max_size(self) -> int:
        """max_size in force (the option, or the last :meth:`resize`)."""
        return self.get_stats()["max_size"]

    # ---- run-time operations (README "Run-time operations") ---------------------------------
    def resize(self, min_size: int, max_size=None) -> None:
        """Changes min_size and max_size (psycopg_pool's resize: ``max_size`` None means
        ``min_size``). Growing opens connections in the background; shrinking closes idle ones
        above the new max now and leased ones above it when they come back. Never blocks."""
        if max_size is None:
            max_size = min_size
        for what, value in (("min_size", min_size), ("max_size", max_size)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidArgument(f"{what} must be an int, not {value!r}")
            if not -(2**31) <= value < 2**31:
                raise InvalidArgument(f"{what} {value} is out of range")
        err = _c_void_p()
        status = _lib.connpool_pool_resize(self._handle, min_size, max_size, _byref(err))
        if status:
            _raise(status, err)

    def pause(self) -> None:
        """Stops handing out connections: acquires wait (bounded by their timeout, then
        PoolTimeout), :meth:`try_getconn` returns None. Connections already out are unaffected.
        Idempotent. (psycopg_pool has no pause; the name is HikariCP's suspendPool.)"""
        err = _c_void_p()
        status = _lib.connpool_pool_pause(self._handle, _byref(err))
        if status:
            _raise(status, err)

    def resume(self) -> None:
        """Ends a :meth:`pause`: waiting callers are served in their order. Idempotent."""
        err = _c_void_p()
        status = _lib.connpool_pool_resume(self._handle, _byref(err))
        if status:
            _raise(status, err)

    @property
    def paused(self) -> bool:
        return bool(self.get_stats().get("paused", 0))

    def drain(self) -> None:
        """Replaces every connection: idle ones are closed now, leased ones when they come
        back, and the pool refills to min_size with new ones (psycopg_pool's drain). Never
        blocks."""
        err = _c_void_p()
        status = _lib.connpool_pool_drain(self._handle, _byref(err))
        if status:
            _raise(status, err)

    def check(self) -> int:
        """Validates every idle connection now (one round trip each, bounded by
        health_check_timeout), closes the dead ones (replaced up to min_size) and returns how
        many it closed (psycopg_pool's check). Leased connections are not checked."""
        closed = ctypes.c_int32()
        err = _c_void_p()
        status = _lib.connpool_pool_check(_byref(closed), self._handle, _byref(err))
        if status:
            _raise(status, err)
        return closed.value

    def set_conninfo(self, conninfo: str = "", **kwargs) -> None:
        """New connections use this conninfo from now on (credential rotation; keyword
        arguments as for the constructor); open ones stay until max_lifetime, or use
        :meth:`drain` to replace them now. A conninfo libpq cannot parse raises InvalidArgument
        and the old one stays in force."""
        text = make_conninfo(conninfo, **kwargs)
        err = _c_void_p()
        status = _lib.connpool_pool_set_conninfo(self._handle, text.encode("utf-8"), _byref(err))
        if status:
            _raise(status, err)

    def connections(self) -> list:
        """The pool's connections now, one dict each: ``id``, ``state`` ("idle", "in_use" or
        "checking"), ``backend_pid``, ``age_ms``, ``idle_ms``, ``uses``, ``label`` (in use
        only), ``held_ms``. Connections being opened are not listed (see
        :meth:`connections_snapshot` for the count)."""
        return self.connections_snapshot()["connections"]

    def connections_snapshot(self) -> dict:
        """The whole document of connpool_pool_connections_json: ``pool``, ``paused``,
        ``min_size``, ``max_size``, ``connections`` (as :meth:`connections`) and ``opening``."""
        out = _c_void_p()
        err = _c_void_p()
        status = _fast.connpool_pool_connections_json(_byref(out), self._handle, _byref(err))
        if status:
            _raise(status, err)
        return json.loads(_take_text(out))

    # ---- health and metrics (README "Health and metrics") -----------------------------------
    def health(self) -> dict:
        """The pool's health verdict now: ``{"name", "status": "healthy" | "degraded" |
        "unhealthy", "utilisation_percent", "recent_errors", "breaker_state", "reasons": [...]}``
        (never blocks). A closed pool is unhealthy."""
        out = _c_void_p()
        err = _c_void_p()
        status = _fast.connpool_pool_health_json(_byref(out), self._handle, _byref(err))
        if status:
            _raise(status, err)
        return json.loads(_take_text(out))

    def metrics(self, openmetrics: bool = False) -> str:
        """The pool's metrics as Prometheus text (OpenMetrics with ``openmetrics=True``)."""
        out = _c_void_p()
        err = _c_void_p()
        fmt = METRICS_OPENMETRICS if openmetrics else METRICS_PROMETHEUS
        status = _fast.connpool_pool_metrics(_byref(out), self._handle, fmt, _byref(err))
        if status:
            _raise(status, err)
        return _take_text(out)

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<connpool.{type(self).__name__} {self.name!r} {state}>"

    def execute(self, sql: str, params=None, timeout=None) -> "Result":
        """Runs one statement without borrowing a connection, multiplexed with other callers'
        statements on the pool's shared connections (pool option ``multiplexing_connections``;
        autocommit, no BEGIN/SET). ``timeout``: seconds for the whole statement (None = the
        pool's acquire_timeout). Returns a :class:`Result` as ``Connection.execute`` does."""
        from ._mux import pool_execute

        return pool_execute(self, sql, params, timeout)


class _ConnectionContext:
    __slots__ = ("_pool", "_timeout", "_conn")

    def __init__(self, pool: ConnectionPool, timeout) -> None:
        self._pool = pool
        self._timeout = timeout
        self._conn = None

    def __enter__(self) -> "Connection":
        self._conn = self._pool.getconn(self._timeout)
        return self._conn

    def __exit__(self, exc_type, exc, tb) -> None:
        conn = self._conn
        self._conn = None
        if exc_type is None:
            if self._pool._reset is None:
                conn._release()  # no reset hook: what _return would do, one call less
            else:
                self._pool._return(conn)
        else:
            try:
                self._pool._return(conn)
            except Error:
                pass  # do not hide the exception in flight


class Connection:
    """A borrowed connection. Use it from one thread at a time (any thread).

    After it is returned, every call on it raises InvalidHandle (the library detects the stale
    lease; nothing crashes)."""

    __slots__ = (
        "_pool",
        "_lease",
        "_returned",
        "_txn_depth",
        "_txn_failed",
        "_in_statement",
        "_foreign_cancel",
        "__weakref__",
    )

    def __init__(self, pool, lease: int) -> None:
        self._pool = pool
        self._lease = lease
        self._returned = False
        self._txn_depth = 0
        self._txn_failed = False
        # True from the start of a statement until its call returned normally: an interrupted
        # one (KeyboardInterrupt, asyncio cancellation) may leave it pending or a cancel
        # request running.
        self._in_statement = False
        # True once code that may call connpool_lease_cancel from another thread holds this
        # connection (the DB-API wrapper's cancel()): sticky.
        self._foreign_cancel = False

    @property
    def pool(self):
        return self._pool

    @property
    def returned(self) -> bool:
        """True once the connection went back to the pool."""
        return self._returned

    def _release(self) -> None:
        self._returned = True
        err = _c_void_p()
        if self._in_statement or self._foreign_cancel:
            status = _lease_release(self._lease, err)
        else:
            # The GIL is kept: connpool_lease_release makes no round trip and waits only for a
            # connpool_lease_cancel running on this lease in another thread, which nothing can
            # have started here (see _ffi.HELD_WHEN_SAFE); with no statement in flight a
            # connection it closes gets its Terminate without waiting. Saves a GIL hand-off
            # per lease when threads compete for it.
            status = _lease_release_held(self._lease, err)
        if status:
            _raise(status, err)

    def __del__(self) -> None:
        if self._returned:
            return
        self._returned = True
        try:
            _lease_release(self._lease, None)
            warnings.warn(
                "connpool.Connection garbage-collected without being returned to its pool; "
                "use `with pool.connection()` or putconn()",
                ResourceWarning,
                stacklevel=2,
            )
        except Exception:  # interpreter shutdown, or warnings turned into errors
            pass

    def execute(self, sql: str, params=None) -> "Result":
        """Runs one SQL statement; ``params`` (a sequence) fill ``$1``, ``$2``... (libpq style; the
        server infers their types, add a cast like ``$1::int`` where it cannot). Returns a
        :class:`Result` holding every row, already converted (see :mod:`connpool.types`).

        Raises QueryError (with ``sqlstate``; the connection stays usable), ConnectionBroken
        (return the connection), InvalidHandle (connection already returned).

        In the main thread a KeyboardInterrupt (or another exception raised by a signal
        handler) interrupts the wait: the statement is cancelled on the server and its outcome
        drained (see :mod:`connpool._cancel`) before the exception goes on."""
        if params is None:
            n, array = 0, None
        else:
            n, array = statement_params(params)
        out = _c_void_p()
        err = _c_void_p()
        self._in_statement = True
        if _get_ident() != _MAIN_THREAD:
            status = _lease_exec_direct(out, self._lease, sql.encode("utf-8"), n, array, err)
        else:
            status = _lease_exec(
                _byref(out), self._lease, sql.encode("utf-8"), n, array, _byref(err)
            )
        self._in_statement = False
        res = out.value
        if status or not res:
            return self._outcome(status, out, err)
        try:  # _outcome's success path, inline
            return _read_result(res)
        finally:
            _result_free(res)

    def _outcome(self, status: int, out, err) -> "Result":
        """The Result of a finished statement (freeing the C result), or its exception."""
        res = out.value
        if status:
            if res:
                _result_free(res)
            if status == _QUERY_FAILED and self._txn_depth:
                self._txn_failed = True
            _raise(status, err)
        try:
            return _read_result(res)
        finally:
            _result_free(res)

    def transaction(self) -> "Transaction":
        """``with conn.transaction():`` runs BEGIN, then COMMIT if the block succeeds and ROLLBACK
        if it raises. Nested blocks use savepoints."""
        return Transaction(self)

    def set_label(self, label) -> None:
        """A label shown if the connection is held longer than the leak_threshold option."""
        err = _c_void_p()
        status = _lib.connpool_lease_set_label(
            self._lease, None if label is None else str(label).encode("utf-8"), _byref(err)
        )
        if status:
            _raise(status, err)

    @property
    def info(self) -> LeaseInfo:
        """What this connection is: connection_id, backend_pid, created_at, last_used_at,
        use_count, is_new (see :class:`connpool.LeaseInfo`)."""
        return lease_info(self._lease)

    def _discard(self) -> None:
        """Returns the connection so that the pool closes it instead of reusing it: a statement
        is left pending on it, and a busy connection is closed on release (the header's
        connpool_lease_release)."""
        if self._returned:
            return
        _lib.connpool_lease_send(self._lease, b"SELECT 1", 0, None, None)
        self._returned = True
        _lease_release(self._lease, None)

    @property
    def pgconn(self) -> int:
        """The address of the libpq ``PGconn`` (for callers using libpq themselves)."""
        out = _c_void_p()
        err = _c_void_p()
        status = _lib.connpool_lease_pgconn(_byref(out), self._lease, _byref(err))
        if status:
            _raise(status, err)
        return out.value

    def __repr__(self) -> str:
        state = "returned" if self._returned else "borrowed"
        return f"<connpool.Connection {state}>"


def statement_params(params):
    """(n_params, C array of encoded values or None) for a statement's ``params``."""
    if params:
        values = [encode(p) for p in params]
        n = len(values)
        return n, (_c_char_p * n)(*values)
    if params is not None and not isinstance(params, (list, tuple)):
        raise TypeError(f"params must be a sequence, not {type(params).__name__}")
    return 0, None


def _read_result(res) -> "Result":
    ncols = _column_count(res)
    affected = _affected_rows(res)
    if ncols <= 0:
        return Result((), (), (), affected)
    nrows = _row_count(res)
    if ncols == 1 and nrows == 1:
        # The most common shape (a scalar), without the general loops below.
        oid = _column_type(res, 0)
        v = _value(res, 0, 0)
        if v or _is_null(res, 0, 0) != 1:
            row = (DECODERS.get(oid, _text)(v),)
        else:
            row = (None,)
        return Result([row], (_column_name(res, 0),), (oid,), affected)
    types = [_column_type(res, c) for c in range(ncols)]
    names = [_column_name(res, c) for c in range(ncols)]
    decoders = [DECODERS.get(t, _text) for t in types]
    rows = []
    append = rows.append
    if ncols == 1:
        dec = decoders[0]
        for r in range(nrows):
            v = _value(res, r, 0)
            if v:
                append((dec(v),))
            elif _is_null(res, r, 0) == 1:
                append((None,))
            else:
                append((dec(v),))
    else:
        cols = list(enumerate(decoders))
        for r in range(nrows):
            row = []
            add = row.append
            for c, dec in cols:
                v = _value(res, r, c)
                if v:
                    add(dec(v))
                elif _is_null(res, r, c) == 1:
                    add(None)
                else:
                    add(dec(v))
            append(tuple(row))
    return Result(rows, names, types, affected)


class Result:
    """The rows of one statement, cursor-like: fetchone(), fetchmany(), fetchall(), iteration.

    ``rowcount``: rows affected (INSERT/UPDATE/DELETE/...) or returned (SELECT), as the server
    reported them; -1 when the command reports none. ``description``: a list of
    :class:`Column` (name, type OID...) or None for a statement that returns no columns.
    """

    __slots__ = ("_rows", "_pos", "_names", "_types", "rowcount")

    arraysize = 1

    def __init__(self, rows, names, types, rowcount: int) -> None:
        self._rows = rows
        self._pos = 0
        self._names = names
        self._types = types
        self.rowcount = rowcount

    @property
    def description(self):
        if not self._types:
            return None
        return [
            Column(n.decode("utf-8"), t, None, None, None, None, None)
            for n, t in zip(self._names, self._types)
        ]

    @property
    def columns(self) -> list:
        """The column names."""
        return [n.decode("utf-8") for n in self._names]

    def fetchone(self):
        """The next row as a tuple, or None when there are no more."""
        pos = self._pos
        if pos < len(self._rows):
            self._pos = pos + 1
            return self._rows[pos]
        return None

    def fetchmany(self, size=None) -> list:
        if size is None:
            size = self.arraysize
        pos = self._pos
        out = self._rows[pos : pos + size]
        self._pos = pos + len(out)
        return list(out)

    def fetchall(self) -> list:
        """Every remaining row."""
        pos = self._pos
        self._pos = len(self._rows)
        return list(self._rows[pos:])

    def scalar(self):
        """The first column of the first row (None if there is no row)."""
        return self._rows[0][0] if self._rows else None

    def __iter__(self):
        while self._pos < len(self._rows):
            row = self._rows[self._pos]
            self._pos += 1
            yield row

    def __len__(self) -> int:
        return len(self._rows)

    def __repr__(self) -> str:
        return f"<connpool.Result {len(self._rows)} rows, rowcount={self.rowcount}>"


class Transaction:
    """Context manager from :meth:`Connection.transaction`."""

    __slots__ = ("connection", "_savepoint")

    def __init__(self, conn: Connection) -> None:
        self.connection = conn
        self._savepoint = None

    def __enter__(self) -> "Transaction":
        conn = self.connection
        if conn._txn_depth == 0:
            conn.execute("BEGIN")
            conn._txn_failed = False
        else:
            self._savepoint = f"connpool_savepoint_{conn._txn_depth}"
            conn.execute(f"SAVEPOINT {self._savepoint}")
        conn._txn_depth += 1
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        conn = self.connection
        conn._txn_depth -= 1
        failed = conn._txn_failed
        sp = self._savepoint
        if exc_type is None and not failed:
            conn.execute("COMMIT" if sp is None else f"RELEASE SAVEPOINT {sp}")
            return
        # Roll back; while an exception is in flight, a failure here must not replace it (the
        # pool rolls back anyway when the connection is returned).
        try:
            if sp is None:
                conn.execute("ROLLBACK")
            else:
                conn.execute(f"ROLLBACK TO SAVEPOINT {sp}")
                conn.execute(f"RELEASE SAVEPOINT {sp}")
            conn._txn_failed = False
        except Error:
            if exc_type is None:
                raise
            return
        if exc_type is None:
            # A statement failed inside the block and the error was swallowed: PostgreSQL
            # would have turned COMMIT into a silent ROLLBACK. Say so.
            where = "transaction" if sp is None else f"savepoint {sp}"
            raise QueryError(
                f"the {where} was rolled back: a statement inside it failed (the error was "
                f"caught inside the block), so it could not be committed",
                sqlstate="25P02",
            )
