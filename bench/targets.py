"""Many targets: start time, time until every target has polled, and RSS at 100, 1,000 and
10,000 Ray targets, beside the previous design measured in the same run; and the cost of a
publish into an exposition of 1,000 targets, joined lazily or (as before) at every publish.

The previous design is the code of ``BASELINE_COMMIT`` (before the port opened first, before
shared HTTP clients and lazy joining), exported with ``git archive`` into a temporary directory
and run with the same interpreter. Each exporter is its own process, polling Ray simulators
that run in this process, 250 targets per simulator; the clock starts just before the process
is spawned.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import yaml

from exporter.exposition import families
from exporter.exposition.block import Block
from exporter.exposition.store import BlockKey, Exposition
from exporter.simulators.ray import RaySimulator

from .common import ROOT, table

BASELINE_COMMIT = "f151005782eeb6ac341a159a0cae56ce1e7b2ae9"
TARGETS_PER_SIMULATOR = 250
BASELINE_BUDGET_S = 90.0  # the previous design never finishes starting 10,000 targets
BASELINE_RSS_CAP = 3 * 2**30  # nor fits them in memory: stop it before it takes the machine


def interval_for(targets: int) -> float:
    """Poll interval: short enough to keep the run brief, long enough for the simulators."""
    return 15.0 if targets <= 1_000 else 60.0


def _rss(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    return 0


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _poll_errors(base: str) -> str:
    """Failed polls so far by reason (timeouts when the simulators fall behind), from /metrics."""
    body = httpx.get(f"{base}/metrics", timeout=60).text
    reasons: dict[str, int] = {}
    for line in body.splitlines():
        if line.startswith("jobfleet_poll_errors_total{"):
            reason = line.split('reason="', 1)[1].split('"', 1)[0]
            reasons[reason] = reasons.get(reason, 0) + int(float(line.rsplit(" ", 1)[1]))
    return ", ".join(f"{n} {reason}" for reason, n in sorted(reasons.items()) if n) or "0"


def _get(client: httpx.Client, url: str) -> int | None:
    try:
        return client.get(url).status_code
    except httpx.HTTPError:
        return None


def measure(code: Path, config: Path, port: int, budget_s: float) -> dict[str, Any]:
    """Spawn ``python -m exporter`` from ``code``; seconds to /healthz 200 and to /readyz 200
    (None when not within ``budget_s``), and its RSS then (or when given up)."""
    base = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "exporter",
            "--config.file",
            str(config),
            "--web.listen-address",
            f"127.0.0.1:{port}",
            "--log.level",
            "error",
        ],
        cwd=code,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    result: dict[str, Any] = {"healthz": None, "ready": None}
    try:
        with httpx.Client(timeout=5) as client:
            while time.monotonic() - started < budget_s and process.poll() is None:
                if _rss(process.pid) > BASELINE_RSS_CAP:
                    break
                if result["healthz"] is None:
                    if _get(client, f"{base}/healthz") == 200:
                        result["healthz"] = time.monotonic() - started
                    else:
                        time.sleep(0.01)
                        continue
                if _get(client, f"{base}/readyz") == 200:
                    result["ready"] = time.monotonic() - started
                    break
                time.sleep(0.1)
        result["rss"] = _rss(process.pid)
        result["peak"] = _rss(process.pid, "VmHWM")
        result["cpu"] = _cpu_seconds(process.pid)
        result["errors"] = _poll_errors(base) if result["ready"] is not None else None
    finally:
        process.kill()
        process.wait(timeout=30)
    return result


def baseline_code(directory: Path) -> Path | None:
    """The previous design's code in ``directory``, or None outside a git checkout."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", BASELINE_COMMIT, "exporter"],
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        return None
    subprocess.run(["tar", "-x", "-C", str(directory)], input=archive.stdout, check=True)
    return directory


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _seconds(value: float | None, budget: float) -> str:
    return f"{value:.2f}" if value is not None else f"> {budget:.0f}"


def fleet(targets: int, work: Path, port: int) -> list[list[object]]:
    """Rows for one size: this design, then the previous one."""
    interval = interval_for(targets)
    with ExitStack() as stack:
        sims = [
            stack.enter_context(RaySimulator(seed=i))
            for i in range(max(1, targets // TARGETS_PER_SIMULATOR))
        ]
        for sim in sims:
            for j in range(5):
                sim.add_job(f"running-{j}", status="RUNNING")
                sim.add_job(f"done-{j}", status="SUCCEEDED")
        config = work / f"targets-{targets}.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "defaults": {"poll_interval": f"{interval:g}s", "timeout": "10s"},
                    "targets": [
                        sims[i % len(sims)].target_config(f"t{i:05d}", resources=["jobs"])
                        for i in range(targets)
                    ],
                }
            )
        )
        rows = []
        budget = interval * 2 + 60
        for design, code, limit in (
            ("this", ROOT, budget),
            ("previous", work / "baseline", min(budget, BASELINE_BUDGET_S)),
        ):
            if not (code / "exporter").is_dir():
                rows.append([f"{targets:,}", design, *["-"] * 6, "no git checkout"])
                continue
            got = measure(code, config, port, limit)
            note = "" if got["ready"] is not None else "gave up"
            rows.append(
                [
                    f"{targets:,}",
                    design,
                    f"{interval:g}",
                    _seconds(got["healthz"], limit),
                    _seconds(got["ready"], limit),
                    f"{got['rss'] / 2**20:.0f} / {got['peak'] / 2**20:.0f}",
                    f"{got['cpu']:.1f}",
                    "-" if got["errors"] is None else got["errors"],
                    note,
                ]
            )
    return rows


def publish_cost(targets: int = 1_000, publishes: int = 200) -> tuple[list[list[object]], int]:
    """ms per publish into an exposition of ``targets`` targets (a realistic health block each),
    joined lazily (this design: once per scrape) or at every publish, plain and gzip (before)."""
    exposition = Exposition()
    blocks = {}
    for n in range(targets):
        block = Block((("target", f"t{n:05d}"), ("backend", "ray")))
        for resource in ("jobs", "clusters"):
            labels = (("resource", resource),)
            block.add(families.TARGET_UP, 1, labels)
            block.add(families.POLL_LAST_SUCCESS_TIMESTAMP_SECONDS, 1.8e9, labels)
            for reason in ("http", "timeout", "auth", "throttled", "parse", "connection"):
                block.add(families.POLL_ERRORS_TOTAL, 0, (*labels, ("reason", reason)))
        blocks[BlockKey(f"t{n:05d}", "jobs")] = block.encode()
    exposition.update(blocks)
    size = len(exposition.body())
    rows = []
    for label, eager in (("this: join when scraped", False), ("previous: join + gzip", True)):
        started = time.perf_counter()
        for i in range(publishes):
            key = BlockKey(f"t{i % targets:05d}", "jobs")
            exposition.update({key: blocks[key]})
            if eager:
                exposition.body()
                exposition.gzipped()
        per = (time.perf_counter() - started) / publishes * 1000
        rows.append([label, f"{per:.3f}", f"{per * targets * 2 / 15 / 10:.1f}"])
    return rows, size


def run(sizes: tuple[int, ...] = (100, 1_000, 10_000)) -> str:
    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory(prefix="jobfleet-bench-") as tmp:
        work = Path(tmp)
        (work / "baseline").mkdir()
        baseline_code(work / "baseline")
        for targets in sizes:
            rows.extend(fleet(targets, work, free_port()))
    publish, size = publish_cost()
    return "\n\n".join(
        [
            table(
                "Many Ray targets (jobs only, 5 running + 5 finished jobs each): seconds from "
                "spawn to /healthz 200 and to /readyz 200 (every target polled once); "
                "RSS / peak RSS in MiB and the exporter's CPU seconds then",
                [
                    "targets",
                    "design",
                    "interval s",
                    "healthz s",
                    "all polled s",
                    "RSS MiB",
                    "CPU s",
                    "failed polls",
                    "",
                ],
                rows,
            ),
            table(
                f"Publish into an exposition of 1,000 targets ({size / 2**20:.1f} MiB): "
                "ms per publish, and % of a core at 2,000 publishes per 15 s",
                ["exposition", "ms per publish", "% of a core"],
                publish,
            ),
        ]
    )


if __name__ == "__main__":
    print(run(tuple(int(n) for n in sys.argv[1:]) or (100, 1_000, 10_000)))
