"""SQLAlchemy 1.4 dialect ``postgresql+connpool`` over :mod:`connpool.dbapi`.

    import connpool.sqlalchemy_dialect  # registers it (an installed package has an entry point)
    from sqlalchemy import create_engine

    engine = create_engine("postgresql+connpool://app@/appdb?host=/run/postgresql&max_size=8")

URL: user, password, host, port and database become the libpq conninfo; each query parameter
that names a libconnpool pool option (``max_size``, ``acquire_timeout``... README "Options"; the
value is the C option's text, so durations are in milliseconds) configures the pool, the others
(``sslmode``, ``application_name``, ``host`` for a socket directory...) join the conninfo.
``connect_args`` of create_engine work the same way (durations in seconds there, as in
:func:`connpool.dbapi.connect`).

Pooling: libconnpool pools, so the dialect's default pool class is ``NullPool``: each SQLAlchemy
checkout borrows a connection from libconnpool's pool (cached per URL) and each checkin returns
it. Pass ``poolclass=`` to create_engine to use a SQLAlchemy pool on top anyway.

Isolation level, read only and deferrable are applied to the ``BEGIN`` this driver sends (never
``SET SESSION``), so nothing leaks to the next user of a pooled connection. ``AUTOCOMMIT`` sets
the DB-API connection's ``autocommit``.

Bind parameters are sent as text and typed by the server, like pg8000's; in a SELECT list,
where the server cannot infer a type, they are cast to their SQLAlchemy type
(``select(literal(5))`` returns an int).
"""

from __future__ import annotations

from sqlalchemy import exc
from sqlalchemy import pool as sa_pool
from sqlalchemy import processors
from sqlalchemy import types as sqltypes
from sqlalchemy import util
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.postgresql.array import ARRAY as PGARRAY
from sqlalchemy.dialects.postgresql.base import (
    _DECIMAL_TYPES,
    _FLOAT_TYPES,
    _INT_TYPES,
    UUID,
    PGCompiler,
    PGDialect,
    PGExecutionContext,
    _ColonCast,
)
from sqlalchemy.dialects.postgresql.json import JSON, JSONB

from . import dbapi as _dbapi
from . import errors as _errors

_DISCONNECT_ERRORS = (
    _errors.ConnectionBroken,
    _errors.ConnectError,
    _errors.PoolClosed,
    _errors.InvalidHandle,
    _errors.DatabaseUnavailable,
    _errors.Forked,
)
# SQLSTATEs of a server ending the session: admin_shutdown, crash_shutdown, cannot_connect_now.
_DISCONNECT_SQLSTATES = ("57P01", "57P02", "57P03")


class _Numeric(sqltypes.Numeric):
    """numeric comes back as Decimal and float8 as float (as psycopg2 gives them)."""

    def bind_processor(self, dialect):
        return None

    def result_processor(self, dialect, coltype):
        if self.asdecimal:
            if coltype in _FLOAT_TYPES:
                return processors.to_decimal_processor_factory(
                    __import__("decimal").Decimal, self._effective_decimal_return_scale
                )
            if coltype in _DECIMAL_TYPES or coltype in _INT_TYPES:
                return None
        else:
            if coltype in _FLOAT_TYPES:
                return None
            if coltype in _DECIMAL_TYPES or coltype in _INT_TYPES:
                return processors.to_float
        raise exc.InvalidRequestError(f"Unknown PG numeric type: {coltype}")


class _JSON(JSON):
    def result_processor(self, dialect, coltype):
        return None  # connpool.types already parsed it


class _JSONB(JSONB):
    def result_processor(self, dialect, coltype):
        return None


class _UUID(UUID):
    """uuid comes back as uuid.UUID: a str unless as_uuid (SQLAlchemy 1.4's default)."""

    def result_processor(self, dialect, coltype):
        if not self.as_uuid:

            def process(value):
                return None if value is None else str(value)

            return process
        return None


class _ARRAY(PGARRAY):
    def bind_expression(self, bindvalue):
        return _ColonCast(bindvalue, self)  # '{...}' text needs its array type


class PGExecutionContext_connpool(PGExecutionContext):  # noqa: N801 - SQLAlchemy's naming
    pass


class PGCompiler_connpool(PGCompiler):  # noqa: N801
    def visit_bindparam(self, bindparam, within_columns_clause=False, **kw):
        text = super().visit_bindparam(bindparam, within_columns_clause=within_columns_clause, **kw)
        # In a SELECT list the server types a text parameter as text: cast it to the
        # parameter's type so that select(literal(5)) gives back an int, as psycopg2 does.
        if (
            within_columns_clause
            and text.startswith("%(")
            and not bindparam.expanding
            and not isinstance(bindparam.type, (sqltypes.NullType, sqltypes.String))
            and not kw.get("literal_binds")
        ):
            try:
                type_name = self.dialect.type_compiler.process(bindparam.type)
            except (exc.CompileError, NotImplementedError):
                return text
            return f"{text}::{type_name}"
        return text


class PGDialect_connpool(PGDialect):  # noqa: N801
    driver = "connpool"
    supports_statement_cache = True
    supports_unicode_statements = True
    supports_unicode_binds = True
    default_paramstyle = "pyformat"
    supports_sane_multi_rowcount = True
    supports_server_side_cursors = False
    description_encoding = None
    execution_ctx_cls = PGExecutionContext_connpool
    statement_compiler = PGCompiler_connpool

    colspecs = util.update_copy(
        PGDialect.colspecs,
        {
            sqltypes.Numeric: _Numeric,
            sqltypes.JSON: _JSON,
            JSON: _JSON,
            JSONB: _JSONB,
            UUID: _UUID,
            sqltypes.ARRAY: _ARRAY,
        },
    )

    @classmethod
    def dbapi(cls):  # SQLAlchemy 1.4
        return _dbapi

    @classmethod
    def import_dbapi(cls):  # SQLAlchemy 2.0's name
        return _dbapi

    @classmethod
    def get_pool_class(cls, url):
        return sa_pool.NullPool  # libconnpool pools; see the module docstring

    def create_connect_args(self, url):
        params = url.translate_connect_args(username="user", database="dbname")
        if "port" in params:
            params["port"] = int(params["port"])
        for key, value in url.query.items():
            params[key] = value[-1] if isinstance(value, tuple) else value
        return ([], params)

    def is_disconnect(self, e, connection, cursor):
        if isinstance(e, _DISCONNECT_ERRORS):
            return True
        if isinstance(e, _errors.Error) and getattr(e, "sqlstate", "") in _DISCONNECT_SQLSTATES:
            return True
        if isinstance(e, _errors.InterfaceError) and "already closed" in str(e):
            return True
        return bool(getattr(connection, "closed", False))

    # ---- transaction characteristics: applied to the driver's BEGIN -----------------------------
    @staticmethod
    def _dbapi_conn(connection):
        return getattr(connection, "dbapi_connection", connection)

    def set_isolation_level(self, connection, level):
        conn = self._dbapi_conn(connection)
        level = level.replace("_", " ")
        if level == "AUTOCOMMIT":
            conn.autocommit = True
        elif level in self._isolation_lookup:
            conn.autocommit = False
            conn.isolation_level = level
        else:
            raise exc.ArgumentError(
                f"Invalid value {level!r} for isolation_level. Valid isolation levels for "
                f"{self.name} are {', '.join(sorted(self._isolation_lookup))} or AUTOCOMMIT"
            )

    def get_isolation_level(self, connection):
        conn = self._dbapi_conn(connection)
        if conn.autocommit:
            return "AUTOCOMMIT"
        if conn.isolation_level:
            return conn.isolation_level
        # The session default, read without opening a transaction.
        return self._show(conn, "default_transaction_isolation").upper()

    def set_readonly(self, connection, value):
        self._dbapi_conn(connection).read_only = bool(value)

    def get_readonly(self, connection):
        conn = self._dbapi_conn(connection)
        if conn.read_only is not None:
            return conn.read_only
        return self._show(conn, "default_transaction_read_only") == "on"

    def set_deferrable(self, connection, value):
        self._dbapi_conn(connection).deferrable = bool(value)

    def get_deferrable(self, connection):
        conn = self._dbapi_conn(connection)
        if conn.deferrable is not None:
            return conn.deferrable
        return self._show(conn, "default_transaction_deferrable") == "on"

    @staticmethod
    def _show(conn, setting: str) -> str:
        return conn._execute(f"SHOW {setting}", [], begin=False).fetchone()[0]


dialect = PGDialect_connpool


def register() -> None:
    """Registers ``postgresql+connpool`` with SQLAlchemy (importing this module does it; an
    installed package also has the ``sqlalchemy.dialects`` entry point)."""
    registry.register("postgresql.connpool", __name__, "PGDialect_connpool")


register()
