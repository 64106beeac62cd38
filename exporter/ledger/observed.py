"""Observed values: a value a backend reports of each job (``Job.values``) that a ledger
observes once, in a histogram of its own, when it counts the job finished (the time a training
job spent queueing). The once-only and baseline rules are those of the job duration histogram:
a job counted finished is counted once, ever, so its values are observed once, ever.

A backend declares them (``backends.kit.extras``); the ledger is handed the ``Observed`` of each,
which says where a job carries its value and which family and buckets observe it. Their
histograms carry the target's histogram attribution labels, as the duration histogram does, and
a native part where their family declares one, as the duration histogram's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import NamedTuple

from exporter.exposition.family import Family
from exporter.exposition.histogram import Histogram, Layout
from exporter.exposition.native_histogram import NativeSettings
from exporter.ledger.attribution import AttributionValues
from exporter.ledger.counts import SavedObserved
from exporter.ledger.histograms import restore_into
from exporter.model import Job


@dataclass(frozen=True, slots=True)
class Observed:
    """One observed value: ``Job.values[position]``, times ``scale``, observed in ``family``
    with bucket upper bounds ``buckets``."""

    name: str
    position: int
    family: Family
    buckets: tuple[float, ...]
    scale: float = 1.0

    def reading(self, job: Job) -> float | None:
        values = job.values
        return values[self.position] if self.position < len(values) else None


class ObservedCounts(NamedTuple):
    """An observed value's histograms, by histogram label values, as the renderers read them."""

    family: Family
    series: Mapping[AttributionValues, Histogram]


class ObservedValues:
    """A ledger's histograms of its observed values, each by histogram label values."""

    def __init__(
        self, observed: tuple[Observed, ...] = (), native: NativeSettings | None = None
    ) -> None:
        self.observed = observed
        self.layouts = tuple(Layout.of(value.family, value.buckets, native) for value in observed)
        self.series: tuple[dict[AttributionValues, Histogram], ...] = tuple({} for _ in observed)

    def open(self, values: AttributionValues) -> None:
        """The histograms of histogram label values ``values``, at 0."""
        for layout, series in zip(self.layouts, self.series, strict=True):
            series.setdefault(values, layout.new())

    def observe(self, job: Job, values: AttributionValues, now: float) -> None:
        """Observe each value ``job`` reports (none: not observed), under ``values``."""
        for value, layout, series in zip(self.observed, self.layouts, self.series, strict=True):
            reading = value.reading(job)
            if reading is not None:
                histogram = series.setdefault(values, layout.new())
                histogram.observe(reading * value.scale, job.key, now)

    def restore(self, saved: Mapping[str, SavedObserved]) -> None:
        """Carry on from saved histograms: those of a value no longer declared are dropped,
        those kept with other buckets start at 0."""
        for value, layout, series in zip(self.observed, self.layouts, self.series, strict=True):
            kept = saved.get(value.name)
            if kept is None or kept.bounds != layout.bounds:
                continue
            restore_into(series, kept.series, layout)

    def view(self) -> tuple[ObservedCounts, ...]:
        return tuple(
            ObservedCounts(value.family, MappingProxyType(series))
            for value, series in zip(self.observed, self.series, strict=True)
        )
