"""Ray simulators in processes of their own, for the many-target benchmarks, so that the
exporter measured does not share an interpreter with what it polls.

``python -m bench.ray_fleet N SEED`` serves N simulators (5 running and 5 finished jobs each)
and prints their URLs on one line, then serves until killed; ``ray_fleet`` starts such
processes and stops them by their PIDs.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from exporter.simulators.ray import RaySimulator

from .common import ROOT

JOBS_EACH = 5  # running, and as many finished


def serve(count: int, seed: int) -> None:
    simulators = []
    for i in range(count):
        simulator = RaySimulator(seed=seed + i)
        for j in range(JOBS_EACH):
            simulator.add_job(f"running-{j}", status="RUNNING")
            simulator.add_job(f"done-{j}", status="SUCCEEDED")
        simulator.start()
        simulators.append(simulator)
    print(" ".join(simulator.url for simulator in simulators), flush=True)
    threading.Event().wait()


@contextmanager
def ray_fleet(simulators: int, processes: int = 2) -> Iterator[list[str]]:
    """The URLs of ``simulators`` Ray simulators served by ``processes`` processes."""
    started: list[subprocess.Popen[str]] = []
    urls: list[str] = []
    try:
        for p in range(processes):
            count = simulators // processes + (p < simulators % processes)
            if count:
                process = subprocess.Popen(
                    [sys.executable, "-m", "bench.ray_fleet", str(count), str(p * 100_000)],
                    cwd=ROOT,
                    stdout=subprocess.PIPE,
                    text=True,
                )
                started.append(process)
                urls += process.stdout.readline().split() if process.stdout else []
        if len(urls) != simulators:
            raise RuntimeError(f"{len(urls)} of {simulators} Ray simulators started")
        yield urls
    finally:
        for process in started:
            process.kill()
            process.wait(timeout=30)


if __name__ == "__main__":
    serve(int(sys.argv[1]), int(sys.argv[2]))
