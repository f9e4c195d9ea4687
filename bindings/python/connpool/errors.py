"""Exceptions: one base class, one subclass per C status code.

Every exception raised for a failed C call carries the library's own message (``str(exc)``),
the numeric ``status`` and its symbolic ``status_name`` (e.g. ``"CONNPOOL_ERR_TIMEOUT"``), and
``sqlstate`` (five characters for query failures, ``""`` otherwise).

The status codes come from the library (``_ffi.STATUS_NAMES``); the classes below are written by
hand because each is an API decision (its name, its Python base such as TimeoutError). A status
without a class here (one added to a newer library) is raised as the base :class:`Error`, whose
message is then the library's description of the status.

The classes of PEP 249 (DB-API 2.0: :class:`Warning`, :class:`Error`, :class:`InterfaceError`,
:class:`DatabaseError` and its subclasses) are the bases of the classes above, so
``except connpool.PoolTimeout`` and ``except connpool.dbapi.OperationalError`` both catch a
timeout. A failed statement (:class:`QueryError`) is raised as the subclass its SQLSTATE class
selects (``QUERY_ERRORS_BY_SQLSTATE_CLASS``), e.g. a unique violation (23505) as
:class:`QueryIntegrityError`, which is both a QueryError and an IntegrityError.
"""

from __future__ import annotations

from . import _ffi


class Warning(Exception):  # noqa: A001 - the name PEP 249 requires
    """PEP 249 Warning (never raised by libconnpool; defined for DB-API code that names it)."""


class Error(Exception):
    """Base class of every libconnpool error (PEP 249 ``Error``)."""

    #: The C status code this class stands for (None for errors raised by the binding itself).
    status_code: int | None = None

    def __init__(self, message: str = "", *, status: int | None = None, sqlstate: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status = self.status_code if status is None else status
        self.sqlstate = sqlstate

    @property
    def pgcode(self) -> str | None:
        """psycopg2's name for ``sqlstate`` (None when there is none)."""
        return self.sqlstate or None

    @property
    def pgerror(self) -> str | None:
        """psycopg2's name for the server's message (None when there is no SQLSTATE)."""
        return self.message if self.sqlstate else None

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


# ---- PEP 249 classes ---------------------------------------------------------------------------
class InterfaceError(Error):
    """PEP 249: an error of the interface rather than the database (misuse of a closed
    connection or a returned lease, a pool used after fork)."""


class DatabaseError(Error):
    """PEP 249: an error related to the database."""


class DataError(DatabaseError):
    """PEP 249: a problem with the processed data (SQLSTATE class 22: division by zero, a value
    out of range, invalid text representation...)."""


class OperationalError(DatabaseError):
    """PEP 249: an error of the database's operation, not necessarily under the programmer's
    control (no connection, lost connection, timeout, out of memory, SQLSTATE classes 08, 40,
    53, 54, 55, 57, 58...)."""


class IntegrityError(DatabaseError):
    """PEP 249: relational integrity is affected (SQLSTATE class 23: unique, foreign key, not
    null, check, exclusion violations)."""


class ProgrammingError(DatabaseError):
    """PEP 249: a programming error (SQLSTATE class 42: syntax error, undefined table or
    column...; a wrong number of parameters; an operation on a closed cursor)."""


class InvalidArgument(ProgrammingError, ValueError):
    """CONNPOOL_ERR_INVALID_ARGUMENT: NULL/out-of-range/malformed argument or option value."""

    status_code = _ffi.ERR_INVALID_ARGUMENT


class InvalidHandle(InterfaceError):
    """CONNPOOL_ERR_INVALID_HANDLE: released lease (double putconn, use after return), freed
    pool/result, wrong kind of handle."""

    status_code = _ffi.ERR_INVALID_HANDLE


class NoMemory(OperationalError, MemoryError):
    """CONNPOOL_ERR_NO_MEMORY."""

    status_code = _ffi.ERR_NO_MEMORY


class PoolTimeout(OperationalError, TimeoutError):
    """CONNPOOL_ERR_TIMEOUT: no connection within the timeout (the message gives the pool state)."""

    status_code = _ffi.ERR_TIMEOUT


class PoolClosed(OperationalError):
    """CONNPOOL_ERR_POOL_CLOSED: the pool was closed."""

    status_code = _ffi.ERR_POOL_CLOSED


class ConnectError(OperationalError):
    """CONNPOOL_ERR_CONNECT_FAILED: no connection, and the latest connect attempt failed."""

    status_code = _ffi.ERR_CONNECT_FAILED


class QueryError(DatabaseError):
    """CONNPOOL_ERR_QUERY_FAILED: the server rejected a statement; see ``sqlstate``.
    The connection remains usable."""

    status_code = _ffi.ERR_QUERY_FAILED


class ConnectionBroken(OperationalError):
    """CONNPOOL_ERR_CONNECTION_BROKEN: the connection died during the call. Return it to the
    pool (leaving ``with pool.connection()`` does); the pool replaces it."""

    status_code = _ffi.ERR_CONNECTION_BROKEN


class UnknownOption(ProgrammingError, ValueError):
    """CONNPOOL_ERR_UNKNOWN_OPTION: an option key this library version does not know."""

    status_code = _ffi.ERR_UNKNOWN_OPTION


class InternalError(DatabaseError):
    """CONNPOOL_ERR_INTERNAL: a bug in libconnpool; please report the message. Also PEP 249's
    InternalError (a failed statement of SQLSTATE class XX, 25, 2D... is a
    :class:`QueryInternalError`)."""

    status_code = _ffi.ERR_INTERNAL


class Canceled(OperationalError):
    """CONNPOOL_ERR_CANCELED: an asynchronous acquire was cancelled."""

    status_code = _ffi.ERR_CANCELED


class InProgress(InterfaceError):
    """CONNPOOL_ERR_IN_PROGRESS: an asynchronous acquire has no outcome yet (internal)."""

    status_code = _ffi.ERR_IN_PROGRESS


class DatabaseUnavailable(OperationalError):
    """CONNPOOL_ERR_DATABASE_UNAVAILABLE: the circuit breaker is open after repeated connect
    failures; the pool fails fast and heals by itself."""

    status_code = _ffi.ERR_DATABASE_UNAVAILABLE


class TooManyWaiters(OperationalError):
    """CONNPOOL_ERR_TOO_MANY_WAITERS: more waiters than the max_waiting option allows."""

    status_code = _ffi.ERR_TOO_MANY_WAITERS


class Forked(InterfaceError):
    """CONNPOOL_ERR_FORKED: the pool was created in another process; create a new pool."""

    status_code = _ffi.ERR_FORKED


class WouldBlock(OperationalError):
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


class NotSupportedError(DatabaseError):
    """The loaded libconnpool does not export a function this feature needs (too old). Also
    PEP 249's NotSupportedError (a failed statement of SQLSTATE class 0A is a
    :class:`QueryNotSupportedError`)."""


# ---- failed statements by SQLSTATE class -------------------------------------------------------
class QueryDataError(QueryError, DataError):
    """A failed statement of SQLSTATE class 22 (data exception)."""


class QueryIntegrityError(QueryError, IntegrityError):
    """A failed statement of SQLSTATE class 23 (integrity constraint violation)."""


class QueryProgrammingError(QueryError, ProgrammingError):
    """A failed statement of SQLSTATE class 42 (syntax error or access rule violation), 3D, 3F,
    20, 21, 44."""


class QueryOperationalError(QueryError, OperationalError):
    """A failed statement of SQLSTATE class 08, 26, 27, 28, 34, 40 (serialization failure,
    deadlock), 53, 54, 55, 57 (query canceled, admin shutdown), 58, HV."""


class QueryInternalError(QueryError, InternalError):
    """A failed statement of SQLSTATE class 24, 25 (invalid transaction state), 2B, 2D, 2F, 38,
    39, 3B, F0, P0 (PL/pgSQL raise), XX."""


class QueryNotSupportedError(QueryError, NotSupportedError):
    """A failed statement of SQLSTATE class 0A (feature not supported)."""


def _by_class(cls, *classes):
    return {c: cls for c in classes}


#: SQLSTATE class (first two characters) -> exception class of a failed statement (the same
#: table as psycopg2's, so DB-API code written for it catches the same errors). A class not in
#: the table is raised as :class:`QueryError` (a DatabaseError).
QUERY_ERRORS_BY_SQLSTATE_CLASS: dict[str, type[QueryError]] = {
    **_by_class(QueryNotSupportedError, "0A"),
    **_by_class(QueryProgrammingError, "20", "21", "3D", "3F", "42", "44"),
    **_by_class(QueryDataError, "22"),
    **_by_class(QueryIntegrityError, "23"),
    **_by_class(QueryInternalError, "24", "25", "2B", "2D", "2F", "38", "39", "3B", "F0", "P0", "XX"),
    **_by_class(QueryOperationalError, "08", "26", "27", "28", "34", "40", "53", "54", "55", "57", "58", "HV"),
}


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
    if cls is QueryError:
        cls = QUERY_ERRORS_BY_SQLSTATE_CLASS.get(sqlstate[:2], QueryError)
    if not message:
        message = _status_description(status).decode()
    return cls(message, status=status, sqlstate=sqlstate)
