"""The conformance suite: one exactness history for any job resource of any registered backend
(its ``jobs``, or another list of jobs it declares), driven only through the simulator's job
contract of that list (``exporter.simulators.base.JobResource``, which ``Simulator.job_resource``
gives) and ``target_config``.

Jobs are submitted (pending or running, under an id of ours or the API's), started, ended in
every outcome and deleted, and, where the API reuses ids (``REUSES_IDS``), submitted again under
an id whose job is gone, no sooner than ``RUN_TOLERANCE`` and a jitter's worth after its last
run; the exporter restarts from its state file, goes down for longer than ``forget_after`` and
meets failing job lists (``fail_job_lists``), all on a fake clock, optionally with every time of
every answer jittered (``Jitter``). After every poll the exported counters must equal what the
documented counting rules (docs/metrics.md, "Counting") give for what the API showed, read from
the simulator's record of its answers (``shown_since``) during successful polls:

- the baseline time ``bt`` is the API's clock at the first successful poll;
- a job counts as submitted once a successful poll showed it, if submitted after ``bt``;
- it counts as finished, by (phase, status), once a successful poll showed it in a terminal
  status, if it ended after ``bt``; job durations are counted per phase as finished jobs are,
  and each value the resource observes (``ExtraValue.histogram``) once per finished job.

Nothing happens within ``MARGIN`` of a poll when times jitter, so no time jitters across ``bt``.
``run_conformance`` runs it for a job resource of a backend by name: a test file may register a
backend of its own and call it.
"""

from __future__ import annotations

import functools
import os
import random
from dataclasses import dataclass
from pathlib import Path

import pytest

from exporter.backends import registry
from exporter.backends.kit.resources import JOBS
from exporter.ledger.runs import RUN_TOLERANCE
from exporter.model import Phase
from exporter.simulators.base import OUTCOMES, JobResource, Outcome

from .exactness_harness import (
    JITTER,
    T0,
    Counts,
    Exporting,
    check,
    check_settled,
    fast_restarts,
    jittered,
)

# Histories per backend and setting of jitter: ~0.3 s each, so ~15 s a backend by default
# (JOBFLEET_HISTORIES scales them, as it does the backend-specific histories)
HISTORIES = max(1, int(os.environ.get("JOBFLEET_HISTORIES", "200")) // 8)
REUSE_AFTER = RUN_TOLERANCE + 2 * JITTER + 1  # an id comes back no sooner after its last run


def job_resources() -> list[tuple[str, str]]:
    """(backend, job resource) of every registered backend, its ``jobs`` first."""
    return [
        (name, resource.name)
        for name in registry.names()
        for resource in registry.declaration(name).job_resources
    ]


# --- the generic history ------------------------------------------------------------------


@dataclass
class Run:
    """One job the history submitted: its times on the API's clock, and what polls showed."""

    key: str
    submit: float
    pending: bool
    outcome: Outcome | None = None
    status: str = ""  # the native status it ended in
    end: float | None = None
    removed: float | None = None  # when it was deleted before it ended
    seen: bool = False
    seen_ended: bool = False


class ConformanceHistory:
    """Jobs submitted, started, ended and deleted through the contract, ids reused where the
    API reuses them; the truth is read from the simulator's record of its answers."""

    def __init__(
        self,
        seed: int,
        now: list[float],
        sim: JobResource,
        terminal: dict[str, str],
        margin: int = 0,
    ) -> None:
        self.rng = random.Random(seed)
        self.now = now
        self.sim = sim
        self.terminal = terminal  # the native statuses of an ended job -> their phases
        self.margin = margin
        self.baseline: float | None = None
        self.trace: list[str] = []
        self.runs: list[Run] = []
        self.listed: dict[str, Run] = {}  # id -> the job the API lists under it now
        self.last_run: dict[str, float] = {}  # id -> when its latest job was submitted
        self.serial = 0
        self.mark = 0
        self._before_first_poll(now[0])

    def _before_first_poll(self, first: float) -> None:
        """Jobs submitted long before the first poll: ended since, deleted, or still active."""
        for _ in range(self.rng.randint(0, 6)):
            self._submit(first - self.rng.uniform(3000, 9000))
        for run in list(self.listed.values()):
            roll = self.rng.random()
            if roll < 0.6:
                self._end(run, first - self.rng.uniform(1 + self.margin, 2000))
            if roll < 0.15:
                self._remove(run, first - self.margin - 0.5)
        self.now[0] = first

    # --- what happens -------------------------------------------------------------------

    def happen(self, at: float) -> None:
        roll = self.rng.random()
        active = [run for run in self.listed.values() if run.end is None]
        pending = [run for run in active if run.pending]
        ended = [run for run in self.listed.values() if run.end is not None]
        if roll < 0.35 or not active:
            self._submit(at)
        elif roll < 0.45 and pending:
            self.now[0] = at
            run = self.rng.choice(pending)
            self.sim.start_job(run.key)
            run.pending = False
            self.trace.append(f"{at:.0f} start {run.key}")
        elif roll < 0.75:
            self._end(self.rng.choice(active), at)
        elif roll < 0.92 and ended:
            self._remove(self.rng.choice(ended), at)
        elif roll >= 0.92:
            self._remove(self.rng.choice(active), at)  # lost while active

    def outage(self, start: float, end: float) -> None:
        for at in sorted(self.rng.sample(range(int(start), int(end)), 3)):
            self.happen(at)

    def _submit(self, at: float) -> None:
        self.now[0] = at
        running = not self.sim.HAS_PENDING or self.rng.random() < 0.5
        key = self._new_key(at)
        key = self.sim.submit_job(key, running=running)
        run = Run(key, at, pending=not running)
        self.runs.append(run)
        self.listed[key] = run
        self.last_run[key] = at
        self.trace.append(f"{at:.0f} submit {key} {'running' if running else 'pending'}")

    def _new_key(self, at: float) -> str | None:
        """An id of the API's making, a new one of ours, or (where ids are reused) one whose
        job is gone and whose last run is long enough ago."""
        roll = self.rng.random()
        if roll < 0.3:
            return None
        if self.sim.REUSES_IDS and roll < 0.65:
            free = sorted(
                key
                for key, last in self.last_run.items()
                if key not in self.listed and at - last > REUSE_AFTER
            )
            if free:
                return self.rng.choice(free)
        self.serial += 1
        return f"job-{self.serial:05d}"

    def _end(self, run: Run, at: float) -> None:
        self.now[0] = at
        run.outcome = self.rng.choice(OUTCOMES)
        run.status = self.sim.end_job(run.key, run.outcome)
        run.end = at
        self.trace.append(f"{at:.0f} end {run.key} {run.outcome} {run.status}")

    def _remove(self, run: Run, at: float) -> None:
        self.now[0] = at
        self.sim.remove_job(run.key)
        del self.listed[run.key]
        if run.end is None:
            run.removed = at
        self.trace.append(f"{at:.0f} remove {run.key}")

    # --- the truth ----------------------------------------------------------------------

    def before_poll(self) -> None:
        self.mark = self.sim.answers_shown()

    def observe(self, ok: bool) -> None:
        """What a successful poll was shown; the baseline at the first one."""
        if not ok:
            return
        answers = self.sim.shown_since(self.mark)
        if self.baseline is None:
            self.baseline = answers[0].at if answers else self.now[0]
        for answer in answers:
            for key, status in answer.jobs:
                run = self.shown_run(key)
                run.seen = True
                run.seen_ended |= status in self.terminal
                if status in self.terminal and run.end is None:  # shown ended as it was deleted
                    run.outcome, run.status = self.terminal[status], status  # type: ignore[assignment]
                    run.end = run.removed
        shown = sum(len(answer.jobs) for answer in answers)
        self.trace.append(f"answers={len(answers)} jobs shown={shown}")

    def shown_run(self, key: str) -> Run:
        """The run an answer showed under ``key``: the one listed now, or one deleted since (a
        watch shows the deletion, and the deleted object's last state)."""
        if key in self.listed:
            return self.listed[key]
        return next(run for run in reversed(self.runs) if run.key == key)

    def truth(self) -> Counts:
        bt = self.baseline
        assert bt is not None
        counts = Counts(cu_seconds=None)
        for run in self.runs:
            if run.seen and run.submit > bt:
                counts.submitted += 1
            if run.seen_ended and run.end is not None and run.end > bt:
                counts.finished[(run.outcome, run.status)] += 1
                if self.sim.UNTIMED_UNLESS_RAN and run.pending and run.outcome != "succeeded":
                    counts.untimed[run.outcome] += 1  # it never ran: no answer gives its end
        return counts

    def cu_slack(self) -> float:
        return 0.0


def run_conformance(
    backend: str,
    tmp_path: Path,
    *,
    jitter: bool,
    histories: int = HISTORIES,
    resource: str = JOBS,
) -> None:
    """Run ``histories`` seeded generic histories against job resource ``resource`` of the
    simulator of the registered ``backend``, its target polling that resource alone; an
    AssertionError names the seed and the end of its trace."""
    declared = registry.declaration(backend)
    job = {job.name: job for job in declared.job_resources}[resource]
    terminal = {status: str(phase) for phase, status in job.known_pairs if Phase(phase).terminal}
    settings: dict[str, object] = {"resources": [resource]}
    if "requests_per_second" in declared.target.model_fields:
        settings["requests_per_second"] = 1000  # the rate limit waits on the real clock
    with pytest.MonkeyPatch.context() as patch:
        fast_restarts(patch)
        now = [float(T0)]
        for seed in range(histories):
            now[0] = float(T0)
            with declared.simulator(backend, seed=seed, clock=lambda: now[0]) as sim:
                contract = sim.job_resource(resource)
                margin = jittered(sim, seed, jitter)
                history = ConformanceHistory(seed, now, contract, terminal, margin)
                target = sim.target_config(backend, **settings)
                state = tmp_path / f"state-{seed}.json"
                observed = tuple(value.family.name for value in job.extras.observed())
                exporting = Exporting(target, state, lambda: now[0], resource, observed)
                check(seed, history, exporting, functools.partial(contract.fail_job_lists, 1))
                settle(seed, history, exporting)


def settle(seed: int, history: ConformanceHistory, exporting: Exporting) -> None:
    """Every job the API still lists shown and counted at the end (``check_settled``)."""

    def unseen() -> list[str]:
        return [
            run.key
            for run in history.listed.values()
            if not run.seen or (run.end is not None and not run.seen_ended)
        ]

    check_settled(seed, history, exporting, unseen)
