"""What a lease is (connpool_lease_get_info) and who took it (leak labels)."""

from __future__ import annotations

import ctypes
import dataclasses
import datetime as _dt
import os
import sys

from . import _ffi
from .errors import error_from_status

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_LABEL_MAX = 256  # connpool_lease_set_label's limit, in bytes
_LABEL_FRAMES = 3
_UTC = _dt.timezone.utc
# Frames of these modules are the machinery between the caller and the acquire, not the caller.
_SKIPPED_FILES = ("contextlib.py", "asyncio" + os.sep)


@dataclasses.dataclass(frozen=True)
class LeaseInfo:
    """One leased connection (``conn.info``): ``connection_id`` (as the pool numbers them),
    ``backend_pid``, ``created_at`` and ``last_used_at`` (aware UTC datetimes; last_used_at is
    when the previous lease ended, created_at on the first lease), ``use_count`` (leases so far,
    this one included) and ``is_new`` (True on the first lease of the connection)."""

    connection_id: int
    backend_pid: int
    created_at: _dt.datetime
    last_used_at: _dt.datetime
    use_count: int
    is_new: bool


def _datetime(us: int) -> _dt.datetime:
    return _dt.datetime(1970, 1, 1, tzinfo=_UTC) + _dt.timedelta(microseconds=us)


def lease_info(lease: int) -> LeaseInfo:
    info = _ffi.connpool_lease_info(struct_size=ctypes.sizeof(_ffi.connpool_lease_info))
    err = ctypes.c_void_p()
    status = _ffi.fast.connpool_lease_get_info(ctypes.byref(info), lease, ctypes.byref(err))
    if status:
        raise error_from_status(status, err)
    return LeaseInfo(
        connection_id=info.connection_id,
        backend_pid=info.backend_pid,
        created_at=_datetime(info.created_at_us),
        last_used_at=_datetime(info.last_used_at_us),
        use_count=info.use_count,
        is_new=bool(info.is_new),
    )


def is_new(lease: int) -> bool:
    """True on the first lease of the connection (what the configure hook waits for)."""
    info = _ffi.connpool_lease_info(struct_size=ctypes.sizeof(_ffi.connpool_lease_info))
    err = ctypes.c_void_p()
    status = _ffi.fast.connpool_lease_get_info(ctypes.byref(info), lease, ctypes.byref(err))
    if status:
        raise error_from_status(status, err)
    return bool(info.is_new)


def keep_session(lease: int) -> None:
    """Makes the session settings the lease has now the connection's own (what configure set up
    survives the session reset: connpool_lease_keep_session)."""
    err = ctypes.c_void_p()
    status = _ffi.lib.connpool_lease_keep_session(lease, ctypes.byref(err))
    if status:
        raise error_from_status(status, err)


def caller_label() -> str:
    """The caller's place as ``file.py:LINE in func`` for the innermost frames outside this
    package (and contextlib/asyncio), innermost first, joined by `` < ``; at most 256 bytes.
    Only called when the pool has a leak_threshold (walking frames costs a few microseconds)."""
    frame = sys._getframe(1)
    parts = []
    while frame is not None and len(parts) < _LABEL_FRAMES:
        filename = frame.f_code.co_filename
        if not filename.startswith(_PACKAGE_DIR) and not filename.endswith(_SKIPPED_FILES[0]) and (
            _SKIPPED_FILES[1] not in filename
        ):
            parts.append(f"{os.path.basename(filename)}:{frame.f_lineno} in {frame.f_code.co_name}")
        frame = frame.f_back
    label = " < ".join(parts) or "?"
    raw = label.encode("utf-8")[:_LABEL_MAX]
    return raw.decode("utf-8", "ignore")
