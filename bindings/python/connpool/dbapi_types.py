"""PEP 249 type objects and constructors for :mod:`connpool.dbapi`, and PostgreSQL arrays in
results (one-dimensional or nested, of the element types :mod:`connpool.types` converts)."""

from __future__ import annotations

import datetime as _dt
import time as _time

from . import types as _t


class DBAPITypeObject:
    """Compares equal to each type OID of its group: ``cursor.description[i][1] == STRING``."""

    __slots__ = ("name", "oids")

    def __init__(self, name: str, *oids: int) -> None:
        self.name = name
        self.oids = frozenset(oids)

    def __eq__(self, other) -> bool:
        if isinstance(other, DBAPITypeObject):
            return self is other
        return other in self.oids

    def __ne__(self, other) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash((self.name, self.oids))

    def __repr__(self) -> str:
        return f"<connpool.dbapi.{self.name} {sorted(self.oids)}>"


UNKNOWN = 705
STRING = DBAPITypeObject("STRING", _t.TEXT, _t.VARCHAR, _t.BPCHAR, _t.NAME, _t.CHAR, UNKNOWN)
BINARY = DBAPITypeObject("BINARY", _t.BYTEA)
NUMBER = DBAPITypeObject(
    "NUMBER", _t.INT2, _t.INT4, _t.INT8, _t.OID, _t.FLOAT4, _t.FLOAT8, _t.NUMERIC
)
DATETIME = DBAPITypeObject(
    "DATETIME", _t.DATE, _t.TIME, _t.TIMETZ, _t.TIMESTAMP, _t.TIMESTAMPTZ, _t.INTERVAL
)
#: PostgreSQL has no ROWID; its nearest are oid and the tuple address tid (27).
ROWID = DBAPITypeObject("ROWID", _t.OID, 27)

# ---- constructors ------------------------------------------------------------------------------
Date = _dt.date
Time = _dt.time
Timestamp = _dt.datetime
Binary = bytes


def DateFromTicks(ticks: float) -> _dt.date:  # noqa: N802 - PEP 249 names
    return Date(*_time.localtime(ticks)[:3])


def TimeFromTicks(ticks: float) -> _dt.time:  # noqa: N802
    return Time(*_time.localtime(ticks)[3:6])


def TimestampFromTicks(ticks: float) -> _dt.datetime:  # noqa: N802
    return Timestamp(*_time.localtime(ticks)[:6])


# ---- arrays in results -------------------------------------------------------------------------
#: array type OID -> element type OID (the element types connpool.types converts).
ARRAY_ELEMENTS = {
    1000: _t.BOOL,
    1001: _t.BYTEA,
    1002: _t.CHAR,
    1003: _t.NAME,
    1005: _t.INT2,
    1007: _t.INT4,
    1009: _t.TEXT,
    1014: _t.BPCHAR,
    1015: _t.VARCHAR,
    1016: _t.INT8,
    1021: _t.FLOAT4,
    1022: _t.FLOAT8,
    1028: _t.OID,
    1115: _t.TIMESTAMP,
    1182: _t.DATE,
    1183: _t.TIME,
    1185: _t.TIMESTAMPTZ,
    1187: _t.INTERVAL,
    1231: _t.NUMERIC,
    1270: _t.TIMETZ,
    2951: _t.UUID,
    199: _t.JSON,
    3807: _t.JSONB,
}


def _parse_array(s: str, i: int, element) -> tuple[list, int]:
    """Parses the array literal opening at s[i] == "{"; returns (list, index past "}")."""
    out: list = []
    i += 1
    if s[i] == "}":
        return out, i + 1
    while True:
        c = s[i]
        if c == "{":
            value, i = _parse_array(s, i, element)
        elif c == '"':
            j = i + 1
            chars = []
            while s[j] != '"':
                if s[j] == "\\":
                    j += 1
                chars.append(s[j])
                j += 1
            value = element("".join(chars).encode("utf-8"))
            i = j + 1
        else:
            j = i
            while s[j] not in ",}":
                j += 1
            token = s[i:j]
            value = None if token == "NULL" else element(token.encode("utf-8"))
            i = j
        out.append(value)
        if s[i] == ",":
            i += 1
        else:  # "}"
            return out, i + 1


def array_decoder(array_oid: int):
    """A function(str in PostgreSQL's array output) -> nested lists, or None for a type that is
    not an array of a known element type."""
    element_oid = ARRAY_ELEMENTS.get(array_oid)
    if element_oid is None:
        return None
    element = _t.decoder(element_oid)

    def decode(text):
        if not isinstance(text, str):
            return text
        if text.startswith("["):  # explicit bounds, e.g. "[0:1]={1,2}"
            text = text[text.index("=") + 1 :]
        return _parse_array(text, 0, element)[0]

    return decode
