"""Native histograms: the bytes one histogram holds in memory and in the state file, and the
time an observation takes, each beside the classic histogram alone (the baseline).

Memory is what tracemalloc sees allocated and still held by ``COUNT`` histograms of the job
duration's buckets after each observed the same values: none, job durations spread log-uniform
from 1 s to 1 day (about 130 buckets at the default schema 3), and values from 1 to 2^40,
which fill the bucket limit (the schema drops to 2, 160 buckets: the most a histogram holds).
Each observation names a job, so the exemplars are there too. Times are the best of five
rounds, the two kinds taking turns.
"""

from __future__ import annotations

import gc
import json
import math
import random
import time
import tracemalloc

from exporter.exposition.histogram import JOB_DURATION_BUCKETS, Histogram
from exporter.exposition.native_histogram import NativeSettings

from .common import table

COUNT = 200  # histograms per measurement
SETTINGS = NativeSettings()


def _values(kind: str, n: int) -> list[float]:
    rng = random.Random(1)
    if kind == "none":
        return []
    high = math.log(86400.0) if kind == "jobs" else 40 * math.log(2.0)
    return [math.exp(rng.uniform(0.0, high)) for _ in range(n)]


def _held(native: NativeSettings | None, values: list[float]) -> tuple[list[Histogram], int]:
    """``COUNT`` histograms that observed ``values``, and the bytes they hold per histogram."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        made = []
        for _ in range(COUNT):
            histogram = Histogram(JOB_DURATION_BUCKETS, native)
            for i, value in enumerate(values):
                histogram.observe(value, f"raysubmit_{i:012d}", 1_800_000_000.0)
            made.append(histogram)
        gc.collect()
        return made, (tracemalloc.get_traced_memory()[0] - before) // COUNT
    finally:
        tracemalloc.stop()


def _observe_ns(native: NativeSettings | None, values: list[float]) -> float:
    """Nanoseconds per observation, one round."""
    histogram = Histogram(JOB_DURATION_BUCKETS, native)
    started = time.perf_counter_ns()
    for value in values:
        histogram.observe(value, "raysubmit_000000000001", 1_800_000_000.0)
    return (time.perf_counter_ns() - started) / len(values)


def _timing(values: list[float]) -> tuple[float, float]:
    """Best of five rounds of each, taking turns: classic alone, classic and native."""
    rounds = [(_observe_ns(None, values), _observe_ns(SETTINGS, values)) for _ in range(5)]
    return min(r[0] for r in rounds), min(r[1] for r in rounds)


def run(observations: int = 1_000) -> str:
    rows = []
    for kind, label, n in (
        ("none", "empty", 0),
        ("jobs", "1 s - 1 day", observations),
        ("wide", "1 - 2^40", 10 * observations),
    ):
        values = _values(kind, n)
        classic, classic_bytes = _held(None, values)
        both, both_bytes = _held(SETTINGS, values)
        part = both[0].native
        assert part is not None and part.count == classic[0].count == len(values)
        state = len(json.dumps(both[0].to_state())) - len(json.dumps(classic[0].to_state()))
        rows.append(
            [
                f"{label} ({len(values):,} values)",
                f"{len(part.positive)} @ schema {part.schema}",
                f"{classic_bytes:,} B",
                f"{both_bytes:,} B",
                f"+{state:,} B",
            ]
        )
    classic_ns, both_ns = _timing(_values("jobs", 100_000))
    timing = ["observe, 1 s - 1 day", "", f"{classic_ns:,.0f} ns", f"{both_ns:,.0f} ns", ""]
    return table(
        f"Native histograms: one job duration histogram, default schema {SETTINGS.schema}",
        ["observed", "native buckets", "classic alone", "classic + native", "state file"],
        [*rows, timing],
    )


if __name__ == "__main__":
    print(run())
