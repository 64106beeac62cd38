"""Memory: resident set per tracked job at 100k jobs, above the idle process.

The listing is written to a file first; a fresh process (``python -m bench.memory FILE JOBS``)
reads it, notes its idle RSS, ingests it as one poll, drops the answer and notes its RSS again,
so that nothing but the exporter's own state is counted.
"""

from __future__ import annotations

import gc
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .common import ROOT, ingest, loaded_exporter, ray_listing, rss_bytes, table


def measure(listing: Path, jobs: int) -> tuple[int, int]:
    """(idle RSS, RSS holding ``jobs`` tracked jobs) in bytes."""
    exporter = loaded_exporter(0, 0)
    raw = listing.read_bytes()
    gc.collect()
    idle = rss_bytes()
    ingest(exporter, raw, time.time())
    del raw
    gc.collect()
    assert len(exporter.pollers[0].counted["jobs"].ledger.tracked) == jobs
    return idle, rss_bytes()


def run(jobs: int = 100_000) -> str:
    rows = []
    for active in (jobs // 100, jobs * 2 // 5):
        with tempfile.NamedTemporaryFile(suffix=".json") as listing:
            listing.write(ray_listing(jobs, active, time.time()))
            listing.flush()
            output = subprocess.run(
                [sys.executable, "-m", "bench.memory", listing.name, str(jobs)],
                capture_output=True,
                text=True,
                cwd=ROOT,
                timeout=300,
                check=True,
            ).stdout.split()
        idle, loaded = int(output[0]), int(output[1])
        per_job = (loaded - idle) / jobs
        rows.append(
            [
                f"{jobs:,} tracked, {active:,} running",
                f"{idle / 2**20:.0f} MiB",
                f"{loaded / 2**20:.0f} MiB",
                f"{per_job:.0f} B",
            ]
        )
    return table(
        "Memory per tracked job (target: <= 1024 B), per_job_series=active",
        ["workload", "idle RSS", "loaded RSS", "per tracked job"],
        rows,
    )


if __name__ == "__main__":
    if len(sys.argv) == 3:
        print(*measure(Path(sys.argv[1]), int(sys.argv[2])))
    else:
        print(run())
