"""Tolerant readers for JSON fields: APIs send numbers as strings, nulls, and wrong types."""

from __future__ import annotations

import math
import sys
from typing import Any


def text(value: Any) -> str:
    """A string field; numbers become their text, anything else ""."""
    if type(value) is str:  # the common case first: this runs for every field of every job
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return ""


def word(value: Any) -> str:
    """A string field from a small vocabulary (a status, a type): interned, so the thousands of
    jobs holding it share one string instead of one copy each."""
    return sys.intern(text(value))


def number(value: Any) -> float | None:
    """A finite number from an int, float or numeric string; None otherwise."""
    if type(value) is int:
        return float(value)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def mapping(value: Any) -> dict[str, Any]:
    """An object field, or {} when it is anything else."""
    return value if isinstance(value, dict) else {}


_MILLISECONDS_FROM = 1e11  # epoch values at or above this are milliseconds


def parse_epoch(value: Any) -> float | None:
    """Epoch seconds from an int, float or numeric string; None when unset or unusable."""
    seconds = float(value) if type(value) is int else number(value)
    if seconds is None or seconds <= 0:
        return None
    return seconds / 1000.0 if seconds >= _MILLISECONDS_FROM else seconds
