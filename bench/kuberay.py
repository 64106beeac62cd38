"""KubeRay: the cost of a steady poll of N RayJobs (default 10,000), beside the same with N/10.

``python -m bench.kuberay [N]``. The KubeRay simulator runs in another process
(``bench/kuberay_server.py``: N RayJobs, 90% finished and kept, 8% running, 2% pending, a
RayCluster for each running or pending one), and counts there every request and every byte it
sends, by resource, watch streams included. This process is the exporter: one ``kuberay``
target (``state_file`` on) whose poller is called directly, ``jobs`` then ``clusters``. A first
poll, then ``POLLS`` cycles: 1% of the RayJobs change (a quarter each submitted, started,
ended, deleted by their TTL), then a poll of each. Per poll: the CPU seconds of this whole
process (every thread) and the wall seconds around it; per cycle, the requests and bytes the
server counted for each resource and this process's CPU over the whole cycle, so that whatever
the backend does between polls counts too. Steady figures are medians over the cycles; the
per-RayJob cost is the difference between the two sizes over the difference in RayJobs.
"""

from __future__ import annotations

import gc
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from exporter.app import Exporter
from exporter.config.parse import parse_config

from .common import ROOT, table

POLLS = 10
RESOURCES = {"jobs": "rayjobs", "clusters": "rayclusters"}


class KubeRayServer:
    """``bench.kuberay_server`` in its own process: its target config, churn and counts."""

    def __init__(self, jobs: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.kuberay_server", str(jobs)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=ROOT,
            text=True,
        )
        line = self.process.stdout.readline().strip()
        if not line.startswith("ready "):
            self.process.kill()
            raise RuntimeError(f"KubeRay simulator did not start: {line!r}")
        self.target = json.loads(line.removeprefix("ready "))

    def ask(self, command: str) -> str:
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self.process.stdout.readline().strip()

    def churn(self, changes: int) -> None:
        if self.ask(f"churn {changes}") != "done":
            raise RuntimeError("KubeRay simulator: churn failed")

    def counts(self) -> dict[str, tuple[int, int]]:
        """(requests, bytes sent) by resource since the start."""
        return {name: (n, sent) for name, (n, sent) in json.loads(self.ask("count")).items()}

    def close(self) -> None:
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass
class Poll:
    cpu: float
    wall: float
    requests: int
    received: int


@dataclass
class Figures:
    jobs: int
    first: dict[str, Poll] = field(default_factory=dict)
    steady: dict[str, list[Poll]] = field(default_factory=dict)
    cycle: list[Poll] = field(default_factory=list)  # the whole process, all resources
    idle_rss: int = 0
    peak_rss: int = 0
    rss: int = 0

    def median(self, resource: str, name: str) -> float:
        return statistics.median(getattr(poll, name) for poll in self.steady[resource])

    def cycle_median(self, name: str) -> float:
        return statistics.median(getattr(poll, name) for poll in self.cycle)


def _status(name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {name} in /proc/self/status")


def _difference(after: dict, before: dict, plural: str) -> tuple[int, int]:
    got, had = after.get(plural, (0, 0)), before.get(plural, (0, 0))
    return got[0] - had[0], got[1] - had[1]


def measure(jobs: int, polls: int = POLLS, page_size: int = 500) -> Figures:
    figures = Figures(jobs)
    server = KubeRayServer(jobs)
    try:
        with tempfile.TemporaryDirectory() as state:
            target = {
                **server.target,
                "resources": list(RESOURCES),
                "page_size": page_size,
                "timeout": "5m",
            }
            config = parse_config({"state_file": f"{state}/state.db", "targets": [target]})
            gc.collect()
            Path("/proc/self/clear_refs").write_text("5")  # VmHWM from here: this size's peak
            figures.idle_rss = _status("VmRSS")
            exporter = Exporter(config)
            poller = exporter.pollers[0]

            def poll(resource: str) -> tuple[float, float]:
                cpu, wall = time.process_time(), time.perf_counter()
                assert poller.poll(resource), poller.health[resource].last_error
                return time.process_time() - cpu, time.perf_counter() - wall

            # cycles end to end: what happens between two polls counts in the next one's cycle
            counted, cpu = server.counts(), time.process_time()
            for cycle in range(polls + 1):
                if cycle:
                    server.churn(jobs // 100)
                timed = {resource: poll(resource) for resource in RESOURCES}
                after, cpu_after = server.counts(), time.process_time()
                for resource, plural in RESOURCES.items():
                    made = Poll(*timed[resource], *_difference(after, counted, plural))
                    if cycle:
                        figures.steady.setdefault(resource, []).append(made)
                    else:
                        figures.first[resource] = made
                if cycle:
                    total = [sum(a[i] - counted.get(r, (0, 0))[i] for r, a in after.items())
                             for i in (0, 1)]  # fmt: skip
                    figures.cycle.append(Poll(cpu_after - cpu, 0.0, *total))
                counted, cpu = after, cpu_after
            figures.peak_rss, figures.rss = _status("VmHWM"), _status("VmRSS")
            exporter.close()
    finally:
        server.close()
    return figures


def run(jobs: int = 10_000, polls: int = POLLS) -> str:
    small = measure(jobs // 10, polls)
    large = measure(jobs, polls)
    mib = 2**20
    rows: list[list[object]] = []
    for figures in (small, large):
        for resource in RESOURCES:
            first = figures.first[resource]
            rows.append(
                [
                    f"{figures.jobs:,}",
                    f"{resource}, first poll",
                    f"{first.cpu:.3f}",
                    f"{first.wall:.2f}",
                    first.requests,
                    f"{first.received / 1e6:.2f}",
                ]
            )
            rows.append(
                [
                    f"{figures.jobs:,}",
                    f"{resource}, steady (median of {polls})",
                    f"{figures.median(resource, 'cpu'):.3f}",
                    f"{figures.median(resource, 'wall'):.2f}",
                    f"{figures.median(resource, 'requests'):.0f}",
                    f"{figures.median(resource, 'received') / 1e6:.2f}",
                ]
            )
        rows.append(
            [
                f"{figures.jobs:,}",
                "whole process, per cycle (1% changed, both polls)",
                f"{figures.cycle_median('cpu'):.3f}",
                "",
                f"{figures.cycle_median('requests'):.0f}",
                f"{figures.cycle_median('received') / 1e6:.2f}",
            ]
        )
    more = large.jobs - small.jobs

    def per_job(resource: str, name: str) -> float:
        return (large.median(resource, name) - small.median(resource, name)) / more

    cpu, received = per_job("jobs", "cpu"), per_job("jobs", "received")
    lines = [
        table(
            f"KubeRay: a steady poll of {large.jobs:,} RayJobs (beside {small.jobs:,}, same run), "
            f"1% of them changed between polls (a multiple of 4, at least 4), page_size 500, "
            "state_file on",
            ["RayJobs", "poll", "CPU s", "wall s", "requests", "MB received"],
            rows,
        ),
        f"per RayJob (steady jobs poll, {large.jobs:,} less {small.jobs:,}): "
        f"{cpu * 1e6:.1f} us CPU, {received:,.0f} B received",
        "RSS, peak / after the last poll (more than before the exporter was built): "
        + "; ".join(
            f"{f.jobs:,} RayJobs {f.peak_rss / mib:.0f} / {f.rss / mib:.0f} MiB "
            f"(+{(f.peak_rss - f.idle_rss) / mib:.0f} / +{(f.rss - f.idle_rss) / mib:.0f})"
            for f in (small, large)
        ),
        f"at a 60 s interval, {large.jobs:,} RayJobs: "
        f"{large.cycle_median('cpu') / 60 * 100:.1f}% of one core, "
        f"{large.cycle_median('requests'):.0f} requests and "
        f"{large.cycle_median('received') / 1e6:.1f} MB a minute",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(run(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000))
