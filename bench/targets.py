"""Many targets: start time, time until every target has polled, and then over one steady
interval how many targets polled within it, the CPU per poll and the RSS per target, at 100,
1,000 and 10,000 Ray targets, beside the previous design measured in the same run; and the cost
of a publish into an exposition of 1,000 targets, joined lazily or (as before) at every publish.

The previous design is the code of ``BASELINE_COMMIT`` (one connection pool for every target
with the same TLS settings, whose bookkeeping grew quadratically with 10,000 targets), exported
with ``git archive`` into a temporary directory and run with the same interpreter. Each exporter
is its own process, polling Ray simulators served by two processes of their own
(``bench.ray_fleet``), 250 targets per simulator; the clock starts just before the process is
spawned.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from exporter.exposition import families
from exporter.exposition.block import Block
from exporter.exposition.store import BlockKey, Exposition

from .common import ROOT, table
from .ray_fleet import ray_fleet

BASELINE_COMMIT = "2edae9be61bdfeb59c50cd34d1407c8580f36e00"
TARGETS_PER_SIMULATOR = 250
RSS_CAP = 3 * 2**30  # a design that does not fit is stopped before it takes the machine
LAST_SUCCESS = re.compile(
    r'^jobfleet_poll_last_success_timestamp_seconds\{target="([^"]*)".* (\S+)$', re.MULTILINE
)


def interval_for(targets: int) -> float:
    """Poll interval: short enough to keep the run brief, long enough for the simulators."""
    return 15.0 if targets <= 1_000 else 60.0


def rss(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def poll_errors(body: str) -> str:
    """Failed polls so far by reason, from a /metrics body."""
    reasons: dict[str, int] = {}
    for line in body.splitlines():
        if line.startswith("jobfleet_poll_errors_total{"):
            reason = line.split('reason="', 1)[1].split('"', 1)[0]
            reasons[reason] = reasons.get(reason, 0) + int(float(line.rsplit(" ", 1)[1]))
    return ", ".join(f"{n} {reason}" for reason, n in sorted(reasons.items()) if n) or "0"


def polled_since(body: str, since: float) -> int:
    """Targets whose last successful poll, by a /metrics body, was at ``since`` or later."""
    return sum(float(value) >= since for _, value in LAST_SUCCESS.findall(body))


def _get(client: httpx.Client, url: str) -> int | None:
    try:
        return client.get(url).status_code
    except httpx.HTTPError:
        return None


def spawn(code: Path, config: Path, port: int) -> subprocess.Popen[bytes]:
    """``python -m exporter`` from ``code`` on ``config``, serving on ``port``."""
    return subprocess.Popen(
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


def until_ready(process: subprocess.Popen[bytes], base: str, budget_s: float) -> dict[str, Any]:
    """Seconds from now to /healthz 200 and to /readyz 200 (None when not within ``budget_s``)."""
    started = time.monotonic()
    result: dict[str, Any] = {"healthz": None, "ready": None}
    with httpx.Client(timeout=5) as client:
        while time.monotonic() - started < budget_s and process.poll() is None:
            if rss(process.pid) > RSS_CAP:
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
    return result


def steady(process: subprocess.Popen[bytes], base: str, interval: float) -> dict[str, Any]:
    """Over one interval from now: CPU seconds spent, and at its end the targets that polled
    successfully within it, the failed polls so far and the RSS."""
    cpu, since = cpu_seconds(process.pid), time.time()
    time.sleep(interval)  # the measurement is of this interval: nothing to wait for
    body = httpx.get(f"{base}/metrics", timeout=60).text
    return {
        "steady_cpu": cpu_seconds(process.pid) - cpu,
        "polled": polled_since(body, since),
        "errors": poll_errors(body),
        "rss": rss(process.pid),
        "peak": rss(process.pid, "VmHWM"),
    }


def measure(code: Path, config: Path, port: int, interval: float) -> dict[str, Any]:
    """Start the exporter of ``code`` and measure it; stop it by its PID."""
    base = f"http://127.0.0.1:{port}"
    process = spawn(code, config, port)
    try:
        result = until_ready(process, base, interval * 2 + 60)
        if result["ready"] is not None:
            result |= steady(process, base, interval)
        else:
            result |= {"rss": rss(process.pid), "peak": rss(process.pid, "VmHWM")}
        result["cpu"] = cpu_seconds(process.pid)
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


def _seconds(value: float | None) -> str:
    return f"{value:.1f}" if value is not None else "not ready"


def row(
    targets: int, design: str, interval: float, got: dict[str, Any], base_rss: int | None
) -> list[object]:
    """One table row; ``base_rss``: this design's RSS at the smallest size, for the RSS each
    further target adds."""
    polls = targets if got["ready"] is not None else 0
    per_target = (
        f"{(got['rss'] - base_rss) / 1024 / (targets - 100):.0f}"
        if base_rss is not None and targets > 100
        else "-"
    )
    steady_cpu = got.get("steady_cpu")
    return [
        f"{targets:,}",
        design,
        f"{interval:g}",
        _seconds(got["healthz"]),
        _seconds(got["ready"]),
        f"{got['polled']:,} / {targets:,}" if "polled" in got else "-",
        got.get("errors", "-"),
        f"{steady_cpu / polls * 1000:.2f}" if steady_cpu is not None and polls else "-",
        f"{steady_cpu / interval * 100:.0f}" if steady_cpu is not None else "-",
        f"{got['rss'] / 2**20:.0f} / {got['peak'] / 2**20:.0f}",
        per_target,
    ]


def fleet(targets: int, work: Path, smallest: dict[str, int]) -> list[list[object]]:
    """Rows for one size: this design, then the previous one."""
    interval = interval_for(targets)
    with ray_fleet(max(1, targets // TARGETS_PER_SIMULATOR)) as urls:
        config = work / f"targets-{targets}.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "defaults": {"poll_interval": f"{interval:g}s", "timeout": "10s"},
                    "targets": [
                        {
                            "name": f"t{i:05d}",
                            "backend": "ray",
                            "url": urls[i % len(urls)],
                            "resources": ["jobs"],
                        }
                        for i in range(targets)
                    ],
                }
            )
        )
        rows = []
        for design, code in (("this", ROOT), ("previous", work / "baseline")):
            if not (code / "exporter").is_dir():
                rows.append([f"{targets:,}", design, *["-"] * 9])
                continue
            got = measure(code, config, free_port(), interval)
            rows.append(row(targets, design, interval, got, smallest.get(design)))
            smallest.setdefault(design, got["rss"])
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
    smallest: dict[str, int] = {}  # design -> RSS at the smallest size
    with tempfile.TemporaryDirectory(prefix="jobfleet-bench-") as tmp:
        work = Path(tmp)
        (work / "baseline").mkdir()
        baseline_code(work / "baseline")
        for targets in sorted(sizes):
            rows.extend(fleet(targets, work, smallest))
    publish, size = publish_cost()
    return "\n\n".join(
        [
            table(
                "Many Ray targets (jobs only, 5 running + 5 finished jobs each; simulators in two "
                "processes of their own): seconds from spawn to /healthz 200 and to /readyz 200 "
                "(every target polled once); then over one steady interval: targets that polled "
                "successfully within it, failed polls so far, the exporter's CPU ms per poll and "
                "% of a core, RSS / peak RSS in MiB, and KiB of RSS per target beyond 100",
                [
                    "targets",
                    "design",
                    "interval s",
                    "healthz s",
                    "all polled s",
                    "polled within interval",
                    "failed polls",
                    "CPU ms/poll",
                    "% core",
                    "RSS MiB",
                    "KiB/target",
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
