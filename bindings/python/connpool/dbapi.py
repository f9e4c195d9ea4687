"""connpool.dbapi: a Python DB-API 2.0 (PEP 249) module over libconnpool.

    from connpool import dbapi

    conn = dbapi.connect("host=/run/postgresql dbname=app")   # a lease from a cached pool
    with conn.cursor() as cur:
        cur.execute("INSERT INTO t (id, name) VALUES (%s, %s)", (1, "x"))
        cur.execute("SELECT name FROM t WHERE id = %(id)s", {"id": 1})
        print(cur.fetchone())
    conn.commit()
    conn.close()                                             # back to the pool

Pooling: :func:`connect` borrows a connection from a libconnpool pool; :meth:`Connection.close`
returns it (an open transaction is rolled back by the pool). Without ``pool=``, pools are cached
in this module, one per (process, conninfo, pool options), and live until :func:`close_pools` or
interpreter exit. With ``pool=`` an existing :class:`connpool.ConnectionPool` is used.

Transactions (PEP 249): unless ``autocommit`` is on, the first statement after connect, commit()
or rollback() is preceded by ``BEGIN`` (with ``isolation_level``, ``read_only`` and
``deferrable`` when set, so they never leak into the pooled session). commit() of a transaction
in which a statement failed rolls back and raises (PostgreSQL would silently roll back).
Statements that cannot run inside a transaction block (CREATE DATABASE, VACUUM) need
``autocommit = True``.

paramstyle ``pyformat``: ``%s`` and ``%(name)s``, ``%%`` for ``%``; see
:mod:`connpool.dbapi_params` for the exact rules (literals, comments, dollar quotes, IN
tuples). Values are sent as text and typed by the server (``$1::int`` where it cannot infer).

threadsafety 2: threads may share the module and connections (each connection serializes its
statements with a lock), not cursors.
"""

from __future__ import annotations

import ctypes
import os
import threading
import urllib.parse

from . import _cancel, _ffi, errors
from .dbapi_params import Json, convert
from .dbapi_types import (  # noqa: F401 - re-exported PEP 249 names
    BINARY,
    DATETIME,
    NUMBER,
    ROWID,
    STRING,
    Binary,
    Date,
    DateFromTicks,
    DBAPITypeObject,
    Time,
    TimeFromTicks,
    Timestamp,
    TimestampFromTicks,
    array_decoder,
)
from .errors import (  # noqa: F401 - re-exported PEP 249 names
    DatabaseError,
    DataError,
    Error,
    IntegrityError,
    InterfaceError,
    InternalError,
    NotSupportedError,
    OperationalError,
    ProgrammingError,
    Warning,
    error_from_status,
)
from .pool import Column, ConnectionPool, _read_result

apilevel = "2.0"
threadsafety = 2
paramstyle = "pyformat"

__all__ = [
    "apilevel", "threadsafety", "paramstyle", "connect", "close_pools", "Connection", "Cursor",
    "Json", "Warning", "Error", "InterfaceError", "DatabaseError", "DataError",
    "OperationalError", "IntegrityError", "InternalError", "ProgrammingError",
    "NotSupportedError", "STRING", "BINARY", "NUMBER", "DATETIME", "ROWID", "Date", "Time",
    "Timestamp", "DateFromTicks", "TimeFromTicks", "TimestampFromTicks", "Binary",
]

_lib = _ffi.lib
_fast = _ffi.fast
_byref = ctypes.byref
_c_void_p = ctypes.c_void_p
_c_char_p = ctypes.c_char_p
# Interruptible in the main thread: a KeyboardInterrupt cancels the statement on the server.
_lease_exec = _cancel.lease_exec
_result_free = _fast.connpool_result_free
_transaction_status = _fast.connpool_lease_transaction_status

# connpool_lease_transaction_status values (libpq's PQTRANS_*).
_IDLE, _ACTIVE, _INTRANS, _INERROR, _UNKNOWN = 0, 1, 2, 3, 4

_ISOLATION_LEVELS = ("READ UNCOMMITTED", "READ COMMITTED", "REPEATABLE READ", "SERIALIZABLE")


# ---- connect and the pool cache ----------------------------------------------------------------
_pools: dict = {}
_pools_lock = threading.Lock()


def _conninfo_value(value) -> str:
    text = str(value)
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def make_conninfo(dsn: str | None, params: dict) -> str:
    """``dsn`` (key=value string or postgresql:// URI) completed by libpq keyword ``params``
    (``database`` is accepted for ``dbname``; None values are left out)."""
    params = {("dbname" if k == "database" else k): v for k, v in params.items() if v is not None}
    dsn = dsn or ""
    if not params:
        return dsn
    if dsn.startswith(("postgresql://", "postgres://")):
        query = urllib.parse.urlencode({k: str(v) for k, v in params.items()})
        return dsn + ("&" if "?" in dsn else "?") + query
    extra = " ".join(f"{k}={_conninfo_value(v)}" for k, v in params.items())
    return f"{dsn} {extra}".strip()


def _cached_pool(conninfo: str, options: dict) -> ConnectionPool:
    key = (os.getpid(), conninfo, tuple(sorted((k, str(v)) for k, v in options.items())))
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None or pool.closed:
            pool = ConnectionPool(conninfo, **options)
            _pools[key] = pool
        return pool


def close_pools() -> None:
    """Closes every pool :func:`connect` created in this process (connections still out stay
    usable until closed) and forgets them: later connect() calls create new pools."""
    pid = os.getpid()
    with _pools_lock:
        # A parent's pools (after fork) stay referenced: freeing them here is not ours to do.
        mine = [key for key in _pools if key[0] == pid]
        pools = [_pools.pop(key) for key in mine]
    for pool in pools:
        pool.close()


def connect(
    dsn: str | None = None,
    *,
    pool: ConnectionPool | None = None,
    autocommit: bool = False,
    timeout=None,
    pool_options: dict | None = None,
    **kwargs,
) -> "Connection":
    """Borrows a connection (PEP 249 ``connect``).

    ``dsn``: a libpq conninfo (``"host=/run/postgresql dbname=app"`` or ``postgresql://...``).
    Keyword arguments that name a libconnpool pool option (``max_size``, ``acquire_timeout``,
    ``reset_query``...; README "Options") configure the pool, as ``pool_options`` does; the
    others are libpq keywords (``host``, ``port``, ``dbname``/``database``, ``user``,
    ``password``, ``sslmode``...) added to the conninfo.

    (``connect_timeout`` is the pool's option: it bounds each connection attempt.)

    ``pool``: borrow from this :class:`connpool.ConnectionPool` instead (no dsn or options then).
    ``timeout``: seconds to wait for a connection (None: the pool's ``acquire_timeout``).
    ``autocommit``: the initial :attr:`Connection.autocommit`.
    """
    if pool is not None:
        if dsn or kwargs or pool_options:
            raise ProgrammingError("connect(pool=...) takes no dsn, conninfo keywords or pool options")
        if not isinstance(pool, ConnectionPool):
            raise ProgrammingError(f"pool must be a connpool.ConnectionPool, not {type(pool).__name__}")
    else:
        if dsn is not None and not isinstance(dsn, str):
            raise ProgrammingError(f"dsn must be a str, not {type(dsn).__name__}")
        options = dict(pool_options or {})
        libpq = {}
        for key, value in kwargs.items():
            (options if key in _ffi.OPTIONS else libpq)[key] = value
        pool = _cached_pool(make_conninfo(dsn, libpq), options)
    return Connection(pool, pool.getconn(timeout), autocommit=autocommit)


# ---- statements --------------------------------------------------------------------------------
def _exec(lease: int, sql: str, values: list):
    """Runs one statement on a lease; a :class:`connpool.Result` or the mapped exception."""
    if "\x00" in sql:
        raise ProgrammingError("the statement contains a NUL character")
    n = len(values)
    array = (_c_char_p * n)(*values) if n else None
    out = _c_void_p()
    err = _c_void_p()
    status = _lease_exec(_byref(out), lease, sql.encode("utf-8"), n, array, _byref(err))
    res = out.value
    if status:
        if res:
            _result_free(res)
        raise error_from_status(status, err)
    try:
        return _read_result(res)
    finally:
        _result_free(res)


class Connection:
    """A pooled connection (PEP 249). Share it between threads if needed (statements are
    serialized); give each thread its own cursor."""

    Warning = Warning
    Error = Error
    InterfaceError = InterfaceError
    DatabaseError = DatabaseError
    DataError = DataError
    OperationalError = OperationalError
    IntegrityError = IntegrityError
    InternalError = InternalError
    ProgrammingError = ProgrammingError
    NotSupportedError = NotSupportedError

    def __init__(self, pool: ConnectionPool, conn, *, autocommit: bool = False) -> None:
        self._pool = pool
        self._conn = conn  # connpool.Connection (the lease); None once closed
        if conn is not None:
            conn._foreign_cancel = True  # cancel() may run in another thread: see _release
        self._lock = threading.RLock()
        self._autocommit = bool(autocommit)
        self._isolation_level = None
        self._read_only = None
        self._deferrable = None

    # ---- state ----------------------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._conn is None

    @property
    def pool(self) -> ConnectionPool:
        """The :class:`connpool.ConnectionPool` this connection came from."""
        return self._pool

    def _lease(self) -> int:
        conn = self._conn
        if conn is None:
            raise InterfaceError("connection already closed")
        return conn._lease

    def _status(self) -> int:
        out = ctypes.c_int32()
        err = _c_void_p()
        status = _transaction_status(_byref(out), self._lease(), _byref(err))
        if status:
            raise error_from_status(status, err)
        return out.value

    def _set_session_attr(self, name: str, value) -> None:
        with self._lock:
            if self._conn is not None and self._status() != _IDLE:
                raise ProgrammingError(
                    f"cannot change {name.lstrip('_')} inside a transaction: commit() or "
                    f"rollback() first"
                )
            setattr(self, name, value)

    @property
    def autocommit(self) -> bool:
        """False (the default): statements run in a transaction that commit() ends. True: each
        statement commits by itself (no BEGIN is sent)."""
        return self._autocommit

    @autocommit.setter
    def autocommit(self, value: bool) -> None:
        self._set_session_attr("_autocommit", bool(value))

    @property
    def isolation_level(self) -> str | None:
        """None (the server's default_transaction_isolation) or one of "READ UNCOMMITTED",
        "READ COMMITTED", "REPEATABLE READ", "SERIALIZABLE", used by the implicit BEGIN."""
        return self._isolation_level

    @isolation_level.setter
    def isolation_level(self, value) -> None:
        if value is not None:
            value = str(value).upper().replace("_", " ")
            if value not in _ISOLATION_LEVELS:
                raise ProgrammingError(
                    f"isolation_level must be None or one of {', '.join(_ISOLATION_LEVELS)}, "
                    f"not {value!r}"
                )
        self._set_session_attr("_isolation_level", value)

    @property
    def read_only(self) -> bool | None:
        """None (server default), True (BEGIN READ ONLY) or False (BEGIN READ WRITE)."""
        return self._read_only

    @read_only.setter
    def read_only(self, value) -> None:
        self._set_session_attr("_read_only", None if value is None else bool(value))

    @property
    def deferrable(self) -> bool | None:
        """None (server default), True (BEGIN ... DEFERRABLE) or False (NOT DEFERRABLE)."""
        return self._deferrable

    @deferrable.setter
    def deferrable(self, value) -> None:
        self._set_session_attr("_deferrable", None if value is None else bool(value))

    def _begin_statement(self) -> str:
        sql = "BEGIN"
        if self._isolation_level:
            sql += f" ISOLATION LEVEL {self._isolation_level}"
        if self._read_only is not None:
            sql += " READ ONLY" if self._read_only else " READ WRITE"
        if self._deferrable is not None:
            sql += " DEFERRABLE" if self._deferrable else " NOT DEFERRABLE"
        return sql

    # ---- statements -----------------------------------------------------------------------------
    def _execute(self, sql: str, values: list, begin: bool = True):
        """Runs a statement, after the implicit BEGIN when one is due (``begin=False``: never,
        for the SQLAlchemy dialect's SHOW of session defaults)."""
        with self._lock:
            lease = self._lease()
            if begin and not self._autocommit and self._status() == _IDLE:
                _exec(lease, self._begin_statement(), [])
            return _exec(lease, sql, values)

    def cursor(self) -> "Cursor":
        self._lease()
        return Cursor(self)

    def commit(self) -> None:
        """Commits the transaction (nothing to do when none is open). If a statement in it
        failed, it is rolled back and QueryInternalError (SQLSTATE 25P02) is raised."""
        with self._lock:
            lease = self._lease()
            status = self._status()
            if status == _IDLE:
                return
            if status == _INERROR:
                _exec(lease, "ROLLBACK", [])
                raise errors.QueryInternalError(
                    "the transaction was rolled back: a statement in it failed, so it could not "
                    "be committed",
                    status=_ffi.ERR_QUERY_FAILED,
                    sqlstate="25P02",
                )
            _exec(lease, "COMMIT", [])

    def rollback(self) -> None:
        """Rolls the transaction back (nothing to do when none is open)."""
        with self._lock:
            lease = self._lease()
            if self._status() != _IDLE:
                _exec(lease, "ROLLBACK", [])

    def cancel(self) -> None:
        """Asks the server to cancel the statement running on this connection (from any
        thread); that statement then raises QueryOperationalError (SQLSTATE 57014)."""
        conn = self._conn
        if conn is None:
            raise InterfaceError("connection already closed")
        err = _c_void_p()
        status = _lib.connpool_lease_cancel(conn._lease, _byref(err))
        if status:
            raise error_from_status(status, err)

    def close(self) -> None:
        """Returns the connection to its pool (the pool rolls back an open transaction).
        Idempotent; later use raises InterfaceError."""
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            self._pool.putconn(conn)

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        """Commits (or rolls back when the block raised), then closes (returns to the pool)."""
        try:
            if self._conn is not None:
                if exc_type is None:
                    self.commit()
                else:
                    try:
                        self.rollback()
                    except Error:
                        pass  # do not hide the exception in flight; the pool rolls back
        finally:
            self.close()

    def __repr__(self) -> str:
        return f"<connpool.dbapi.Connection {'closed' if self.closed else 'open'}>"


class Cursor:
    """A PEP 249 cursor. Results are read whole by execute() (fetch* never block)."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.arraysize = 1
        self.lastrowid = None  # PostgreSQL rows have no id; use RETURNING
        self.query = None  # the last statement sent, with $1..$n
        self._closed = False
        self._reset()

    def _reset(self) -> None:
        self.description = None
        self.rowcount = -1
        self.rownumber = None
        self._rows = None

    def _check(self) -> None:
        if self._closed:
            raise InterfaceError("cursor already closed")
        if self.connection.closed:
            raise InterfaceError("connection already closed")

    @property
    def closed(self) -> bool:
        return self._closed

    # ---- running --------------------------------------------------------------------------------
    def _run(self, operation: str, parameters):
        if not isinstance(operation, str):
            raise ProgrammingError(f"the statement must be a str, not {type(operation).__name__}")
        if parameters is None:
            sql, values = operation, []
        else:
            sql, values = convert(operation, parameters)
        self.query = sql
        return self.connection._execute(sql, values)

    def execute(self, operation: str, parameters=None) -> "Cursor":
        """Runs one statement. ``parameters``: a sequence for ``%s`` placeholders or a mapping for
        ``%(name)s`` ones; None sends ``operation`` as it is (``%`` not interpreted)."""
        self._check()
        self._reset()
        result = self._run(operation, parameters)
        self.rowcount = result.rowcount
        if result._types:
            self.description = tuple(
                Column(n.decode("utf-8"), t, None, None, None, None, None)
                for n, t in zip(result._names, result._types)
            )
            self._rows = _decode_arrays(result._rows, result._types)
            self.rownumber = 0
        return self

    def executemany(self, operation: str, seq_of_parameters) -> "Cursor":
        """Runs ``operation`` once per parameter set; rowcount is the sum (-1 if one is unknown).
        Rows the statement returns are discarded."""
        self._check()
        self._reset()
        total = 0
        for parameters in seq_of_parameters:
            count = self._run(operation, parameters).rowcount
            total = -1 if count < 0 or total < 0 else total + count
        self.rowcount = total
        return self

    def callproc(self, procname: str, parameters=()):
        """``SELECT * FROM procname(%s, ...)``; returns ``parameters`` (PostgreSQL functions have
        no OUT-parameter binding: read the result with fetch*). ``procname`` is SQL as written
        (quote it yourself if it needs quotes)."""
        placeholders = ",".join(["%s"] * len(parameters))
        self.execute(f"SELECT * FROM {procname}({placeholders})", list(parameters))
        return parameters

    def setinputsizes(self, sizes) -> None:
        """Does nothing (allowed by PEP 249): the server infers parameter types."""

    def setoutputsize(self, size, column=None) -> None:
        """Does nothing (allowed by PEP 249): results are read whole."""

    # ---- fetching -------------------------------------------------------------------------------
    def _remaining(self):
        self._check()
        if self._rows is None:
            raise ProgrammingError("no results to fetch: the last statement returned no rows")
        return self._rows

    def fetchone(self):
        rows = self._remaining()
        if self.rownumber < len(rows):
            self.rownumber += 1
            return rows[self.rownumber - 1]
        return None

    def fetchmany(self, size=None) -> list:
        rows = self._remaining()
        if size is None:
            size = self.arraysize
        start = self.rownumber
        out = rows[start : start + max(size, 0)]
        self.rownumber = start + len(out)
        return out

    def fetchall(self) -> list:
        rows = self._remaining()
        out = rows[self.rownumber :]
        self.rownumber = len(rows)
        return out

    def __iter__(self):
        return self

    def __next__(self):
        row = self.fetchone()
        if row is None:
            raise StopIteration
        return row

    # ---- lifecycle ------------------------------------------------------------------------------
    def close(self) -> None:
        self._closed = True
        self._rows = None

    def __enter__(self) -> "Cursor":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()


def _decode_arrays(rows, types) -> list:
    """Rows with array columns (text from connpool.types) turned into lists."""
    decoders = [(i, array_decoder(t)) for i, t in enumerate(types)]
    decoders = [(i, d) for i, d in decoders if d is not None]
    if not decoders:
        return list(rows)
    out = []
    for row in rows:
        row = list(row)
        for i, decode in decoders:
            if row[i] is not None:
                row[i] = decode(row[i])
        out.append(tuple(row))
    return out
