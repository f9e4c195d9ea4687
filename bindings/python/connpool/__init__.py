"""connpool: Python binding (standard library only, ctypes) for libconnpool, a PostgreSQL
connection pool with a C++ core.

    import connpool

    with connpool.ConnectionPool("host=/run/postgresql dbname=app", max_size=8, timeout=5) as pool:
        with pool.connection() as conn:
            row = conn.execute("SELECT $1::int + 1", [41]).fetchone()

asyncio: :class:`connpool.AsyncConnectionPool` (``connpool.aio``). DB-API 2.0 (PEP 249):
:mod:`connpool.dbapi`; SQLAlchemy: ``postgresql+connpool://`` (:mod:`connpool.sqlalchemy_dialect`).
"""

from . import _ffi
from .errors import (
    Canceled,
    ConnectError,
    ConnectionBroken,
    DatabaseError,
    DatabaseUnavailable,
    DataError,
    Error,
    IntegrityError,
    InterfaceError,
    OperationalError,
    ProgrammingError,
    QueryDataError,
    QueryIntegrityError,
    QueryInternalError,
    QueryNotSupportedError,
    QueryOperationalError,
    QueryProgrammingError,
    Forked,
    WouldBlock,
    InProgress,
    InternalError,
    InvalidArgument,
    InvalidHandle,
    NoMemory,
    NotSupportedError,
    PoolClosed,
    PoolConflict,
    PoolNotFound,
    PoolTimeout,
    QueryError,
    TooManyWaiters,
    UnknownOption,
)
from ._ffi import LibraryNotFoundError
from .pool import Column, Connection, ConnectionPool, Result, Transaction
from .group import PoolGroup
from .aio import AsyncConnection, AsyncConnectionPool
from . import _logging
from ._logging import flush_logs, log_dropped_count, set_log_level, sync_log_level

# The library's log messages go to logging.getLogger("connpool.<pool name>") (see _logging).
_logging.install()
from .conninfo import conninfo_to_dict, make_conninfo
from ._lease_meta import LeaseInfo
from .direct import DirectConnection, connect
from . import pools  # named pools of the process (connpool.pools; asyncio: connpool.aio.pools)

__version__ = "0.1.0"

#: Path (or loader name) of the libconnpool that was loaded.
library_path = _ffi.path


def library_version() -> str:
    """The loaded libconnpool's version string, e.g. "0.1.0"."""
    return _ffi.lib.connpool_version().decode()


__all__ = [
    "AsyncConnection",
    "AsyncConnectionPool",
    "Canceled",
    "Column",
    "ConnectError",
    "Connection",
    "ConnectionBroken",
    "ConnectionPool",
    "DatabaseError",
    "DatabaseUnavailable",
    "DataError",
    "DirectConnection",
    "Error",
    "IntegrityError",
    "InterfaceError",
    "OperationalError",
    "PoolGroup",
    "ProgrammingError",
    "QueryDataError",
    "QueryIntegrityError",
    "QueryInternalError",
    "QueryNotSupportedError",
    "QueryOperationalError",
    "QueryProgrammingError",
    "Forked",
    "WouldBlock",
    "InProgress",
    "InternalError",
    "InvalidArgument",
    "InvalidHandle",
    "LeaseInfo",
    "LibraryNotFoundError",
    "NoMemory",
    "NotSupportedError",
    "PoolClosed",
    "PoolConflict",
    "PoolNotFound",
    "PoolTimeout",
    "QueryError",
    "Result",
    "TooManyWaiters",
    "Transaction",
    "UnknownOption",
    "conninfo_to_dict",
    "connect",
    "library_path",
    "library_version",
    "flush_logs",
    "log_dropped_count",
    "make_conninfo",
    "set_log_level",
    "sync_log_level",
]
