"""The KubeRay simulator of ``bench/kuberay.py``, in its own process, so that the exporter's CPU
is measured apart from the API server's: ``python -m bench.kuberay_server N``.

Fills the simulator with N RayJobs over its namespaces (``rayjobs.NAMESPACES``, in turn): 90%
finished and kept (created over the last week; 80% succeeded, 15% failed, 5% stopped, a
twentieth of the failures submissions that never ran), 8% running, 2% pending, each
``new_ray_job`` moved through KubeRay's stages; a RayCluster for each running or pending one
(ready once its job runs, deleted when it ends) and the workload's two long-lived ones. Serves
the simulator's own Kubernetes API handler, counting at the server every request and every
byte it sends (status line, headers, bodies, watch chunks) by resource, prints
``ready {target config}`` and obeys one command a line on stdin, answering one line:

- ``churn K``: K changes (rounded to a multiple of 4), a quarter each: new RayJobs submitted
  (with their RayClusters), pending ones starting, running ones ending, the oldest finished
  deleted (their TTL passed); as many RayJobs kept, running and pending as before. Answers
  ``done``.
- ``count``: ``{"rayjobs": [requests, bytes], ...}`` since the start, as JSON.

Ends at the end of stdin.
"""

from __future__ import annotations

import json
import random
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from exporter.simulators.base import Outcome, SimulatorServer
from exporter.simulators.kuberay import KubeRaySimulator
from exporter.simulators.kuberay.raycluster import become_ready
from exporter.simulators.kuberay.workload import LONG_LIVED, WORKLOADS, own_cluster
from exporter.simulators.kubernetes.handler import handler

FINISHED, RUNNING = 0.90, 0.08  # of the RayJobs kept; the rest are pending
WEEK = 7 * 86400.0
OUTCOMES: tuple[Outcome, ...] = ("succeeded", "failed", "cancelled")


class Counts:
    """Requests and bytes sent, by resource (``rayjobs``, ``rayclusters``, ``other``)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_resource: dict[str, list[int]] = {}

    def add(self, resource: str, requests: int, sent: int) -> None:
        with self.lock:
            counted = self.by_resource.setdefault(resource, [0, 0])
            counted[0] += requests
            counted[1] += sent


def _resource(path: str) -> str:
    last = [part for part in path.partition("?")[0].split("/") if part]
    for plural in ("rayjobs", "rayclusters"):
        if plural in last:
            return plural
    return "other"


class _CountingWriter:
    """A handler's ``wfile`` that adds what passes through it to its request's resource."""

    def __init__(self, wfile: Any, counts: Counts, resource: Callable[[], str]) -> None:
        self._wfile, self._counts, self._resource = wfile, counts, resource

    def write(self, data: bytes) -> int:
        self._counts.add(self._resource(), 0, len(data))
        return self._wfile.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._wfile, name)


def counting_handler(base: type, counts: Counts) -> type:
    class Counting(base):  # type: ignore[misc, valid-type]
        def setup(self) -> None:
            super().setup()
            self.wfile = _CountingWriter(
                self.wfile, counts, lambda: _resource(getattr(self, "path", ""))
            )

        def do_GET(self) -> None:
            counts.add(_resource(self.path), 1, 0)
            super().do_GET()

    return Counting


class Fleet:
    """The RayJobs of the simulator by life stage, oldest first, and their RayClusters."""

    def __init__(self, sim: KubeRaySimulator, now: list[float], seed: int = 1) -> None:
        self.sim, self.now, self.rng = sim, now, random.Random(seed)
        self.pending: deque[str] = deque()
        self.running: deque[str] = deque()
        self.finished: deque[str] = deque()
        self.clusters: dict[str, tuple[str, str]] = {}
        self.made = 0

    def submit(self) -> str:
        self.made += 1
        workload = WORKLOADS[self.made % len(WORKLOADS)]
        uid = self.sim.create_ray_job(f"{workload}-{self.made}", labels={"app": workload})
        self.clusters[uid] = own_cluster(self.sim, uid, workload)
        self.pending.append(uid)
        return uid

    def start(self, uid: str) -> None:
        self.pending.remove(uid)
        now = self.sim.now()
        self.sim.api.store.update(
            "rayclusters", self.clusters[uid], lambda item: become_ready(item, now)
        )
        self.sim.start_job(uid)
        self.running.append(uid)

    def end(self, uid: str, outcome: Outcome | None = None) -> None:
        """RayJob ``uid`` ends (as the workload's do, when no ``outcome`` is given); its
        RayCluster is deleted (``shutdownAfterJobFinishes``)."""
        (self.running if uid in self.running else self.pending).remove(uid)
        self.sim.end_job(uid, outcome or self.rng.choices(OUTCOMES, (80, 15, 5))[0])
        self.sim.api.store.delete("rayclusters", self.clusters.pop(uid))
        self.finished.append(uid)

    def delete(self, uid: str) -> None:
        self.finished.remove(uid)
        self.sim.remove_job(uid)

    def fill(self, jobs: int, at: float) -> None:
        finished = round(jobs * FINISHED)
        running = round(jobs * RUNNING)
        for i in range(finished):
            created = at - WEEK + i * (WEEK - 3600) / max(finished, 1)
            self.now[0] = created
            uid = self.submit()
            if self.rng.random() < 0.01:  # the submission failed: Ray never ran it
                self.now[0] = created + self.rng.uniform(30, 120)
                self.end(uid, "failed")
                continue
            self.now[0] = created + self.rng.uniform(5, 40)
            self.start(uid)
            self.now[0] += self.rng.uniform(30, 3000)
            self.end(uid)
        for i in range(running):
            self.now[0] = at - 3600 + i * 3000 / max(running, 1)
            uid = self.submit()
            self.now[0] += self.rng.uniform(5, 40)
            self.start(uid)
        for i in range(jobs - finished - running):
            self.now[0] = at - 300 + i
            self.submit()
        was, self.now[0] = self.now[0], at - WEEK  # up for a week
        for (namespace, name), workers in LONG_LIVED.items():
            self.sim.create_ray_cluster(namespace, name, workers=workers)
        self.now[0] = was
        self.sim.api.store.compact()  # etcd keeps minutes of history, not the week's

    def churn(self, changes: int) -> None:
        quarter = max(round(changes / 4), 1)  # as many kept, running and pending as before
        for _ in range(quarter):
            self.submit()
        for uid in list(self.pending)[:quarter]:
            self.start(uid)
        for uid in list(self.running)[:quarter]:
            self.end(uid)
        for uid in list(self.finished)[:quarter]:
            self.delete(uid)


def main() -> None:
    jobs = int(sys.argv[1])
    now = [time.time()]
    sim = KubeRaySimulator(clock=lambda: now[0])
    fleet = Fleet(sim, now)
    fleet.fill(jobs, now[0])
    sim.clock = time.time  # from now on, the API's clock is the real one
    counts = Counts()
    server = SimulatorServer(("127.0.0.1", 0), counting_handler(handler(sim.api), counts))
    sim.url = f"http://127.0.0.1:{server.serve_in_background('KubeRay')}"
    print("ready", json.dumps(sim.target_config("bench")), flush=True)
    for line in sys.stdin:
        command, _, argument = line.partition(" ")
        if command == "churn":
            fleet.churn(int(argument))
            print("done", flush=True)
        elif command.strip() == "count":
            with counts.lock:
                print(json.dumps(counts.by_resource), flush=True)
    sim.api.stop()
    server.shutdown()


if __name__ == "__main__":
    main()
