"""What the benchmarks share: workloads, an exporter holding them, servers, timing, tables."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

from exporter.app import Exporter
from exporter.config.parse import parse_config

ROOT = Path(__file__).resolve().parents[1]
STATUSES = ("SUCCEEDED", "FAILED", "STOPPED")


def ray_listing(jobs: int, active: int, now: float) -> bytes:
    """A Ray job list of ``jobs`` jobs, the first ``active`` RUNNING, the rest finished recently."""
    items = []
    for i in range(jobs):
        running = i < active
        items.append(
            {
                "type": "SUBMISSION",
                "job_id": f"{i:08x}" if running else None,
                "submission_id": f"raysubmit_{i:012d}",
                "driver_info": None,
                "status": "RUNNING" if running else STATUSES[i % 3],
                "entrypoint": "python train.py --epochs 10",
                "message": "Job is currently running." if running else "Job finished.",
                "error_type": None,
                "start_time": int((now - 3600 + i % 3000) * 1000),
                "end_time": None if running else int((now - 60) * 1000),
                "metadata": {"job_name": f"train-{i % 500}", "owner": "bench"},
                "runtime_env": {},
                "driver_agent_http_address": None,
                "driver_node_id": None,
                "driver_exit_code": None,
            }
        )
    return json.dumps(items).encode()


def loaded_exporter(
    jobs: int, active: int, per_job_series: str = "active", protobuf: bool = False
) -> Exporter:
    """An exporter whose one Ray target has ingested ``ray_listing(jobs, active)``; with
    ``protobuf``, rendered in protobuf too, as once a scrape asked for it."""
    now = time.time()
    exporter = Exporter(
        parse_config(
            {
                "targets": [
                    {
                        "name": "bench",
                        "backend": "ray",
                        "url": "http://127.0.0.1:9",
                        "resources": ["jobs"],
                        "per_job_series": per_job_series,
                    }
                ]
            }
        )
    )
    exporter.exposition.wants_protobuf = protobuf
    ingest(exporter, ray_listing(jobs, active, now), now)
    return exporter


def ingest(exporter: Exporter, raw: bytes, now: float) -> None:
    """What one poll does with an answer: decode, parse, reconcile, render."""
    from exporter.backends.ray import decode_job_list, parse_jobs

    poller = exporter.pollers[0]
    listing = parse_jobs(decode_job_list(raw))
    poller.counted["jobs"].ledger.apply(listing.items, now)
    poller.publish("jobs")


def start_server(kind: str, jobs: int, active: int) -> tuple[subprocess.Popen, str]:
    """``bench/servers.py KIND`` in its own process; return it and its /metrics URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.servers", kind, str(jobs), str(active)],
        stdout=subprocess.PIPE,
        cwd=ROOT,
        text=True,
    )
    line = process.stdout.readline().strip()
    if not line.startswith("port "):
        process.kill()
        raise RuntimeError(f"{kind} server did not start: {line!r}")
    return process, f"http://127.0.0.1:{line.split()[1]}/metrics"


def latencies(
    url: str, scrapes: int, budget_s: float = 90.0, headers: dict[str, str] | None = None
) -> tuple[float, float, int, int]:
    """(median s, p99 s, scrapes made, body bytes) of sequential GETs, bounded in count and time."""
    samples: list[float] = []
    size = 0
    deadline = time.monotonic() + budget_s
    with httpx.Client(timeout=60, headers=headers) as client:
        client.get(url).raise_for_status()  # warm up the connection
        while len(samples) < scrapes and time.monotonic() < deadline:
            started = time.perf_counter()
            response = client.get(url)
            samples.append(time.perf_counter() - started)
            size = len(response.content)
    samples.sort()
    p99 = samples[min(len(samples) - 1, round(len(samples) * 0.99) - 1)]
    return statistics.median(samples), p99, len(samples), size


def table(title: str, headers: list[str], rows: list[list[object]]) -> str:
    cells = [[str(c) for c in row] for row in [headers, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [title, "  ".join(h.ljust(w) for h, w in zip(cells[0], widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for row in cells[1:]:
        lines.append("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
    return "\n".join(lines)


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")
