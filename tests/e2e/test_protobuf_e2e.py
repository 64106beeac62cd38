"""A real Prometheus 2.42 scrapes a real exporter process in the protobuf format when started
with native histograms enabled, and in OpenMetrics without: two Prometheus servers scrape the
same exporter at once. The one with native histograms stores the job duration as a native
histogram (2.42 then ingests no classic bucket of it), the other its classic buckets; both
store the counters and the process's own series. How exact the native histogram is:
``test_native_histograms_e2e.py``.

Which format a scrape used is told by what Prometheus stored, not by asking the exporter:
Prometheus 2.42 writes a classic bucket's ``le`` from the protobuf double as ``1.0``
(model/textparse/protobufparse.go, formatOpenMetricsFloat) and takes the text formats' ``1``
as written, and only the OpenMetrics parser reports a counter's family without ``_total``.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import pytest
import yaml

from exporter.simulators.ray import RaySimulator

from ..helpers import eventually, exporter_process
from .prometheus import Prometheus, prometheus_scraping

pytestmark = pytest.mark.e2e

JOB = "raysubmit_protobuf"
NATIVE = ["--enable-feature=native-histograms", "--enable-feature=exemplar-storage"]


def _value(prometheus: Prometheus, expr: str) -> float | None:
    result = prometheus.query(expr)
    return float(result[0]["value"][1]) if len(result) == 1 else None


def _exemplar_job_ids(prometheus: Prometheus, query: str) -> set[str]:
    now = time.time()
    found = prometheus.api(
        "query_exemplars",
        query=query,
        start=str(now - 600),
        end=str(now + 60),
    )
    return {e["labels"]["job_id"] for series in found or [] for e in series["exemplars"]}


def test_prometheus_with_native_histograms_scrapes_protobuf_and_without_openmetrics(
    tmp_path: Path,
) -> None:
    with contextlib.ExitStack() as stack:
        ray = stack.enter_context(RaySimulator(seed=1))
        ray.add_job(JOB, status="RUNNING", start_time=time.time() - 400)
        config = tmp_path / "exporter.yaml"
        config.write_text(
            yaml.safe_dump({"targets": [ray.target_config("ray", poll_interval="1s")]})
        )
        _, exporter_url = stack.enter_context(exporter_process("--config.file", str(config)))
        (tmp_path / "native").mkdir()
        (tmp_path / "classic").mkdir()
        native = stack.enter_context(
            prometheus_scraping(exporter_url, tmp_path / "native", flags=NATIVE)
        )
        classic = stack.enter_context(
            prometheus_scraping(
                exporter_url, tmp_path / "classic", flags=["--enable-feature=exemplar-storage"]
            )
        )
        running = f'jobfleet_job_status{{job_id="{JOB}", phase="running"}}'
        for prometheus in (native, classic):
            assert eventually(lambda p=prometheus: p.query(running), 30, step=0.5), "no scrape"
        ray.set_status(JOB, "SUCCEEDED")

        finished = 'jobfleet_jobs_finished_total{phase="succeeded"}'
        duration = 'jobfleet_job_duration_seconds{phase="succeeded"}'
        bucket = 'jobfleet_job_duration_seconds_bucket{phase="succeeded",le="%s"}'
        poll_bucket = 'jobfleet_poll_duration_seconds_bucket{resource="jobs",le="%s"}'
        for prometheus in (native, classic):
            assert eventually(lambda p=prometheus: _value(p, finished) == 1, 30, step=0.5)
            assert _value(prometheus, "jobfleet_jobs_submitted_total") == 0  # at the baseline
            assert _value(prometheus, "process_resident_memory_bytes > 1e6")
            assert _value(prometheus, "sum(process_cpu_seconds_total)") is not None
        # protobuf: the duration is a native histogram (Prometheus 2.42 then ingests its classic
        # buckets no more), with the exemplars of its classic buckets
        count = f"histogram_count({duration})"
        assert eventually(lambda: _value(native, count) == 1, 30, step=0.5)
        assert not native.query(bucket % "600.0") and not native.query(bucket % "600")
        assert eventually(lambda: JOB in _exemplar_job_ids(native, duration), 30, step=0.5)
        # a family without a native part stays classic: le written from a double, no other
        # spelling; counters named with _total
        assert eventually(lambda: native.query(poll_bucket % "1.0"), 30, step=0.5)
        assert not native.query(poll_bucket % "1")
        native_metadata = native.api("metadata")
        assert native_metadata["jobfleet_jobs_submitted_total"][0]["type"] == "counter"
        assert native_metadata["jobfleet_build_info"][0]["type"] == "gauge"
        # OpenMetrics, with its classic buckets as written
        assert eventually(lambda: _value(classic, bucket % "600") == 1, 30, step=0.5)
        assert _value(classic, bucket % "300") == 0
        assert _value(classic, 'jobfleet_job_duration_seconds_count{phase="succeeded"}') == 1
        assert not classic.query(bucket % "600.0")
        assert not classic.query(f"histogram_count({duration})")
        buckets = "jobfleet_job_duration_seconds_bucket"
        assert eventually(lambda: JOB in _exemplar_job_ids(classic, buckets), 30, step=0.5)
        classic_metadata = classic.api("metadata")
        assert classic_metadata["jobfleet_jobs_submitted"][0]["type"] == "counter"
        assert classic_metadata["jobfleet_build"][0]["type"] == "info"
