"""A real Prometheus 2.42 with ``--enable-feature=native-histograms`` stores the exporter's job
durations as a native histogram, and its quantiles agree with the simulator's truth.

The Ray simulator holds a seeded history of jobs whose durations are known to the millisecond
(submission to end, as the exporter measures Ray jobs); the exporter polls it, Prometheus
negotiates protobuf, and its HTTP API answers ``histogram_count``, ``histogram_sum`` and
``histogram_quantile`` of the series named without ``_bucket``. The 0.9 quantile must lie
within one bucket's relative width, ``2^(2^-schema) - 1`` (docs/metrics.md), of the exact 0.9
quantile of the durations, and equal the exporter's own estimator's (``NativeHistogram``).

The exporter renders protobuf only once a scrape asked for it, so the first scrapes are
OpenMetrics: the jobs end only once Prometheus holds a native sample of the (still empty)
histogram, so ``rate`` sees every observation between native samples.
"""

from __future__ import annotations

import contextlib
import math
import random
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
import yaml

from exporter.exposition.native_histogram import NativeHistogram, NativeSettings, relative_error
from exporter.simulators.ray import RaySimulator

from ..helpers import eventually, exporter_process
from .prometheus import Prometheus, prometheus_scraping

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SCHEMA = 3  # configured on the target: buckets 9.05 % wide
JOBS = 120
SERIES = 'jobfleet_job_duration_seconds{phase="succeeded"}'
NATIVE = ["--enable-feature=native-histograms", "--enable-feature=exemplar-storage"]


def _durations(seed: int) -> list[int]:
    """Job durations in milliseconds, spread over 5 s to about 3 hours (log-uniform)."""
    rng = random.Random(seed)
    return [round(1000 * math.exp(rng.uniform(math.log(5), math.log(10_000)))) for _ in range(JOBS)]


def exact_quantile(q: float, values: Sequence[float]) -> float:
    """The smallest value with at least a fraction ``q`` of ``values`` at or below it: the
    observation whose bucket ``histogram_quantile`` interpolates in."""
    ordered = sorted(values)
    return ordered[max(math.ceil(q * len(ordered)) - 1, 0)]


def _estimator(values: Sequence[float]) -> NativeHistogram:
    native = NativeHistogram(NativeSettings(schema=SCHEMA))
    for value in values:
        native.observe(value)
    return native


def _scalar(prometheus: Prometheus, expr: str) -> float | None:
    result = prometheus.query(expr)
    return float(result[0]["value"][1]) if len(result) == 1 else None


def _check_quantile(got: float | None, truth: Sequence[float]) -> None:
    exact, own = exact_quantile(0.9, truth), _estimator(truth).quantile(0.9)
    assert got is not None
    assert abs(got - exact) < relative_error(SCHEMA) * exact, (got, exact)
    assert math.isclose(got, own, rel_tol=1e-9), (got, own)


def test_prometheus_stores_a_native_histogram_whose_quantile_agrees_with_the_truth(
    tmp_path: Path,
) -> None:
    durations_ms = _durations(seed=42)
    end_ms = round(time.time()) * 1000
    ids = [f"raysubmit_native_{n:03d}" for n in range(JOBS)]
    with contextlib.ExitStack() as stack:
        ray = stack.enter_context(RaySimulator(seed=42))
        for job, duration in zip(ids, durations_ms, strict=True):
            ray.add_job(job, status="RUNNING", start_time=(end_ms - duration) / 1000)
        target = ray.target_config("ray", poll_interval="1s", native_histograms={"schema": SCHEMA})
        config = tmp_path / "exporter.yaml"
        config.write_text(yaml.safe_dump({"targets": [target]}))
        _, exporter_url = stack.enter_context(exporter_process("--config.file", str(config)))
        prometheus = stack.enter_context(prometheus_scraping(exporter_url, tmp_path, flags=NATIVE))
        running = 'sum(jobfleet_jobs{phase="running"})'
        eventually(lambda: _scalar(prometheus, running) == JOBS, 30, 0.2, "the jobs running")

        # an empty native histogram first: from here on, every scrape is protobuf
        count = f"histogram_count({SERIES})"
        eventually(lambda: _scalar(prometheus, count) == 0, 30, 0.2, "a native sample")
        for job in ids:
            ray.set_status(job, "SUCCEEDED", end_time=end_ms / 1000)
        eventually(lambda: _scalar(prometheus, count) == JOBS, 30, 0.2, "every job's end")

        truth = [d / 1000 for d in durations_ms]  # seconds, as the exporter observes them
        total = _scalar(prometheus, f"histogram_sum({SERIES})")
        assert total is not None and math.isclose(total, sum(truth), rel_tol=1e-9)
        # the cumulative histogram, and its rate since the empty one
        _check_quantile(_scalar(prometheus, f"histogram_quantile(0.9, {SERIES})"), truth)
        rate = f"histogram_quantile(0.9, sum(rate({SERIES}[5m])))"
        _check_quantile(_scalar(prometheus, rate), truth)
        # a native histogram, not classic series: no _bucket of this family from protobuf
        assert not prometheus.query('jobfleet_job_duration_seconds_bucket{le="600.0"}')
        # exemplars: Prometheus 2.42 takes a native histogram's from its classic buckets
        now = time.time()
        found = prometheus.api(
            "query_exemplars", query=SERIES, start=str(now - 600), end=str(now + 60)
        )
        job_ids = {e["labels"]["job_id"] for series in found or [] for e in series["exemplars"]}
        assert job_ids and job_ids <= set(ids)
