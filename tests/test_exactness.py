"""Property tests: every finished job counted exactly once, whatever the API does.

For each backend, 200 seeded random histories drive the real polling code over HTTP against a
simulator, on a fake clock, with restarts from the state file, long outages, failing polls and
every listing trigger the simulator has (docs/metrics.md "Counting"): ids reused after a head
restart and empty answers (Ray, and openYuanrong, which copies its API); pages that move under a
walk, ties in any order, a cloud clock ahead of ours, late listings, null ``cuHours`` at the
baseline, empty first answers (EMR); partial lists and jobs never seen active (ModelArts). Each
backend's histories run once more with times that jitter: every time of every answer moved by up
to ``JITTER`` seconds and rounded to the second or the millisecond, afresh in each answer (a
proxy, a rounding, another version of the API): the counts stay exact. After every poll the
exported counters must equal what the documented rules give for the history so far:

- the baseline time ``bt`` is the API's clock at the first successful poll;
- a job counts as submitted once a successful poll could show it, if submitted after ``bt``;
- it counts as finished once a successful poll could show it ended, if it ended after ``bt``
  (every poll for Ray and EMR; for ModelArts, a job never seen PROCESSING once a full list or
  the list of its ended status shows it);
- its CU-seconds are its rate times the time it ran after ``bt``, up to the last reading seen
  (with jitter, up to what the jitter moves: the share of a reading after ``bt`` is taken from
  the times an answer gives);
- an id that comes back is a new job only when submitted more than ``RUN_TOLERANCE`` after its
  last run (the histories keep to that: a head restart is followed by no submission for that
  long, and a jitter's worth more).

Jitter never moves a time across ``bt`` in these histories (nothing happens within ``MARGIN`` of
a poll): which side of the baseline time a job's times fall on is the documented rule, and a
time that jitters across it is judged as the answer gives it.
"""

from __future__ import annotations

import math
import os
import random
from pathlib import Path

import pytest

from exporter.backends import registry
from exporter.ledger.runs import RUN_TOLERANCE
from exporter.simulators.emr_serverless import EmrServerlessSimulator
from exporter.simulators.modelarts_lite import ModelArtsLiteSimulator
from exporter.simulators.ray import RaySimulator

from .conformance import job_resources, run_conformance
from .exactness_harness import (
    JITTER,
    T0,
    Exporting,
    check,
    fast_restarts,
    jittered,
)
from .exactness_kuberay import kuberay_counts_exactly
from .exactness_model import History, Model

HISTORIES = int(os.environ.get("JOBFLEET_HISTORIES", "200"))
JITTERED = max(1, HISTORIES // 4)  # histories run with jitter, per backend


# --- Ray ----------------------------------------------------------------------------------------

RAY_ENDS = {"SUCCEEDED": "succeeded", "FAILED": "failed", "STOPPED": "cancelled"}


class RayHistory(History):
    """Jobs submitted, started and ended, DRIVER jobs beside submissions (Ray; openYuanrong
    lists none); head restarts hand ids out again (and users resubmit the same submission ids),
    no sooner than ``RUN_TOLERANCE`` after the old ones were submitted; answers may be empty."""

    def __init__(
        self, seed: int, now: list[float], sim: RaySimulator, margin: int = 0, drivers: bool = True
    ) -> None:
        super().__init__(seed, now, margin)
        self.sim = sim
        self.drivers = drivers
        self.empty_pending = 0
        self.last_poll_saw_all = False
        self.quiet_until = -math.inf  # no submission until then: the ids are back after it
        at = now[0]
        for _ in range(self.rng.randint(0, 6)):
            self._submit(at - self.rng.uniform(3000, 9000), running=True)
        for job in list(self.jobs.values()):
            ended = at - self.rng.uniform(1 + margin, 2000)
            self._end(job, ended if self.rng.random() < 0.6 else None)
        if self.rng.random() < 0.3:
            self._empty(1)

    def _empty(self, n: int) -> None:
        self.trace.append("empty answer next")
        self.sim.empty_answers(n)
        self.empty_pending += n

    def _submit(self, at: float, running: bool) -> None:
        self.now[0] = at
        if self.rng.random() < 0.3 and self.drivers:
            key = self.sim.add_job(type="DRIVER", status="RUNNING")
        else:
            present = {job.key for job in self.jobs.values() if not job.gone}
            reusable = [f"my-job-{i}" for i in range(4) if f"my-job-{i}" not in present]
            wanted = self.rng.choice(reusable) if reusable and self.rng.random() < 0.4 else None
            key = self.sim.add_job(wanted, status="RUNNING" if running else "PENDING")
        phase = "running" if running else "pending"
        self.jobs[f"{key}@{at}"] = Model(key, at, phase)
        self.trace.append(f"{at:.0f} submit {key} {phase}")

    def _end(self, job: Model, at: float | None) -> None:
        if at is None or job.ended or job.gone:
            return
        self.now[0] = at
        status = self.rng.choice(tuple(RAY_ENDS))
        if job.phase == "pending" and status != "STOPPED":
            status = "FAILED"  # a pending job that ends failed setting up, or was stopped
        self.sim.set_status(job.key, status, end_time=at)
        job.phase, job.status, job.end = RAY_ENDS[status], status, at
        self.trace.append(f"{at:.0f} end {job.key} {status}")

    def happen(self, at: float) -> None:
        roll = self.rng.random()
        active = [job for job in self.jobs.values() if not job.ended and not job.gone]
        if roll < 0.05 and self.last_poll_saw_all:
            self.sim.restart_head()  # every job is gone; ids start over
            self.trace.append(f"{at:.0f} head restart")
            for job in self.jobs.values():
                job.gone = True
            # a run of an id is new when submitted more than RUN_TOLERANCE after the old one
            self.quiet_until = at + RUN_TOLERANCE + 2 * JITTER + 1
        elif roll < 0.45 or not active:
            if at > self.quiet_until:
                self._submit(at, running=self.rng.random() < 0.5)
        elif roll < 0.6:
            job = self.rng.choice(active)
            if job.phase == "pending":
                self.now[0] = at
                self.sim.set_status(job.key, "RUNNING")
                job.phase = "running"
        else:
            self._end(self.rng.choice(active), at)
        self.last_poll_saw_all = False
        if self.rng.random() < 0.05:
            self._empty(1)

    def seen_by_poll(self, ok: bool) -> list[Model]:
        if self.empty_pending:
            self.empty_pending -= 1
            self.last_poll_saw_all = False
            return []
        self.last_poll_saw_all = True
        return [job for job in self.jobs.values() if not job.gone]

    def before_poll(self) -> None:
        self.last_poll_saw_all = False


@pytest.fixture(autouse=True)
def quick_restarts(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_restarts(monkeypatch)


def ray_counts_exactly(tmp_path: Path, flavour: str, jitter: bool) -> None:
    now = [float(T0)]
    histories = HISTORIES if (flavour, jitter) == ("ray", False) else JITTERED
    for seed in range(histories):
        now[0] = float(T0)
        with RaySimulator(flavour, seed=seed, clock=lambda: now[0]) as sim:
            margin = jittered(sim, seed, jitter)
            history = RayHistory(seed, now, sim, margin, drivers=flavour == "ray")
            now[0] = float(T0)  # polls on whole seconds, events between them
            target = sim.target_config(flavour, resources=["jobs"])
            exporting = Exporting(target, tmp_path / f"state-{seed}.json", history.api_now)
            check(seed, history, exporting, lambda: sim.fail_next(1, status=503))


# --- EMR Serverless -----------------------------------------------------------------------------

EMR_ENDS = {
    "Succeeded": "succeeded",
    "Failed": "failed",
    "Timeout": "failed",
    "Cancelled": "cancelled",
}


class EmrHistory(History):
    """Jobs queue, run while their cuHours grow (or stay null until they end), and end; some
    are listed minutes after their submitTime, bursts share one submitTime, finished jobs are
    deleted while a walk pages; the cloud's clock may be 12 minutes ahead; the first answer
    may be empty."""

    def __init__(
        self, seed: int, now: list[float], sim: EmrServerlessSimulator, margin: int = 0
    ) -> None:
        super().__init__(seed, now, margin)
        self.sim = sim
        rng = self.rng
        sim.clock_skew = 720.0 if rng.random() < 0.3 else 0.0
        sim.shuffle_ties = rng.random() < 0.5
        self.first = self.api_now()  # the baseline is taken at or after this
        self.empty_pending = 0
        if rng.random() < 0.3:
            sim.empty_answers(1)
            self.empty_pending = 1
        # finished long ago; or over a page, most sharing a submitTime across the page boundary
        tied = rng.random() < 0.5
        for i in range(rng.randint(101, 120) if tied else rng.randint(0, 60)):
            submit = self.first - 20000 + (0 if tied and i < 101 else 7 * i)
            self._add(submit, started=submit + 5, ended=submit + 60 + rng.randint(0, 99))
        for _ in range(rng.randint(0, 6)):  # running at the baseline
            submit = self.first - rng.randint(600, 3000)
            self._add(submit, started=submit + 10)
        if rng.random() < 0.3:  # a page of newer finished jobs, one deleted during the first walk
            block = [self._add(self.first - 590 + 2 * i, ended=self.first - 10) for i in range(100)]
            sim.delete_between_pages([rng.choice(block).key])
        for _ in range(rng.randint(0, 2)):  # listed only after the baseline
            submit = self.first - rng.randint(50, 300)
            ended = submit + 20 if rng.random() < 0.5 else None
            self._add(submit, started=submit + 10, ended=ended, delay=450)

    def api_now(self) -> float:
        return self.now[0] + self.sim.clock_skew

    def _add(
        self,
        submit: float,
        started: float | None = None,
        ended: float | None = None,
        delay: float = 0,
    ) -> Model:
        rng = self.rng
        job = Model(self.new_key("rj"), submit, rate=rng.choice((4.0, 8.0, 16.0)))
        job.null_cu, job.visible_at = rng.random() < 0.2, submit + delay
        job.start, job.end = started, ended
        status = "Submitted" if started is None else "Running"
        if ended is not None:
            status = rng.choice(tuple(EMR_ENDS))
            job.phase, job.status = EMR_ENDS[status], status
        elif started is not None:
            job.phase = "running"
        cu = self._cu(job, ended if ended is not None else self.api_now())
        self.sim.add_job(
            job.key,
            status=status,
            submit_time=submit,
            start_time=started,
            end_time=ended,
            cu_hours=None if job.null_cu and ended is None else cu,
            visible_delay=delay,
        )
        self.jobs[job.key] = job
        return job

    @staticmethod
    def _cu(job: Model, at: float) -> float:
        return 0.0 if job.start is None else job.rate * max(0.0, at - job.start) / 3600

    def before_poll(self) -> None:
        at = self.api_now()
        for job in self.jobs.values():
            if job.phase == "running" and not job.null_cu and not job.gone:
                self.sim.set_job(job.key, cu_hours=self._cu(job, at))

    def happen(self, at: float) -> None:
        self.now[0] = at
        api = self.api_now()
        roll = self.rng.random()
        active = [job for job in self.jobs.values() if not job.ended]
        if roll < 0.03:  # a burst sharing one submitTime: older jobs move to the next page
            for _ in range(self.rng.randint(101, 105)):
                self._add(api - 1, started=api - 1, ended=api)
            self.trace.append(f"{api:.0f} burst")
        elif roll < 0.4 or not active:
            delay = self.rng.randint(30, 500) if self.rng.random() < 0.2 else 0
            job = self._add(api, delay=delay)
            self.trace.append(f"{api:.0f} submit {job.key} delay {delay}")
        elif roll < 0.6:
            waiting = [job for job in active if job.start is None]
            if waiting:
                job = self.rng.choice(waiting)
                self.sim.set_job(job.key, status="Running")
                job.start, job.phase = api, "running"
                self.trace.append(f"{api:.0f} start {job.key}")
        elif roll < 0.85:
            job = self.rng.choice(active)
            status = self.rng.choice(tuple(EMR_ENDS))
            job.end, job.phase, job.status = api, EMR_ENDS[status], status
            cu = self._cu(job, api) if job.start is not None else None
            self.sim.set_job(job.key, status=status, cu_hours=cu)
            self.trace.append(f"{api:.0f} end {job.key} {status}")
        else:  # deleted by a user, between two pages of some walk
            done = [
                job
                for job in self.jobs.values()
                if not job.gone and (job.seen_ended or (job.ended and job.end < self.first))
            ]
            if done:
                job = self.rng.choice(done)
                self.sim.delete_between_pages([job.key])
                job.gone = True
                self.trace.append(f"{api:.0f} delete {job.key} between pages")

    def seen_by_poll(self, ok: bool) -> list[Model]:
        if self.empty_pending:
            self.empty_pending -= 1
            return []
        api = self.api_now()
        return [job for job in self.jobs.values() if not job.gone and job.visible_at <= api]


def emr_counts_exactly(tmp_path: Path, backend: str, jitter: bool) -> None:
    now = [float(T0)]
    for seed in range(JITTERED if jitter else HISTORIES):
        now[0] = float(T0)
        with EmrServerlessSimulator(seed=seed, clock=lambda: now[0]) as sim:
            history = EmrHistory(seed, now, sim, jittered(sim, seed, jitter))
            now[0] = float(T0)
            target = sim.target_config(
                "emr", resources=["jobs"], requests_per_second=1000, full_list_interval="2m"
            )
            exporting = Exporting(target, tmp_path / f"state-{seed}.json", lambda: now[0])
            throttle = lambda: sim.throttle_next(1, retry_after_ms=1)  # noqa: E731
            check(seed, history, exporting, throttle, polls=10)


# --- ModelArts Lite -----------------------------------------------------------------------------

MA_ENDS = (("FINISHED", 0, "succeeded"), ("FINISHED", 2, "failed"), ("DELETED", 0, "cancelled"))
MA_ENDED = {status for status, _, _ in MA_ENDS}


class ModelArtsHistory(History):
    """Jobs start PROCESSING and end; some start and end between two polls (only a full list,
    or the list of their ended status when a poll asks for it, can show them); the API answers
    only the newest ``page_limit`` jobs of a list; the first answer may be empty."""

    def __init__(
        self, seed: int, now: list[float], sim: ModelArtsLiteSimulator, margin: int = 0
    ) -> None:
        super().__init__(seed, now, margin)
        self.sim = sim
        self.mark = 0
        rng = self.rng
        first = now[0]
        for i in range(rng.randint(0, 15)):  # finished long ago
            self._add(first - 20000 + 10 * i, ended=first - 19000 + 10 * i)
        for i in range(rng.randint(0, 4)):  # running at the baseline
            self._add(first - 600 - 100 * i)
        self.empty_pending = 0
        if rng.random() < 0.3:
            sim.empty_answers(1)
            self.empty_pending = 1

    def _add(self, created: float, ended: float | None = None) -> Model:
        self.now[0] = created
        job = Model(self.sim.add_job(create_at=created), created, "running")
        self.jobs[job.key] = job
        if ended is not None:
            self._end(job, ended)
        return job

    def _end(self, job: Model, at: float) -> None:
        self.now[0] = at
        status, abnormal, phase = self.rng.choice(MA_ENDS)
        self.sim.set_job(job.key, status=status, abnormal_count=abnormal)
        job.end, job.phase, job.status = at, phase, status

    def before_poll(self) -> None:
        self.mark = len(self.sim.requests)

    def happen(self, at: float) -> None:
        roll = self.rng.random()
        active = [job for job in self.jobs.values() if not job.ended]
        if roll < 0.4 or not active:
            job = self._add(at)
            self.trace.append(f"{at:.0f} submit {job.key}")
        elif roll < 0.55:
            job = self._add(at, ended=at)  # never PROCESSING at a poll
            self.trace.append(f"{at:.0f} submit and end {job.key} {job.status}")
        elif roll < 0.9:
            job = self.rng.choice(active)
            self._end(job, at)
            self.trace.append(f"{at:.0f} end {job.key} {job.status}")

    def _newest(self, jobs: list[Model]) -> list[Model]:
        return sorted(jobs, key=lambda job: job.submit, reverse=True)[: self.sim.page_limit]

    def seen_by_poll(self, ok: bool) -> list[Model]:
        if self.empty_pending:
            self.empty_pending -= 1
            return []
        asked = self.sim.requests[self.mark :]
        full = any("status" not in query and "id" not in query for query in asked)
        jobs = list(self.jobs.values())
        seen = {job.key: job for job in self._newest(jobs)} if full else {}
        if not full or len(jobs) > self.sim.page_limit:  # the PROCESSING list was read too
            active = [job for job in jobs if not job.ended]
            seen.update((job.key, job) for job in self._newest(active))
            # and each job known active that neither answer showed, by id
            seen.update((job.key, job) for job in jobs if job.known_active)
        for status in {query["status"] for query in asked if query.get("status") in MA_ENDED}:
            # a list of an ended status shows its newest jobs, also ones never seen PROCESSING
            ended = [job for job in jobs if job.ended and job.status == status]
            seen.update((job.key, job) for job in self._newest(ended))
        self.trace.append(f"full={full} seen={len(seen)}")
        return list(seen.values())


def modelarts_counts_exactly(tmp_path: Path, backend: str, jitter: bool) -> None:
    now = [float(T0)]
    for seed in range(JITTERED if jitter else HISTORIES):
        now[0] = float(T0)
        limit = random.Random(seed).choice((5, 8, 12))
        with ModelArtsLiteSimulator(page_limit=limit, seed=seed, clock=lambda: now[0]) as sim:
            history = ModelArtsHistory(seed, now, sim, jittered(sim, seed, jitter))
            now[0] = float(T0)
            target = sim.target_config(
                "ma", resources=["jobs"], requests_per_second=1000, full_list_interval="3m"
            )
            exporting = Exporting(target, tmp_path / f"state-{seed}.json", lambda: now[0])
            check(seed, history, exporting, lambda: sim.throttle_next(1))


# --- every registered backend -------------------------------------------------------------------

# The history each backend's exactness is tried with, by registered backend name: a backend
# registered without one fails here, so none ships untried.
EXACTNESS = {
    "ray": ray_counts_exactly,
    "openyuanrong": ray_counts_exactly,
    "emr_serverless": emr_counts_exactly,
    "modelarts_lite": modelarts_counts_exactly,
    # KubeRay's times are written once, in whole seconds, and never re-derived by an answer:
    # its jittered run keeps the margins around polls and the second-rounding of every time.
    # Half as many histories: each walks pages of three and meets compactions, so it costs
    # about two of the others
    "kuberay": lambda tmp_path, backend, jitter: kuberay_counts_exactly(
        tmp_path, backend, jitter, max(1, (JITTERED if jitter else HISTORIES) // 2)
    ),
}


@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.parametrize("jitter", [False, True], ids=["exact-times", "jittered-times"])
@pytest.mark.parametrize("backend", registry.names())
def test_every_backend_counts_exactly_whatever_happens(
    tmp_path: Path, backend: str, jitter: bool
) -> None:
    assert backend in EXACTNESS, f"backend {backend} has no exactness history"
    EXACTNESS[backend](tmp_path, backend, jitter)


JOB_RESOURCES = job_resources()


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("jitter", [False, True], ids=["exact-times", "jittered-times"])
@pytest.mark.parametrize(
    ("backend", "resource"), JOB_RESOURCES, ids=[f"{b}-{r}" for b, r in JOB_RESOURCES]
)
def test_every_backend_conforms_to_the_generic_history(
    tmp_path: Path, backend: str, resource: str, jitter: bool
) -> None:
    """The same history for every job resource of every registered backend, through the
    simulator contract alone: the exported counters equal what the API was seen to show
    (tests/conformance.py)."""
    run_conformance(backend, tmp_path, jitter=jitter, resource=resource)
