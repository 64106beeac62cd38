"""What restoring a ledger's saved histograms does to their native parts, in words for the log:
the rules are those of ``NativeHistogram.restore`` (a saved histogram keeps its resolution and
zero threshold, reduced to a lower configured schema; one saved without a native part starts
it empty), and a ledger keeping no native parts (``native_histograms.enabled: false``) drops
the saved ones."""

from __future__ import annotations

from exporter.ledger.counts import HistogramState, LedgerState
from exporter.ledger.job_ledger import JobLedger


def _restored(ledger: JobLedger, saved: LedgerState) -> list[HistogramState]:
    """The saved histograms ``ledger`` carries on from with a native part."""
    layouts = ledger.layouts
    observed = {
        value.name: layout.native is not None
        for value, layout in zip(ledger.observed.observed, ledger.observed.layouts, strict=True)
    }
    states = [
        *(s for s in saved.duration.values() if layouts.duration.native is not None),
        *(s for s in saved.queue_wait.values() if layouts.queue_wait.native is not None),
        *(
            state
            for name, kept in saved.observed.items()
            if observed.get(name)
            for state in kept.series.values()
        ),
    ]
    return [state for state in states if state.buckets is not None]


def native_notes(ledger: JobLedger, saved: LedgerState) -> tuple[str, ...]:
    """One line for each kind of change restoring ``saved`` makes to native histograms."""
    settings = ledger.native
    if settings is None:
        return _dropped(saved)
    states = _restored(ledger, saved)
    natives = [state.native for state in states if state.native is not None]
    schema, threshold = settings.schema, settings.zero_threshold
    counts = (
        sum(1 for state in states if state.native is None and state.count),
        sum(1 for native in natives if native.schema > schema),
        sum(1 for native in natives if native.schema < schema),
        sum(1 for native in natives if native.zero_threshold != threshold),
    )
    notes = (
        "saved without native histograms: they count from now on, and until they hold every "
        "observation only the classic buckets are sent",
        f"saved at a higher schema: reduced to schema {schema}",
        f"saved at a lower schema than {schema}: kept (a resolution cannot be raised)",
        "saved with another zero threshold: kept",
    )
    return tuple(f"{n} histograms {note}" for n, note in zip(counts, notes, strict=True) if n)


def _dropped(saved: LedgerState) -> tuple[str, ...]:
    """The note of a ledger keeping no native parts restoring ``saved``: those saved are gone,
    and if they are kept again later they start empty."""
    states = [
        *saved.duration.values(),
        *saved.queue_wait.values(),
        *(state for kept in saved.observed.values() for state in kept.series.values()),
    ]
    n = sum(1 for state in states if state.native is not None and state.buckets is not None)
    return (f"{n} histograms saved with a native part: dropped (not enabled)",) if n else ()
