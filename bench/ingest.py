"""Poll cost: CPU seconds to ingest a 100k-job listing (decode, parse, reconcile, render), beside
a plain baseline doing the usual thing in the same run: json, one pydantic model per item, and
client_python Gauges, rendered once."""

from __future__ import annotations

import json
import time
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from pydantic import BaseModel

from .common import ingest, loaded_exporter, ray_listing, table


class PlainJob(BaseModel):
    type: str | None = None
    job_id: str | None = None
    submission_id: str | None = None
    status: str
    start_time: int | None = None
    end_time: int | None = None
    metadata: dict[str, Any] = {}


def baseline(raw: bytes) -> float:
    started = time.process_time()
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


def ours(raw: bytes, per_job_series: str) -> tuple[float, float]:
    """(first poll, a later poll) CPU seconds; the first also builds the ledger."""
    exporter = loaded_exporter(0, 0, per_job_series)
    now = time.time()
    started = time.process_time()
    ingest(exporter, raw, now)
    first = time.process_time() - started
    started = time.process_time()
    ingest(exporter, raw, now + 30)
    return first, time.process_time() - started


def run(jobs: int = 100_000) -> str:
    rows = []
    for active, per_job_series, label in (
        (jobs // 100, "active", "1% running, per_job_series=active (default)"),
        (jobs * 2 // 5, "active", "40% running, per_job_series=active"),
        (jobs * 2 // 5, "all", "40% running, per_job_series=all"),
    ):
        raw = ray_listing(jobs, active, time.time())
        first, later = ours(raw, per_job_series)
        plain = baseline(raw)
        rows.append(
            [label, f"{first:.2f}", f"{later:.2f}", f"{plain:.2f}", f"{plain / first:.1f}x"]
        )
    return table(
        f"Poll cost: CPU s to ingest a {jobs:,}-job Ray listing (target: <= 1.5 s)",
        ["workload", "first poll", "later poll", "plain baseline", "baseline / first"],
        rows,
    )


if __name__ == "__main__":
    print(run())
