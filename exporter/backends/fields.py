"""Tolerant readers for JSON fields and items: APIs send numbers as strings, nulls, wrong types,
and now and then a value no field can use."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any, TypeVar

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
