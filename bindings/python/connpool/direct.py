"""``connpool.connect()``: one connection outside any pool (connpool_connect), for the odd job.

    with connpool.connect("dbname=app", host="db.example", init_sql="SET search_path = ops") as conn:
        conn.execute("VACUUM ANALYZE big_table")

The connection has the API of a pooled one (execute, transaction, info, set_label, pgconn) and
the library's keepalive defaults and password redaction; it is never shared and is closed when
the ``with`` block ends or :meth:`DirectConnection.close` is called.
"""

from __future__ import annotations

import ctypes

from . import _ffi
from .conninfo import make_conninfo
from .errors import error_from_status
from .pool import Connection, with_options

__all__ = ["DirectConnection", "connect"]


class DirectConnection(Connection):
    """A connection of its own (:func:`connect`): ``with`` closes it, so does :meth:`close`."""

    __slots__ = ()

    def __enter__(self) -> "DirectConnection":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()

    def close(self) -> None:
        """Closes the connection (the server session ends). Idempotent."""
        if not self._returned:
            self._release()

    @property
    def closed(self) -> bool:
        return self._returned

    def __repr__(self) -> str:
        return f"<connpool.DirectConnection {'closed' if self._returned else 'open'}>"


def _split(kwargs: dict) -> tuple[dict, dict]:
    """(library options, connection parameters): a key the library knows as an option is one
    (connect_timeout included: the library applies it to the whole connect, init_sql too)."""
    options = {k: v for k, v in kwargs.items() if k in _ffi.OPTIONS}
    params = {k: v for k, v in kwargs.items() if k not in _ffi.OPTIONS}
    return options, params


def connect(conninfo: str = "", **kwargs) -> DirectConnection:
    """Opens one connection, outside any pool. ``conninfo`` as for a pool; keyword arguments
    are libpq connection keywords (``host=``, ``dbname=``, ``password=``..., overriding keys of
    the string) or library options that apply to one connection (``connect_timeout`` in
    seconds, ``init_sql``, ``name``, ``log_level``, ``statement_cache_size``,
    ``prepare_threshold``). Raises ConnectError (with the server's SQLSTATE, e.g. 28P01),
    PoolTimeout (connect_timeout passed), InvalidArgument."""
    options, params = _split(kwargs)
    text = make_conninfo(conninfo, **params)

    def open_one(opts) -> int:
        out = ctypes.c_void_p()
        err = ctypes.c_void_p()
        status = _ffi.lib.connpool_connect(
            ctypes.byref(out), text.encode("utf-8"), opts, ctypes.byref(err)
        )
        if status:
            raise error_from_status(status, err)
        return out.value

    return DirectConnection(None, with_options(options, open_one))
