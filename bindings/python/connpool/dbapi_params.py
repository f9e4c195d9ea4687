"""DB-API parameters: the ``pyformat`` placeholders of :mod:`connpool.dbapi` turned into
PostgreSQL's ``$1..$n``, and Python values turned into the text the server receives.

Placeholders (only when parameters are given, as psycopg2 does; ``execute(sql)`` and
``execute(sql, None)`` send ``sql`` untouched):

* ``%s`` takes the next value of a sequence; ``%(name)s`` takes ``params["name"]`` of a mapping
  (a name used twice becomes one ``$n``). One statement uses one kind.
* ``%%`` is a literal ``%`` everywhere (SQLAlchemy and psycopg2 code double every ``%``).
* Inside ``'...'`` and ``E'...'`` literals, ``"..."`` identifiers, ``--`` and ``/* */``
  comments and ``$tag$...$tag$`` dollar quotes, ``%s`` and ``%(name)s`` are plain text (they
  are never turned into ``$n``) and a lone ``%`` stays as it is.
* Elsewhere a ``%`` followed by a letter other than ``s`` (``%d``, ``%i``...) is an error: every
  value uses ``%s``, whatever its type. A ``%`` followed by anything else (``10 % 3``) is the
  modulo operator.
* A tuple value expands to a parenthesised list for ``IN``: ``WHERE id IN %s`` with ``((1, 2),)``
  sends ``WHERE id IN ($1,$2)``.

Literals are scanned with ``standard_conforming_strings = on`` (PostgreSQL's default since 9.1):
a backslash escapes only inside ``E'...'``.
"""

from __future__ import annotations

import functools
import json
import re

from .errors import ProgrammingError
from .types import encode

# ---- placeholders ------------------------------------------------------------------------------
_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$")


def _is_identifier_char(c: str) -> bool:
    return c.isalnum() or c in "_$" or c >= "\x80"


class Template:
    """A statement cut at its placeholders: ``parts[0] ref[0] parts[1] ... parts[-1]``.

    ``refs`` holds int positions (``%s``) or str names (``%(name)s``); ``named`` is None when the
    statement has no placeholder."""

    __slots__ = ("parts", "refs", "named", "names", "simple_sql")

    def __init__(self, parts: list[str], refs: list, named: bool | None) -> None:
        self.parts = tuple(parts)
        self.refs = tuple(refs)
        self.named = named
        # Named: each distinct name once, in order of first use ($1 is the first name used).
        self.names = tuple(dict.fromkeys(refs)) if named else ()
        slots = [self.names.index(r) + 1 for r in refs] if named else list(range(1, len(refs) + 1))
        self.simple_sql = _join(self.parts, [f"${n}" for n in slots])


def _join(parts, placeholders) -> str:
    out = [parts[0]]
    for ph, part in zip(placeholders, parts[1:]):
        out.append(ph)
        out.append(part)
    return "".join(out)


def _quoted_end(sql: str, i: int, quote: str, backslash: bool) -> int:
    """Index just past the literal/identifier opening at sql[i] (len(sql) if unterminated: the
    server then reports the syntax error)."""
    n = len(sql)
    j = i + 1
    while j < n:
        c = sql[j]
        if backslash and c == "\\":
            j += 2
        elif c == quote:
            if j + 1 < n and sql[j + 1] == quote:  # '' or "" inside
                j += 2
            else:
                return j + 1
        else:
            j += 1
    return n


def _block_comment_end(sql: str, i: int) -> int:
    """Index just past the /* comment */ opening at sql[i] (they nest in PostgreSQL)."""
    depth = 0
    n = len(sql)
    j = i
    while j < n:
        if sql.startswith("/*", j):
            depth += 1
            j += 2
        elif sql.startswith("*/", j):
            depth -= 1
            j += 2
            if depth == 0:
                return j
        else:
            j += 1
    return n


def _opaque_end(sql: str, i: int) -> int:
    """If a literal, identifier, comment or dollar quote opens at sql[i], the index past it;
    else -1."""
    c = sql[i]
    prev = sql[i - 1] if i else " "
    if c == "'":
        # E'...' (not the end of an identifier like "name'"): backslash escapes.
        escaped = prev in "eE" and (i < 2 or not _is_identifier_char(sql[i - 2]))
        return _quoted_end(sql, i, "'", escaped)
    if c == '"':
        return _quoted_end(sql, i, '"', False)
    if c == "-" and sql.startswith("--", i):
        end = sql.find("\n", i)
        return len(sql) if end < 0 else end + 1
    if c == "/" and sql.startswith("/*", i):
        return _block_comment_end(sql, i)
    if c == "$" and not _is_identifier_char(prev):
        m = _DOLLAR_TAG.match(sql, i)
        if m:
            end = sql.find(m.group(), m.end())
            return len(sql) if end < 0 else end + len(m.group())
    return -1


@functools.lru_cache(maxsize=512)
def parse(sql: str) -> Template:
    """Cuts ``sql`` at its ``%s`` / ``%(name)s`` placeholders (see the module docstring)."""
    parts: list[str] = []
    refs: list = []
    buf: list[str] = []
    named = None
    i = 0
    n = len(sql)
    while i < n:
        c = sql[i]
        if c != "%":
            end = _opaque_end(sql, i)
            if end < 0:
                buf.append(c)
                i += 1
            else:
                buf.append(sql[i:end].replace("%%", "%"))
                i = end
            continue
        nxt = sql[i + 1] if i + 1 < n else ""
        if nxt == "%":
            buf.append("%")
            i += 2
            continue
        if nxt == "s":
            ref, i = len(refs), i + 2
        elif nxt == "(":
            close = sql.find(")", i + 2)
            if close < 0 or sql[close + 1 : close + 2] != "s":
                raise ProgrammingError(
                    f"malformed placeholder at character {i + 1}: use %(name)s (and %% for a "
                    f"literal %)"
                )
            ref, i = sql[i + 2 : close], close + 2
        elif nxt.isalpha():
            raise ProgrammingError(
                f"unsupported placeholder %{nxt} at character {i + 1}: use %s for a value of "
                f"any type (or %(name)s, and %% for a literal %)"
            )
        else:  # the modulo operator, e.g. "10 % 3"
            buf.append("%")
            i += 1
            continue
        is_named = isinstance(ref, str)
        if named is not None and named != is_named:
            raise ProgrammingError("a statement cannot mix %s and %(name)s placeholders")
        named = is_named
        parts.append("".join(buf))
        buf = []
        refs.append(ref)
    parts.append("".join(buf))
    return Template(parts, refs, named)


def _is_sequence(params) -> bool:
    return isinstance(params, (list, tuple)) or (
        hasattr(params, "__getitem__") and hasattr(params, "__len__")
        and not isinstance(params, (str, bytes, bytearray, dict)) and not hasattr(params, "keys")
    )


def _values_for(template: Template, params) -> list:
    """The Python values of the placeholders, in $n order."""
    if template.named:
        if not hasattr(params, "keys"):
            raise ProgrammingError(
                f"the statement uses %(name)s placeholders: pass a mapping, not a "
                f"{type(params).__name__}"
            )
        try:
            return [params[name] for name in template.names]
        except KeyError as e:
            raise ProgrammingError(f"no value for placeholder %({e.args[0]})s") from None
    if template.named is None:
        if hasattr(params, "keys") or not len(params):
            return []
        raise ProgrammingError(
            f"the statement has no placeholder but {len(params)} parameter(s) were given (use "
            f"%s, or %% for a literal %)"
        )
    if not _is_sequence(params):
        raise ProgrammingError(
            f"the statement uses %s placeholders: pass a sequence (tuple or list), not a "
            f"{type(params).__name__}"
        )
    if len(params) != len(template.refs):
        raise ProgrammingError(
            f"the statement has {len(template.refs)} %s placeholder(s) but {len(params)} "
            f"parameter(s) were given"
        )
    return list(params)


def convert(sql: str, params) -> tuple[str, list]:
    """``(statement with $1..$n, [text bytes or None per $n])`` for ``execute(sql, params)``."""
    template = parse(sql)
    values = _values_for(template, params)
    if not any(type(v) is tuple for v in values):
        return template.simple_sql, [adapt(v) for v in values]
    # IN-list expansion: each tuple becomes ($k,...,$m); the statement text depends on lengths.
    slots: list[str] = []
    flat: list = []
    for v in values:
        if type(v) is tuple:
            if not v:
                raise ProgrammingError("an empty tuple cannot be expanded for IN (...)")
            first = len(flat) + 1
            flat.extend(adapt(x) for x in v)
            slots.append("(" + ",".join(f"${k}" for k in range(first, len(flat) + 1)) + ")")
        else:
            flat.append(adapt(v))
            slots.append(f"${len(flat)}")
    if template.named:
        by_name = dict(zip(template.names, slots))
        placeholders = [by_name[r] for r in template.refs]
    else:
        placeholders = slots
    return _join(template.parts, placeholders), flat


# ---- values ------------------------------------------------------------------------------------
class Json:
    """Sends a Python object as JSON text (for json/jsonb columns): ``Json({"a": 1})``.
    ``dumps`` replaces :func:`json.dumps` (e.g. ``functools.partial(json.dumps, default=str)``)."""

    __slots__ = ("obj", "dumps")

    def __init__(self, obj, dumps=None) -> None:
        self.obj = obj
        self.dumps = dumps or json.dumps

    def __repr__(self) -> str:
        return f"Json({self.obj!r})"


def _array_element(v) -> bytes:
    if v is None:
        return b"NULL"
    if isinstance(v, (list, tuple)):
        return _array_literal(v)
    text = adapt(v)
    return b'"' + text.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def _array_literal(values) -> bytes:
    return b"{" + b",".join(_array_element(v) for v in values) + b"}"


def adapt(value) -> bytes | None:
    """One value as the text PostgreSQL receives (None for NULL): :func:`connpool.types.encode`,
    plus lists (and tuples inside them) as arrays, :class:`Json`, and numpy scalars."""
    if value is None:
        return None
    if isinstance(value, Json):
        return value.dumps(value.obj).encode("utf-8")
    if isinstance(value, (list, tuple)):
        return _array_literal(value)
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        value = value.item()  # numpy.int64 and friends (pandas hands them over)
    try:
        return encode(value)
    except TypeError as e:
        raise ProgrammingError(str(e)) from None
