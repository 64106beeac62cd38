"""Property tests of ModelArts training jobs (the ``training_jobs`` job resource) over pages that
shift: seeded random histories, as the conformance suite's (tests/conformance.py: restarts from
the state file, outages past ``forget_after``, throttled searches, every outcome, deletions,
optionally jittered times), with more jobs than a page holds (the exporter asks 50 a page) and,
between two pages of a walk, jobs submitted (each pushes every later job one place on) and
deleted (each pulls them one place back), as offset paging shows them. The truth is what the
API showed during successful polls, read from the simulator's record of its answers.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest

from exporter.backends import registry
from exporter.model import Phase
from exporter.simulators.modelarts_lite import ModelArtsLiteSimulator
from exporter.simulators.modelarts_lite.training_jobs import TrainingJobs

from .conformance import ConformanceHistory, settle
from .exactness_harness import T0, Exporting, check, fast_restarts, jittered

HISTORIES = max(1, int(os.environ.get("JOBFLEET_HISTORIES", "200")) // 8)
RESOURCE = "training_jobs"
PAGE = 50  # jobs a page of the exporter's search


class ShiftingHistory(ConformanceHistory):
    """The conformance history over more than a page of jobs, pages shifting under walks."""

    sim: TrainingJobs

    def _before_first_poll(self, first: float) -> None:
        super()._before_first_poll(first)
        for _ in range(self.rng.randint(PAGE - 10, 2 * PAGE + 10)):  # ended long ago, kept
            self._submit(first - self.rng.uniform(10_000, 20_000))
        for run in [run for run in self.listed.values() if run.end is None][6:]:
            self._end(run, first - self.rng.uniform(1 + self.margin, 5000))
        self.now[0] = first

    def happen(self, at: float) -> None:
        super().happen(at)
        if self.baseline is None or self.rng.random() < 0.5:
            return
        if self.rng.random() < 0.5:
            self.sim.between_pages(self._submit_during_a_walk)
        else:
            self.sim.between_pages(functools.partial(self._delete_during_a_walk, at))
        self.trace.append(f"{at:.0f} a change between two pages armed")

    def _submit_during_a_walk(self) -> None:
        self._submit(self.now[0])
        self.trace.append("submitted between two pages")

    def _delete_during_a_walk(self, armed: float) -> None:
        ended = [run for run in self.listed.values() if run.end is not None]
        if ended:
            self._remove(self.rng.choice(ended), self.now[0])
            self.trace.append(f"deleted between two pages (armed at {armed:.0f})")


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("jitter", [False, True], ids=["exact-times", "jittered-times"])
def test_training_jobs_are_counted_exactly_while_pages_shift(
    tmp_path: Path, jitter: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast_restarts(monkeypatch)
    job = registry.declaration("modelarts_lite").resource(RESOURCE)
    terminal = {status: str(phase) for phase, status in job.known_pairs if Phase(phase).terminal}
    now = [float(T0)]
    for seed in range(HISTORIES):
        now[0] = float(T0)
        with ModelArtsLiteSimulator(seed=seed, clock=lambda: now[0]) as api:
            sim = api.training_jobs
            history = ShiftingHistory(seed, now, sim, terminal, jittered(api, seed, jitter))
            target = api.target_config("ma", resources=[RESOURCE], requests_per_second=1000)
            # no check of the stage histograms: a job deleted in a walk before its stages were
            # read is counted without them (their count is the conformance suite's subject)
            state = tmp_path / f"state-{seed}-{jitter}.json"
            exporting = Exporting(target, state, lambda: now[0], RESOURCE)
            check(seed, history, exporting, functools.partial(sim.fail_job_lists, 1))
            sim.settle_pages()  # nothing happens any more, between pages neither
            settle(seed, history, exporting)
