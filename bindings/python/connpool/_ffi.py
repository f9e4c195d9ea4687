"""Loading libconnpool and declaring every function of include/connpool/connpool.h for ctypes.

Two views of the same shared object are kept:

* ``lib`` -- a :class:`ctypes.CDLL`: the GIL is released for the duration of each call. Every
  function that can block (acquire, exec, wait_ready, close, free...) is called through it, so
  Python threads really run in parallel while they wait on the pool or the network.
* ``fast`` -- a :class:`ctypes.PyDLL` over the same handle: the GIL stays held. Only for the
  accessors that never block (reading a result, an error, a status name): with many threads,
  dropping and re-taking the GIL around a 50 ns accessor costs far more than the call itself
  (every release is a chance for another thread to take the GIL, and a wait to get it back).

Library lookup order (the first that loads wins):

1. ``$CONNPOOL_LIBRARY`` (a path; if it is set and cannot be loaded, that is an error),
2. next to this package (``connpool/libconnpool.so*``, as a wheel that bundles it would have it),
3. the build tree of the repository this package sits in (``<repo>/build/libconnpool.so``),
4. the system loader (``libconnpool.so.0``, then ``ctypes.util.find_library("connpool")``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import pathlib

c_void_p = ctypes.c_void_p
c_char_p = ctypes.c_char_p
c_int32 = ctypes.c_int32
c_int64 = ctypes.c_int64
c_uint32 = ctypes.c_uint32
c_uint64 = ctypes.c_uint64
P = ctypes.POINTER

#: The header's CONNPOOL_VERSION_MAJOR this binding was written against.
ABI_MAJOR = 0

# ---- status codes (pinned integers, include/connpool/connpool.h) --------------------------------
OK = 0
ERR_INVALID_ARGUMENT = 1
ERR_INVALID_HANDLE = 2
ERR_NO_MEMORY = 3
ERR_TIMEOUT = 4
ERR_POOL_CLOSED = 5
ERR_CONNECT_FAILED = 6
ERR_QUERY_FAILED = 7
ERR_CONNECTION_BROKEN = 8
ERR_UNKNOWN_OPTION = 9
ERR_INTERNAL = 10
ERR_CANCELED = 11
ERR_IN_PROGRESS = 12
ERR_DATABASE_UNAVAILABLE = 13
ERR_TOO_MANY_WAITERS = 14
ERR_FORKED = 15
ERR_WOULD_BLOCK = 16


class connpool_stats(ctypes.Structure):
    """Mirror of ``struct connpool_stats`` (fields are only ever appended)."""

    _fields_ = [
        ("struct_size", c_uint32),
        ("reserved0", c_uint32),
        ("total", c_int64),
        ("idle", c_int64),
        ("in_use", c_int64),
        ("opening", c_int64),
        ("waiting", c_int64),
        ("max_size", c_int64),
        ("min_size", c_int64),
        ("max_overflow", c_int64),
        ("created", c_int64),
        ("closed", c_int64),
        ("acquired", c_int64),
        ("released", c_int64),
        ("reused", c_int64),
        ("acquire_timeouts", c_int64),
        ("connect_errors", c_int64),
        ("health_checks", c_int64),
        ("health_check_failures", c_int64),
        ("closed_lifetime", c_int64),
        ("closed_idle", c_int64),
        ("closed_broken", c_int64),
        ("closed_overflow", c_int64),
        ("resets", c_int64),
        ("acquire_wait_us_total", c_int64),
        ("acquire_wait_us_max", c_int64),
        # appended in 0.1.0 for the resilience features (an older library leaves them 0)
        ("breaker_state", c_int64),
        ("breaker_opens", c_int64),
        ("waiters_rejected", c_int64),
        ("unavailable", c_int64),
        ("leaks_detected", c_int64),
        ("canceled", c_int64),
        ("sweeps", c_int64),
    ]


# ---- every exported function: (name, restype, argtypes, blocking) --------------------------------
# `blocking` True: called through the CDLL (GIL released). False: also bound on the PyDLL view.
# Handles are opaque tokens: c_void_p. Out-parameters are POINTER(...). `err` is P(c_void_p).
ERR = P(c_void_p)
SIGNATURES = [
    # version
    ("connpool_version", c_char_p, [], False),
    ("connpool_version_number", c_int32, [], False),
    # errors
    ("connpool_error_status", c_int32, [c_void_p], False),
    ("connpool_error_message", c_char_p, [c_void_p], False),
    ("connpool_error_sqlstate", c_char_p, [c_void_p], False),
    ("connpool_error_free", None, [c_void_p], False),
    ("connpool_status_name", c_char_p, [c_int32], False),
    # options
    ("connpool_options_new", c_int32, [P(c_void_p), ERR], False),
    ("connpool_options_set", c_int32, [c_void_p, c_char_p, c_char_p, ERR], False),
    ("connpool_options_free", c_int32, [c_void_p], False),
    # pool
    ("connpool_pool_create", c_int32, [P(c_void_p), c_char_p, c_void_p, ERR], True),
    ("connpool_pool_wait_ready", c_int32, [c_void_p, c_int64, ERR], True),
    ("connpool_pool_close", c_int32, [c_void_p, ERR], True),
    ("connpool_pool_free", c_int32, [c_void_p], True),
    # leases
    ("connpool_pool_acquire", c_int32, [P(c_void_p), c_void_p, c_int64, ERR], True),
    ("connpool_pool_try_acquire", c_int32, [P(c_void_p), c_void_p, ERR], True),
    ("connpool_pool_acquire_async", c_int32, [P(c_void_p), c_void_p, c_int64, ERR], False),
    ("connpool_acquire_fd", c_int32, [P(c_int32), c_void_p, ERR], False),
    ("connpool_acquire_result", c_int32, [P(c_void_p), c_void_p, ERR], True),
    ("connpool_acquire_wait", c_int32, [c_void_p, c_int64, ERR], True),
    ("connpool_acquire_cancel", c_int32, [c_void_p], False),
    ("connpool_acquire_free", c_int32, [c_void_p], False),
    ("connpool_lease_release", c_int32, [c_void_p, ERR], True),
    ("connpool_lease_set_label", c_int32, [c_void_p, c_char_p, ERR], False),
    ("connpool_lease_pgconn", c_int32, [P(c_void_p), c_void_p, ERR], False),
    # queries
    ("connpool_lease_exec", c_int32, [P(c_void_p), c_void_p, c_char_p, c_int32, P(c_char_p), ERR], True),
    ("connpool_lease_send", c_int32, [c_void_p, c_char_p, c_int32, P(c_char_p), ERR], False),
    ("connpool_lease_socket", c_int32, [P(c_int32), P(c_int32), c_void_p, ERR], False),
    ("connpool_lease_connection_id", c_int32, [P(c_uint64), c_void_p, ERR], False),
    ("connpool_lease_collect", c_int32, [P(c_void_p), c_void_p, ERR], False),
    ("connpool_lease_cancel", c_int32, [c_void_p, ERR], True),
    ("connpool_lease_transaction_status", c_int32, [P(c_int32), c_void_p, ERR], False),
    ("connpool_result_status", c_int32, [c_void_p], False),
    ("connpool_result_error_message", c_char_p, [c_void_p], False),
    ("connpool_result_sqlstate", c_char_p, [c_void_p], False),
    ("connpool_result_row_count", c_int64, [c_void_p], False),
    ("connpool_result_column_count", c_int32, [c_void_p], False),
    ("connpool_result_affected_rows", c_int64, [c_void_p], False),
    ("connpool_result_column_name", c_char_p, [c_void_p, c_int32], False),
    ("connpool_result_column_type", c_uint32, [c_void_p, c_int32], False),
    ("connpool_result_is_null", c_int32, [c_void_p, c_int64, c_int32], False),
    ("connpool_result_value", c_char_p, [c_void_p, c_int64, c_int32], False),
    ("connpool_result_value_length", c_int64, [c_void_p, c_int64, c_int32], False),
    ("connpool_result_free", c_int32, [c_void_p], False),
    # statistics
    ("connpool_pool_stats", c_int32, [P(connpool_stats), c_void_p, ERR], False),
    ("connpool_pool_stats_json", c_int32, [P(c_void_p), c_void_p, ERR], False),
    ("connpool_string_free", None, [c_void_p], False),
    ("connpool_misuse_count", c_int64, [], False),
]


class LibraryNotFoundError(ImportError):
    """libconnpool.so could not be loaded from any of the places searched."""


class MissingSymbol:
    """Stands in for a function the loaded library does not export (an older build)."""

    def __init__(self, name: str, path: str) -> None:
        self.__name__ = name
        self.path = path

    def __call__(self, *args, **kwargs):
        from .errors import NotSupportedError

        raise NotSupportedError(
            f"{self.__name__} is not exported by {self.path}: this libconnpool build is too old "
            f"for this feature (rebuild the library, or set CONNPOOL_LIBRARY to a newer one)"
        )


def _repo_build_candidates(package_dir: pathlib.Path) -> list[pathlib.Path]:
    # bindings/python/connpool -> repository root, recognised by its public header.
    repo = package_dir.parent.parent.parent
    if not (repo / "include" / "connpool" / "connpool.h").is_file():
        return []
    return [repo / "build" / "libconnpool.so", repo / "build" / "libconnpool.so.0"]


def _candidates() -> list[tuple[str, str]]:
    """(description, name-or-path) pairs, in lookup order."""
    package_dir = pathlib.Path(__file__).resolve().parent
    out: list[tuple[str, str]] = []
    for name in ("libconnpool.so", "libconnpool.so.0"):
        out.append(("next to the package", str(package_dir / name)))
    for path in _repo_build_candidates(package_dir):
        out.append(("build tree", str(path)))
    out.append(("system loader", "libconnpool.so.0"))
    found = ctypes.util.find_library("connpool")
    if found:
        out.append(("system loader (find_library)", found))
    return out


def _load() -> tuple[ctypes.CDLL, str]:
    explicit = os.environ.get("CONNPOOL_LIBRARY")
    if explicit:
        try:
            return ctypes.CDLL(explicit), explicit
        except OSError as exc:
            raise LibraryNotFoundError(
                f"cannot load libconnpool from CONNPOOL_LIBRARY={explicit!r}: {exc}"
            ) from None
    tried = []
    for where, name in _candidates():
        is_path = os.sep in name
        if is_path and not os.path.exists(name):
            tried.append(f"  {where}: {name} (not found)")
            continue
        try:
            return ctypes.CDLL(name), name
        except OSError as exc:
            tried.append(f"  {where}: {name} ({exc})")
    raise LibraryNotFoundError(
        "cannot find libconnpool; looked in:\n  CONNPOOL_LIBRARY: (not set)\n"
        + "\n".join(tried)
        + "\nBuild it (cmake --build build) or set CONNPOOL_LIBRARY=/path/to/libconnpool.so"
    )


class _Functions:
    """A namespace of bound functions; attributes are the C names without the prefix too."""


def _bind(cdll: ctypes.CDLL, path: str):
    lib = _Functions()
    fast = _Functions()
    missing = []
    pydll = ctypes.PyDLL(path, handle=cdll._handle)
    for name, restype, argtypes, blocking in SIGNATURES:
        try:
            f = getattr(cdll, name)
        except AttributeError:
            missing.append(name)
            stub = MissingSymbol(name, path)
            setattr(lib, name, stub)
            setattr(fast, name, stub)
            continue
        f.restype = restype
        f.argtypes = argtypes
        setattr(lib, name, f)
        if blocking:
            setattr(fast, name, f)
        else:
            g = getattr(pydll, name)
            g.restype = restype
            g.argtypes = argtypes
            setattr(fast, name, g)
    return lib, fast, missing


_cdll, path = _load()
lib, fast, missing = _bind(_cdll, path)


def has(name: str) -> bool:
    """True if the loaded library exports `name`."""
    return name not in missing


def _check_version() -> None:
    number = lib.connpool_version_number()
    major = number // 10000
    if major != ABI_MAJOR:
        raise LibraryNotFoundError(
            f"{path} is libconnpool {lib.connpool_version().decode()} (ABI major {major}); this "
            f"binding needs ABI major {ABI_MAJOR}"
        )


_check_version()
