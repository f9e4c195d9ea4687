"""Multiplexed statements: ``ConnectionPool.execute`` runs one statement on the pool's shared
connections without a lease (the C ``connpool_pool_exec``; enable it with the pool option
``multiplexing_connections``). Statements run in autocommit; transactions and session
statements (BEGIN, SET...) need a borrowed connection."""

from __future__ import annotations

import ctypes

from . import _ffi
from .errors import error_from_status

_c_void_p = ctypes.c_void_p
_c_char_p = ctypes.c_char_p
_byref = ctypes.byref

# Declared in _ffi's table (GIL released: it waits for the server); a library without
# multiplexing makes this call raise NotSupportedError.
_pool_exec = _ffi.lib.connpool_pool_exec


def pool_execute(pool, sql: str, params, timeout):
    """The body of ``ConnectionPool.execute`` (see there)."""
    from .pool import _read_result, _result_free, _timeout_ms
    from .types import encode

    if params:
        values = [encode(p) for p in params]
        n = len(values)
        array = (_c_char_p * n)(*values)
    else:
        if params is not None and not isinstance(params, (list, tuple)):
            raise TypeError(f"params must be a sequence, not {type(params).__name__}")
        n = 0
        array = None
    timeout_ms = _timeout_ms(timeout)
    if timeout_ms == 0:
        timeout_ms = 1  # "no wait" still gives the statement its one chance
    out = _c_void_p()
    err = _c_void_p()
    status = _pool_exec(
        _byref(out), pool._handle, sql.encode("utf-8"), n, array, timeout_ms, _byref(err)
    )
    res = out.value
    if status:
        if res:
            _result_free(res)
        raise error_from_status(status, err)
    try:
        return _read_result(res)
    finally:
        _result_free(res)
