"""Property tests: every finished job counted exactly once, whatever the API does.

For each backend, 200 seeded random histories drive the real polling code over HTTP against a
simulator, on a fake clock, with restarts from the state file, long outages, failing polls and
every listing trigger the simulator has (docs/metrics.md "Counting"): ids reused after a head
restart and empty answers (Ray); pages that move under a walk, ties in any order, a cloud clock
ahead of ours, late listings, null ``cuHours`` at the baseline, empty first answers (EMR);
partial lists and jobs never seen active (ModelArts). After every poll the exported counters
must equal what the documented rules give for the history so far:

- the baseline time ``bt`` is the API's clock at the first successful poll;
- a job counts as submitted once a successful poll could show it, if submitted after ``bt``;
- it counts as finished once a successful poll could show it ended, if it ended after ``bt``
  (every poll for Ray and EMR; for ModelArts, a job never seen PROCESSING only once a full list
  shows it);
- its CU-seconds are its rate times the time it ran after ``bt``, up to the last reading seen.
"""

from __future__ import annotations

import functools
import os
import random
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import exporter.state
import exporter.transport
from exporter.app import Exporter
from exporter.config import parse_config
from exporter.simulators.ray import RaySimulator

from .helpers import on_clock

HISTORIES = int(os.environ.get("JOBFLEET_HISTORIES", "200"))
POLLS = 16  # polls per history, restarts and outages aside
INTERVAL = 30  # seconds between polls, on our clock
OUTAGE = 8 * 86400  # longer than forget_after
T0 = 1_800_000_000


@dataclass
class Counts:
    submitted: int = 0
    finished: Counter = field(default_factory=Counter)  # (phase, status) -> jobs
    cu_seconds: float = 0.0

    def durations(self) -> Counter:
        by_phase: Counter = Counter()
        for (phase, _), n in self.finished.items():
            by_phase[phase] += n
        return by_phase


COUNTED = (
    "jobfleet_jobs_submitted_total",
    "jobfleet_jobs_finished_total",
    "jobfleet_job_duration_seconds_count",
    "jobfleet_cu_seconds_total",
)
_SAMPLE = re.compile(r"^([a-z_]+)\{(.*)\} (\S+)$")
_LABEL = re.compile(r'([a-z_]+)="((?:[^"\\]|\\.)*)"')


def exported(body: bytes) -> tuple[Counts, Counter]:
    """The counted families of an exposition (read line by line: the full parser is too slow
    for a check after every poll of 200 histories)."""
    counts, durations = Counts(), Counter()
    for line in body.decode().splitlines():
        if not line.startswith(COUNTED):
            continue
        match = _SAMPLE.match(line)
        assert match, line
        name, labels, value = (
            match.group(1),
            dict(_LABEL.findall(match.group(2))),
            float(match.group(3)),
        )
        if name == "jobfleet_jobs_submitted_total":
            counts.submitted = int(value)
        elif name == "jobfleet_jobs_finished_total" and value:
            counts.finished[(labels["phase"], labels["status"])] = int(value)
        elif name == "jobfleet_job_duration_seconds_count" and value:
            durations[labels["phase"]] = int(value)
        elif name == "jobfleet_cu_seconds_total":
            counts.cu_seconds += value
    return counts, durations


class Exporting:
    """One target's exporter on the fake clock, restarted from its state file on demand."""

    def __init__(self, target: dict, state: Path, clock: Callable[[], float]) -> None:
        self.config = parse_config({"state_file": str(state), "targets": [target]})
        self.clock = clock
        self.exporter: Exporter | None = None

    def start(self) -> None:
        self.exporter = Exporter(self.config)
        on_clock(self.exporter.pollers[0], self.clock)

    def stop(self) -> None:
        if self.exporter is not None:
            self.exporter.close()
            self.exporter = None

    def poll(self) -> bool:
        assert self.exporter is not None
        return self.exporter.pollers[0].poll("jobs")

    def counts(self) -> tuple[Counts, Counter]:
        assert self.exporter is not None
        return exported(self.exporter.exposition.body())


@dataclass
class Model:
    """What the test knows of one job: its times on the API's clock, what polls could see."""

    key: str
    submit: float
    phase: str = "pending"  # pending, running, or the terminal phase
    status: str = ""
    start: float | None = None
    end: float | None = None
    visible_at: float = 0.0
    rate: float = 0.0  # CU
    null_cu: bool = False  # cuHours null until the job ends
    gone: bool = False  # deleted, or lost in a head restart: no poll shows it again
    seen: bool = False
    seen_ended: bool = False
    known_active: bool = False  # seen, not yet ended (ModelArts follows these by id)
    read_until: float | None = None  # the time of the last cuHours reading seen

    @property
    def ended(self) -> bool:
        return self.end is not None


class History:
    """A seeded random history: what happens between polls, and what each poll could see."""

    def __init__(self, seed: int, now: list[float]) -> None:
        self.rng = random.Random(seed)
        self.now = now
        self.jobs: dict[str, Model] = {}
        self.baseline: float | None = None
        self.serial = 0
        self.trace: list[str] = []  # what happened, for a failure's message

    # hooks
    def api_now(self) -> float:
        return self.now[0]

    def before_poll(self) -> None:
        pass

    def seen_by_poll(self, ok: bool) -> list[Model]:
        raise NotImplementedError

    def happen(self, at: float) -> None:
        raise NotImplementedError

    def outage(self, start: float, end: float) -> None:
        for at in sorted(self.rng.uniform(start, end) for _ in range(3)):
            self.happen(at)

    # the truth
    def observe(self, ok: bool) -> None:
        """Mark what this poll could see; set the baseline at the first successful one."""
        if not ok:
            return
        api_now = self.api_now()
        if self.baseline is None:
            self.baseline = api_now
        for job in self.seen_by_poll(ok):
            job.seen = True
            if job.ended:
                job.seen_ended, job.known_active = True, False
            else:
                job.known_active = True
            if not job.null_cu or job.ended:
                job.read_until = job.end if job.ended else api_now

    def truth(self) -> Counts:
        bt = self.baseline
        assert bt is not None
        counts = Counts()
        for job in self.jobs.values():
            if job.seen and job.submit > bt:
                counts.submitted += 1
            if job.seen_ended and job.end is not None and job.end > bt:
                counts.finished[(job.phase, job.status)] += 1
            if job.rate and job.start is not None and job.read_until is not None:
                counts.cu_seconds += job.rate * max(0.0, job.read_until - max(job.start, bt))
        return counts

    def new_key(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}-{self.serial:05d}"


def run_history(history: History, exporting: Exporting, faults: Callable[[], None]) -> None:
    """Poll, check, let things happen; now and then restart, go down for days, or fail."""
    exporting.start()
    try:
        for _ in range(POLLS):
            history.before_poll()
            ok = exporting.poll()
            history.trace.append(f"{history.now[0]:.0f} poll ok={ok}")
            history.observe(ok)
            if history.baseline is not None:
                counts, durations = exporting.counts()
                expected = history.truth()
                assert counts.submitted == expected.submitted
                assert counts.finished == expected.finished
                assert durations == expected.durations()
                assert counts.cu_seconds == pytest.approx(expected.cu_seconds, rel=1e-9, abs=1e-6)
            start = history.now[0]
            roll = history.rng.random()
            if roll < 0.03:  # down for longer than forget_after
                history.trace.append("outage")
                exporting.stop()
                history.outage(start + 1, start + OUTAGE)
                history.now[0] = start + OUTAGE + INTERVAL
                exporting.start()
                continue
            if roll < 0.12:
                history.trace.append("restart")
                exporting.stop()
                exporting.start()
            elif roll < 0.2:
                history.trace.append("fault")
                faults()
            for offset in sorted(history.rng.sample(range(1, INTERVAL), 3)):
                history.happen(start + offset)
            history.now[0] = start + INTERVAL
    finally:
        exporting.stop()


# --- Ray ----------------------------------------------------------------------------------------

RAY_ENDS = {"SUCCEEDED": "succeeded", "FAILED": "failed", "STOPPED": "cancelled"}


class RayHistory(History):
    """Jobs submitted, started and ended, DRIVER jobs beside submissions; head restarts hand
    ids out again (and users resubmit the same submission ids); answers may be empty."""

    def __init__(self, seed: int, now: list[float], sim: RaySimulator) -> None:
        super().__init__(seed, now)
        self.sim = sim
        self.empty_pending = 0
        self.last_poll_saw_all = False
        at = now[0]
        for _ in range(self.rng.randint(0, 6)):
            self._submit(at - self.rng.uniform(3000, 9000), running=True)
        for job in list(self.jobs.values()):
            self._end(job, at - self.rng.uniform(1, 2000) if self.rng.random() < 0.6 else None)
        if self.rng.random() < 0.3:
            self._empty(1)

    def _empty(self, n: int) -> None:
        self.trace.append("empty answer next")
        self.sim.empty_answers(n)
        self.empty_pending += n

    def _submit(self, at: float, running: bool) -> None:
        self.now[0] = at
        if self.rng.random() < 0.3:
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
        elif roll < 0.45 or not active:
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
def fast_restarts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Thousands of polls and restarts in a minute. The simulators speak plain HTTP, so every
    exporter shares one TLS context (loading the CA bundle takes ~70 ms each time); the state
    file is written as always, but not synced to disk (durability is test_state's subject)."""
    shared = functools.lru_cache(maxsize=4)(exporter.transport.ssl_context)
    monkeypatch.setattr(exporter.transport, "ssl_context", shared)
    monkeypatch.setattr(exporter.state.os, "fsync", lambda fd: None)


@pytest.mark.timeout(180)
def test_ray_counts_exactly_whatever_happens(tmp_path: Path) -> None:
    now = [float(T0)]
    for seed in range(HISTORIES):
        now[0] = float(T0)
        with RaySimulator(seed=seed, clock=lambda: now[0]) as sim:
            history = RayHistory(seed, now, sim)
            now[0] = float(T0)  # polls on whole seconds, events between them
            target = sim.target_config("ray", resources=["jobs"])
            exporting = Exporting(target, tmp_path / f"state-{seed}.json", history.api_now)
            check(seed, history, exporting, lambda: sim.fail_next(1, status=503))


def check(seed: int, history: History, exporting: Exporting, fault: Callable[[], None]) -> None:
    try:
        run_history(history, exporting, fault)
    except AssertionError as err:
        trace = "\n".join(history.trace[-40:])
        raise AssertionError(f"history {seed}: {err}\n{trace}") from err
