"""An evolving KubeRay workload: RayJobs submitted at random across namespaces, most with a
RayCluster of its own that the operator brings up, then runs and deletes when the job ends
(``shutdownAfterJobFinishes``), every ``SHARED_EVERY``-th on one of two long-lived RayClusters
(``clusterSelector``), which stay; a user's interactive RayCluster brought up a little
later, on which no RayJob runs; finished RayJobs deleted after their TTL; the store compacted
every few minutes, as etcd is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from exporter.simulators.base import Outcome, Workload
from exporter.simulators.kuberay.raycluster import become_ready, new_ray_cluster

if TYPE_CHECKING:
    from exporter.simulators.kuberay.simulator import KubeRaySimulator

WORKLOADS = ("train", "tune", "batch-infer", "etl")
COMPACT_EVERY = 300.0
SHARED_EVERY = 5  # every fifth RayJob runs on a long-lived RayCluster, in turn, and is
SHARED_SHORTER = 5  # this many times shorter: the clusters are idle between them
INTERACTIVE = ("team-b", "notebook")  # up this long after the workload begins: idle
INTERACTIVE_AFTER = 20.0
LONG_LIVED = {
    ("team-a", "shared"): {"cpu-workers": (3, 0)},
    ("research", "gpu-pool"): {"gpu-workers": (2, 8), "cpu-workers": (1, 0)},
}


@dataclass(slots=True)
class Plan:
    """What becomes of one RayJob: when it runs and ends, how, and when it is deleted."""

    start_at: float
    end_at: float
    outcome: Outcome
    delete_at: float
    cluster: tuple[str, str]
    own_cluster: bool = True  # made for the RayJob, deleted when it ends
    started: bool = False
    ended: bool = False


class KubeRayWorkload(Workload):
    def __init__(self, sim: KubeRaySimulator, rate_per_min: float, seed: float) -> None:
        super().__init__(sim.now, rate_per_min, seed)
        self.sim = sim
        self._next: float | None = None
        self._compacted_at: float | None = None
        self._interactive_at: float | None = None  # when it comes up; None once it has
        self._mark = 0
        self._plans: dict[str, Plan] = {}
        self._submitted = 0

    def step(self, now: float) -> None:
        if self._next is None:
            self._begin(now)
        while self._next is not None and self._next <= now:
            self._submit(self._next)
            self._next += self.rng.expovariate(1 / self.mean_gap)
        for key, plan in list(self._plans.items()):
            self._advance(key, plan, now)
        if self._interactive_at is not None and self._interactive_at <= now:
            self._interactive_at = None
            self.sim.create_ray_cluster(*INTERACTIVE, workers={"workers": (1, 1)})
        if self._compacted_at is not None and now - self._compacted_at >= COMPACT_EVERY:
            self.sim.api.store.compact(self._mark)  # what is older than one interval
            self._mark, self._compacted_at = self.sim.api.store.version, now

    def _begin(self, now: float) -> None:
        self._next, self._compacted_at = now, now
        self._interactive_at = now + INTERACTIVE_AFTER
        store = self.sim.api.store
        for (namespace, name), workers in LONG_LIVED.items():
            item = new_ray_cluster(name, namespace, workers=workers, labels={"app": name})
            become_ready(item, now)
            store.create("rayclusters", item)

    def _submit(self, at: float) -> None:
        workload = self.rng.choice(WORKLOADS)
        self._submitted += 1
        shared = list(LONG_LIVED)[self._submitted // SHARED_EVERY % len(LONG_LIVED)]
        on = shared if self._submitted % SHARED_EVERY == 0 else None
        name = f"{workload}-{self._submitted}"
        key = self.sim.create_ray_job(name, labels={"app": workload}, on=on)
        item = self.sim.item(key)
        namespace = item["metadata"]["namespace"]
        cluster = (namespace, item["status"]["rayClusterName"])
        gpus = 4 if workload == "train" else 0
        if on is None:
            self.sim.api.store.create(
                "rayclusters",
                new_ray_cluster(
                    cluster[1], namespace, workers={"workers": (2, gpus)}, labels={"app": workload}
                ),
            )
        start = at + self.rng.uniform(5, 40)
        run = self.rng.uniform(30, 300)
        end = start + (run / SHARED_SHORTER if on else run)
        outcome: Outcome = self.rng.choices(("succeeded", "failed", "cancelled"), (80, 15, 5))[0]
        delete_at = end + self.rng.uniform(60, 600)
        self._plans[key] = Plan(start, end, outcome, delete_at, cluster, own_cluster=on is None)

    def _advance(self, key: str, plan: Plan, now: float) -> None:
        store = self.sim.api.store
        if plan.start_at <= now and not plan.started:
            plan.started = True
            if self.rng.random() < 0.05:  # the submission fails: Ray never runs it
                plan.end_at, plan.outcome = now, "failed"
            else:
                if plan.own_cluster:
                    store.update("rayclusters", plan.cluster, lambda item: become_ready(item, now))
                self.sim.start_job(key)
        if plan.end_at <= now and not plan.ended:
            plan.ended = True
            self.sim.end_job(key, plan.outcome)
            if plan.own_cluster:
                store.delete("rayclusters", plan.cluster)
        if plan.delete_at <= now:
            self.sim.remove_job(key)
            del self._plans[key]
