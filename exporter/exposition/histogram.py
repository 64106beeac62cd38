"""A minimal cumulative histogram, rendered by the renderer in Prometheus' text format.

Each bucket may remember its exemplar: the last observation that fell into it, with the id of
the job it came from and when it was made (OpenMetrics serves it). Exemplars live in memory
only: the state file keeps counts, and a restart starts with none.

A histogram of a family that declares it (``Family.native``) also keeps a native histogram
(``native_histogram``) of the same observations, with the same exemplars, which only the
protobuf format carries (``Histogram.native``); the text formats are unchanged by it.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

from exporter.exposition.family import Family
from exporter.exposition.native_histogram import (
    Exemplar,
    NativeHistogram,
    NativeSettings,
    NativeState,
)

JOB_DURATION_BUCKETS = (10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 28800, 86400)
QUEUE_WAIT_BUCKETS = (1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200)
REQUEST_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Histogram:
    __slots__ = ("_native", "bounds", "buckets", "count", "exemplars", "total")

    def __init__(self, bounds: Sequence[float], native: NativeSettings | None = None) -> None:
        self.bounds = tuple(float(b) for b in bounds)
        self.buckets = [0] * len(self.bounds)
        self.count = 0
        self.total = 0.0
        # one per bucket, +Inf last; None until an observation names its job
        self.exemplars: list[Exemplar | None] | None = None
        self._native = None if native is None else NativeHistogram(native)

    def observe(self, value: float, job_id: str | None = None, at: float = 0.0) -> None:
        """Count ``value``; with ``job_id``, it becomes its bucket's exemplar, made ``at``."""
        value = max(0.0, value)
        index = bisect.bisect_left(self.bounds, value)
        if index < len(self.buckets):
            self.buckets[index] += 1
        self.count += 1
        self.total += value
        exemplar = None if job_id is None else (job_id, value, at)
        if exemplar is not None:
            if self.exemplars is None:
                self.exemplars = [None] * (len(self.bounds) + 1)
            self.exemplars[index] = exemplar
        if self._native is not None:
            self._native.observe(value, exemplar)

    @property
    def native(self) -> NativeHistogram | None:
        """The native part, for the protobuf encoder (``NativeHistogram.buckets()``); None
        when the family keeps none, or while it does not hold every observation the classic
        buckets hold (counts saved before native histograms were kept): the message has one
        count for both, and the classic buckets alone are then sent."""
        part = self._native
        return part if part is not None and part.count == self.count else None

    def to_state(self) -> dict:
        state = {"buckets": list(self.buckets), "count": self.count, "total": self.total}
        if self._native is not None:
            state["native"] = self._native.to_state()
        return state

    def restore(
        self, buckets: list[int], count: int, total: float, native: NativeState | None = None
    ) -> None:
        """Take counts saved by ``to_state``, checked by the caller against this layout. The
        native part carries on from ``native`` (None: saved without one; it starts empty)."""
        self.buckets, self.count, self.total = list(buckets), count, total
        if self._native is not None and native is not None:
            self._native.restore(native)

    def cumulative(self) -> list[tuple[float, int]]:
        """(upper bound, cumulative count) pairs, +Inf last."""
        out, running = [], 0
        for bound, n in zip(self.bounds, self.buckets, strict=True):
            running += n
            out.append((bound, running))
        out.append((float("inf"), self.count))
        return out


@dataclass(frozen=True, slots=True)
class Layout:
    """How the histograms of one family are made: its classic bucket bounds, and the settings
    of a native part where the family declares one and its ledger keeps them."""

    bounds: tuple[float, ...]
    native: NativeSettings | None = None

    @classmethod
    def of(cls, family: Family, bounds: Sequence[float], native: NativeSettings | None) -> Layout:
        return cls(tuple(float(b) for b in bounds), native if family.native else None)

    def new(self) -> Histogram:
        return Histogram(self.bounds, self.native)
