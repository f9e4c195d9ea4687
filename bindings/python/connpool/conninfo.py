"""Connection strings from keyword arguments, as psycopg's ``make_conninfo`` builds them.

    >>> connpool.make_conninfo("dbname=app", host="db.example", password="it's secret")
    "dbname=app host=db.example password='it\\\\'s secret'"

The keywords and the parsing are libpq's own: the conninfo is parsed with ``PQconninfoParse``
(key=value strings and ``postgresql://`` URIs alike) and the keyword list comes from
``PQconndefaults``, both from the libpq that libconnpool itself loaded, so the binding repeats
neither. Keyword arguments override keys of the string; a ``None`` value leaves a key out
(removes it from the string). Values are quoted as libpq requires: single quotes around a value
that is empty or holds spaces, quotes or backslashes, with ``\\'`` and ``\\\\`` inside.
"""

from __future__ import annotations

import ctypes
import ctypes.util

from .errors import InvalidArgument

__all__ = ["conninfo_to_dict", "libpq_keywords", "make_conninfo"]


class _PQconninfoOption(ctypes.Structure):
    # libpq-fe.h's PQconninfoOption: stable since PostgreSQL 7.
    _fields_ = [
        ("keyword", ctypes.c_char_p),
        ("envvar", ctypes.c_char_p),
        ("compiled", ctypes.c_char_p),
        ("val", ctypes.c_char_p),
        ("label", ctypes.c_char_p),
        ("dispchar", ctypes.c_char_p),
        ("dispsize", ctypes.c_int),
    ]


_libpq = None


def _pq():
    """libpq, as the process already has it loaded (libconnpool depends on it)."""
    global _libpq
    if _libpq is None:
        from . import _ffi  # noqa: F401  (libconnpool, hence libpq, is loaded first)

        name = "libpq.so.5"
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            found = ctypes.util.find_library("pq")
            if not found:
                raise InvalidArgument("cannot load libpq to build a conninfo from keywords") from None
            lib = ctypes.CDLL(found)
        opts = ctypes.POINTER(_PQconninfoOption)
        lib.PQconninfoParse.restype = opts
        lib.PQconninfoParse.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]
        lib.PQconndefaults.restype = opts
        lib.PQconndefaults.argtypes = []
        lib.PQconninfoFree.restype = None
        lib.PQconninfoFree.argtypes = [opts]
        lib.PQfreemem.restype = None
        lib.PQfreemem.argtypes = [ctypes.c_void_p]
        _libpq = lib
    return _libpq


def _walk(options):
    i = 0
    while options[i].keyword is not None:
        yield options[i]
        i += 1


_keywords: frozenset | None = None


def libpq_keywords() -> frozenset:
    """Every connection keyword the loaded libpq knows (``host``, ``port``, ``dbname``...)."""
    global _keywords
    if _keywords is None:
        pq = _pq()
        options = pq.PQconndefaults()
        if not options:
            raise InvalidArgument("libpq could not list its connection keywords (out of memory)")
        try:
            _keywords = frozenset(o.keyword.decode() for o in _walk(options))
        finally:
            pq.PQconninfoFree(options)
    return _keywords


def conninfo_to_dict(conninfo: str = "", **kwargs) -> dict:
    """The keys set by ``conninfo`` (parsed by libpq: key=value or a URI), updated with
    ``kwargs`` (a ``None`` value removes the key)."""
    if not isinstance(conninfo, str):
        raise InvalidArgument(f"conninfo must be a str, not {type(conninfo).__name__}")
    out: dict = {}
    if conninfo:
        pq = _pq()
        errmsg = ctypes.c_void_p()
        options = pq.PQconninfoParse(conninfo.encode("utf-8"), ctypes.byref(errmsg))
        if not options:
            reason = "out of memory"
            if errmsg.value:
                reason = ctypes.string_at(errmsg.value).decode("utf-8", "replace").strip()
                pq.PQfreemem(errmsg)
            raise InvalidArgument(f"conninfo is not parsable: {_redact(reason, conninfo)}")
        try:
            for o in _walk(options):
                if o.val is not None:
                    out[o.keyword.decode()] = o.val.decode("utf-8")
        finally:
            pq.PQconninfoFree(options)
    for key, value in kwargs.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def _redact(reason: str, conninfo: str) -> str:
    # libpq quotes parts of the string in its messages ('missing "=" after "..."'): drop the
    # quoted fragments, which could be a password.
    parts = reason.split('"')
    return "".join(p if i % 2 == 0 else '"..."' for i, p in enumerate(parts))


def _quote(value) -> str:
    text = str(value) if not isinstance(value, bool) else ("1" if value else "0")
    if text and not any(c in text for c in " \t\n\r\f\v'\\"):
        return text
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def make_conninfo(conninfo: str = "", **kwargs) -> str:
    """A libpq key=value connection string from ``conninfo`` and keyword arguments (those
    override keys of the string; ``None`` removes a key). Without keyword arguments the string
    is returned as it is. Keywords libpq does not know raise :class:`InvalidArgument`."""
    if not kwargs:
        if not isinstance(conninfo, str):
            raise InvalidArgument(f"conninfo must be a str, not {type(conninfo).__name__}")
        return conninfo
    unknown = sorted(k for k in kwargs if k not in libpq_keywords())
    if unknown:
        raise InvalidArgument(
            f"unknown connection keyword(s) {', '.join(map(repr, unknown))}: libpq knows "
            f"{', '.join(sorted(libpq_keywords()))}"
        )
    params = conninfo_to_dict(conninfo, **kwargs)
    return " ".join(f"{key}={_quote(value)}" for key, value in params.items())
