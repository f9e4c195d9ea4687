"""asyncio API: AsyncConnectionPool, AsyncConnection.

Waiting for a connection costs no thread: each ``getconn()`` starts a C asynchronous acquire
(``connpool_pool_acquire_async``), registers its file descriptor with ``loop.add_reader`` and
collects the outcome with ``connpool_acquire_result`` when the descriptor becomes readable. A
thousand tasks waiting on a pool of four are a thousand descriptors in the event loop's
selector, not a thousand threads. Cancelling a waiting task (``task.cancel()``,
``asyncio.wait_for`` or ``asyncio.timeout``) abandons its wait at once
(``connpool_acquire_cancel``); a connection granted to it at that moment goes back to the pool.

Statements (``await conn.execute(...)``) run on the loop without a thread: the statement is sent
(``connpool_lease_send``), the connection's socket is watched with ``loop.add_reader`` and the
outcome collected (``connpool_lease_collect``). Cancelling the task running a statement
(``task.cancel()``, ``asyncio.wait_for``, ``asyncio.timeout``) sends a server-side cancel
(``connpool_lease_cancel``) and drains the statement's outcome before CancelledError (or
TimeoutError) goes on, so the connection is usable again at once; if the server does not end
the statement within 0.3 s, the connection is closed on release instead of reused (see
:mod:`connpool._cancel`). Transaction blocks (BEGIN/COMMIT of ``conn.transaction()``) run in a
small thread pool owned by the pool.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ctypes
import math
import time

from . import _cancel, _ffi, _logging
from ._lease_meta import LeaseInfo, caller_label, is_new, keep_session
from .errors import Error, InvalidArgument, PoolTimeout, error_from_status
from .pool import Connection, ConnectionPool, _timeout_ms, statement_params

_lib = _ffi.lib
_fast = _ffi.fast
_byref = ctypes.byref
_c_void_p = ctypes.c_void_p

_IN_PROGRESS = _ffi.ERR_IN_PROGRESS
# connpool_pool_try_acquire, or None with a library older than it (then every acquire is
# asynchronous, as before).
_try_acquire = (
    None
    if isinstance(_lib.connpool_pool_try_acquire, _ffi.MissingSymbol)
    else _lib.connpool_pool_try_acquire
)


class AsyncConnectionPool:
    """The asyncio face of :class:`connpool.ConnectionPool`; same arguments.

    ``executor``: a ``concurrent.futures.Executor`` for transaction blocks' BEGIN/COMMIT
    (default: a private thread pool with ``max_size + max_overflow`` threads, at most 32,
    started lazily). ``execute`` runs on the loop itself.

    Creating the pool does not block (no connection is opened by the constructor), so it may be
    created outside or inside a running loop.

    ``configure`` and ``reset`` are coroutine functions taking an :class:`AsyncConnection`
    (psycopg_pool's AsyncConnectionPool hooks), awaited in the acquiring / returning task,
    with the semantics of :class:`connpool.ConnectionPool`'s hooks.
    """

    def __init__(self, conninfo: str = "", *, executor=None, configure=None, reset=None,
                 **kwargs) -> None:
        if isinstance(reset, str):  # the library's reset option, not the hook
            kwargs["reset"], reset = reset, None
        self._pool = ConnectionPool(conninfo, **kwargs)
        self._executor = executor
        self._own_executor = None
        self._configure = configure
        self._reset = reset

    @classmethod
    def _wrap(cls, pool: ConnectionPool, executor=None) -> "AsyncConnectionPool":
        """The asyncio face of an existing pool object (e.g. a registered pool's handle)."""
        self = cls.__new__(cls)
        self._pool = pool
        self._executor = executor
        self._own_executor = None
        self._configure = None
        self._reset = None
        return self

    @property
    def sync_pool(self) -> ConnectionPool:
        """The underlying synchronous pool (same connections)."""
        return self._pool

    @property
    def name(self) -> str:
        return self._pool.name

    @property
    def closed(self) -> bool:
        return self._pool.closed

    def _get_executor(self):
        if self._executor is not None:
            return self._executor
        if self._own_executor is None:
            stats = self._pool.get_stats()
            workers = max(1, min(32, stats["max_size"] + stats["max_overflow"]))
            self._own_executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=workers, thread_name_prefix=f"connpool-{self._pool.name}"
            )
        return self._own_executor

    async def __aenter__(self) -> "AsyncConnectionPool":
        return self

    async def __aexit__(self, exc_type, exc, tb) -> None:
        await self.close()

    async def close(self) -> None:
        """Closes the pool; waiting tasks get PoolClosed. Runs the (bounded) C close in a thread
        so that the loop keeps running meanwhile."""
        if self._pool._closed:  # this handle closed it (a registered pool: perhaps another)
            return
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._pool.close)
        if self._own_executor is not None:
            self._own_executor.shutdown(wait=False)

    async def wait(self, timeout=None) -> None:
        """Waits until min_size connections are open (see ConnectionPool.wait)."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._pool.wait, timeout)

    def get_stats(self) -> dict:
        """Every statistic of the pool (never blocks)."""
        return self._pool.get_stats()

    def pop_stats(self) -> dict:
        """Statistics with counters since the previous pop_stats (see ConnectionPool)."""
        return self._pool.pop_stats()

    @property
    def min_size(self) -> int:
        return self._pool.min_size

    @property
    def max_size(self) -> int:
        return self._pool.max_size

    @property
    def paused(self) -> bool:
        return self._pool.paused

    def connections(self) -> list:
        """The pool's connections now (see ConnectionPool.connections; never blocks)."""
        return self._pool.connections()

    def connections_snapshot(self) -> dict:
        return self._pool.connections_snapshot()

    # ---- run-time operations: coroutines, as psycopg_pool's AsyncConnectionPool has them ------
    async def resize(self, min_size: int, max_size=None) -> None:
        """See ConnectionPool.resize (never blocks)."""
        self._pool.resize(min_size, max_size)

    async def pause(self) -> None:
        """See ConnectionPool.pause: waiting tasks wait, bounded by their timeout."""
        self._pool.pause()

    async def resume(self) -> None:
        self._pool.resume()

    async def drain(self) -> None:
        """See ConnectionPool.drain (never blocks)."""
        self._pool.drain()

    async def check(self) -> int:
        """See ConnectionPool.check: round trips run in a thread; returns how many it closed."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self._pool.check)

    async def set_conninfo(self, conninfo: str = "", **kwargs) -> None:
        """See ConnectionPool.set_conninfo (never blocks)."""
        self._pool.set_conninfo(conninfo, **kwargs)

    def health(self) -> dict:
        """The pool's health verdict (see ConnectionPool.health; never blocks)."""
        return self._pool.health()

    def metrics(self, openmetrics: bool = False) -> str:
        """The pool's metrics (see ConnectionPool.metrics; never blocks)."""
        return self._pool.metrics(openmetrics)

    # ---- borrowing ------------------------------------------------------------------------------
    async def getconn(self, timeout=None) -> "AsyncConnection":
        """Borrows a connection without blocking the loop or parking a thread. ``timeout`` in
        seconds (0 = only if one is idle; None = the pool's acquire_timeout), enforced by the
        library: PoolTimeout. Return it with :meth:`putconn`."""
        timeout_ms = -1 if timeout is None else _timeout_ms(timeout)
        if self._configure is None:
            return self._wrap_lease(await acquire_lease(self._pool._handle, timeout_ms))
        deadline = None if timeout_ms < 0 else time.monotonic() + timeout_ms / 1000
        failure = None
        while True:
            remaining = -1 if deadline is None else max(
                0, math.ceil((deadline - time.monotonic()) * 1000))
            try:
                aconn = self._wrap_lease(await acquire_lease(self._pool._handle, remaining))
            except PoolTimeout as exc:
                if failure is not None:
                    raise exc from failure
                raise
            if await self._configured(aconn):
                return aconn
            failure = self._last_configure_error
            if deadline is not None and time.monotonic() >= deadline:
                raise PoolTimeout(
                    f"pool {self.name!r}: no configured connection within the timeout "
                    f"(configure() raised {failure!r})"
                ) from failure
            await asyncio.sleep(0.01)

    def _wrap_lease(self, lease: int) -> "AsyncConnection":
        conn = Connection(self._pool, lease)
        if self._pool._label_leases:
            conn.set_label(caller_label())
        return AsyncConnection(self, conn)

    async def _configured(self, aconn: "AsyncConnection") -> bool:
        """Runs configure() on a new connection; False (connection closed) if it raised."""
        if self._configure is None or not is_new(aconn._conn._lease):
            return True
        try:
            await self._configure(aconn)
            keep_session(aconn._conn._lease)  # what configure set survives the session reset
            return True
        except Exception as exc:
            self._last_configure_error = exc
            _logging.logger_for(self.name).warning(
                "configure() failed on a new connection; closing it: %r", exc
            )
            aconn._discard()
            return False

    async def try_getconn(self):
        """An idle connection if one can be had without waiting, else None (see
        ConnectionPool.try_getconn)."""
        lease = _c_void_p()
        err = _c_void_p()
        status = _lib.connpool_pool_try_acquire(_byref(lease), self._pool._handle, _byref(err))
        if status == _ffi.ERR_WOULD_BLOCK:
            _lib.connpool_error_free(err)
            return None
        if status:
            raise error_from_status(status, err)
        aconn = self._wrap_lease(lease.value)
        return aconn if await self._configured(aconn) else None

    async def putconn(self, conn: "AsyncConnection") -> None:
        """Returns a connection (never blocks on the network). A second return raises
        InvalidHandle."""
        if not isinstance(conn, AsyncConnection):
            raise InvalidArgument(f"putconn() takes an AsyncConnection, not {type(conn).__name__}")
        if conn._apool is not self:
            raise InvalidArgument("putconn(): this connection belongs to another pool")
        await self._return(conn)

    async def _return(self, conn: "AsyncConnection") -> None:
        if self._reset is not None and not conn.returned:
            try:
                await self._reset(conn)
            except Exception as exc:
                _logging.logger_for(self.name).warning(
                    "reset() failed on a returned connection; closing it: %r", exc
                )
                conn._discard()
                return
        conn._release()

    def connection(self, timeout=None) -> "_AsyncConnectionContext":
        """``async with pool.connection() as conn:`` borrows and always returns."""
        return _AsyncConnectionContext(self, timeout)

    def __repr__(self) -> str:
        return f"<connpool.AsyncConnectionPool {self.name!r} {'closed' if self.closed else 'open'}>"


async def acquire_lease(pool_handle: int, timeout_ms: int) -> int:
    """Takes an idle connection at once if there is one (no request object, no fd); otherwise
    runs one C asynchronous acquire to completion on the running loop. Returns the lease."""
    lease = _c_void_p()
    if _try_acquire is not None and _try_acquire(_byref(lease), pool_handle, None) == 0:
        return lease.value
    acquire_async = _lib.connpool_pool_acquire_async
    req = _c_void_p()
    err = _c_void_p()
    status = acquire_async(_byref(req), pool_handle, timeout_ms, _byref(err))
    if status:
        raise error_from_status(status, err)
    req = req.value
    acquire_result = _lib.connpool_acquire_result
    try:
        lease = _c_void_p()
        status = acquire_result(_byref(lease), req, _byref(err))
        if status == _IN_PROGRESS:
            status = await _wait_for_outcome(req, lease, err)
        if status:
            raise error_from_status(status, err)
        return lease.value
    finally:
        # Also cancels a pending acquire and gives back a connection granted but not collected.
        _lib.connpool_acquire_free(req)


async def _wait_for_outcome(req: int, lease, err) -> int:
    loop = asyncio.get_running_loop()
    fd = ctypes.c_int32()
    status = _lib.connpool_acquire_fd(_byref(fd), req, _byref(err))
    if status:
        raise error_from_status(status, err)
    fd = fd.value
    current = [loop.create_future()]

    def readable() -> None:
        fut = current[0]
        if not fut.done():
            fut.set_result(None)

    loop.add_reader(fd, readable)
    try:
        spurious = 0
        while True:
            try:
                await current[0]
            except asyncio.CancelledError:
                # Abandon the wait at once; connpool_acquire_free (in the caller) frees it.
                _lib.connpool_acquire_cancel(req)
                raise
            status = _lib.connpool_acquire_result(_byref(lease), req, _byref(err))
            if status != _IN_PROGRESS:
                return status
            # The granted connection failed its check and the request went back to waiting.
            current[0] = loop.create_future()
            spurious += 1
            if spurious > 100:  # never expected: do not spin if the fd stays readable
                await asyncio.sleep(0.001)
    finally:
        loop.remove_reader(fd)


async def execute_on_loop(conn: Connection, sql: str, params):
    """Runs one statement of ``conn`` (a pooled or direct Connection) on the running loop."""
    n, array = statement_params(params)
    out = _c_void_p()
    err = _c_void_p()
    conn._in_statement = True  # stays set if cancelled: its release then releases the GIL
    status = await _cancel.lease_exec_async(
        _byref(out), conn._lease, sql.encode("utf-8"), n, array, _byref(err)
    )
    conn._in_statement = False
    return conn._outcome(status, out, err)


class _AsyncConnectionContext:
    __slots__ = ("_pool", "_timeout", "_conn")

    def __init__(self, pool: AsyncConnectionPool, timeout) -> None:
        self._pool = pool
        self._timeout = timeout
        self._conn = None

    async def __aenter__(self) -> "AsyncConnection":
        self._conn = await self._pool.getconn(self._timeout)
        return self._conn

    async def __aexit__(self, exc_type, exc, tb) -> None:
        conn = self._conn
        self._conn = None
        if exc_type is None:
            await self._pool._return(conn)
        else:
            try:
                await self._pool._return(conn)
            except Error:
                pass


class AsyncConnection:
    """A borrowed connection for asyncio code. Use it from one task at a time."""

    __slots__ = ("_apool", "_conn", "_busy", "__weakref__")

    def __init__(self, apool: AsyncConnectionPool, conn: Connection) -> None:
        self._apool = apool
        self._conn = conn
        self._busy = None  # concurrent.futures.Future of the statement running, if any

    @property
    def sync_connection(self) -> Connection:
        return self._conn

    @property
    def returned(self) -> bool:
        return self._conn.returned

    async def _run(self, fn, *args):
        cf = self._apool._get_executor().submit(fn, *args)
        self._busy = cf
        return await asyncio.wrap_future(cf)

    async def execute(self, sql: str, params=None):
        """As Connection.execute, on the running loop. Returns a Result. Cancelling the task
        cancels the statement on the server (see the module's documentation)."""
        return await execute_on_loop(self._conn, sql, params)

    def transaction(self) -> "AsyncTransaction":
        """``async with conn.transaction():`` BEGIN ... COMMIT, ROLLBACK if the block raises."""
        return AsyncTransaction(self)

    def set_label(self, label) -> None:
        self._conn.set_label(label)

    @property
    def info(self) -> LeaseInfo:
        """See Connection.info."""
        return self._conn.info

    def _discard(self) -> None:
        busy = self._busy
        if busy is not None and not busy.done():
            self._release()  # the statement still running: it is returned when it ends
            return
        self._conn._discard()

    def _release(self) -> None:
        request = _cancel.cancel_in_flight(self._conn._lease)
        if request is not None and not self._conn.returned:
            # A cancel request of a given-up statement is still in flight (a stalled network):
            # the library's release would wait for it, so return the connection (closed, as its
            # statement is pending) once the request ends, never blocking the loop.
            conn = self._conn
            conn._returned = True
            request.add_done_callback(
                lambda _f, conn=conn: _lib.connpool_lease_release(conn._lease, None)
            )
            return
        busy = self._busy
        if busy is not None and not busy.done():
            # A cancelled task left its statement running in a thread: return the connection
            # once it has finished, from that thread (never while it is in use).
            conn = self._conn
            conn._returned = True

            def release_later(_future, conn=conn) -> None:
                try:
                    _lib.connpool_lease_release(conn._lease, None)
                except Exception:
                    pass

            busy.add_done_callback(release_later)
            return
        self._conn._release()

    def __repr__(self) -> str:
        return f"<connpool.AsyncConnection {'returned' if self.returned else 'borrowed'}>"


class AsyncTransaction:
    __slots__ = ("_aconn", "_tx")

    def __init__(self, aconn: AsyncConnection) -> None:
        self._aconn = aconn
        self._tx = aconn._conn.transaction()

    @property
    def connection(self) -> AsyncConnection:
        return self._aconn

    async def __aenter__(self) -> "AsyncTransaction":
        await self._aconn._run(self._tx.__enter__)
        return self

    async def __aexit__(self, exc_type, exc, tb) -> None:
        await self._aconn._run(self._tx.__exit__, exc_type, exc, tb)


class AsyncDirectConnection:
    """A connection outside any pool for asyncio code (:func:`connect`): ``async with`` closes
    it. Statements run on the loop (as AsyncConnection.execute)."""

    __slots__ = ("_conn",)

    def __init__(self, conn) -> None:
        self._conn = conn

    @property
    def sync_connection(self):
        return self._conn

    @property
    def info(self) -> LeaseInfo:
        return self._conn.info

    @property
    def closed(self) -> bool:
        return self._conn.closed

    async def execute(self, sql: str, params=None):
        """As Connection.execute, on the running loop; cancellation cancels on the server."""
        return await execute_on_loop(self._conn, sql, params)

    async def close(self) -> None:
        """Closes the connection (never waits for the server). Idempotent."""
        self._conn.close()

    async def __aenter__(self) -> "AsyncDirectConnection":
        return self

    async def __aexit__(self, exc_type, exc, tb) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<connpool.AsyncDirectConnection {'closed' if self.closed else 'open'}>"


async def connect(conninfo: str = "", **kwargs) -> AsyncDirectConnection:
    """:func:`connpool.connect` for asyncio: the connect runs in the loop's default executor."""
    from .direct import connect as _connect

    loop = asyncio.get_running_loop()
    conn = await loop.run_in_executor(None, lambda: _connect(conninfo, **kwargs))
    return AsyncDirectConnection(conn)


# The registry of named pools, asyncio flavour: connpool.aio.pools (imported last: it builds
# on AsyncConnectionPool above).
from . import _aio_pools as pools  # noqa: E402
