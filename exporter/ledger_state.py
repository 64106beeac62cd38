"""A job ledger's saved form (``JobLedger.to_state``), checked field by field before use.

Whatever store holds it, saved state is input: a wrong-typed field restored as is fails every
later poll, and a negative count is exported as a negative counter. ``check_ledger_state`` turns
the JSON-ready data back into typed values or raises SavedStateError naming the first bad field
(never its value), so the caller can start that target clean.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .histogram import JOB_DURATION_BUCKETS, QUEUE_WAIT_BUCKETS
from .model import TERMINAL_PHASES, Phase

# last_seen, counted, started, seen_pending, finished_at, cu_hours, run, absent_since
KnownState = tuple[float, bool, bool, bool, float | None, float | None, str, float | None]


class SavedStateError(ValueError):
    """Saved state that cannot be used; the message names the field."""


@dataclass(frozen=True, slots=True)
class HistogramState:
    """Saved buckets, or None when they were saved with another bucket layout."""

    buckets: list[int] | None
    count: int
    total: float


@dataclass(frozen=True, slots=True)
class LedgerState:
    baselined: bool
    baseline_time: float | None
    last_complete: float | None
    submitted: int
    finished: dict[tuple[Phase, str], int]
    duration: dict[Phase, HistogramState]
    queue_wait: HistogramState
    cu_seconds: dict[str, float]
    known: dict[str, KnownState]


def _mapping(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SavedStateError(f"{field}: must be an object")
    return value


def _list(value: Any, field: str) -> list[Any]:
    if not isinstance(value, list):
        raise SavedStateError(f"{field}: must be a list")
    return value


def _bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise SavedStateError(f"{field}: must be true or false")
    return value


def _count(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SavedStateError(f"{field}: must be a non-negative integer")
    return value


def _number(value: Any, field: str, minimum: float | None = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SavedStateError(f"{field}: must be a number")
    number = float(value)
    if not math.isfinite(number) or (minimum is not None and number < minimum):
        raise SavedStateError(f"{field}: must be a finite number of at least {minimum:g}")
    return number


def _optional_number(value: Any, field: str, minimum: float | None = 0.0) -> float | None:
    return None if value is None else _number(value, field, minimum)


def _phase(value: Any, field: str) -> Phase:
    if value not in {phase.value for phase in TERMINAL_PHASES}:
        raise SavedStateError(f"{field}: must be one of the terminal phases")
    return Phase(value)


def _histogram(value: Any, field: str, layout: tuple[float, ...]) -> HistogramState:
    saved = _mapping(value, field)
    raw = _list(saved.get("buckets"), f"{field}.buckets")
    buckets = [_count(n, f"{field}.buckets[{i}]") for i, n in enumerate(raw)]
    count = _count(saved.get("count"), f"{field}.count")
    total = _number(saved.get("total"), f"{field}.total")
    if sum(buckets) > count:
        raise SavedStateError(f"{field}: more observations in buckets than in count")
    return HistogramState(buckets if len(buckets) == len(layout) else None, count, total)


def _known(value: Any, field: str) -> KnownState:
    """One ``known`` entry; those saved before runs and absences were kept have 6 fields."""
    entry = _list(value, field)
    if len(entry) not in (6, 8):
        raise SavedStateError(f"{field}: must have 6 or 8 entries")
    last_seen, counted, started, seen_pending, finished_at, cu_hours, *rest = entry
    run, absent_since = rest if rest else ("", None)
    if not isinstance(run, str):
        raise SavedStateError(f"{field}[6]: must be a string")
    return (
        _number(last_seen, f"{field}[0]"),
        _bool(counted, f"{field}[1]"),
        _bool(started, f"{field}[2]"),
        _bool(seen_pending, f"{field}[3]"),
        _optional_number(finished_at, f"{field}[4]", minimum=None),
        _optional_number(cu_hours, f"{field}[5]"),
        run,
        _optional_number(absent_since, f"{field}[7]"),
    )


def check_ledger_state(value: Any) -> LedgerState:
    """``value`` as typed, range-checked ledger state; SavedStateError names the bad field."""
    state = _mapping(value, "(state)")
    finished: dict[tuple[Phase, str], int] = {}
    for i, entry in enumerate(_list(state.get("finished"), "finished")):
        entry = _list(entry, f"finished[{i}]")
        if len(entry) != 3 or not isinstance(entry[1], str):
            raise SavedStateError(f"finished[{i}]: must be [phase, status, count]")
        phase = _phase(entry[0], f"finished[{i}][0]")
        finished[(phase, entry[1])] = _count(entry[2], f"finished[{i}][2]")
    duration = {
        _phase(phase, "duration"): _histogram(saved, f"duration.{phase}", JOB_DURATION_BUCKETS)
        for phase, saved in _mapping(state.get("duration"), "duration").items()
    }
    cu_seconds = {
        queue: _number(seconds, "cu_seconds")
        for queue, seconds in _mapping(state.get("cu_seconds"), "cu_seconds").items()
    }
    known = {
        key: _known(entry, "known") for key, entry in _mapping(state.get("known"), "known").items()
    }
    return LedgerState(
        baselined=_bool(state.get("baselined"), "baselined"),
        # absent from state saved before it existed
        baseline_time=_optional_number(state.get("baseline_time"), "baseline_time", None),
        last_complete=_optional_number(state.get("last_complete"), "last_complete", None),
        submitted=_count(state.get("submitted"), "submitted"),
        finished=finished,
        duration=duration,
        queue_wait=_histogram(state.get("queue_wait"), "queue_wait", QUEUE_WAIT_BUCKETS),
        cu_seconds=cu_seconds,
        known=known,
    )
