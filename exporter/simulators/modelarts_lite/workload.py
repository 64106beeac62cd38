"""The ModelArts simulator's evolving workload (``--demo``, tests' ``step``): Lite Server jobs
start, run, and finish cleanly, with failed nodes, or deleted."""

from __future__ import annotations

from typing import TYPE_CHECKING

from exporter.simulators.base import Workload
from exporter.simulators.modelarts_lite.server_jobs import TYPES

if TYPE_CHECKING:
    from exporter.simulators.modelarts_lite.simulator import ModelArtsLiteSimulator

LITE_NAMES = ("software-upgrade", "diagnosis", "deploy-service", "stress-test")


class ModelArtsWorkload(Workload):
    """Lite Server jobs."""

    def __init__(self, sim: ModelArtsLiteSimulator, rate_per_min: float, seed: float) -> None:
        super().__init__(sim.clock, rate_per_min, seed)
        self.sim = sim
        self.plans: dict[str, tuple[float, str, int]] = {}  # id -> (end at, final, abnormal)
        self.next_arrival: float | None = None

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

    def _submit(self, at: float) -> None:
        index = self.rng.randrange(len(LITE_NAMES))
        name = f"{LITE_NAMES[index]}-{self.rng.getrandbits(16):04x}"
        key = self.sim.add_job(name=name, job_type=TYPES[index], create_at=at)
        roll = self.rng.random()
        final, abnormal = ("FINISHED", 0) if roll < 0.75 else ("DELETED", 0)
        if 0.6 <= roll < 0.75:
            abnormal = self.rng.randint(1, 3)
        self.plans[key] = (at + self.rng.uniform(10, 60), final, abnormal)
