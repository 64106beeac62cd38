"""A job ledger's saved form (``ledger_form.to_state``), checked field by field before use.

Whatever store holds it, saved state is input: a wrong-typed field restored as is fails every
later poll, and a negative count is exported as a negative counter. ``check_ledger_state`` turns
the JSON-ready data back into typed values (``counts.LedgerState``) or raises SavedStateError
naming the first bad field (never its value), so the caller can start that target clean. Runs
are saved with their time as text, the whole milliseconds of it ("" for none), and read back as
seconds.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from typing import Any

from exporter.exposition.histogram import JOB_DURATION_BUCKETS, QUEUE_WAIT_BUCKETS
from exporter.ledger.attribution import SAVED_FORM, upgraded
from exporter.ledger.counts import HistogramState, KnownState, LedgerState, Values
from exporter.ledger.departed import FLAGS, DepartedRecord
from exporter.model import TERMINAL_PHASES, Phase

_RUN = re.compile(r"-?[0-9]{1,18}")


class SavedStateError(ValueError):
    """Saved state that cannot be used; the message names the field."""


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


def _values(value: Any, field: str) -> Values:
    entry = _list(value, field)
    if not all(isinstance(v, str) for v in entry):
        raise SavedStateError(f"{field}: must be a list of strings")
    return tuple(entry)


def _submitted(value: Any) -> dict[Values, int]:
    """A count (no attribution) or [[label values], count] entries."""
    if not isinstance(value, list):
        return {(): _count(value, "submitted")}
    out = {}
    for i, entry in enumerate(value):
        entry = _list(entry, f"submitted[{i}]")
        if len(entry) != 2:
            raise SavedStateError(f"submitted[{i}]: must be [label values, count]")
        out[_values(entry[0], f"submitted[{i}][0]")] = _count(entry[1], f"submitted[{i}][1]")
    return out


def _finished(value: Any) -> dict[tuple[Phase, str, str, Values], int]:
    """[phase, status, count] entries, or [phase, status, count, reason, label values]."""
    finished = {}
    for i, entry in enumerate(_list(value, "finished")):
        entry = _list(entry, f"finished[{i}]")
        if len(entry) not in (3, 5) or not isinstance(entry[1], str):
            raise SavedStateError(f"finished[{i}]: must be [phase, status, count, ...]")
        phase = _phase(entry[0], f"finished[{i}][0]")
        reason, values = entry[3:] if len(entry) == 5 else ("", [])
        if not isinstance(reason, str):
            raise SavedStateError(f"finished[{i}][3]: must be a string")
        series = (phase, entry[1], reason, _values(values, f"finished[{i}][4]"))
        finished[series] = _count(entry[2], f"finished[{i}][2]")
    return finished


def _durations(value: Any) -> dict[tuple[Phase, Values], HistogramState]:
    """{phase: histogram} (no histogram labels) or [phase, label values, histogram] entries."""
    if not isinstance(value, list):
        return {
            (_phase(phase, "duration"), ()): _histogram(
                saved, f"duration.{phase}", JOB_DURATION_BUCKETS
            )
            for phase, saved in _mapping(value, "duration").items()
        }
    out = {}
    for i, entry in enumerate(value):
        entry = _list(entry, f"duration[{i}]")
        if len(entry) != 3:
            raise SavedStateError(f"duration[{i}]: must be [phase, label values, histogram]")
        series = (_phase(entry[0], f"duration[{i}][0]"), _values(entry[1], f"duration[{i}][1]"))
        out[series] = _histogram(entry[2], f"duration[{i}]", JOB_DURATION_BUCKETS)
    return out


def _queue_waits(value: Any) -> dict[Values, HistogramState]:
    """A histogram (no histogram labels) or [label values, histogram] entries."""
    if not isinstance(value, list):
        return {(): _histogram(value, "queue_wait", QUEUE_WAIT_BUCKETS)}
    out = {}
    for i, entry in enumerate(value):
        entry = _list(entry, f"queue_wait[{i}]")
        if len(entry) != 2:
            raise SavedStateError(f"queue_wait[{i}]: must be [label values, histogram]")
        values = _values(entry[0], f"queue_wait[{i}][0]")
        out[values] = _histogram(entry[1], f"queue_wait[{i}]", QUEUE_WAIT_BUCKETS)
    return out


def _cu_seconds(value: Any) -> dict[tuple[str, Values], float]:
    """{queue: seconds} (no attribution) or [queue, label values, seconds] entries."""
    if not isinstance(value, list):
        return {
            (str(queue), ()): _number(seconds, "cu_seconds")
            for queue, seconds in _mapping(value, "cu_seconds").items()
        }
    out = {}
    for i, entry in enumerate(value):
        entry = _list(entry, f"cu_seconds[{i}]")
        if len(entry) != 3 or not isinstance(entry[0], str):
            raise SavedStateError(f"cu_seconds[{i}]: must be [queue, label values, seconds]")
        series = (entry[0], _values(entry[1], f"cu_seconds[{i}][1]"))
        out[series] = _number(entry[2], f"cu_seconds[{i}][2]")
    return out


def _attribution(value: Any) -> tuple[dict[str, list[str]], dict[str, int]] | None:
    """The slots each attribution label's values hold, and the overflow counts."""
    if value is None:
        return None
    saved = _mapping(value, "attribution")
    if saved.get("form", 1) not in (1, SAVED_FORM):  # 1: saved before "form" was
        raise SavedStateError(f"attribution.form: must be 1 or {SAVED_FORM}")
    values = {
        str(label): list(_values(v, f"attribution.values.{label}"))
        for label, v in _mapping(saved.get("values"), "attribution.values").items()
    }
    overflow = {
        str(label): _count(n, "attribution.overflow")
        for label, n in _mapping(saved.get("overflow"), "attribution.overflow").items()
    }
    return values, overflow


def _run(value: Any, field: str) -> float | None:
    """A run's saved time: "" (none), or whole milliseconds as text."""
    if not isinstance(value, str) or (value and not _RUN.fullmatch(value)):
        raise SavedStateError(f"{field}: must be a time in milliseconds, as text, or empty")
    return int(value) / 1000 if value else None


def _known_run(value: Any, field: str) -> KnownState:
    """One remembered run; those saved before runs and absences were kept have 6 fields."""
    entry = _list(value, field)
    if len(entry) not in (6, 8):
        raise SavedStateError(f"{field}: must have 6 or 8 entries")
    last_seen, counted, started, seen_pending, finished_at, cu_hours, *rest = entry
    run, absent_since = rest if rest else ("", None)
    return (
        _number(last_seen, f"{field}[0]"),
        _bool(counted, f"{field}[1]"),
        _bool(started, f"{field}[2]"),
        _bool(seen_pending, f"{field}[3]"),
        _optional_number(finished_at, f"{field}[4]", minimum=None),
        _optional_number(cu_hours, f"{field}[5]"),
        _run(run, f"{field}[6]"),
        _optional_number(absent_since, f"{field}[7]"),
    )


def _known(value: Any, field: str) -> list[KnownState]:
    """The runs remembered of one id: one run's entry, or (an id handed out again) a list of
    two or more runs' entries, each with its time."""
    entry = _list(value, field)
    if not entry or not isinstance(entry[0], list):
        return [_known_run(entry, field)]
    if len(entry) < 2:
        raise SavedStateError(f"{field}: a list of runs must have two or more")
    runs = [_known_run(run, f"{field}[{i}]") for i, run in enumerate(entry)]
    if any(run[6] is None for run in runs):
        raise SavedStateError(f"{field}: each of several runs must have its time")
    return runs


_INT64 = 2**63


def _int64(value: Any, field: str) -> int:
    if type(value) is not int or not -_INT64 <= value < _INT64:
        raise SavedStateError(f"{field}: must be a 64-bit integer")
    return value


def _departed_record(value: Any, field: str) -> DepartedRecord:
    """One departed run: digest, run (ms), absent_since, finished_at, cu_hours, flags."""
    record = _list(value, field)
    if len(record) != 6:
        raise SavedStateError(f"{field}: must have 6 entries")
    digest, run, absent, finished, cu_hours, flags = record
    if type(flags) is not int or flags & ~FLAGS:
        raise SavedStateError(f"{field}[5]: must be flags from 0 to {FLAGS}")
    return (
        _int64(digest, f"{field}[0]"),
        _int64(run, f"{field}[1]"),
        _number(absent, f"{field}[2]"),
        _optional_number(finished, f"{field}[3]", minimum=None),
        _optional_number(cu_hours, f"{field}[4]"),
        flags,
    )


def _departed_key(value: Any, records: tuple[DepartedRecord, ...]) -> bytes | None:
    if value is None and not records:
        return None
    if not isinstance(value, str) or not re.fullmatch(r"[0-9a-f]{32}", value):
        raise SavedStateError("departed_key: must be 32 hexadecimal digits")
    return bytes.fromhex(value)


def check_ledger_state(value: Any) -> LedgerState:
    """``value`` as typed, range-checked ledger state; SavedStateError names the bad field."""
    state = _mapping(value, "(state)")
    finished = _finished(state.get("finished"))
    duration = _durations(state.get("duration"))
    cu_seconds = _cu_seconds(state.get("cu_seconds"))
    known = {
        key: _known(entry, "known") for key, entry in _mapping(state.get("known"), "known").items()
    }
    departed = tuple(
        _departed_record(record, f"departed[{i}]")
        for i, record in enumerate(_list(state.get("departed", []), "departed"))
    )
    checked = LedgerState(
        baselined=_bool(state.get("baselined"), "baselined"),
        # absent from state saved before it existed
        baseline_time=_optional_number(state.get("baseline_time"), "baseline_time", None),
        # saved before the baseline's second was taken whole: the baseline time itself
        baseline_until=_optional_number(
            state.get("baseline_until", state.get("baseline_time")), "baseline_until", None
        ),
        last_complete=_optional_number(state.get("last_complete"), "last_complete", None),
        submitted=_submitted(state.get("submitted")),
        finished=finished,
        duration=duration,
        queue_wait=_queue_waits(state.get("queue_wait")),
        cu_seconds=cu_seconds,
        known=known,
        attribution=_attribution(state.get("attribution")),
        departed_key=_departed_key(state.get("departed_key"), departed),
        departed=departed,
        departed_evicted=_count(state.get("departed_evicted", 0), "departed_evicted"),
    )
    # attribution values saved in form 1, before slots saved their form, are brought to form 2
    saved_form = state["attribution"].get("form", 1) if checked.attribution is not None else 2
    return checked if saved_form == SAVED_FORM else _upgraded(checked)


def _upgraded(state: LedgerState) -> LedgerState:
    """``state`` with every attribution value (the slots and the counts under them) saved in
    form 1 brought to form 2 (``attribution.upgraded``, which keeps distinct values distinct)."""

    def values(saved: Values) -> Values:
        return tuple(upgraded(v) for v in saved)

    slots, overflow = state.attribution or ({}, {})
    return replace(
        state,
        submitted={values(v): n for v, n in state.submitted.items()},
        finished={(p, s, r, values(v)): n for (p, s, r, v), n in state.finished.items()},
        duration={(p, values(v)): h for (p, v), h in state.duration.items()},
        queue_wait={values(v): h for v, h in state.queue_wait.items()},
        cu_seconds={(q, values(v)): n for (q, v), n in state.cu_seconds.items()},
        attribution=({label: list(values(v)) for label, v in slots.items()}, overflow),
    )
