"""What every field of saved state is checked as: saved state is input, and a field of the
wrong type or range is refused with SavedStateError naming it (never its value)."""

from __future__ import annotations

import math
from typing import Any

from exporter.exposition.native_histogram import NATIVE_FORM, SCHEMA_MAX, SCHEMA_MIN, NativeState
from exporter.ledger.counts import HistogramState


class SavedStateError(ValueError):
    """Saved state that cannot be used; the message names the field."""


def as_mapping(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SavedStateError(f"{field}: must be an object")
    return value


def as_list(value: Any, field: str) -> list[Any]:
    if not isinstance(value, list):
        raise SavedStateError(f"{field}: must be a list")
    return value


def as_bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise SavedStateError(f"{field}: must be true or false")
    return value


def as_count(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SavedStateError(f"{field}: must be a non-negative integer")
    return value


def as_number(value: Any, field: str, minimum: float | None = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SavedStateError(f"{field}: must be a number")
    converted = float(value)
    if not math.isfinite(converted) or (minimum is not None and converted < minimum):
        raise SavedStateError(f"{field}: must be a finite number of at least {minimum:g}")
    return converted


def as_optional_number(value: Any, field: str, minimum: float | None = 0.0) -> float | None:
    return None if value is None else as_number(value, field, minimum)


def as_strings(value: Any, field: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SavedStateError(f"{field}: must be a list of strings")
    return tuple(value)


def as_histogram(value: Any, field: str, layout: tuple[float, ...]) -> HistogramState:
    """A saved histogram (``Histogram.to_state``); its buckets None when there are not as many
    as ``layout`` has (kept with another bucket layout)."""
    saved = as_mapping(value, field)
    raw = as_list(saved.get("buckets"), f"{field}.buckets")
    buckets = [as_count(n, f"{field}.buckets[{i}]") for i, n in enumerate(raw)]
    count = as_count(saved.get("count"), f"{field}.count")
    total = as_number(saved.get("total"), f"{field}.total")
    if sum(buckets) > count:
        raise SavedStateError(f"{field}: more observations in buckets than in count")
    native = saved.get("native")
    if native is not None:
        native = as_native(native, f"{field}.native", count)
    return HistogramState(buckets if len(buckets) == len(layout) else None, count, total, native)


def as_native(value: Any, field: str, count: int) -> NativeState:
    """A saved native histogram (``NativeHistogram.to_state``) of a histogram of ``count``
    observations: its buckets by increasing index, each populated, adding up to its count."""
    saved = as_mapping(value, field)
    if saved.get("form") != NATIVE_FORM:
        raise SavedStateError(f"{field}.form: must be {NATIVE_FORM}")
    schema = saved.get("schema")
    if type(schema) is not int or not SCHEMA_MIN <= schema <= SCHEMA_MAX:
        raise SavedStateError(f"{field}.schema: must be a whole number from -4 to 8")
    limit = 1100 << max(schema, 0)  # beyond the bucket of the largest and smallest floats
    buckets: list[tuple[int, int]] = []
    for i, entry in enumerate(as_list(saved.get("buckets"), f"{field}.buckets")):
        entry = as_list(entry, f"{field}.buckets[{i}]")
        index = entry[0] if len(entry) == 2 else None
        if type(index) is not int or abs(index) > limit or (buckets and index <= buckets[-1][0]):
            raise SavedStateError(f"{field}.buckets[{i}]: must be [index, count], by index")
        if as_count(entry[1], f"{field}.buckets[{i}][1]") == 0:
            raise SavedStateError(f"{field}.buckets[{i}][1]: must be at least 1")
        buckets.append((index, entry[1]))
    state = NativeState(
        schema,
        as_number(saved.get("zero_threshold"), f"{field}.zero_threshold"),
        as_count(saved.get("zero_count"), f"{field}.zero_count"),
        as_count(saved.get("count"), f"{field}.count"),
        as_number(saved.get("sum"), f"{field}.sum"),
        tuple(buckets),
    )
    if state.zero_count + sum(n for _, n in buckets) != state.count:
        raise SavedStateError(f"{field}: its buckets do not add up to its count")
    if state.count > count:
        raise SavedStateError(f"{field}.count: more than the histogram's count")
    return state
