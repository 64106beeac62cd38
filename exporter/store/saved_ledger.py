"""A job ledger's saved form (``ledger_form.to_state``), checked field by field before use.

Whatever store holds it, saved state is input: a wrong-typed field restored as is fails every
later poll, and a negative count is exported as a negative counter. ``check_ledger_state`` turns
the JSON-ready data back into typed values (``counts.LedgerState``) or raises SavedStateError
naming the first bad field (never its value), so the caller can start that target clean. Runs
are saved with their time as text, the whole milliseconds of it ("" for none), and read back as
seconds.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from exporter.exposition.histogram import JOB_DURATION_BUCKETS, QUEUE_WAIT_BUCKETS
from exporter.ledger.attribution import SAVED_FORM, upgraded
from exporter.ledger.counts import HistogramState, KnownState, LedgerState, SavedObserved, Values
from exporter.ledger.departed import FLAGS, DepartedRecord
from exporter.model import TERMINAL_PHASES, Phase
from exporter.store.saved_fields import (
    SavedStateError,
    as_bool,
    as_count,
    as_histogram,
    as_list,
    as_mapping,
    as_number,
    as_optional_number,
    as_strings,
)
from exporter.store.saved_observed import observed
from exporter.store.saved_usage import readings, usage_names, usage_totals

_RUN = re.compile(r"-?[0-9]{1,18}")


def _phase(value: Any, field: str) -> Phase:
    if value not in {phase.value for phase in TERMINAL_PHASES}:
        raise SavedStateError(f"{field}: must be one of the terminal phases")
    return Phase(value)


def _values(value: Any, field: str) -> Values:
    return as_strings(value, field)


def _submitted(value: Any) -> dict[Values, int]:
    """A count (no attribution) or [[label values], count] entries."""
    if not isinstance(value, list):
        return {(): as_count(value, "submitted")}
    out = {}
    for i, entry in enumerate(value):
        entry = as_list(entry, f"submitted[{i}]")
        if len(entry) != 2:
            raise SavedStateError(f"submitted[{i}]: must be [label values, count]")
        out[_values(entry[0], f"submitted[{i}][0]")] = as_count(entry[1], f"submitted[{i}][1]")
    return out


def _finished(value: Any) -> dict[tuple[Phase, str, str, Values], int]:
    """[phase, status, count] entries, or [phase, status, count, reason, label values]."""
    finished = {}
    for i, entry in enumerate(as_list(value, "finished")):
        entry = as_list(entry, f"finished[{i}]")
        if len(entry) not in (3, 5) or not isinstance(entry[1], str):
            raise SavedStateError(f"finished[{i}]: must be [phase, status, count, ...]")
        phase = _phase(entry[0], f"finished[{i}][0]")
        reason, values = entry[3:] if len(entry) == 5 else ("", [])
        if not isinstance(reason, str):
            raise SavedStateError(f"finished[{i}][3]: must be a string")
        series = (phase, entry[1], reason, _values(values, f"finished[{i}][4]"))
        finished[series] = as_count(entry[2], f"finished[{i}][2]")
    return finished


def _durations(value: Any) -> dict[tuple[Phase, Values], HistogramState]:
    """{phase: histogram} (no histogram labels) or [phase, label values, histogram] entries."""
    if not isinstance(value, list):
        return {
            (_phase(phase, "duration"), ()): as_histogram(
                saved, f"duration.{phase}", JOB_DURATION_BUCKETS
            )
            for phase, saved in as_mapping(value, "duration").items()
        }
    out = {}
    for i, entry in enumerate(value):
        entry = as_list(entry, f"duration[{i}]")
        if len(entry) != 3:
            raise SavedStateError(f"duration[{i}]: must be [phase, label values, histogram]")
        series = (_phase(entry[0], f"duration[{i}][0]"), _values(entry[1], f"duration[{i}][1]"))
        out[series] = as_histogram(entry[2], f"duration[{i}]", JOB_DURATION_BUCKETS)
    return out


def _queue_waits(value: Any) -> dict[Values, HistogramState]:
    """A histogram (no histogram labels) or [label values, histogram] entries."""
    if not isinstance(value, list):
        return {(): as_histogram(value, "queue_wait", QUEUE_WAIT_BUCKETS)}
    out = {}
    for i, entry in enumerate(value):
        entry = as_list(entry, f"queue_wait[{i}]")
        if len(entry) != 2:
            raise SavedStateError(f"queue_wait[{i}]: must be [label values, histogram]")
        values = _values(entry[0], f"queue_wait[{i}][0]")
        out[values] = as_histogram(entry[1], f"queue_wait[{i}]", QUEUE_WAIT_BUCKETS)
    return out


def _attribution(value: Any) -> tuple[dict[str, list[str]], dict[str, int]] | None:
    """The slots each attribution label's values hold, and the overflow counts."""
    if value is None:
        return None
    saved = as_mapping(value, "attribution")
    if saved.get("form", 1) not in (1, SAVED_FORM):  # 1: saved before "form" was
        raise SavedStateError(f"attribution.form: must be 1 or {SAVED_FORM}")
    values = {
        str(label): list(_values(v, f"attribution.values.{label}"))
        for label, v in as_mapping(saved.get("values"), "attribution.values").items()
    }
    overflow = {
        str(label): as_count(n, "attribution.overflow")
        for label, n in as_mapping(saved.get("overflow"), "attribution.overflow").items()
    }
    return values, overflow


def _run(value: Any, field: str) -> float | None:
    """A run's saved time: "" (none), or whole milliseconds as text."""
    if not isinstance(value, str) or (value and not _RUN.fullmatch(value)):
        raise SavedStateError(f"{field}: must be a time in milliseconds, as text, or empty")
    return int(value) / 1000 if value else None


def _known_run(value: Any, field: str, width: int) -> KnownState:
    """One remembered run, its readings of ``width`` usage values; those saved before runs and
    absences were kept have 6 fields."""
    entry = as_list(value, field)
    if len(entry) not in (6, 8):
        raise SavedStateError(f"{field}: must have 6 or 8 entries")
    last_seen, counted, started, seen_pending, finished_at, saved, *rest = entry
    run, absent_since = rest if rest else ("", None)
    return (
        as_number(last_seen, f"{field}[0]"),
        as_bool(counted, f"{field}[1]"),
        as_bool(started, f"{field}[2]"),
        as_bool(seen_pending, f"{field}[3]"),
        as_optional_number(finished_at, f"{field}[4]", minimum=None),
        readings(saved, f"{field}[5]", width),
        _run(run, f"{field}[6]"),
        as_optional_number(absent_since, f"{field}[7]"),
    )


def _known(value: Any, field: str, width: int) -> list[KnownState]:
    """The runs remembered of one id: one run's entry, or (an id handed out again) a list of
    two or more runs' entries, each with its time."""
    entry = as_list(value, field)
    if not entry or not isinstance(entry[0], list):
        return [_known_run(entry, field, width)]
    if len(entry) < 2:
        raise SavedStateError(f"{field}: a list of runs must have two or more")
    runs = [_known_run(run, f"{field}[{i}]", width) for i, run in enumerate(entry)]
    if any(run[6] is None for run in runs):
        raise SavedStateError(f"{field}: each of several runs must have its time")
    return runs


_INT64 = 2**63


def _int64(value: Any, field: str) -> int:
    if type(value) is not int or not -_INT64 <= value < _INT64:
        raise SavedStateError(f"{field}: must be a 64-bit integer")
    return value


def _departed_record(value: Any, field: str, width: int) -> DepartedRecord:
    """One departed run: digest, run (ms), absent_since, finished_at, readings, flags."""
    record = as_list(value, field)
    if len(record) != 6:
        raise SavedStateError(f"{field}: must have 6 entries")
    digest, run, absent, finished, saved, flags = record
    if type(flags) is not int or flags & ~FLAGS:
        raise SavedStateError(f"{field}[5]: must be flags from 0 to {FLAGS}")
    return (
        _int64(digest, f"{field}[0]"),
        _int64(run, f"{field}[1]"),
        as_number(absent, f"{field}[2]"),
        as_optional_number(finished, f"{field}[3]", minimum=None),
        readings(saved, f"{field}[4]", width),
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
    state = as_mapping(value, "(state)")
    finished = _finished(state.get("finished"))
    duration = _durations(state.get("duration"))
    usage = usage_names(state)
    totals = usage_totals(state, usage)
    saved_known = as_mapping(state.get("known"), "known")
    known = {key: _known(entry, "known", len(usage)) for key, entry in saved_known.items()}
    departed = tuple(
        _departed_record(record, f"departed[{i}]", len(usage))
        for i, record in enumerate(as_list(state.get("departed", []), "departed"))
    )
    checked = LedgerState(
        baselined=as_bool(state.get("baselined"), "baselined"),
        # absent from state saved before it existed
        baseline_time=as_optional_number(state.get("baseline_time"), "baseline_time", None),
        # saved before the baseline's second was taken whole: the baseline time itself
        baseline_until=as_optional_number(
            state.get("baseline_until", state.get("baseline_time")), "baseline_until", None
        ),
        last_complete=as_optional_number(state.get("last_complete"), "last_complete", None),
        submitted=_submitted(state.get("submitted")),
        finished=finished,
        duration=duration,
        queue_wait=_queue_waits(state.get("queue_wait")),
        usage=usage,
        usage_totals=totals,
        known=known,
        attribution=_attribution(state.get("attribution")),
        departed_key=_departed_key(state.get("departed_key"), departed),
        departed=departed,
        departed_evicted=as_count(state.get("departed_evicted", 0), "departed_evicted"),
        observed=observed(state),
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
        observed={
            name: SavedObserved(kept.bounds, {values(v): h for v, h in kept.series.items()})
            for name, kept in state.observed.items()
        },
        usage_totals={
            name: {(split, values(v)): n for (split, v), n in series.items()}
            for name, series in state.usage_totals.items()
        },
        attribution=({label: list(values(v)) for label, v in slots.items()}, overflow),
    )
