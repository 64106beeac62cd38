"""The demo workload: jobs arrive, wait, run and end in every status, usage varies, workers
die and join; seeded."""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from exporter.simulators.base import Workload
from exporter.simulators.ray.common import GIB, TERMINAL
from exporter.simulators.ray.jobs import SETUP_FAILURE

if TYPE_CHECKING:
    from exporter.simulators.ray.simulator import RaySimulator

MAX_JOBS = 500


@dataclass
class _Plan:
    """When a submitted job starts (``start_at``) and ends, and how."""

    start_at: float
    end_at: float
    final: str
    error_type: str | None = None
    runs: bool = True  # False: it ends at start_at without running (stopped or setup failed)


class RayWorkload(Workload):
    """Jobs arrive, wait, run and end in every status; usage varies; workers die and join.

    Deterministic from the seed for a given sequence of ``step(now)`` calls.
    """

    NAMES = ("train-resnet", "etl-nightly", "eval-llm", "tune-xgb", "embed-docs", "batch-infer")
    TEAMS = ("vision", "nlp", "data-eng", "recsys")

    def __init__(self, sim: RaySimulator, rate_per_min: float, seed: float) -> None:
        super().__init__(sim.clock, rate_per_min, seed)
        self.sim = sim
        self.plans: dict[str, _Plan] = {}
        self.started = False
        self.next_arrival = self.next_node_event = self.next_fault = 0.0
        self.rejoin_at: float | None = None
        self.node_events = 0
        self._lock = threading.Lock()

    def step(self, now: float) -> None:
        """Advance everything to ``now``."""
        with self._lock:
            if not self.started:
                self._begin(now)
            self._arrive(now)
            self._advance(now)
            self._evolve_nodes(now)
            self._inject_fault(now)
            self._vary_usage()
            self.sim._drop_oldest_finished(MAX_JOBS)

    def _begin(self, now: float) -> None:
        self.started = True
        self.next_arrival = now
        self.next_node_event = now + 25
        self.next_fault = now + 20
        self.sim.set_nodes(
            alive_head=1,
            alive_workers=2,
            cpus_per_node=8,
            gpus_per_node=1,
            memory_per_node=32 * GIB,
        )

    def _arrive(self, now: float) -> None:
        for _ in range(1000):  # bounded catch-up after a jump of the clock
            if self.next_arrival > now:
                return
            self._submit(self.next_arrival)
            self.next_arrival += self.rng.expovariate(1.0 / self.mean_gap)

    def _submit(self, at: float) -> None:
        roll = self.rng.random()
        if roll < 0.05 and self.sim.flavour == "ray":  # a script that called ray.init() itself
            key = self.sim.add_job(
                type="DRIVER", status="RUNNING", start_time=at, entrypoint="python notebook.py"
            )
            self.plans[key] = _Plan(at, at + self.rng.uniform(20, 90), "SUCCEEDED")
            return
        final = "SUCCEEDED" if roll < 0.75 else "FAILED" if roll < 0.9 else "STOPPED"
        start_at = at + (
            self.rng.uniform(45, 75) if self.rng.random() < 0.1 else self.rng.uniform(2, 15)
        )
        plan = _Plan(start_at, start_at + self.rng.uniform(5, 60), final)
        if final == "FAILED" and self.rng.random() < 0.25:
            plan = _Plan(start_at, start_at, final, SETUP_FAILURE, runs=False)
        elif final == "STOPPED" and self.rng.random() < 0.3:
            plan = _Plan(start_at, start_at, final, runs=False)  # stopped while queued
        name = self.rng.choice(self.NAMES)
        key = self.sim.add_job(
            self._submission_id(name),
            start_time=at,
            entrypoint=f"python {name.replace('-', '_')}.py",
            metadata=self._metadata(name),
            runtime_env=self._runtime_env(),
        )
        self.plans[key] = plan

    def _submission_id(self, name: str) -> str:
        if self.sim.flavour == "openyuanrong":
            return f"app-{uuid.UUID(int=self.rng.getrandbits(128), version=4)}"
        return f"{name}-{self.rng.getrandbits(32):08x}"

    def _metadata(self, name: str) -> dict[str, str]:
        team = self.rng.choice(self.TEAMS)
        if self.sim.flavour == "openyuanrong":
            return {"job_name": name, "owner": team, "task_type": team, "ttl": "3600"}
        return {"job_name": name, "owner": team}

    def _runtime_env(self) -> dict[str, Any]:
        env = {"API_KEY": "demo-not-a-secret"}
        if self.sim.flavour == "openyuanrong":
            return {
                "envVars": json.dumps(env),
                "pip": "pip3.9 install numpy==1.24",
                "working_dir": "file:///home/disk/demo/job.zip",
            }
        return {
            "working_dir": f"gcs://_ray_pkg_{self.rng.getrandbits(64):016x}.zip",
            "env_vars": env,
        }

    def _advance(self, now: float) -> None:
        statuses = self.sim._statuses()
        for key, plan in list(self.plans.items()):
            status = statuses.get(key)
            if status is None or status in TERMINAL:  # removed, or stopped by a client
                del self.plans[key]
            elif now >= plan.start_at:
                self._progress(key, plan, status, now)

    def _progress(self, key: str, plan: _Plan, status: str, now: float) -> None:
        if not plan.runs:
            self.sim._move(key, plan.final, end_time=plan.start_at, error_type=plan.error_type)
            del self.plans[key]
            return
        if status == "PENDING":
            self.sim._move(key, "RUNNING")
        if now >= plan.end_at:
            self.sim._move(key, plan.final, end_time=plan.end_at)
            del self.plans[key]

    def _evolve_nodes(self, now: float) -> None:
        if self.rejoin_at is not None and now >= self.rejoin_at:
            self.sim._add_worker(now)
            self.rejoin_at = None
        if now < self.next_node_event:
            return
        alive = self.sim._alive_workers()
        roll = self.rng.random()
        if alive > 1 and self.rejoin_at is None and (self.node_events == 0 or roll < 0.4):
            self.sim._end_worker(now, crashed=True)  # a replacement joins soon
            self.rejoin_at = now + self.rng.uniform(8, 20)
        elif alive < 4 and roll < 0.7:
            self.sim._add_worker(now)  # scale up
        elif alive > 1:
            self.sim._end_worker(now, crashed=False)  # scale down
        self.node_events += 1
        self.next_node_event = now + self.rng.uniform(20, 45)

    def _inject_fault(self, now: float) -> None:
        if now >= self.next_fault:  # now and then a failed poll, so health metrics move too
            self.sim.fail_next(1, status=503, body="upstream unavailable")
            self.next_fault = now + self.rng.uniform(30, 60)

    def _vary_usage(self) -> None:
        running = sum(1 for s in self.sim._statuses().values() if s == "RUNNING")
        jitter = self.rng.uniform(0.0, 0.5)
        self.sim.set_usage(
            cpu_used=running * 2.0 + jitter,
            gpu_used=float(running),
            memory_used=(running * 3 + jitter) * GIB,
            object_store_used=(running + jitter) * GIB / 2,
        )
