"""A job ledger in its saved form, and back: JSON-ready data a state file keeps.

``to_state`` is everything counted (the gauges are rebuilt by the next poll); ``counts_state``
is the part rewritten at every save, without the remembered runs, which are saved one id at a
time (``saved_runs``) as the ledger's journal names them. ``restore`` checks saved data field by
field (``saved_ledger``), then against the ledger it is for, before the ledger takes any of it.

Without attribution (and without histogram labels) every count has the form earlier versions
saved; with it, each entry names its label values.
"""

from __future__ import annotations

from collections.abc import Mapping

from exporter.exposition.labels import OTHER
from exporter.ledger.attribution import SAVED_FORM, AttributionValues, Slots
from exporter.ledger.counts import LedgerState
from exporter.ledger.departed import DepartedRecord
from exporter.ledger.job_ledger import JobLedger
from exporter.ledger.journal import Changes
from exporter.ledger.runs import KnownJob, Remembered
from exporter.store.native_notes import native_notes
from exporter.store.saved_ledger import check_ledger_state
from exporter.store.saved_observed import saved_observed
from exporter.store.saved_usage import aligned, saved_readings, saved_usage


def to_state(ledger: JobLedger) -> dict:
    """Everything ``ledger`` counted, as JSON-ready data."""
    return counts_state(ledger) | {
        "known": {key: saved_runs(entry) for key, entry in ledger.known.items()},
        "departed": [saved_departed(record) for record in ledger.departed.records()],
    }


def saved_departed(record: DepartedRecord) -> list:
    """A departed record as saved: its readings as a run's are (``saved_usage``)."""
    digest, run, absent, finished, readings, flags = record
    return [digest, run, absent, finished, saved_readings(readings), flags]


def counts_state(ledger: JobLedger) -> dict:
    """``to_state`` without the remembered runs and departed records."""
    state = {
        "baselined": ledger.baselined,
        "baseline_time": ledger.baseline_time,
        "baseline_until": ledger.baseline_until,
        "last_complete": ledger.last_complete,
        "finished": [
            [phase.value, status, n, reason, list(values)]
            if reason or values
            else [phase.value, status, n]
            for (phase, status, reason, values), n in ledger.finished.items()
        ],
        "departed_key": ledger.departed.key.hex(),
        "departed_evicted": ledger.evicted,
        **saved_usage(tuple(u.name for u in ledger.usage), ledger.usage_totals),
        **saved_observed(ledger.observed),
    }
    if ledger.slots is None:
        state["submitted"] = ledger.submitted.get((), 0)
    else:
        state["submitted"] = [[list(values), n] for values, n in ledger.submitted.items()]
        state["attribution"] = _slots_state(ledger.slots)
    if not ledger.histogram_labels:
        state["duration"] = {p.value: h.to_state() for (p, _), h in ledger.duration.items()}
        state["queue_wait"] = ledger.queue_wait[()].to_state()
    else:
        state["duration"] = [
            [p.value, list(values), h.to_state()] for (p, values), h in ledger.duration.items()
        ]
        state["queue_wait"] = [[list(v), h.to_state()] for v, h in ledger.queue_wait.items()]
    return state


def _slots_state(slots: Slots) -> dict:
    return {
        "values": {label: list(values) for label, values in slots.values.items()},
        "overflow": dict(slots.overflow),
        "form": SAVED_FORM,
    }


def _run_state(known: KnownJob) -> list:
    """One run: ``last_seen``, then ``kept_fields()``, with the run as text: its whole
    milliseconds, "" for none (the form saved before runs were matched within a tolerance)."""
    run = "" if known.run is None else str(round(known.run * 1000))
    return [
        known.last_seen,
        known.counted,
        known.started,
        known.seen_pending,
        known.finished_at,
        saved_readings(known.readings),
        run,
        known.absent_since,
    ]


def saved_runs(entry: Remembered) -> list:
    """An id's saved form: its run's, or the list of its runs'."""
    return _run_state(entry) if type(entry) is KnownJob else [_run_state(k) for k in entry]


def changed_runs(ledger: JobLedger, changes: Changes) -> dict[str, list]:
    """The saved form of the ids whose runs ``changes`` name (of every id when whole), of
    those still remembered."""
    known = ledger.known
    if changes.whole:
        return {key: saved_runs(entry) for key, entry in known.items()}
    return {key: saved_runs(known[key]) for key in changes.runs if key in known}


def restore(ledger: JobLedger, state: object) -> tuple[str, ...]:
    """``ledger`` (new) continues from ``to_state`` data: counters carry on from their saved
    values. Everything is checked before anything is taken: SavedStateError (naming the field)
    or ValueError leaves the ledger as it was. Returns what became of the native histograms
    (``native_notes``), for the log."""
    saved = aligned(check_ledger_state(state), tuple(u.name for u in ledger.usage))
    _check_labels(ledger, saved)
    _check_usage(ledger, saved)
    ledger.resume(saved)
    ledger.journal.clear()  # the store it came from holds all of it
    if saved.departed_key is None:  # saved before: its counted absent runs depart now
        ledger.depart_absent()
    return native_notes(ledger, saved)


def _check_labels(ledger: JobLedger, saved: LedgerState) -> None:
    """ValueError unless the counts were saved by a ledger of the same attribution labels, each
    under values that hold a slot (so the series stay within the cap)."""
    widths = {len(ledger.labels)} | ({0} if ledger.slots is None else set())
    saved_widths = {len(v) for v in saved.submitted} | {len(k[3]) for k in saved.finished}
    if not saved_widths <= widths:
        raise ValueError("counts saved with other attribution labels")
    slots: Mapping[str, list[str]] = {}
    if ledger.slots is not None:
        if saved.attribution is None:
            raise ValueError("attribution: missing")
        slots = saved.attribution[0]
        ledger.slots.check(slots)
    counted = [
        *saved.submitted,
        *(k[3] for k in saved.finished),
        *(values for series in saved.usage_totals.values() for _, values in series),
    ]
    histograms = [
        *(values for _, values in saved.duration),
        *saved.queue_wait,
        *(values for kept in saved.observed.values() for values in kept.series),
    ]
    if not all(_held(v, ledger.labels, slots) for v in counted) or not all(
        _held(v, ledger.histogram_labels, slots) for v in histograms
    ):
        raise ValueError("attribution: counts saved under values that hold no slot")


def _check_usage(ledger: JobLedger, saved: LedgerState) -> None:
    """ValueError unless each usage value's counts are split by as many labels as it is."""
    for usage in ledger.usage:
        if any(
            len(split) != len(usage.split_by) for split, _ in saved.usage_totals.get(usage.name, {})
        ):
            raise ValueError(f"usage_totals.{usage.name}: split by other labels")


def _held(
    values: AttributionValues, labels: tuple[str, ...], slots: Mapping[str, list[str]]
) -> bool:
    """Whether saved counts of ``values`` (of ``labels``) are ones a ledger could have made:
    each value empty, ``other``, or holding its label's slot in ``slots``."""
    if len(values) != len(labels):
        return False
    return all(
        v in ("", OTHER) or v in slots[label] for label, v in zip(labels, values, strict=True)
    )
