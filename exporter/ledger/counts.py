"""A ledger's counts as plain typed values: what ``JobLedger.resume`` continues from.

Whoever kept the counts (the state file) reads them back, checks them, and hands them over in
this form; the ledger takes them as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from exporter.exposition.native_histogram import NativeState
from exporter.ledger.departed import DepartedRecord
from exporter.ledger.usage import Readings, UsageKey
from exporter.model import Phase

# last_seen, counted, started, seen_pending, finished_at, readings, run, absent_since: the
# fields of a ``runs.KnownJob`` in their order
KnownState = tuple[float, bool, bool, bool, float | None, Readings, float | None, float | None]
Values = tuple[str, ...]  # attribution label values; () without attribution


@dataclass(frozen=True, slots=True)
class HistogramState:
    """A histogram's buckets, or None when they were kept with another bucket layout; its
    native part (None: saved without one)."""

    buckets: list[int] | None
    count: int
    total: float
    native: NativeState | None = None


@dataclass(frozen=True, slots=True)
class SavedObserved:
    """An observed value's histograms (``ledger.observed``): the bucket bounds they were kept
    with, and each one's buckets by histogram label values."""

    bounds: tuple[float, ...]
    series: dict[Values, HistogramState]


@dataclass(frozen=True, slots=True)
class LedgerState:
    baselined: bool
    baseline_time: float | None
    baseline_until: float | None
    last_complete: float | None
    submitted: dict[Values, int]
    finished: dict[tuple[Phase, str, str, Values], int]
    duration: dict[tuple[Phase, Values], HistogramState]
    queue_wait: dict[Values, HistogramState]
    # the usage values the runs' readings are of, in their order, and each one's counts
    usage: tuple[str, ...]
    usage_totals: dict[str, dict[UsageKey, float]]
    known: dict[str, list[KnownState]]  # the runs remembered of each id, one or more
    attribution: tuple[dict[str, list[str]], dict[str, int]] | None = None  # slots, overflow
    departed_key: bytes | None = None  # None: kept before departed runs were kept apart
    departed: tuple[DepartedRecord, ...] = ()
    departed_evicted: int = 0
    # by observed value's name; {}: kept before observed values were
    observed: dict[str, SavedObserved] = field(default_factory=dict)
