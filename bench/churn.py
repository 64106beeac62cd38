"""Target churn through a file_sd file: ``python -m bench.churn [MINUTES] [PER_MINUTE] [PRESENT]``
(10 minutes, 1,000 added and 1,000 removed a minute, 2,000 present: the defaults).

The exporter runs as its own process with a state file, as deployed; each minute the bench
rewrites the file (by a rename, as a tool would): the ``PER_MINUTE`` longest listed addresses
leave and as many new ones come, never seen before, the worst case for memory: each target that
leaves keeps its state entry until ``forget_after`` (7 days). Every address is a Ray job list
of 10 jobs served by ``bench.listing_server`` in a process of its own (any path answers it, so
``http://127.0.0.1:PORT/c<N>`` are distinct targets of one server). Prints RSS each minute, and
at start and end with the growth per target that left.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path

import httpx
import yaml

from .common import ROOT, ray_listing, table
from .targets import free_port, poll_errors, rss, spawn, until_ready

POLL_INTERVAL = 30.0
REFRESH_INTERVAL = 5.0  # the file source checks its file this often


def listing_server(work: Path) -> tuple[subprocess.Popen[str], int]:
    listing = work / "listing.json"
    listing.write_bytes(ray_listing(10, 5, time.time()))
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.listing_server", str(listing)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline() if process.stdout else ""
    if not line.startswith("port "):
        process.kill()
        raise RuntimeError(f"listing server did not start: {line!r}")
    return process, int(line.split()[1])


def write_sd(path: Path, port: int, listed: deque[int]) -> None:
    """The file_sd file listing ``listed``, replaced whole by a rename."""
    groups = [{"targets": [f"http://127.0.0.1:{port}/c{n}" for n in listed], "labels": {}}]
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(groups))
    partial.rename(path)


def config(work: Path, sd: Path) -> Path:
    path = work / "churn.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "state_file": str(work / "state.db"),
                "defaults": {"poll_interval": f"{POLL_INTERVAL:g}s", "timeout": "10s"},
                "targets": [],
                "discovery": [
                    {
                        "name": "churn",
                        "file": {"paths": [str(sd)], "refresh_interval": f"{REFRESH_INTERVAL:g}s"},
                        "max_targets": 100_000,
                        "template": {"backend": "ray", "resources": ["jobs"]},
                    }
                ],
            }
        )
    )
    return path


def discovered(base: str) -> int:
    body = httpx.get(f"{base}/metrics", timeout=60).text
    for line in body.splitlines():
        if line.startswith("jobfleet_discovery_targets{"):
            return int(float(line.rsplit(" ", 1)[1]))
    return -1


def run(minutes: int = 10, per_minute: int = 1_000, present: int = 2_000) -> str:
    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory(prefix="jobfleet-churn-") as tmp:
        work = Path(tmp)
        server, port = listing_server(work)
        sd = work / "targets.json"
        listed = deque(range(present))
        write_sd(sd, port, listed)
        base_port = free_port()
        base = f"http://127.0.0.1:{base_port}"
        exporter = spawn(ROOT, config(work, sd), base_port)
        try:
            if until_ready(exporter, base, POLL_INTERVAL * 2 + 60)["ready"] is None:
                raise RuntimeError("the exporter did not poll every target within its budget")
            rows.append([0, discovered(base), 0, f"{rss(exporter.pid) / 2**20:.0f}"])
            for minute in range(1, minutes + 1):
                for _ in range(per_minute):
                    listed.popleft()
                    listed.append(listed[-1] + 1)
                write_sd(sd, port, listed)
                time.sleep(60)  # the measurement is of this minute: nothing to wait for
                rows.append(
                    [
                        minute,
                        discovered(base),
                        minute * per_minute,
                        f"{rss(exporter.pid) / 2**20:.0f}",
                    ]
                )
            errors = poll_errors(httpx.get(f"{base}/metrics", timeout=60).text)
        finally:
            exporter.kill()
            exporter.wait(timeout=30)
            server.kill()
            server.wait(timeout=30)
    start, end = float(rows[1][3]), float(rows[-1][3])  # from the first minute, warm
    left = (minutes - 1) * per_minute
    growth = (end - start) * 2**20 / left if left else 0.0
    return "\n\n".join(
        [
            table(
                f"Churn through file_sd: {per_minute:,} targets added and {per_minute:,} removed "
                f"each minute, {present:,} listed, polled every {POLL_INTERVAL:g} s, state file "
                "on: by minute, targets discovered, targets that left so far, RSS MiB",
                ["minute", "discovered", "left so far", "RSS MiB"],
                rows,
            ),
            f"RSS at start (minute 1) {start:.0f} MiB, at end (minute {minutes}) {end:.0f} MiB: "
            f"{growth:.0f} B per target that left since (its state entry is kept for 7 days); "
            f"failed polls: {errors}",
        ]
    )


if __name__ == "__main__":
    print(run(*(int(n) for n in sys.argv[1:4])))
