"""A real Prometheus 2.42 scrapes a real exporter process in OpenMetrics and stores its
exemplars: a finished job's id is found on the job duration histogram's buckets."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import pytest
import yaml

from exporter.simulators.ray import RaySimulator

from ..helpers import eventually, exporter_process
from .prometheus import prometheus_scraping

pytestmark = pytest.mark.e2e

JOB = "raysubmit_exemplar"


def test_prometheus_negotiates_openmetrics_and_stores_job_id_exemplars(tmp_path: Path) -> None:
    with contextlib.ExitStack() as stack:
        ray = stack.enter_context(RaySimulator(seed=1))
        ray.add_job(JOB, status="RUNNING", start_time=time.time() - 400)
        config = tmp_path / "exporter.yaml"
        config.write_text(
            yaml.safe_dump({"targets": [ray.target_config("ray", poll_interval="1s")]})
        )
        _, exporter_url = stack.enter_context(exporter_process("--config.file", str(config)))
        prometheus = stack.enter_context(
            prometheus_scraping(exporter_url, tmp_path, flags=["--enable-feature=exemplar-storage"])
        )
        running = f'jobfleet_job_status{{job_id="{JOB}", phase="running"}}'
        assert eventually(lambda: prometheus.query(running), 30, step=0.5), "no scrape"

        # Only the OpenMetrics parser reports a counter's family without _total, an info type
        # and units: Prometheus asked for OpenMetrics and got it.
        metadata = prometheus.api("metadata")
        assert metadata["jobfleet_jobs_submitted"][0]["type"] == "counter"
        assert "jobfleet_jobs_submitted_total" not in metadata
        assert metadata["jobfleet_build"][0]["type"] == "info"
        assert metadata["jobfleet_job_duration_seconds"][0]["unit"] == "seconds"
        assert metadata["process_resident_memory_bytes"][0]["type"] == "gauge"
        assert prometheus.query("process_resident_memory_bytes > 1e6")

        ray.set_status(JOB, "SUCCEEDED")

        def exemplar_job_ids() -> set[str]:
            now = time.time()
            found = prometheus.api(
                "query_exemplars",
                query="jobfleet_job_duration_seconds_bucket",
                start=str(now - 600),
                end=str(now + 60),
            )
            return {
                exemplar["labels"]["job_id"]
                for series in found or []
                for exemplar in series["exemplars"]
            }

        assert eventually(lambda: JOB in exemplar_job_ids(), 30, step=0.5), exemplar_job_ids()
