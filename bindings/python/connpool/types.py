"""Conversions between PostgreSQL's text format and Python values.

Results come back in PostgreSQL's text output format; each column is converted by its type OID:

==========================================  ===============================================
PostgreSQL type (OID)                       Python
==========================================  ===============================================
int2 (21), int4 (23), int8 (20), oid (26)   int
float4 (700), float8 (701)                  float (NaN, inf, -inf included)
numeric (1700)                              decimal.Decimal (NaN, Infinity included)
bool (16)                                   bool
text (25), varchar (1043), bpchar (1042),   str
name (19), "char" (18)
bytea (17)                                  bytes (hex and escape output formats)
date (1082)                                 datetime.date
time (1083), timetz (1266)                  datetime.time (timetz: tz-aware)
timestamp (1114)                            datetime.datetime (naive)
timestamptz (1184)                          datetime.datetime (aware; the session's TimeZone)
interval (1186)                             datetime.timedelta (1 mon = 30 days, 1 year = 365 days)
uuid (2950)                                 uuid.UUID
json (114), jsonb (3802)                    parsed with json.loads
NULL (any type)                             None
anything else                               str (PostgreSQL's text output)
==========================================  ===============================================

Dates and times are parsed in the ISO ``DateStyle`` (PostgreSQL's default) and intervals in the
default ``postgres`` ``IntervalStyle``. Values Python's types cannot hold (``infinity``, BC dates,
years after 9999, ``24:00:00``) or other styles come back as ``str`` rather than failing.

Parameters (``$1``, ``$2``...) are sent as text and typed by the server from the statement:
None -> NULL; bool -> ``true``/``false``; int; float (``NaN``/``Infinity``); Decimal; str; bytes,
bytearray, memoryview -> bytea hex (``\\x...``); date, time, datetime (ISO 8601, with the offset
when aware); timedelta -> an interval; UUID; dict and list -> JSON text. Anything else raises
TypeError. A parameter the server cannot infer a type for needs a cast (``$1::int``).
"""

from __future__ import annotations

import datetime as _dt
import decimal as _decimal
import json as _json
import math as _math
import re as _re
import uuid as _uuid

from .errors import InvalidArgument

# ---- OIDs --------------------------------------------------------------------------------------
BOOL = 16
BYTEA = 17
CHAR = 18
NAME = 19
INT8 = 20
INT2 = 21
INT4 = 23
TEXT = 25
OID = 26
JSON = 114
FLOAT4 = 700
FLOAT8 = 701
BPCHAR = 1042
VARCHAR = 1043
DATE = 1082
TIME = 1083
TIMESTAMP = 1114
TIMESTAMPTZ = 1184
INTERVAL = 1186
TIMETZ = 1266
NUMERIC = 1700
UUID = 2950
JSONB = 3802


# ---- text -> Python ----------------------------------------------------------------------------
def _text(b: bytes) -> str:
    return b.decode("utf-8")


def _bool(b: bytes) -> bool:
    return b == b"t"


def _numeric(b: bytes) -> _decimal.Decimal:
    return _decimal.Decimal(b.decode("ascii"))


def _bytea(b: bytes) -> bytes:
    if b[:2] == b"\\x":
        return bytes.fromhex(b[2:].decode("ascii"))
    # bytea_output = 'escape': printable bytes as is, \\ for a backslash, \ooo for the rest.
    out = bytearray()
    i, n = 0, len(b)
    while i < n:
        c = b[i]
        if c != 0x5C:  # backslash
            out.append(c)
            i += 1
        elif b[i + 1 : i + 2] == b"\\":
            out.append(0x5C)
            i += 2
        else:
            out.append(int(b[i + 1 : i + 4], 8))
            i += 4
    return bytes(out)


def _or_text(parse):
    def convert(b: bytes):
        try:
            return parse(b.decode("ascii"))
        except ValueError:
            return b.decode("utf-8")

    convert.__name__ = parse.__name__
    return convert


_date = _or_text(_dt.date.fromisoformat)
_time = _or_text(_dt.time.fromisoformat)
_timestamp = _or_text(_dt.datetime.fromisoformat)

_INTERVAL_RE = _re.compile(
    r"^(?:([+-]?\d+) years? ?)?(?:([+-]?\d+) mons? ?)?(?:([+-]?\d+) days? ?)?"
    r"(?:([+-])?(\d+):(\d\d):(\d\d)(?:\.(\d{1,6}))?)?$"
)


def _interval_parse(s: str) -> _dt.timedelta:
    m = _INTERVAL_RE.match(s)
    if m is None or not s:
        raise ValueError(s)
    years, mons, days, sign, hh, mm, ss, frac = m.groups()
    total_days = int(years or 0) * 365 + int(mons or 0) * 30 + int(days or 0)
    td = _dt.timedelta(days=total_days)
    if hh is not None:
        t = _dt.timedelta(
            hours=int(hh), minutes=int(mm), seconds=int(ss),
            microseconds=int((frac or "0").ljust(6, "0")),
        )
        td = td - t if sign == "-" else td + t
    return td


_interval = _or_text(_interval_parse)


def _uuid_parse(b: bytes) -> _uuid.UUID:
    return _uuid.UUID(b.decode("ascii"))


def _json_parse(b: bytes):
    return _json.loads(b)


#: OID -> function(bytes) -> value. Extend it to register more types.
DECODERS = {
    BOOL: _bool,
    BYTEA: _bytea,
    CHAR: _text,
    NAME: _text,
    INT8: int,
    INT2: int,
    INT4: int,
    TEXT: _text,
    OID: int,
    JSON: _json_parse,
    FLOAT4: float,
    FLOAT8: float,
    BPCHAR: _text,
    VARCHAR: _text,
    DATE: _date,
    TIME: _time,
    TIMESTAMP: _timestamp,
    TIMESTAMPTZ: _timestamp,
    INTERVAL: _interval,
    TIMETZ: _time,
    NUMERIC: _numeric,
    UUID: _uuid_parse,
    JSONB: _json_parse,
}


def decoder(oid: int):
    """The text -> Python function for a type OID (str for unknown types)."""
    return DECODERS.get(oid, _text)


# ---- Python -> text ----------------------------------------------------------------------------
def _enc_str(v: str) -> bytes:
    if "\x00" in v:
        raise InvalidArgument("a str parameter contains a NUL character, which PostgreSQL text cannot hold")
    return v.encode("utf-8")


def _enc_bool(v) -> bytes:
    return b"true" if v else b"false"


def _enc_int(v) -> bytes:
    return str(int(v)).encode("ascii")


def _enc_float(v) -> bytes:
    v = float(v)
    if _math.isnan(v):
        return b"NaN"
    if _math.isinf(v):
        return b"Infinity" if v > 0 else b"-Infinity"
    return repr(v).encode("ascii")


def _enc_decimal(v: _decimal.Decimal) -> bytes:
    if v.is_nan():
        return b"NaN"  # also sNaN
    return str(v).encode("ascii")


def _enc_bytes(v) -> bytes:
    return b"\\x" + bytes(v).hex().encode("ascii")


def _enc_datetime(v: _dt.datetime) -> bytes:
    return v.isoformat(sep=" ").encode("ascii")


def _enc_isoformat(v) -> bytes:
    return v.isoformat().encode("ascii")


def _enc_timedelta(v: _dt.timedelta) -> bytes:
    return f"{v.days} days {v.seconds} seconds {v.microseconds} microseconds".encode("ascii")


def _enc_uuid(v: _uuid.UUID) -> bytes:
    return str(v).encode("ascii")


def _enc_json(v) -> bytes:
    return _enc_str(_json.dumps(v))


#: exact type -> function(value) -> bytes (subclasses are found through ENCODER_BASES).
ENCODERS = {
    str: _enc_str,
    bool: _enc_bool,
    int: _enc_int,
    float: _enc_float,
    _decimal.Decimal: _enc_decimal,
    bytes: _enc_bytes,
    bytearray: _enc_bytes,
    memoryview: _enc_bytes,
    _dt.datetime: _enc_datetime,
    _dt.date: _enc_isoformat,
    _dt.time: _enc_isoformat,
    _dt.timedelta: _enc_timedelta,
    _uuid.UUID: _enc_uuid,
    dict: _enc_json,
    list: _enc_json,
}

# Order matters: bool before int, datetime before date.
ENCODER_BASES = [
    (bool, _enc_bool),
    (int, _enc_int),
    (float, _enc_float),
    (_decimal.Decimal, _enc_decimal),
    (str, _enc_str),
    ((bytes, bytearray, memoryview), _enc_bytes),
    (_dt.datetime, _enc_datetime),
    ((_dt.date, _dt.time), _enc_isoformat),
    (_dt.timedelta, _enc_timedelta),
    (_uuid.UUID, _enc_uuid),
    ((dict, list), _enc_json),
]


def encode(value) -> bytes | None:
    """One parameter as PostgreSQL text (bytes), or None for SQL NULL."""
    if value is None:
        return None
    enc = ENCODERS.get(type(value))
    if enc is None:
        for base, fn in ENCODER_BASES:
            if isinstance(value, base):
                enc = fn
                break
        else:
            raise TypeError(
                f"cannot send a {type(value).__name__} as a query parameter; pass a str "
                f"(with a cast in the SQL, e.g. $1::mytype) or one of the supported types"
            )
    return enc(value)
