"""Tolerant readers for JSON fields and items: APIs send numbers as strings, nulls, wrong types,
and now and then a value no field can use."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

from exporter.errors import PollError
from exporter.http.decode import TypedRecord

log = logging.getLogger(__name__)
T = TypeVar("T")


MAX_TEXT_INTEGER = 10**40  # an integer this long is no id or name (decode.MAX_INTEGER_DIGITS)


def text(value: Any) -> str:
    """A string field; numbers become their text, anything else "" (an integer too long to
    be anything but damage too, whichever decoder read it)."""
    if type(value) is str:  # the common case first: this runs for every field of every job
        return value
    if isinstance(value, float) or (
        isinstance(value, int) and not isinstance(value, bool) and abs(value) < MAX_TEXT_INTEGER
    ):
        return str(value)
    return ""


def word(value: Any) -> str:
    """A string field from a small vocabulary (a status, a type): interned, so the thousands of
    jobs holding it share one string instead of one copy each."""
    return sys.intern(text(value))


MAX_MAGNITUDE = float(2**63)  # no field read here holds more than a signed 64-bit integer


def number(value: Any) -> float | None:
    """A finite number of usable magnitude from an int, float or numeric string; None otherwise.

    Beyond ``MAX_MAGNITUDE`` a value is a broken or hostile answer, not a size, count or time.
    """
    if type(value) is int:
        return float(value) if -MAX_MAGNITUDE < value < MAX_MAGNITUDE else None
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, int | float) and -MAX_MAGNITUDE < value < MAX_MAGNITUDE:
        return float(value)  # NaN fails both comparisons
    return None


def mapping(value: Any) -> dict[str, Any]:
    """An object field, or {} when it is anything else."""
    return value if isinstance(value, dict) else {}


_MILLISECONDS_FROM = 1e11  # epoch values at or above this are milliseconds
_LAST_EPOCH = 253402300799.0  # 9999-12-31T23:59:59Z: anything later is no time an API reports


def parse_epoch(value: Any) -> float | None:
    """Epoch seconds from an int, float or numeric string; None when unset or unusable."""
    if type(value) is int:  # the common case first: two of these per job
        seconds: float | None = float(value) if 0 < value < MAX_MAGNITUDE else None
    else:
        seconds = number(value)
    if seconds is None or seconds <= 0:
        return None
    if seconds >= _MILLISECONDS_FROM:
        seconds /= 1000.0
    return seconds if seconds <= _LAST_EPOCH else None


_MAX_TIME_CHARS = 64  # the longest RFC 3339 time (nanoseconds and an offset) is 35
_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"(?:[Zz]|([+-])([0-9]{2}):?([0-9]{2}))",
    re.ASCII,
)


def parse_time(value: Any) -> float | None:
    """Epoch seconds from an epoch number (``parse_epoch``'s rules) or an RFC 3339 time.

    A time string must carry ``Z`` or an offset (``+08:00``; ``+0800`` too): a naive one is
    refused (None), not read as UTC, since an API that leaves the offset out may mean its
    region's local time, and an unset time shows where a time 8 hours off would not. Fractional
    seconds are kept to the nanosecond; a leap second (``:60``) reads as the next second, as in
    epoch time. The same range as epoch numbers: after 1970 and no later than year 9999. A string
    of more than 64 characters is neither, and is not read.
    """
    if type(value) is not str:
        return parse_epoch(value)
    if len(value) > _MAX_TIME_CHARS:  # no time nor epoch number: a hostile string costs nothing
        return None
    match = _RFC3339.fullmatch(value.strip())
    if match is None:
        return parse_epoch(value)
    fields = [int(part) for part in match.group(1, 2, 3, 4, 5, 6)]
    second = fields[5]
    fields[5] = 59 if second == 60 else second
    fraction, sign, offset_hours, offset_minutes = match.group(7, 8, 9, 10)
    offset = timedelta()
    if sign:
        if int(offset_hours) > 23 or int(offset_minutes) > 59:
            return None
        offset = timedelta(hours=int(offset_hours), minutes=int(offset_minutes))
    try:
        moment = datetime(*fields, tzinfo=timezone(-offset if sign == "-" else offset))
    except ValueError:  # no such date or time of day (month 13, February 30, year 0)
        return None
    whole = int(moment.timestamp()) + (second == 60)
    nanoseconds = int((fraction or "")[:9].ljust(9, "0"))
    seconds = (whole * 10**9 + nanoseconds) / 10**9  # one rounding, to the nearest float
    return seconds if 0 < seconds <= _LAST_EPOCH else None


_MAX_QUANTITY_CHARS = 64  # 2^63 in full with 3 decimals is 23 characters: longer is damage
_QUANTITY = re.compile(
    r"([+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+))(?:[eE]([+-]?[0-9]+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)",
    re.ASCII,
)
_DECIMAL_SUFFIXES = {"n": -9, "u": -6, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}


def parse_quantity(value: Any) -> float | None:
    """A Kubernetes resource quantity (``500m``, ``4Gi``, ``1.5``, ``2e3``, ``-1k``) as a float,
    or an int or float as ``number`` reads it; None for anything else.

    The grammar of k8s.io/apimachinery ``resource.Quantity``: a signed decimal number (``5.``
    and ``.5`` included), then one of the decimal suffixes n u m k M G T P E, the binary ones
    Ki Mi Gi Ti Pi Ei, or an integer exponent ``e3``/``E-3`` (``1E`` is an exa, ``1E3`` a
    thousand). Surrounding spaces are allowed, as Kubernetes' JSON decoding trims them; a
    lone sign or point is not a number. The value is the nearest float, not rounded up to a
    thousandth as Kubernetes stores it; beyond ``MAX_MAGNITUDE`` it is None.
    """
    if type(value) is not str:
        return number(value)
    if len(value) > _MAX_QUANTITY_CHARS:
        return None
    match = _QUANTITY.fullmatch(value.strip())
    if match is None:
        return None
    digits, exponent, suffix = match.groups()
    if suffix in _BINARY_SUFFIXES:
        amount = float(digits) * 2.0 ** _BINARY_SUFFIXES[suffix]  # exact: a power of two
    else:  # the decimal scale goes into the text, so the float is rounded once
        amount = float(f"{digits}e{exponent or _DECIMAL_SUFFIXES.get(suffix or '', 0)}")
    return amount if -MAX_MAGNITUDE < amount < MAX_MAGNITUDE else None


def read_item(parse: Callable[[Any], T | None], item: Any) -> T | None:
    """``parse(item)``, or None when the item breaks the parser in a way it did not foresee:
    that one item is then skipped (and counted by the caller), never the whole answer."""
    try:
        return parse(item)
    except (ValueError, TypeError, OverflowError, RecursionError) as err:
        log.debug("unreadable item skipped: %s", type(err).__name__)
        return None


def read_items(parse: Callable[[Any], T | None], items: list[Any]) -> tuple[list[T], int]:
    """(what ``read_item`` makes of each of ``items``, in their order; how many it skipped).

    Consumes ``items``: each is freed as it is read, so the memory of an answer's records is
    reused by what is made of them instead of held beside it until the last is read (the
    peak of reading a page of many items is its records or its jobs, not both)."""
    made = []
    for index, item in enumerate(items):
        items[index] = None
        record = read_item(parse, item)
        if record is not None:
            made.append(record)
    return made, len(items) - len(made)


def listed_items(payload: Any, field: str, operation: str) -> list[Any]:
    """The list ``field`` of a list answer; a PollError when the answer has none."""
    if not isinstance(payload, dict | TypedRecord) or not isinstance(payload.get(field), list):
        raise PollError("parse", f"{operation}: answer has no {field} list")
    return payload.get(field)


def whole_number(value: Any) -> int | None:
    """A count the API sends (a number or a numeric string), as an int; None when it is not."""
    whole = number(value)
    return int(whole) if whole is not None else None
