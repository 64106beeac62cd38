"""Poll cost: CPU seconds of one poll of a Ray target holding N jobs, served by the Ray simulator
in another process (fetch, decode, parse, reconcile, render), beside a plain baseline doing the
usual thing in the same run: the same fetch, json, one pydantic model per item, and
client_python Gauges, rendered once."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from pydantic import BaseModel

from exporter.app import Exporter
from exporter.config.parse import parse_config

from .common import start_server, table


class PlainJob(BaseModel):
    type: str | None = None
    job_id: str | None = None
    submission_id: str | None = None
    status: str
    start_time: int | None = None
    end_time: int | None = None
    metadata: dict[str, Any] = {}


def baseline(url: str) -> float:
    started = time.process_time()
    raw = httpx.get(f"{url}/api/jobs/", timeout=300).content
    jobs = [PlainJob.model_validate(item) for item in json.loads(raw)]
    registry = CollectorRegistry()
    phase = Gauge("jobs", "jobs", ["status"], registry=registry)
    info = Gauge("job_info", "job", ["job_id", "job_name"], registry=registry)
    counts: dict[str, int] = {}
    for job in jobs:
        counts[job.status] = counts.get(job.status, 0) + 1
        if job.status == "RUNNING":
            info.labels(job.submission_id, job.metadata.get("job_name", "")).set(1)
    for status, count in counts.items():
        phase.labels(status).set(count)
    generate_latest(registry)
    return time.process_time() - started


def ours(url: str, per_job_series: str) -> tuple[float, float]:
    """(first poll, a later poll) CPU seconds of this process; the first builds the ledger."""
    target = {
        "name": "bench",
        "backend": "ray",
        "url": url,
        "resources": ["jobs"],
        "timeout": "5m",
        "per_job_series": per_job_series,
    }
    exporter = Exporter(parse_config({"targets": [target]}))
    poller = exporter.pollers[0]
    seconds = []
    for _ in range(2):
        started = time.process_time()
        assert poller.poll("jobs"), poller.health["jobs"].last_error
        seconds.append(time.process_time() - started)
    exporter.close()
    return seconds[0], seconds[1]


def run(sizes: tuple[int, ...] = (1_000, 10_000, 100_000)) -> str:
    rows = []
    workloads = [(jobs, jobs // 100, "active") for jobs in sizes]
    workloads += [(sizes[-1], sizes[-1] * 2 // 5, "active"), (sizes[-1], sizes[-1] * 2 // 5, "all")]
    for jobs, active, per_job_series in workloads:
        process, metrics_url = start_server("raysim", jobs, active)
        url = metrics_url.removesuffix("/metrics")
        try:
            first, later = ours(url, per_job_series)
            plain = baseline(url)
        finally:
            process.kill()
            process.wait(timeout=10)
        rows.append(
            [
                f"{jobs:,}",
                f"{active:,}",
                per_job_series,
                f"{first:.3f}",
                f"{later:.3f}",
                f"{plain:.3f}",
                f"{plain / first:.1f}x",
            ]
        )
    return table(
        "Poll cost: CPU s of one poll of a Ray target (target at 100k jobs: <= 1.5 s)",
        ["jobs", "running", "per_job_series", "first poll", "later poll", "plain", "plain/first"],
        rows,
    )


if __name__ == "__main__":
    print(run())
