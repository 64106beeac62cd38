"""What the renderers read of a job ledger (``JobLedger.view``), and nothing else.

A view is made at every publish, so it copies nothing: its mappings are read-only proxies of
the ledger's own, the rest immutable values. It is read under the lock that every change of the
ledger holds, and dropped with it: the next poll changes what the proxies show.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from exporter.exposition.family import Family
from exporter.exposition.histogram import Histogram
from exporter.ledger.attribution import AttributionValues
from exporter.ledger.observed import ObservedCounts
from exporter.ledger.usage import UsageKey
from exporter.model import Job, Phase, StatusPairs

FinishedKey = tuple[Phase, str, str, AttributionValues]  # phase, status, reason, label values


class UsageCounts(NamedTuple):
    """A usage value's counter: its family, the job labels it is split by, its series, and
    the fixed labels of its samples."""

    family: Family
    split_by: tuple[str, ...]
    totals: Mapping[UsageKey, float]
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class LedgerView:
    """A target's tracked jobs and counts, as the job metrics show them."""

    known_pairs: StatusPairs  # every (phase, status) the backend knows
    labels: tuple[str, ...]  # the attribution labels, in their order; () without attribution
    histogram_labels: tuple[str, ...]  # those of them the histograms carry
    attributed: bool
    tracked: Mapping[str, Job]  # by id: the jobs the gauges show
    label_values: Callable[[Job], AttributionValues]  # a tracked job's, as admitted
    submitted: Mapping[AttributionValues, int]
    finished: Mapping[FinishedKey, int]
    duration: Mapping[tuple[Phase, AttributionValues], Histogram]
    queue_wait: Mapping[AttributionValues, Histogram]
    usage: tuple[UsageCounts, ...]  # one per usage value the backend declares
    observed: tuple[ObservedCounts, ...]  # one per observed value the backend declares
    departed: int  # runs kept as departed
    evicted: int  # departed runs forgotten early, at the cap
    overflow: Mapping[str, int]  # by attribution label: values past its cap
