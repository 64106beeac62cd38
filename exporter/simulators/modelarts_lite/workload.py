"""The ModelArts simulator's evolving workload (``--demo``, tests' ``step``): Lite Server jobs
start, run, and finish cleanly, with failed nodes, or deleted; training jobs arrive on two
pools of the project's own at half the rate of Lite Server jobs, wait ``Pending`` until their
pool has room (the one-node GPU pool is often full; a job waiting ``GIVE_UP`` seconds is stopped
by its user), run, and end: most complete, some fail, some are stopped (``Terminating`` for a
few seconds first)."""

from __future__ import annotations

from random import Random
from typing import TYPE_CHECKING

from exporter.simulators.base import Workload
from exporter.simulators.modelarts_lite.flavors import JOB_FLAVORS
from exporter.simulators.modelarts_lite.server_jobs import TYPES

if TYPE_CHECKING:
    from exporter.simulators.modelarts_lite.simulator import ModelArtsLiteSimulator

LITE_NAMES = ("software-upgrade", "diagnosis", "deploy-service", "stress-test")
TRAINING_NAMES = ("pretrain-llm", "finetune-vision", "eval-suite", "tune-hparams")
POOLS = (  # name, node flavor, nodes
    ("gpu-pool", "modelarts.vm.gpu.8v100nv32", 1),
    ("ascend-pool", "modelarts.bm.npu.arm.8snt9b3.d", 2),
)
GIVE_UP = 600.0


class ModelArtsWorkload(Workload):
    """Lite Server jobs and training jobs, drawn apart so that either keeps its sequence."""

    def __init__(self, sim: ModelArtsLiteSimulator, rate_per_min: float, seed: float) -> None:
        super().__init__(sim.clock, rate_per_min, seed)
        self.sim = sim
        self.plans: dict[str, tuple[float, str, int]] = {}  # id -> (end at, final, abnormal)
        self.next_arrival: float | None = None
        self.training = TrainingWorkload(sim, 2 * self.mean_gap, seed)

    def step(self, now: float) -> None:
        if self.next_arrival is None:
            self.next_arrival = now
        arrivals = 0
        while self.next_arrival <= now and arrivals < 1000:
            self._submit(self.next_arrival)
            self.next_arrival += self.rng.expovariate(1.0 / self.mean_gap)
            arrivals += 1
        for key, (end_at, final, abnormal) in list(self.plans.items()):
            if now >= end_at:
                self.sim.set_job(key, status=final, abnormal_count=abnormal)
                del self.plans[key]
        self.training.step(now)

    def _submit(self, at: float) -> None:
        index = self.rng.randrange(len(LITE_NAMES))
        name = f"{LITE_NAMES[index]}-{self.rng.getrandbits(16):04x}"
        key = self.sim.add_job(name=name, job_type=TYPES[index], create_at=at)
        roll = self.rng.random()
        final, abnormal = ("FINISHED", 0) if roll < 0.75 else ("DELETED", 0)
        if 0.6 <= roll < 0.75:
            abnormal = self.rng.randint(1, 3)
        self.plans[key] = (at + self.rng.uniform(10, 60), final, abnormal)


class TrainingWorkload:
    """Training jobs: created, ``Pending`` a second later, running once their pool has room,
    then ended as planned."""

    def __init__(self, sim: ModelArtsLiteSimulator, mean_gap: float, seed: float) -> None:
        self.sim = sim
        self.rng = Random(seed + 1)
        self.mean_gap = mean_gap
        self.next_arrival: float | None = None
        self.plans: dict[str, tuple[float, str]] = {}  # id -> (seconds to run, final phase)
        self.ends: dict[str, float] = {}  # jobs running -> when they end (or start stopping)

    def step(self, now: float) -> None:
        if self.next_arrival is None:
            self.next_arrival = now
            self.pool_ids = [
                self.sim.pools.add_pool(name, flavor=flavor, nodes=nodes)
                for name, flavor, nodes in POOLS
            ]
        arrivals = 0
        while self.next_arrival <= now and arrivals < 1000:
            self._submit(self.next_arrival)
            self.next_arrival += self.rng.expovariate(1.0 / self.mean_gap)
            arrivals += 1
        jobs = {job["metadata"]["id"]: job for job in self.sim.training_jobs.jobs()}
        for key in list(self.plans):
            if key in jobs:
                self._advance(key, jobs[key], now)
            else:
                self._forget(key)

    def _submit(self, at: float) -> None:
        training = self.sim.training_jobs
        key = training.add_job(
            name=f"{self.rng.choice(TRAINING_NAMES)}-{self.rng.getrandbits(16):04x}",
            phase="Creating",
            create_time=at,
            pool_id=self.rng.choice(self.pool_ids),
            flavor_id=self.rng.choice(tuple(JOB_FLAVORS)),
            node_count=self.rng.choice((1, 1, 2)),
        )
        roll = self.rng.random()
        final = "Completed" if roll < 0.75 else "Failed" if roll < 0.9 else "Terminated"
        self.plans[key] = (self.rng.uniform(10, 60), final)

    def _advance(self, key: str, job: dict, now: float) -> None:
        seconds, final = self.plans[key]
        training, phase = self.sim.training_jobs, job["status"]["phase"]
        resource = job["spec"]["resource"]
        cards = resource["flavor_detail"]["billing"]["unit_num"]
        if phase == "Creating" and now >= job["metadata"]["create_time"] / 1000 + 1:
            training.set_phase(key, "Pending")
        elif phase == "Pending" and self.sim.pools.room(
            resource["pool_id"], cards, resource["node_count"]
        ):
            training.set_phase(key, "Running")
            self.ends[key] = now + seconds
        elif phase == "Pending" and now >= job["metadata"]["create_time"] / 1000 + GIVE_UP:
            training.set_phase(key, "Terminated")
            self._forget(key)
        elif phase == "Running" and now >= self.ends[key]:
            training.set_phase(key, "Terminating" if final == "Terminated" else final)
            self.ends[key] = now + 3
            if final != "Terminated":
                self._forget(key)
        elif phase == "Terminating" and now >= self.ends[key]:
            training.set_phase(key, "Terminated")
            self._forget(key)

    def _forget(self, key: str) -> None:
        self.plans.pop(key, None)
        self.ends.pop(key, None)
