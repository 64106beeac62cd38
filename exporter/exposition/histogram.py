"""A minimal cumulative histogram, rendered by the renderer in Prometheus' text format.

Each bucket may remember its exemplar: the last observation that fell into it, with the id of
the job it came from and when it was made (OpenMetrics serves it). Exemplars live in memory
only: the state file keeps counts, and a restart starts with none.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

JOB_DURATION_BUCKETS = (10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 28800, 86400)
QUEUE_WAIT_BUCKETS = (1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200)
REQUEST_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


Exemplar = tuple[str, float, float]  # (job id, observed value, epoch seconds)


class Histogram:
    __slots__ = ("bounds", "buckets", "count", "exemplars", "total")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(float(b) for b in bounds)
        self.buckets = [0] * len(self.bounds)
        self.count = 0
        self.total = 0.0
        # one per bucket, +Inf last; None until an observation names its job
        self.exemplars: list[Exemplar | None] | None = None

    def observe(self, value: float, job_id: str | None = None, at: float = 0.0) -> None:
        """Count ``value``; with ``job_id``, it becomes its bucket's exemplar, made ``at``."""
        value = max(0.0, value)
        index = bisect.bisect_left(self.bounds, value)
        if index < len(self.buckets):
            self.buckets[index] += 1
        self.count += 1
        self.total += value
        if job_id is not None:
            if self.exemplars is None:
                self.exemplars = [None] * (len(self.bounds) + 1)
            self.exemplars[index] = (job_id, value, at)

    def to_state(self) -> dict:
        return {"buckets": list(self.buckets), "count": self.count, "total": self.total}

    def restore(self, buckets: list[int], count: int, total: float) -> None:
        """Take counts saved by ``to_state``, checked by the caller against this layout."""
        self.buckets, self.count, self.total = list(buckets), count, total

    def cumulative(self) -> list[tuple[float, int]]:
        """(upper bound, cumulative count) pairs, +Inf last."""
        out, running = [], 0
        for bound, n in zip(self.bounds, self.buckets, strict=True):
            running += n
            out.append((bound, running))
        out.append((float("inf"), self.count))
        return out
