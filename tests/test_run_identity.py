"""A job is one run (docs/metrics.md, "Counting"): a run's times may jitter from one answer to
the next without making it a new job, and runs of one id are remembered side by side, so two
runs listed in one answer, in any order, or by two heads answering in turn behind one URL, are
two jobs, each counted once. Real HTTP against Ray simulators, on a fake clock, seeded."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter.app import Exporter
from exporter.config.parse import parse_config
from exporter.polling.poller import TargetPoller
from exporter.simulators.ray import RayHeads, RaySimulator

from .helpers import on_clock

T0 = 1_800_000_000.0
INTERVAL = 30.0


class Jitter:
    """A time as an answer re-derives it: moved by up to 3 s either way, rounded to the second
    or the millisecond, afresh every time."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def __call__(self, at: float) -> float:
        moved = at + self.rng.uniform(-3.0, 3.0)
        return float(round(moved)) if self.rng.random() < 0.5 else round(moved, 3)


class Watching:
    """One exporter polling ``front`` on the fake clock, with a state file it restarts from."""

    def __init__(self, front: RayHeads, now: list[float], state: Path) -> None:
        target = front.target_config("heads", resources=["jobs"])
        self.config = {"state_file": str(state), "targets": [target]}
        self.now = now
        self.exporter: Exporter | None = None

    @property
    def poller(self) -> TargetPoller:
        assert self.exporter is not None
        return self.exporter.pollers[0]

    def start(self) -> None:
        self.exporter = Exporter(parse_config(self.config))
        on_clock(self.poller, lambda: self.now[0])

    def restart(self) -> None:
        self.close()
        self.start()

    def close(self) -> None:
        if self.exporter is not None:
            self.exporter.close()
            self.exporter = None

    def poll(self) -> None:
        assert self.poller.poll("jobs")
        self.now[0] += INTERVAL

    def counts(self) -> tuple[int, int]:
        """(submitted, finished) as the ledger holds them."""
        ledger = self.poller.counted["jobs"].ledger
        return ledger.submitted[()], sum(ledger.finished.values())


@contextlib.contextmanager
def two_heads(
    mode: str, seed: int, tmp_path: Path
) -> Iterator[tuple[RaySimulator, RaySimulator, Watching]]:
    now = [T0]
    with (
        RaySimulator(seed=seed, clock=lambda: now[0]) as first,
        RaySimulator(seed=seed + 1, clock=lambda: now[0]) as second,
    ):
        first.jitter, second.jitter = Jitter(seed + 2), Jitter(seed + 3)
        with RayHeads([first, second], mode, seed=seed) as front:
            watching = Watching(front, now, tmp_path / "state.json")
            watching.start()
            try:
                yield first, second, watching
            finally:
                watching.close()


@pytest.mark.parametrize("mode", ["merged", "shuffled"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_two_runs_of_one_id_in_one_answer_are_two_jobs_each_counted_once(
    mode: str, seed: int, tmp_path: Path
) -> None:
    """The first head lists the old runs (one id a DRIVER id); the second, a new run of each id
    (the DRIVER id as a submission id): listed together, old runs first or in any order."""
    with two_heads(mode, seed, tmp_path) as (old, new, watching):
        old.add_job("nightly", status="SUCCEEDED", start_time=T0 - 7200, end_time=T0 - 6000)
        driver = old.add_job(
            type="DRIVER", status="SUCCEEDED", start_time=T0 - 7000, end_time=T0 - 6500
        )
        watching.poll()  # the baseline: both old runs remembered, not counted
        for poll in range(40):
            if poll == 3:
                new.add_job("nightly", status="PENDING")
                new.add_job(driver, status="PENDING")  # a submission id equal to the DRIVER id
            elif poll == 8:
                new.set_status("nightly", "RUNNING")
                new.set_status(driver, "RUNNING")
            elif poll == 15:
                new.set_status("nightly", "SUCCEEDED")
            elif poll == 22:
                new.set_status(driver, "FAILED")
            elif poll == 30:
                watching.restart()  # the runs of each id come back from the state file
            watching.poll()
            expected = (2 if poll >= 3 else 0, (poll >= 15) + (poll >= 22))
            assert watching.counts() == expected, f"poll {poll}"
        remembered = watching.poller.counted["jobs"].ledger.remembered_runs("nightly")
        assert len(remembered) == 2  # both runs remembered


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_two_heads_answering_in_turn_count_each_finish_once(seed: int, tmp_path: Path) -> None:
    """Two clusters behind one URL, each answering every other poll; both hand out DRIVER id
    02000000 and run a job under one submission id. Each finish is counted once."""
    with two_heads("alternate", seed, tmp_path) as (first, second, watching):
        first.add_job(type="DRIVER", status="SUCCEEDED", start_time=T0 - 9000, end_time=T0 - 8000)
        second.add_job(
            type="DRIVER", status="SUCCEEDED", start_time=T0 - 5000, end_time=T0 - 4000
        )  # 02000000 on both
        watching.poll()  # the baseline: the first head's jobs
        watching.poll()  # the second head's, first listed after the baseline, ended before it
        rng = random.Random(seed)
        submitted = finishes = 0
        running: list[tuple[RaySimulator, str]] = []
        for poll in range(40):  # two polls each: both heads answer
            if poll in (2, 5):  # each head runs "etl" and its next DRIVER job, 03000000
                head = first if poll == 2 else second
                running.append((head, head.add_job("etl", status="RUNNING")))
                running.append((head, head.add_job(type="DRIVER", status="RUNNING")))
                submitted += 2
            elif poll == 8:  # the first head's "etl" ends, and is gone from its list
                running.remove((first, "etl"))
                first.set_status("etl", "SUCCEEDED")
                finishes += 1
            elif poll == 9:
                first.remove_job("etl")
            elif poll == 11:  # the first head runs "etl" again: a new run of that id
                running.append((first, first.add_job("etl", status="RUNNING")))
                submitted += 1
            elif poll > 11 and running and rng.random() < 0.4:
                head, key = running.pop(rng.randrange(len(running)))
                head.set_status(key, rng.choice(("SUCCEEDED", "FAILED", "STOPPED")))
                finishes += 1
            if poll == 20:
                watching.restart()
            watching.poll()
            watching.poll()
            assert watching.counts() == (submitted, finishes), f"poll {poll}"
        assert finishes >= 4
