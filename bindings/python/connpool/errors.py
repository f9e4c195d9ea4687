"""Exceptions: one base class, one subclass per C status code.

Every exception raised for a failed C call carries the library's own message (``str(exc)``),
the numeric ``status`` and its symbolic ``status_name`` (e.g. ``"CONNPOOL_ERR_TIMEOUT"``), and
``sqlstate`` (five characters for query failures, ``""`` otherwise).

The status codes come from the library (``_ffi.STATUS_NAMES``); the classes below are written by
hand because each is an API decision (its name, its Python base such as TimeoutError). A status
without a class here (one added to a newer library) is raised as the base :class:`Error`, whose
message is then the library's description of the status.
"""

from __future__ import annotations

from . import _ffi


class Error(Exception):
    """Base class of every libconnpool error."""

    #: The C status code this class stands for (None for errors raised by the binding itself).
    status_code: int | None = None

    def __init__(self, message: str = "", *, status: int | None = None, sqlstate: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status = self.status_code if status is None else status
        self.sqlstate = sqlstate

    @property
    def status_name(self) -> str:
        if self.status is None:
            return ""
        return _ffi.fast.connpool_status_name(self.status).decode()

    @property
    def description(self) -> str:
        """The library's one-line description of ``status`` (connpool_status_description)."""
        if self.status is None:
            return ""
        return _ffi.fast.connpool_status_description(self.status).decode()

    def __reduce__(self):  # picklable, e.g. across multiprocessing
        return (_rebuild, (type(self), self.message, self.status, self.sqlstate))


def _rebuild(cls, message, status, sqlstate):
    return cls(message, status=status, sqlstate=sqlstate)


class InvalidArgument(Error, ValueError):
    """CONNPOOL_ERR_INVALID_ARGUMENT: NULL/out-of-range/malformed argument or option value."""

    status_code = _ffi.ERR_INVALID_ARGUMENT


class InvalidHandle(Error):
    """CONNPOOL_ERR_INVALID_HANDLE: released lease (double putconn, use after return), freed
    pool/result, wrong kind of handle."""

    status_code = _ffi.ERR_INVALID_HANDLE


class NoMemory(Error, MemoryError):
    """CONNPOOL_ERR_NO_MEMORY."""

    status_code = _ffi.ERR_NO_MEMORY


class PoolTimeout(Error, TimeoutError):
    """CONNPOOL_ERR_TIMEOUT: no connection within the timeout (the message gives the pool state)."""

    status_code = _ffi.ERR_TIMEOUT


class PoolClosed(Error):
    """CONNPOOL_ERR_POOL_CLOSED: the pool was closed."""

    status_code = _ffi.ERR_POOL_CLOSED


class ConnectError(Error):
    """CONNPOOL_ERR_CONNECT_FAILED: no connection, and the latest connect attempt failed."""

    status_code = _ffi.ERR_CONNECT_FAILED


class QueryError(Error):
    """CONNPOOL_ERR_QUERY_FAILED: the server rejected a statement; see ``sqlstate``.
    The connection remains usable."""

    status_code = _ffi.ERR_QUERY_FAILED


class ConnectionBroken(Error):
    """CONNPOOL_ERR_CONNECTION_BROKEN: the connection died during the call. Return it to the
    pool (leaving ``with pool.connection()`` does); the pool replaces it."""

    status_code = _ffi.ERR_CONNECTION_BROKEN


class UnknownOption(Error, ValueError):
    """CONNPOOL_ERR_UNKNOWN_OPTION: an option key this library version does not know."""

    status_code = _ffi.ERR_UNKNOWN_OPTION


class InternalError(Error):
    """CONNPOOL_ERR_INTERNAL: a bug in libconnpool; please report the message."""

    status_code = _ffi.ERR_INTERNAL


class Canceled(Error):
    """CONNPOOL_ERR_CANCELED: an asynchronous acquire was cancelled."""

    status_code = _ffi.ERR_CANCELED


class InProgress(Error):
    """CONNPOOL_ERR_IN_PROGRESS: an asynchronous acquire has no outcome yet (internal)."""

    status_code = _ffi.ERR_IN_PROGRESS


class DatabaseUnavailable(Error):
    """CONNPOOL_ERR_DATABASE_UNAVAILABLE: the circuit breaker is open after repeated connect
    failures; the pool fails fast and heals by itself."""

    status_code = _ffi.ERR_DATABASE_UNAVAILABLE


class TooManyWaiters(Error):
    """CONNPOOL_ERR_TOO_MANY_WAITERS: more waiters than the max_waiting option allows."""

    status_code = _ffi.ERR_TOO_MANY_WAITERS


class Forked(Error):
    """CONNPOOL_ERR_FORKED: the pool was created in another process; create a new pool."""

    status_code = _ffi.ERR_FORKED


class WouldBlock(Error):
    """CONNPOOL_ERR_WOULD_BLOCK: no connection could be taken without waiting (internal: the
    asyncio acquire tries that first, then waits)."""

    status_code = _ffi.ERR_WOULD_BLOCK


class PoolNotFound(Error, KeyError):
    """CONNPOOL_ERR_NOT_FOUND: no registered pool has that name (``connpool.pools``). A
    KeyError too, so ``except KeyError`` works as for a dict lookup."""

    status_code = _ffi.ERR_NOT_FOUND

    def __str__(self) -> str:  # the message as is (KeyError would quote it)
        return self.message


class PoolConflict(Error, ValueError):
    """CONNPOOL_ERR_CONFLICT: a registered pool has that name with another conninfo or other
    options; the message names the first difference (never a password)."""

    status_code = _ffi.ERR_CONFLICT


class NotSupportedError(Error):
    """The loaded libconnpool does not export a function this feature needs (too old)."""


#: status code -> exception class
ERRORS_BY_STATUS: dict[int, type[Error]] = {
    cls.status_code: cls
    for cls in (
        InvalidArgument,
        InvalidHandle,
        NoMemory,
        PoolTimeout,
        PoolClosed,
        ConnectError,
        QueryError,
        ConnectionBroken,
        UnknownOption,
        InternalError,
        Canceled,
        InProgress,
        DatabaseUnavailable,
        TooManyWaiters,
        Forked,
        WouldBlock,
        PoolNotFound,
        PoolConflict,
    )
}

_fast = _ffi.fast
_error_status = _fast.connpool_error_status
_error_message = _fast.connpool_error_message
_error_sqlstate = _fast.connpool_error_sqlstate
_error_free = _fast.connpool_error_free
_status_description = _fast.connpool_status_description


def error_from_status(status: int, err) -> Error:
    """Builds the exception for a failed call and frees the C error object.

    `err` is the ``c_void_p`` passed as the call's ``connpool_error **err`` (may hold NULL).
    """
    message = ""
    sqlstate = ""
    ptr = err.value if err is not None else None
    if ptr:
        err.value = None
        try:
            message = _error_message(ptr).decode("utf-8", "replace")
            sqlstate = _error_sqlstate(ptr).decode("ascii", "replace")
        finally:
            _error_free(ptr)
    cls = ERRORS_BY_STATUS.get(status, Error)
    if not message:
        message = _status_description(status).decode()
    return cls(message, status=status, sqlstate=sqlstate)
