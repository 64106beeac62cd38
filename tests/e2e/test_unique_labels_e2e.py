"""A real Prometheus stores one series per job and per cluster when their ids collide once cut
to 256 characters or cleaned of what it cannot store, or when one reads like another's cleaned
form: as many series as ids."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from exporter.app import Exporter
from exporter.config.parse import parse_config
from exporter.simulators.emr_serverless import EmrServerlessSimulator
from exporter.simulators.ray import RaySimulator

from ..helpers import eventually, serving
from ..test_unique_label_values import COLLIDING_IDS
from .prometheus import prometheus_scraping

pytestmark = pytest.mark.e2e


def test_prometheus_stores_one_series_per_colliding_id(tmp_path: Path) -> None:
    with contextlib.ExitStack() as stack:
        ray = stack.enter_context(RaySimulator())
        emr = stack.enter_context(EmrServerlessSimulator())
        for key in COLLIDING_IDS:
            ray.add_job(key, status="RUNNING")
            emr.add_cluster(key, name="same name")
        targets = [
            ray.target_config("ray", resources=["jobs"], per_job_series="all", poll_interval="1s"),
            emr.target_config("emr", resources=["clusters"], poll_interval="1s"),
        ]
        exporter = Exporter(parse_config({"targets": targets}))
        stack.callback(exporter.close)
        exporter_url = stack.enter_context(serving(exporter))

        prometheus = stack.enter_context(prometheus_scraping(exporter_url, tmp_path))

        def count(expr: str) -> float | None:
            result = prometheus.query(expr)
            return float(result[0]["value"][1]) if result else None

        jobs = 'count(jobfleet_job_info{target="ray"})'
        clusters = 'count(jobfleet_cluster_info{target="emr"})'
        assert eventually(lambda: count(jobs) is not None and count(clusters), 30, step=0.5)
        assert eventually(lambda: count('up{job="jobfleet"}') == 1, 10, step=0.5)
        assert (count(jobs), count(clusters)) == (len(COLLIDING_IDS), len(COLLIDING_IDS))
