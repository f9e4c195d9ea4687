"""Routes libconnpool's log messages into the standard :mod:`logging` module.

Installed when ``connpool`` is imported: the library's process-wide log callback
(``connpool_log_set_callback``) is set to a ctypes function that logs each message on
``logging.getLogger("connpool.<pool name>")`` (a child of ``"connpool"``), with the pool's name
also in the record's ``pool_name`` attribute. Levels map as trace -> 5 (named ``TRACE`` unless
the application named level 5 otherwise), debug -> DEBUG, info -> INFO, warn -> WARNING,
error -> ERROR, critical -> CRITICAL. Passwords are removed by the library before a message
leaves it.

The callback runs on the library's delivery thread, never on a pool thread and never with a
pool lock held; it catches everything (an exception must not unwind into C). When Python is
slower than the library logs, the library drops messages rather than wait (see
:func:`log_dropped_count`).

The library's level: messages below it are not even formatted, so filtered-out messages cost
nothing in Python. By default it follows the ``"connpool"`` logger's effective level, read when
``connpool`` is imported and again whenever a pool is created (:func:`sync_log_level` re-reads it
on demand). :func:`set_log_level` pins it instead. A pool created with its own ``log_level``
option keeps that level. ``$CONNPOOL_LOG_LEVEL`` applies only to stderr, which Python programs do
not use: configure :mod:`logging` instead.
"""

from __future__ import annotations

import atexit
import ctypes
import logging
import threading

from . import _ffi

#: The Python level of the library's trace messages.
TRACE = 5

# CONNPOOL_LOG_* values (the header's) and the Python levels they map to.
_C_TRACE, _C_DEBUG, _C_INFO, _C_WARN, _C_ERROR, _C_CRITICAL, _C_OFF = range(7)
_TO_PYTHON = {
    _C_TRACE: TRACE,
    _C_DEBUG: logging.DEBUG,
    _C_INFO: logging.INFO,
    _C_WARN: logging.WARNING,
    _C_ERROR: logging.ERROR,
    _C_CRITICAL: logging.CRITICAL,
}

logger = logging.getLogger("connpool")
# A library adds no handler but this one: an application that configures no logging sees
# nothing (as before), one that does gets the messages its configuration lets through.
logger.addHandler(logging.NullHandler())
if logging.getLevelName(TRACE) == f"Level {TRACE}":
    logging.addLevelName(TRACE, "TRACE")


def c_level_for(python_level: int) -> int:
    """The lowest CONNPOOL_LOG_* level whose messages a logger at `python_level` lets through
    (CONNPOOL_LOG_OFF when none)."""
    for c_level in range(_C_TRACE, _C_OFF):
        if _TO_PYTHON[c_level] >= python_level:
            return c_level
    return _C_OFF


def _python_level(level) -> int:
    if isinstance(level, str):
        number = logging.getLevelName(level.upper())
        if not isinstance(number, int):
            raise ValueError(f"unknown logging level {level!r}")
        return number
    if isinstance(level, bool) or not isinstance(level, int):
        raise TypeError(f"level must be a logging level (int or name), not {type(level).__name__}")
    return level


def logger_for(pool_name) -> logging.Logger:
    """The logger of one pool's messages (``connpool.<name>``), for the binding's own too."""
    return logging.getLogger(f"connpool.{pool_name}") if pool_name else logger


def _deliver(_user_data, level, pool_name, message) -> None:
    try:
        name = pool_name.decode("utf-8", "replace") if pool_name else ""
        text = message.decode("utf-8", "replace") if message else ""
        python_level = _TO_PYTHON.get(level, logging.ERROR)
        target = logging.getLogger(f"connpool.{name}") if name else logger
        if target.isEnabledFor(python_level):
            # No args: a '%' in the message is never taken for a format.
            target.log(python_level, text, extra={"pool_name": name})
    except BaseException:  # noqa: BLE001 -- nothing may unwind into the library's thread
        pass


_CALLBACK_TYPE = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int32, ctypes.c_char_p,
                                  ctypes.c_char_p)
# Kept for the life of the module: the library calls it until the callback is cleared.
_callback = _CALLBACK_TYPE(_deliver)

_state_lock = threading.Lock()
_pinned: int | None = None  # a C level set by set_log_level, None = follow the logger
_installed: int | None = None  # the C level the callback was last set with
_available = _ffi.has("connpool_log_set_callback")


def _wanted_level() -> int:
    if _pinned is not None:
        return _pinned
    level = logger.getEffectiveLevel()
    disabled = logging.root.manager.disable  # logging.disable(...)
    if disabled:
        level = max(level, disabled + 1)
    return c_level_for(level)


def _set_callback(c_level: int) -> None:
    # Called without _state_lock: the library waits here for the messages already queued,
    # which the delivery thread hands to Python (taking the GIL, released by this call).
    err = ctypes.c_void_p()
    status = _ffi.lib.connpool_log_set_callback(_callback, None, c_level, ctypes.byref(err))
    if status:
        from .errors import error_from_status

        raise error_from_status(status, err)


def _apply(force: bool = False) -> None:
    global _installed
    if not _available:
        return
    with _state_lock:
        wanted = _wanted_level()
        if wanted == _installed and not force:
            return
        _installed = wanted
    _set_callback(wanted)


def sync_log_level() -> None:
    """Re-reads the ``"connpool"`` logger's effective level and has the library log at it
    (unless :func:`set_log_level` pinned a level). Creating a pool does this too; call it after
    changing the logger's level when pools already exist. Cheap when nothing changed."""
    _apply()


def set_log_level(level) -> None:
    """Pins the level the library logs at: a :mod:`logging` level (``logging.DEBUG``, ``5`` for
    trace, or a name such as ``"DEBUG"``). ``None`` returns to following the ``"connpool"``
    logger's effective level."""
    global _pinned
    with _state_lock:
        _pinned = None if level is None else c_level_for(_python_level(level))
    _apply()


def flush_logs() -> None:
    """Returns once the messages the library has queued so far have reached :mod:`logging`
    (bounded: when Python is too slow, the rest are dropped and counted)."""
    _apply(force=True)


def log_dropped_count() -> int:
    """Messages the library dropped because its delivery queue was full (Python was slower than
    the library logged), process-wide, since the library was loaded."""
    if not _ffi.has("connpool_log_dropped_count"):
        return 0
    return int(_ffi.lib.connpool_log_dropped_count())


def _uninstall() -> None:
    # At exit, while Python still runs: deliver what is queued, then stop calling into Python.
    global _installed
    if not _available or _installed is None:
        return
    _installed = None
    try:
        _ffi.lib.connpool_log_set_callback(None, None, _C_OFF, None)
    except BaseException:  # noqa: BLE001 -- interpreter shutdown
        pass


def install() -> None:
    """Sets the library's process-wide callback (done when ``connpool`` is imported)."""
    _apply(force=True)
    atexit.register(_uninstall)
