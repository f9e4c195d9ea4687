"""Loading libconnpool and declaring every function of include/connpool/connpool.h for ctypes.

Two views of the same shared object are kept:

* ``lib`` -- a :class:`ctypes.CDLL`: the GIL is released for the duration of each call. Every
  function that can block (acquire, exec, wait_ready, close, free...) is called through it, so
  Python threads really run in parallel while they wait on the pool or the network.
* ``fast`` -- a :class:`ctypes.PyDLL` over the same handle: the GIL stays held. Only for the
  accessors that never block (reading a result, an error, a status name): with many threads,
  dropping and re-taking the GIL around a tiny accessor costs far more than the call itself
  (every release is a chance for another thread to take the GIL, and a wait to get it back).
* ``held`` -- PyDLL views (GIL kept) of the few blocking functions in :data:`HELD_WHEN_SAFE`
  whose only waits the caller can rule out; each caller states the condition it checked (see
  ``Connection._release`` in pool.py). Everywhere else, call them through ``lib``.

The status codes (``ERR_TIMEOUT``... and ``STATUS_NAMES``), the fields of ``connpool_stats``
(``STATS_FIELDS``) and the pool options with their kinds (``OPTIONS``) are not copied here: they
are read from the loaded library through its introspection functions when this module is
imported, so a status, statistic or option added to the library appears without a Python edit.

Library lookup order (the first that loads wins):

1. ``$CONNPOOL_LIBRARY`` (a path; if it is set and cannot be loaded, that is an error),
2. next to this package (``connpool/libconnpool.so*``, as a wheel that bundles it would have it),
3. the build tree of the repository this package sits in (``<repo>/build/libconnpool.so``),
4. the system loader (``libconnpool.so.0``, then ``ctypes.util.find_library("connpool")``).
"""

from __future__ import annotations

import collections
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

# ---- ABI structures ------------------------------------------------------------------------------
# The status codes, the fields of connpool_stats and the options are not copied here: they are
# read from the library when this module is loaded (see "Derived from the library" below).


class connpool_stats(ctypes.Structure):
    """Mirror of ``struct connpool_stats``: ``struct_size``, ``reserved0``, then one int64 per
    field that connpool_stats_field_describe() reports, at the offset it reports (the
    ``_fields_`` are set when the module is loaded; fields are only ever appended)."""


class connpool_lease_info(ctypes.Structure):
    """Mirror of ``struct connpool_lease_info`` (connpool_lease_get_info)."""

    _fields_ = [
        ("struct_size", c_uint32),
        ("backend_pid", c_int32),
        ("connection_id", c_uint64),
        ("created_at_us", c_int64),
        ("last_used_at_us", c_int64),
        ("use_count", c_int64),
        ("is_new", c_int32),
        ("reserved0", c_int32),
    ]


class connpool_option_info(ctypes.Structure):
    """Mirror of ``struct connpool_option_info`` (connpool_option_describe)."""

    _fields_ = [
        ("struct_size", c_uint32),
        ("reserved0", c_uint32),
        ("key", c_char_p),
        ("description", c_char_p),
        ("default_value", c_char_p),
        ("choices", c_char_p),
        ("min", c_int64),
        ("max", c_int64),
        ("kind", c_int32),
        ("reserved1", c_uint32),
    ]


class connpool_stats_field(ctypes.Structure):
    """Mirror of ``struct connpool_stats_field`` (connpool_stats_field_describe)."""

    _fields_ = [
        ("struct_size", c_uint32),
        ("reserved0", c_uint32),
        ("name", c_char_p),
        ("description", c_char_p),
        ("kind", c_int32),
        ("offset", c_uint32),
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
    ("connpool_status_description", c_char_p, [c_int32], False),
    # options
    ("connpool_options_new", c_int32, [P(c_void_p), ERR], False),
    ("connpool_options_set", c_int32, [c_void_p, c_char_p, c_char_p, ERR], False),
    ("connpool_option_count", c_int32, [], False),
    ("connpool_option_describe", c_int32, [P(connpool_option_info), c_int32, ERR], False),
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
    ("connpool_lease_keep_session", c_int32, [c_void_p, ERR], True),
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
    ("connpool_stats_field_count", c_int32, [], False),
    ("connpool_stats_field_describe", c_int32, [P(connpool_stats_field), c_int32, ERR], False),
    ("connpool_string_free", None, [c_void_p], False),
    ("connpool_misuse_count", c_int64, [], False),
    # logging into the host's logging (connpool/_logging.py): blocking, because setting a
    # callback waits for the delivery thread, which needs the GIL to call into Python
    ("connpool_log_set_callback", c_int32, [c_void_p, c_void_p, c_int32, ERR], True),
    ("connpool_pool_set_log_callback", c_int32, [c_void_p, c_void_p, c_void_p, c_int32, ERR], True),
    ("connpool_log_dropped_count", c_int64, [], False),
    # pools of a process, health, metrics, monitoring endpoints (registry calls may wait for
    # the registry's lock or close pools: GIL released)
    ("connpool_registry_get_or_create", c_int32, [P(c_void_p), c_char_p, c_char_p, c_void_p, ERR], True),
    ("connpool_registry_lookup", c_int32, [P(c_void_p), c_char_p, ERR], True),
    ("connpool_registry_names", c_int32, [P(c_void_p), ERR], True),
    ("connpool_registry_stats_json", c_int32, [P(c_void_p), ERR], True),
    ("connpool_registry_close", c_int32, [c_char_p, ERR], True),
    ("connpool_registry_close_all", c_int32, [ERR], True),
    ("connpool_registry_set_connection_budget", c_int32, [c_int32, ERR], True),
    ("connpool_pool_health", c_int32, [P(c_int32), c_void_p, ERR], False),
    ("connpool_pool_health_json", c_int32, [P(c_void_p), c_void_p, ERR], False),
    ("connpool_registry_health_json", c_int32, [P(c_void_p), P(c_int32), ERR], True),
    ("connpool_pool_metrics", c_int32, [P(c_void_p), c_void_p, c_int32, ERR], False),
    ("connpool_registry_metrics", c_int32, [P(c_void_p), c_int32, ERR], True),
    ("connpool_monitor_handle", c_int32,
     [P(c_int32), P(c_void_p), P(c_void_p), c_char_p, c_char_p, c_char_p, c_char_p, c_char_p, ERR], True),
    ("connpool_exporter_start", c_int32, [P(c_void_p), c_char_p, c_char_p, ERR], True),
    ("connpool_exporter_port", c_int32, [P(c_int32), c_void_p, ERR], False),
    ("connpool_exporter_stop", c_int32, [c_void_p], True),
    # run-time operations (issue 13); check and connect wait for the server: GIL released
    ("connpool_pool_resize", c_int32, [c_void_p, c_int32, c_int32, ERR], False),
    ("connpool_pool_pause", c_int32, [c_void_p, ERR], False),
    ("connpool_pool_resume", c_int32, [c_void_p, ERR], False),
    ("connpool_pool_drain", c_int32, [c_void_p, ERR], False),
    ("connpool_pool_check", c_int32, [P(c_int32), c_void_p, ERR], True),
    ("connpool_pool_set_conninfo", c_int32, [c_void_p, c_char_p, ERR], False),
    ("connpool_lease_get_info", c_int32, [P(connpool_lease_info), c_void_p, ERR], False),
    ("connpool_pool_connections_json", c_int32, [P(c_void_p), c_void_p, ERR], False),
    ("connpool_connect", c_int32, [P(c_void_p), c_char_p, c_void_p, ERR], True),
    # pool groups (connpool/group.py): every call may block or stop threads: GIL released
    ("connpool_group_create", c_int32, [P(c_void_p), c_char_p, c_void_p, ERR], True),
    ("connpool_group_wait_ready", c_int32, [c_void_p, c_int64, ERR], True),
    ("connpool_group_acquire", c_int32, [P(c_void_p), c_void_p, c_int32, c_int64, ERR], True),
    ("connpool_group_stats_json", c_int32, [P(c_void_p), c_void_p, ERR], True),
    ("connpool_group_close", c_int32, [c_void_p, ERR], True),
    ("connpool_group_free", c_int32, [c_void_p], True),
    # multiplexed statements (connpool/_mux.py)
    ("connpool_pool_exec", c_int32, [P(c_void_p), c_void_p, c_char_p, c_int32, P(c_char_p), c_int64, ERR], True),
    ("connpool_pool_exec_async", c_int32, [P(c_void_p), c_void_p, c_char_p, c_int32, P(c_char_p), c_int64, ERR], False),
    ("connpool_statement_fd", c_int32, [P(c_int32), c_void_p, ERR], False),
    ("connpool_statement_result", c_int32, [P(c_void_p), c_void_p, ERR], False),
    ("connpool_statement_wait", c_int32, [c_void_p, c_int64, ERR], True),
    ("connpool_statement_cancel", c_int32, [c_void_p], False),
    ("connpool_statement_free", c_int32, [c_void_p], False),
]


#: Blocking functions that are also bound on the PyDLL view as ``held.<name>``, for callers that
#: have ruled out what they wait for. connpool_lease_release: no server round trip; it waits only
#: for a connpool_lease_cancel running on the same lease in another thread, and a connection it
#: closes gets libpq's Terminate, which cannot wait when no statement is in flight (the output
#: buffer is empty), so a release of a lease with no statement pending and no possible
#: concurrent cancel never waits.
HELD_WHEN_SAFE = ("connpool_lease_release",)


class LibraryNotFoundError(ImportError):
    """libconnpool.so could not be loaded from any of the places searched."""


class IncompatibleLibraryError(LibraryNotFoundError):
    """The loaded libconnpool describes its ABI (statuses, statistics, options) in a way this
    binding cannot use: too old (no introspection) or inconsistent."""


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
    held = _Functions()
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
        if blocking and name not in HELD_WHEN_SAFE:
            setattr(fast, name, f)
            continue
        g = getattr(pydll, name)
        g.restype = restype
        g.argtypes = argtypes
        setattr(held if blocking else fast, name, g)
        if blocking:
            setattr(fast, name, f)
    for name in HELD_WHEN_SAFE:
        if not hasattr(held, name):
            setattr(held, name, getattr(lib, name))  # missing: the same stub
    return lib, fast, held, missing


_cdll, path = _load()
lib, fast, held, missing = _bind(_cdll, path)


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


# ---- derived from the library -------------------------------------------------------------------
# One fact, one place: statuses, statistics and options are read from the loaded library through
# its introspection functions, never copied from the header or the C++ sources.

_INTROSPECTION = (
    "connpool_status_name",
    "connpool_status_description",
    "connpool_option_count",
    "connpool_option_describe",
    "connpool_stats_field_count",
    "connpool_stats_field_describe",
)


def _incompatible(what: str) -> IncompatibleLibraryError:
    version = lib.connpool_version().decode()
    return IncompatibleLibraryError(f"{path} (libconnpool {version}): {what}")


def _check_introspection() -> None:
    lacking = [name for name in _INTROSPECTION if name in missing]
    if lacking:
        raise _incompatible(
            f"does not export {', '.join(lacking)}: this binding reads the statuses, statistics "
            f"and options from the library and needs a newer build (rebuild it, or set "
            f"CONNPOOL_LIBRARY to a newer one)"
        )


_check_introspection()

#: The text connpool_status_name() gives for a value the library does not define.
UNKNOWN_STATUS_NAME = "CONNPOOL_UNKNOWN_STATUS"
_STATUS_LIMIT = 4096  # far above any real status count: a guard against a broken library


def _read_statuses() -> tuple[dict[int, str], dict[int, str]]:
    """{value: name} and {value: description} for statuses 0, 1, 2... up to the first value
    connpool_status_name() calls unknown (the codes are contiguous)."""
    names: dict[int, str] = {}
    descriptions: dict[int, str] = {}
    for value in range(_STATUS_LIMIT):
        name = lib.connpool_status_name(value).decode()
        if name == UNKNOWN_STATUS_NAME:
            break
        if not name.startswith("CONNPOOL_"):
            raise _incompatible(f"connpool_status_name({value}) is {name!r}, not CONNPOOL_*")
        names[value] = name
        descriptions[value] = lib.connpool_status_description(value).decode()
    else:
        raise _incompatible(f"connpool_status_name() names more than {_STATUS_LIMIT} statuses")
    if names.get(0) != "CONNPOOL_OK":
        raise _incompatible(f"status 0 is {names.get(0, UNKNOWN_STATUS_NAME)!r}, not CONNPOOL_OK")
    return names, descriptions


#: status code -> symbolic name ("CONNPOOL_ERR_TIMEOUT"), as connpool_status_name() gives it.
STATUS_NAMES, STATUS_DESCRIPTIONS = _read_statuses()
# The module-level constants other code uses: OK, ERR_TIMEOUT... (the name without CONNPOOL_).
globals().update({name[len("CONNPOOL_") :]: value for value, name in STATUS_NAMES.items()})


def __getattr__(name: str):
    # Only reached for a name not set above: say why rather than a bare AttributeError.
    if name == "OK" or name.startswith("ERR_"):
        raise AttributeError(
            f"the libconnpool at {path} reports no status CONNPOOL_{name} (it reports "
            f"{', '.join(STATUS_NAMES.values())})"
        )
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _describe_failure(function: str, index: int, status: int, err) -> IncompatibleLibraryError:
    message = ""
    if err.value:
        message = lib.connpool_error_message(err.value).decode("utf-8", "replace")
        lib.connpool_error_free(err.value)
    name = STATUS_NAMES.get(status, status)
    return _incompatible(f"{function}(index {index}) failed with {name}: {message}")


# Values of connpool_stats_field.kind.
STAT_GAUGE = 1
STAT_COUNTER = 2

StatsField = collections.namedtuple("StatsField", ["name", "description", "kind", "offset"])
StatsField.__doc__ = "One int64 field of connpool_stats (connpool_stats_field_describe)."

_STATS_HEADER = 8  # struct_size and reserved0 (two uint32) precede the int64 fields
_INT64 = ctypes.sizeof(c_int64)


def _described(prefix: str, struct: type, last_field: str):
    """Yields (index, filled struct) for each item `<prefix>_count()` reports, described by
    `<prefix>_describe`; fails if the library fills less than this binding reads."""
    count, describe = getattr(lib, prefix + "_count"), getattr(lib, prefix + "_describe")
    needed = getattr(struct, last_field).offset + getattr(struct, last_field).size
    for index in range(count()):
        info = struct(struct_size=ctypes.sizeof(struct))
        err = c_void_p()
        status = describe(ctypes.byref(info), index, ctypes.byref(err))
        if status:
            raise _describe_failure(prefix + "_describe", index, status, err)
        if info.struct_size < needed:
            raise _incompatible(
                f"{prefix}_describe filled {info.struct_size} bytes of {struct.__name__}; "
                f"this binding needs {needed} (up to `{last_field}`)"
            )
        yield index, info


def _read_stats_fields() -> tuple[StatsField, ...]:
    out = []
    seen = set()
    for index, info in _described("connpool_stats_field", connpool_stats_field, "offset"):
        name = (info.name or b"").decode()
        expected = _STATS_HEADER + index * _INT64
        if not name.isidentifier() or name in seen or name in ("struct_size", "reserved0"):
            raise _incompatible(f"connpool_stats field {index} has an unusable name {name!r}")
        if info.offset != expected:
            raise _incompatible(
                f"connpool_stats field {index} ({name!r}) is at byte offset {info.offset}; this "
                f"binding mirrors connpool_stats as struct_size, reserved0, then contiguous int64 "
                f"fields, so it expected offset {expected}"
            )
        if info.kind not in (STAT_GAUGE, STAT_COUNTER):
            raise _incompatible(f"connpool_stats field {name!r} has an unknown kind {info.kind}")
        seen.add(name)
        out.append(StatsField(name, (info.description or b"").decode(), info.kind, info.offset))
    if not out:
        raise _incompatible("connpool_stats_field_count() is 0")
    return tuple(out)


#: Every field of connpool_stats, in struct order (connpool_stats_field_describe).
STATS_FIELDS = _read_stats_fields()
connpool_stats._fields_ = [("struct_size", c_uint32), ("reserved0", c_uint32)] + [
    (f.name, c_int64) for f in STATS_FIELDS
]


def stats_to_dict(stats: connpool_stats) -> dict[str, int]:
    """Every field of a filled ``connpool_stats``, by name, in struct order."""
    return {f.name: getattr(stats, f.name) for f in STATS_FIELDS}


# Values of connpool_option_info.kind.
OPTION_INTEGER = 1
OPTION_DURATION_MS = 2
OPTION_BOOLEAN = 3
OPTION_STRING = 4
OPTION_CHOICE = 5
_OPTION_KINDS = {
    OPTION_INTEGER: "integer",
    OPTION_DURATION_MS: "duration (ms)",
    OPTION_BOOLEAN: "boolean",
    OPTION_STRING: "string",
    OPTION_CHOICE: "choice",
}

OptionInfo = collections.namedtuple(
    "OptionInfo", ["key", "description", "default_value", "choices", "min", "max", "kind"]
)
OptionInfo.__doc__ = "One pool option, as connpool_option_describe() gives it."


def option_kind_name(kind: int) -> str:
    return _OPTION_KINDS.get(kind, f"kind {kind}")


def _read_options() -> dict[str, OptionInfo]:
    out: dict[str, OptionInfo] = {}
    for index, info in _described("connpool_option", connpool_option_info, "kind"):
        key = (info.key or b"").decode()
        if not key or key in out:
            raise _incompatible(f"option {index} has an empty or repeated key {key!r}")
        choices = (info.choices or b"").decode()
        out[key] = OptionInfo(
            key,
            (info.description or b"").decode(),
            (info.default_value or b"").decode(),
            tuple(c for c in choices.split(",") if c),
            info.min,
            info.max,
            info.kind,
        )
    return out


#: Every pool option, by key, in the library's order (connpool_option_describe).
OPTIONS = _read_options()
