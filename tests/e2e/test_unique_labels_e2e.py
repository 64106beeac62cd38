"""A real Prometheus stores one series per job and per cluster when their ids collide once cut
to 256 characters or cleaned of what it cannot store (22 ids: 22 series, not 20)."""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

import httpx
import pytest
import yaml

from exporter.app import Exporter
from exporter.config import parse_config
from exporter.simulators.emr_serverless import EmrServerlessSimulator
from exporter.simulators.ray import RaySimulator

from ..helpers import eventually, free_port, need, serving
from ..test_unique_label_values import COLLIDING_IDS
from .test_observability_e2e import daemon

pytestmark = pytest.mark.e2e


def test_prometheus_stores_one_series_per_colliding_id(tmp_path: Path) -> None:
    prometheus = shutil.which("prometheus")
    need(prometheus is not None, "prometheus is not installed (scripts/install-tools.sh)")
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

        port = free_port()
        (tmp_path / "prometheus.yml").write_text(
            yaml.safe_dump(
                {
                    "global": {"scrape_interval": "1s"},
                    "scrape_configs": [
                        {
                            "job_name": "jobfleet",
                            "static_configs": [{"targets": [exporter_url.removeprefix("http://")]}],
                        }
                    ],
                }
            )
        )
        stack.enter_context(
            daemon(
                [
                    prometheus,
                    f"--config.file={tmp_path / 'prometheus.yml'}",
                    f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                ],
                tmp_path / "prometheus.log",
            )
        )

        def count(expr: str) -> float | None:
            try:
                answer = httpx.get(
                    f"http://127.0.0.1:{port}/api/v1/query", params={"query": expr}, timeout=5
                ).json()
            except (httpx.HTTPError, ValueError):
                return None
            result = answer.get("data", {}).get("result", [])
            return float(result[0]["value"][1]) if result else None

        jobs = 'count(jobfleet_job_info{target="ray"})'
        clusters = 'count(jobfleet_cluster_info{target="emr"})'
        assert eventually(lambda: count(jobs) is not None and count(clusters), 30, step=0.5)
        assert eventually(lambda: count('up{job="jobfleet"}') == 1, 10, step=0.5)
        assert (count(jobs), count(clusters)) == (22, 22)
