"""The EMR simulator's evolving workload (``--demo``, tests' ``step``): Ray jobs arrive, queue,
run while their cuHours grow and end in every status; Ray clusters start, scale and now and then
fail; Spark job runs wait in two queues until the queue has room, run, and end; a GPU queue
holds what the training cluster uses."""

from __future__ import annotations

from random import Random
from typing import TYPE_CHECKING

from exporter.simulators.base import Workload

if TYPE_CHECKING:
    from exporter.simulators.emr_serverless.simulator import EmrServerlessSimulator

QUEUES = {"root_queue": (64, 256), "dev_queue": (16, 64)}  # name -> (vcores, GiB) at most
GPU_QUEUE = "gpu_queue"  # no Spark run goes there: the training cluster's share
SPARK_NAMES = ("daily-etl", "sessionize", "feature-join", "report-sql")


class EmrWorkload(Workload):
    """Ray jobs and clusters, and Spark runs (drawn apart, so that either keeps its sequence)."""

    NAMES = ("train-llm", "etl-features", "batch-infer", "eval-suite", "tune-hparams")
    CREATORS = ("Alice", "Bob", "Chen")  # who submits each of NAMES, in turn

    def __init__(self, sim: EmrServerlessSimulator, rate_per_min: float, seed: float) -> None:
        super().__init__(sim.clock, rate_per_min, seed)
        self.sim = sim
        self.plans: dict[str, tuple[float, float, str, float]] = {}  # start, end, final, CU rate
        self.next_arrival: float | None = None
        self.next_cluster_change = 0.0
        self.spark = SparkWorkload(sim, self.mean_gap, seed)

    def step(self, now: float) -> None:
        if self.next_arrival is None:
            self._begin(now)
        arrivals = 0
        while self.next_arrival is not None and self.next_arrival <= now and arrivals < 1000:
            self._submit(self.next_arrival)
            self.next_arrival += self.rng.expovariate(1.0 / self.mean_gap)
            arrivals += 1
        self._advance_jobs(now)
        if now >= self.next_cluster_change:
            clusters = self.sim.list_clusters({"pageNum": "1", "pageSize": "100"})["rayClusters"]
            target = self.rng.choice(clusters)
            state = self.rng.choice(("Running", "Running", "Starting", "Error", "Stopping"))
            self.sim.set_cluster(target["clusterId"], state=state, replicas=self.rng.randint(1, 6))
            self.next_cluster_change = now + self.rng.uniform(15, 40)
        self.spark.step(now)

    def _begin(self, now: float) -> None:
        self.next_arrival = now
        self.next_cluster_change = now + 25
        for name in ("analytics", "training"):
            self.sim.add_cluster(name=name, state="Running", worker_groups=2)
        self.sim.add_cluster(name="scratch", state="Stopped", worker_groups=1, autoscaling=False)
        queues = self.sim.queues
        queues.add_queue(GPU_QUEUE, max_cpu=32, max_memory_gi=128, gpus=4, min_cpu=8)
        queues.set_use(GPU_QUEUE, cpu=16, memory_gi=64)

    def _advance_jobs(self, now: float) -> None:
        jobs = {job["submissionId"]: job for job in self.sim.jobs()}
        for key, (start_at, end_at, final, rate) in list(self.plans.items()):
            job = jobs.get(key)
            if job is None:
                del self.plans[key]
                continue
            if job["status"] in ("Submitted", "Pending") and now >= start_at:
                self.sim.set_job(key, status="Pending" if now < start_at + 2 else "Running")
            if job["status"] == "Running":
                ran = min(now, end_at) - start_at
                self.sim.set_job(key, cu_hours=round(max(ran, 0) * rate / 3600, 6))
            if now >= end_at:
                ran = end_at - start_at
                self.sim.set_job(key, status=final, cu_hours=round(max(ran, 0) * rate / 3600, 6))
                del self.plans[key]

    def _submit(self, at: float) -> None:
        name = self.rng.choice(self.NAMES)
        roll = self.rng.random()
        final = (
            "Succeeded"
            if roll < 0.7
            else "Failed"
            if roll < 0.82
            else "Cancelled"
            if roll < 0.92
            else "Timeout"
        )
        wait, run = self.rng.uniform(2, 20), self.rng.uniform(10, 90)
        creator = self.CREATORS[self.NAMES.index(name) % len(self.CREATORS)]
        key = self.sim.add_job(
            name=name, status="Submitted", submit_time=at, cu_hours=0.0, creator_name=creator
        )
        self.plans[key] = (at + wait, at + wait + run, final, self.rng.choice((4.0, 8.0, 16.0)))


class SparkWorkload:
    """Spark runs arrive, go Pending a second later, run once their queue has the vcores free
    (so a busy queue keeps runs waiting), and end: most succeed, some fail, some are cancelled
    (``Cancelling`` for a few seconds first)."""

    def __init__(self, sim: EmrServerlessSimulator, mean_gap: float, seed: float) -> None:
        self.sim = sim
        self.rng = Random(seed + 1)
        self.mean_gap = mean_gap
        self.next_arrival: float | None = None
        self.plans: dict[str, tuple[str, int, float, str]] = {}  # queue, vcores, seconds, final
        self.ends: dict[str, float] = {}  # runs running -> when they end (or start cancelling)

    def step(self, now: float) -> None:
        if self.next_arrival is None:
            self.next_arrival = now
            for name, (vcores, gib) in QUEUES.items():
                self.sim.queues.add_queue(name, max_cpu=vcores, max_memory_gi=gib)
        arrivals = 0
        while self.next_arrival <= now and arrivals < 1000:
            self._submit(self.next_arrival)
            self.next_arrival += self.rng.expovariate(1.0 / self.mean_gap)
            arrivals += 1
        runs = {run["jobRunId"]: run for run in self.sim.spark_runs.runs()}
        for key in list(self.plans):
            if key not in runs:
                self._forget(key)
            else:
                self._advance(key, runs[key], now)

    def _submit(self, at: float) -> None:
        vcores = self.rng.choice((2, 4, 8))
        roll = self.rng.random()
        final = "Success" if roll < 0.75 else "Failed" if roll < 0.9 else "Cancelled"
        queue = self.rng.choice(tuple(QUEUES))
        key = self.sim.spark_runs.add_run(
            name=self.rng.choice(SPARK_NAMES),
            state="Submitted",
            submit_time=at,
            queue=queue,
            vcores=vcores,
            memory_mb=vcores * 4096,
            code_type=self.rng.choice(("SQL", "JAR", "PYTHON")),
        )
        self.plans[key] = (queue, vcores, self.rng.uniform(20, 120), final)

    def _advance(self, key: str, run: dict, now: float) -> None:
        queue, vcores, seconds, final = self.plans[key]
        runs = self.sim.spark_runs
        if run["state"] == "Submitted" and now >= run["submitTime"] / 1000 + 1:
            runs.set_run(key, "Pending")
        elif run["state"] == "Pending" and self._room(queue, vcores):
            runs.set_run(key, "Running")
            self.ends[key] = now + seconds
        elif run["state"] == "Running" and now >= self.ends[key]:
            runs.set_run(key, "Cancelling" if final == "Cancelled" else final)
            self.ends[key] = now + 3
            if final != "Cancelled":
                self._forget(key)
        elif run["state"] == "Cancelling" and now >= self.ends[key]:
            runs.set_run(key, "Cancelled")
            self._forget(key)

    def _room(self, queue: str, vcores: int) -> bool:
        """Whether ``queue`` has ``vcores`` free now."""
        used, _, _ = self.sim.queues.usage(queue)
        return used + vcores <= QUEUES[queue][0]

    def _forget(self, key: str) -> None:
        self.plans.pop(key, None)
        self.ends.pop(key, None)
