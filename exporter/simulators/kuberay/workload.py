"""An evolving KubeRay workload: RayJobs submitted at random across namespaces, most with a
RayCluster of its own that the operator brings up, then runs and deletes when the job ends
(``shutdownAfterJobFinishes``), every ``SHARED_EVERY``-th on one of two long-lived RayClusters
(``clusterSelector``), which stay; a user's interactive RayCluster brought up a little
later, on which no RayJob runs; finished RayJobs deleted after their TTL; the store compacted
every few minutes, as etcd is. Some RayJobs of their own RayCluster have a ``backoffLimit``
and fail attempts before their last: each such attempt is retried (the operator deletes its
RayCluster and, a few seconds later, begins again with a new one)."""

from __future__ import annotations

import math
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
RETRIED = 0.2  # the share of RayJobs with a backoffLimit that fail attempts before their last
BACKOFF_LIMIT = 2
LONG_LIVED = {
    ("team-a", "shared"): {"cpu-workers": (3, 0)},
    ("research", "gpu-pool"): {"gpu-workers": (2, 8), "cpu-workers": (1, 0)},
}


def own_cluster(sim: KubeRaySimulator, key: str, workload: str) -> tuple[str, str]:
    """The RayCluster of RayJob ``key``'s attempt, as the operator makes it for the RayJob
    (not ready yet; GPUs for ``train``), created now; its (namespace, name)."""
    item = sim.item(key)
    cluster = (item["metadata"]["namespace"], item["status"]["rayClusterName"])
    gpus = 4 if workload == "train" else 0
    sim.api.store.create(
        "rayclusters",
        new_ray_cluster(
            cluster[1], cluster[0], workers={"workers": (2, gpus)}, labels={"app": workload}
        ),
    )
    return cluster


@dataclass(slots=True)
class Plan:
    """What becomes of one RayJob: when it runs and ends, how, and when it is deleted; the
    attempts it fails (and retries) before that, when the next begins."""

    start_at: float
    end_at: float
    outcome: Outcome
    delete_at: float
    cluster: tuple[str, str]
    own_cluster: bool = True  # made for the RayJob, deleted when it ends
    workload: str = ""
    retries: int = 0
    restart_at: float | None = None
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
        for (namespace, name), workers in LONG_LIVED.items():
            self.sim.create_ray_cluster(namespace, name, workers=workers)

    def _submit(self, at: float) -> None:
        workload = self.rng.choice(WORKLOADS)
        self._submitted += 1
        shared = list(LONG_LIVED)[self._submitted // SHARED_EVERY % len(LONG_LIVED)]
        on = shared if self._submitted % SHARED_EVERY == 0 else None
        start = at + self.rng.uniform(5, 40)
        run = self.rng.uniform(30, 300)
        end = start + (run / SHARED_SHORTER if on else run)
        outcome: Outcome = self.rng.choices(("succeeded", "failed", "cancelled"), (80, 15, 5))[0]
        delete_at = end + self.rng.uniform(60, 600)
        retries = 0
        if on is None and self.rng.random() < RETRIED:  # a failed end follows every retry
            retries = BACKOFF_LIMIT if outcome == "failed" else self.rng.randint(1, BACKOFF_LIMIT)
        key = self.sim.create_ray_job(
            f"{workload}-{self._submitted}",
            labels={"app": workload},
            on=on,
            backoff_limit=BACKOFF_LIMIT if retries else None,
        )
        if on is None:
            cluster = own_cluster(self.sim, key, workload)
        else:
            item = self.sim.item(key)
            cluster = (item["metadata"]["namespace"], item["status"]["rayClusterName"])
        self._plans[key] = Plan(
            start, end, outcome, delete_at, cluster, on is None, workload, retries
        )

    def _advance(self, key: str, plan: Plan, now: float) -> None:
        store = self.sim.api.store
        if plan.restart_at is not None and plan.restart_at <= now:
            self._restart(key, plan, now)
        if plan.start_at <= now and not plan.started:
            plan.started = True
            if self.rng.random() < 0.05:  # the submission fails: Ray never runs it
                plan.end_at = now
                plan.outcome = plan.outcome if plan.retries else "failed"
            else:
                if plan.own_cluster:
                    store.update("rayclusters", plan.cluster, lambda item: become_ready(item, now))
                self.sim.start_job(key)
        if plan.end_at <= now and not plan.ended and plan.retries:
            self._retry(key, plan, now)
        elif plan.end_at <= now and not plan.ended:
            plan.ended = True
            self.sim.end_job(key, plan.outcome)
            if plan.own_cluster:
                store.delete("rayclusters", plan.cluster)
        if plan.delete_at <= now:
            self.sim.remove_job(key)
            del self._plans[key]

    def _retry(self, key: str, plan: Plan, now: float) -> None:
        """The attempt fails and is retried: its RayCluster deleted, the next one begun soon."""
        self.sim.retry_job(key)
        self.sim.api.store.delete("rayclusters", plan.cluster)
        plan.retries -= 1
        plan.restart_at = now + self.rng.uniform(5, 20)
        plan.start_at = plan.end_at = plan.delete_at = math.inf
        plan.started = False

    def _restart(self, key: str, plan: Plan, now: float) -> None:
        """The next attempt begins: a new RayCluster, and a run of its own."""
        self.sim.restart_job(key)
        plan.cluster = own_cluster(self.sim, key, plan.workload)
        plan.restart_at = None
        plan.start_at = now + self.rng.uniform(5, 40)
        plan.end_at = plan.start_at + self.rng.uniform(30, 300)
        plan.delete_at = plan.end_at + self.rng.uniform(60, 600)
