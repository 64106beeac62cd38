"""The usage values of a saved ledger (``ledger.usage``): which were saved, their counts, each
run's last readings, checked as ``saved_ledger`` checks the rest, and matched to the values the
ledger restoring them declares, by name.

State saves ``usage``, the names of the values in the order the readings are, and
``usage_totals``, each value's series as [split label values, attribution values, total]. A run
saves its readings as null (none known), a number (the one value's) or a list (several).
State saved before backends declared usage values has neither: its values were ``cu_hours``
alone, its runs' readings one number or null, and its counts ``cu_seconds`` by resource queue,
a {queue: seconds} object or [queue, label values, seconds] entries. Both load with the same
counts.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from exporter.ledger.counts import LedgerState, Values
from exporter.ledger.departed import DepartedRecord
from exporter.ledger.usage import Readings, UsageKey, kept
from exporter.store.saved_fields import SavedStateError, as_number, as_strings

LEGACY_USAGE = ("cu_hours",)  # the usage values of state saved before they were declared


def usage_names(state: dict) -> tuple[str, ...]:
    """The usage values saved, in the order of the runs' readings."""
    if "usage" not in state:
        return LEGACY_USAGE
    names = as_strings(state["usage"], "usage")
    if len(set(names)) != len(names):
        raise SavedStateError("usage: a value named twice")
    return names


def readings(value: Any, field: str, width: int) -> Readings:
    """A run's saved readings of ``width`` values: null, one number, or a list of ``width``."""
    if value is None:
        return ()
    if not isinstance(value, list):
        if width != 1:
            raise SavedStateError(f"{field}: must be a list of {width} readings")
        return (as_number(value, field),)
    if len(value) != width:
        raise SavedStateError(f"{field}: must be a list of {width} readings")
    return kept(
        tuple(None if v is None else as_number(v, f"{field}[{i}]") for i, v in enumerate(value))
    )


def saved_readings(readings: Readings) -> float | list | None:
    """A run's readings as saved (``readings`` reads them back)."""
    if not readings:
        return None
    return readings[0] if len(readings) == 1 else list(readings)


def usage_totals(state: dict, names: tuple[str, ...]) -> dict[str, dict[UsageKey, float]]:
    """Each usage value's counts, by its name."""
    if "usage" not in state:
        return {LEGACY_USAGE[0]: _legacy_cu_seconds(state.get("cu_seconds", {}))}
    saved = state.get("usage_totals")
    if not isinstance(saved, dict) or not set(saved) <= set(names):
        raise SavedStateError("usage_totals: must be an object of the values in usage")
    return {name: _totals(entries, f"usage_totals.{name}") for name, entries in saved.items()}


def _totals(value: Any, field: str) -> dict[UsageKey, float]:
    if not isinstance(value, list):
        raise SavedStateError(f"{field}: must be a list")
    out = {}
    for i, entry in enumerate(value):
        if not isinstance(entry, list) or len(entry) != 3:
            raise SavedStateError(f"{field}[{i}]: must be [split values, label values, total]")
        key = (as_strings(entry[0], f"{field}[{i}][0]"), as_strings(entry[1], f"{field}[{i}][1]"))
        out[key] = as_number(entry[2], f"{field}[{i}][2]")
    return out


def _legacy_cu_seconds(value: Any) -> dict[UsageKey, float]:
    """{queue: seconds} (no attribution) or [queue, label values, seconds] entries."""
    if isinstance(value, dict):
        return {((str(q),), ()): as_number(n, "cu_seconds") for q, n in value.items()}
    if not isinstance(value, list):
        raise SavedStateError("cu_seconds: must be an object or a list")
    out = {}
    for i, entry in enumerate(value):
        if not isinstance(entry, list) or len(entry) != 3 or not isinstance(entry[0], str):
            raise SavedStateError(f"cu_seconds[{i}]: must be [queue, label values, seconds]")
        values: Values = as_strings(entry[1], f"cu_seconds[{i}][1]")
        out[((entry[0],), values)] = as_number(entry[2], f"cu_seconds[{i}][2]")
    return out


def saved_usage(names: tuple[str, ...], totals: tuple[dict[UsageKey, float], ...]) -> dict:
    """The ``usage`` and ``usage_totals`` fields of a ledger counting ``names``."""
    return {
        "usage": list(names),
        "usage_totals": {
            name: [[list(split), list(values), n] for (split, values), n in series.items()]
            for name, series in zip(names, totals, strict=True)
        },
    }


def aligned(state: LedgerState, names: tuple[str, ...]) -> LedgerState:
    """``state`` with its runs' readings in the order of ``names`` (a ledger's usage values):
    a value not saved has no reading, one no longer declared is dropped with its counts."""
    if state.usage == names:
        return state
    where = [state.usage.index(n) if n in state.usage else None for n in names]

    def moved(old: Readings) -> Readings:
        return kept(tuple(None if i is None or not old else old[i] for i in where))

    def record(r: DepartedRecord) -> DepartedRecord:
        return (r[0], r[1], r[2], r[3], moved(r[4]), r[5])

    return replace(
        state,
        usage=names,
        usage_totals={n: t for n, t in state.usage_totals.items() if n in names},
        known={
            key: [(*run[:5], moved(run[5]), *run[6:]) for run in runs]
            for key, runs in state.known.items()
        },
        departed=tuple(record(r) for r in state.departed),
    )
