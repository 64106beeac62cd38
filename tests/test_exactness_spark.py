"""Property tests of the Spark job runs (EMR ListJobRuns, the ``spark_runs`` job resource): every
run counted exactly once, and its usage exactly, whatever the API does.

Seeded random histories drive the real polling code over HTTP against the simulator, on a fake
clock, with restarts from the state file, long outages and throttled polls (the harness of
tests/exactness_harness.py): runs wait, run while their usage grows, fail to be cancelled and
run on, end in every state, or are lost; some are listed minutes after their ``submitTime``;
bursts share one ``submitTime`` across a page boundary; finished runs are deleted between two
pages of a walk; page tokens expire in the middle of a walk (it begins again, and after too many
refusals gives up, incomplete); the cloud's clock may be 12 minutes ahead of ours; the first
answer may be empty. Each history runs once more with every time of every answer jittered.

What a successful poll was shown is the truth, read from the simulator's record of its answers
(``shown_since``), as the documented rules (docs/metrics.md "Counting") have it:

- the baseline time ``bt`` is the API's clock at the first successful poll;
- a run counts as submitted once a successful poll showed it, if submitted after ``bt``; it
  counts as finished, by (phase, state), once one showed it ended, if it ended after ``bt``;
- its CU, vcore and memory seconds are each reading's increase over the run's last one shown;
  its first reading after the baseline counts whole for a run submitted since ``bt``, pro rata
  of its time from submission to its end (or the answer's time) after ``bt`` otherwise (with
  jitter, up to what the jitter moves those times); at the baseline, nothing.
"""

from __future__ import annotations

import os
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from exporter.simulators.emr_serverless import EmrServerlessSimulator

from .exactness_harness import (
    JITTER,
    T0,
    Counts,
    Exporting,
    check,
    check_settled,
    exported,
    fast_restarts,
    jittered,
)

HISTORIES = int(os.environ.get("JOBFLEET_HISTORIES", "200"))
JITTERED = max(1, HISTORIES // 4)  # histories run with jitter
SPARK = "spark_runs"
ENDS = {"Success": "succeeded", "Failed": "failed", "Cancelled": "cancelled"}
# each value as a reading shows it, and what its counter counts of it: CU-hours x 3600, vcore
# seconds, MB (MiB) seconds x 2^20
READINGS = (("cuHours", 3600.0), ("vcoreSeconds", 1.0), ("mbSeconds", 2.0**20))
USAGE_FAMILIES = ("jobfleet_vcore_seconds_total", "jobfleet_memory_byte_seconds_total")


@dataclass
class Run:
    """What the test knows of one run: its end (on the API's clock) and what polls showed."""

    key: str
    submit: float
    rates: tuple[float, float, float]  # of each counter, per second the run holds resources
    end: float | None = None
    phase: str = "pending"  # pending, running, or its terminal phase
    state: str = "Submitted"
    seen: bool = False
    seen_ended: bool = False
    readings: list[float] | None = None  # the last of each value shown, as read


class SparkHistory:
    """A seeded history of Spark job runs (see the module), and the truth of what polls saw."""

    def __init__(self, seed: int, now: list[float], sim: EmrServerlessSimulator, margin: int):
        self.rng = random.Random(seed)
        self.now = now
        self.sim, self.api = sim, sim.spark_runs
        self.margin = margin
        self.baseline: float | None = None
        self.trace: list[str] = []
        self.runs: dict[str, Run] = {}
        self.totals = [0.0, 0.0, 0.0]  # counted so far, per value as read
        self.slack = [0.0, 0.0, 0.0]  # how far jitter may move each total
        self.mark = 0
        self.listed: dict[str, dict] = {}  # every run, as answers give it at this poll
        self.serial = 0
        self.doomed: set[str] = set()  # to be deleted between two pages
        self.faulted = False  # a failure was injected since the last poll
        sim.clock_skew = 720.0 if self.rng.random() < 0.3 else 0.0
        self._before_first_poll(self.api_now())
        now[0] = float(T0)

    def api_now(self) -> float:
        return self.now[0] + self.sim.clock_skew

    def _at(self, api_time: float) -> None:
        self.now[0] = api_time - self.sim.clock_skew

    def _before_first_poll(self, first: float) -> None:
        rng = self.rng
        if rng.random() < 0.3:
            self.api.empty_answers(1)
        tied = rng.random() < 0.5  # over a page, most sharing a submitTime across its boundary
        for i in range(rng.randint(101, 120) if tied else rng.randint(0, 60)):
            submit = first - 20000 + (0 if tied and i < 101 else 7 * i)
            self._add(submit, start=submit + 5, end=submit + 60 + rng.randint(0, 99))
        for _ in range(rng.randint(0, 6)):  # running or waiting at the baseline
            submit = first - rng.randint(600, 3000)
            self._add(submit, start=submit + 10 if rng.random() < 0.7 else None)
        if rng.random() < 0.3:  # a page of newer finished runs, one deleted during the first walk
            block = [self._add(first - 590 + 2 * i, end=first - 10) for i in range(100)]
            self.api.delete_between_pages([rng.choice(block).key])
        for _ in range(rng.randint(0, 2)):  # listed only after the baseline
            submit = first - rng.randint(50, 300)
            end = submit + 20 if rng.random() < 0.5 else None
            self._add(submit, start=submit + 10, end=end, delay=450)
        if rng.random() < 0.2:
            self.api.expire_between_pages(1)

    # --- what happens -------------------------------------------------------------------

    def _add(
        self,
        submit: float,
        start: float | None = None,
        end: float | None = None,
        delay: float = 0,
    ) -> Run:
        """A run submitted at ``submit``, running from ``start``, ended at ``end`` (API times)."""
        rng = self.rng
        self.serial += 1
        vcores, memory = rng.choice((2, 4, 8)), rng.choice((4096, 16384, 32768))
        cu = max(vcores, memory / 4096)
        run = Run(f"jr-{self.serial:05d}", submit, (cu, float(vcores), memory * 2.0**20))
        queue = rng.choice(("root_queue", "dev_queue"))
        self._at(submit)
        state = "Running" if start == submit else "Submitted"
        self.api.add_run(
            run.key,
            state=state,
            submit_time=submit,
            visible_delay=delay,
            vcores=vcores,
            memory_mb=memory,
            queue=queue,
        )
        run.state, run.phase = state, "running" if state == "Running" else "pending"
        self.runs[run.key] = run
        if start is not None and start != submit:
            self._move(run, start, "Running")
        if end is not None:
            self._move(run, end, rng.choice(tuple(ENDS)))
        return run

    def _move(self, run: Run, at: float, state: str) -> None:
        self._at(at)
        self.api.set_run(run.key, state)
        run.state = state
        if state in ENDS:
            run.end, run.phase = at, ENDS[state]
        elif state in ("Running", "Cancelling", "CancelFailed"):
            run.phase = "running"
        self.trace.append(f"{at:.0f} {run.key} {state}")

    def happen(self, at: float) -> None:
        self.now[0] = at
        api, rng = self.api_now(), self.rng
        roll = rng.random()
        active = [run for run in self.runs.values() if run.end is None and run.state != "lost"]
        if roll < 0.03:  # a burst sharing one submitTime: older runs move to the next page
            burst = [self._add(api - 1, start=api - 1) for _ in range(rng.randint(101, 105))]
            for run in burst:
                self._move(run, api, "Success")
        elif roll < 0.4 or not active:
            delay = rng.randint(30, 500) if rng.random() < 0.2 else 0
            run = self._add(api, start=api if rng.random() < 0.4 else None, delay=delay)
            self.trace.append(f"{api:.0f} submit {run.key} delay {delay}")
        elif roll < 0.55:
            waiting = [run for run in active if run.phase == "pending"]
            if waiting:
                run = rng.choice(waiting)
                self._move(run, api, "Pending" if run.state == "Submitted" else "Running")
        elif roll < 0.8:
            self._end(rng.choice(active), api)
        elif roll < 0.92:
            self._delete_between_pages()
        elif roll < 0.96:
            refusals = 4 if rng.random() < 0.25 else 1  # 4: more than a walk begins again
            self.api.expire_between_pages(refusals)
            self.trace.append(f"{api:.0f} the next {refusals} page tokens expire")
        else:
            run = rng.choice(active)
            self.api.remove_job(run.key)
            run.state = "lost"
            self.trace.append(f"{api:.0f} lost {run.key}")

    def _end(self, run: Run, at: float) -> None:
        """End, or begin or fail to end the cancellation of, an active run."""
        if run.state == "Cancelling":
            state = self.rng.choice(("Cancelled", "CancelFailed"))
        elif run.phase == "pending":
            state = self.rng.choice(("Failed", "Cancelled"))
        else:
            state = self.rng.choice((*ENDS, "Cancelling"))
        self._move(run, at, state)

    def _delete_between_pages(self) -> None:
        done = [
            run.key
            for run in self.runs.values()
            if run.end is not None and run.key not in self.doomed
        ]
        if done:
            key = self.rng.choice(done)
            self.api.delete_between_pages([key])
            self.doomed.add(key)
            self.trace.append(f"delete {key} between pages")

    def outage(self, start: float, end: float) -> None:
        for at in sorted(self.rng.sample(range(int(start), int(end)), 3)):
            self.happen(at)

    # --- the truth ----------------------------------------------------------------------

    def before_poll(self) -> None:
        """Mark the record; take every run as an answer would give it during the poll (the
        clock stands still while it polls, and a run deleted between its pages is gone after)."""
        self.mark = self.api.answers_shown()
        self.listed = {item["jobRunId"]: item for item in self.api.runs()}

    def fault(self) -> None:
        """The next request is throttled: the only way a poll may fail here."""
        self.sim.throttle_next(1, retry_after_ms=1)
        self.faulted = True

    def observe(self, ok: bool) -> None:
        """What a successful poll was shown: each run's state, and its readings then. A poll
        fails only when a failure was injected: deletions, refused page tokens, late runs and
        ties are the list's ways, which a poll must take in its stride."""
        faulted, self.faulted = self.faulted, False
        assert ok or faulted, "a poll failed without an injected failure"
        if not ok:
            return
        answers = self.api.shown_since(self.mark)
        at = answers[0].at if answers else self.api_now()
        first = self.baseline is None
        if first:
            self.baseline = at
        shown = {key: state for answer in answers for key, state in answer.jobs}
        for key, state in shown.items():
            run = self.runs[key]
            run.seen = True
            run.seen_ended |= state in ENDS
            self._read(run, self.listed[key], at, first)
        self.trace.append(f"answers={len(answers)} runs shown={len(shown)}")

    def _read(self, run: Run, item: dict, at: float, baseline: bool) -> None:
        """Count a run's readings as the ledger does (docs/metrics.md, CU-seconds)."""
        readings = [float(item[field]) for field, _ in READINGS]
        if run.readings is None:
            share = 0.0 if baseline else self._share(item, at)
            increases = [reading * share for reading in readings]
            if self.margin and 0 < share < 1:
                moved = 4 * (JITTER + 0.5)
                self.slack = [
                    s + rate * moved for s, rate in zip(self.slack, run.rates, strict=True)
                ]
            run.readings = readings
        else:
            increases = [new - old for new, old in zip(readings, run.readings, strict=True)]
            run.readings = [max(new, old) for new, old in zip(readings, run.readings, strict=True)]
        for i, ((_, scale), increase) in enumerate(zip(READINGS, increases, strict=True)):
            if increase > 0:
                self.totals[i] += increase * scale

    def _share(self, item: dict, at: float) -> float:
        """The part of a first reading used after the baseline: its submission to its end."""
        bt = self.baseline
        assert bt is not None
        begin = item["submitTime"] / 1000
        if begin >= bt:
            return 1.0
        stop = item["endTime"] / 1000 if item["endTime"] else at
        return 0.0 if stop <= bt else (stop - bt) / (stop - begin)

    def truth(self) -> Counts:
        bt = self.baseline
        assert bt is not None
        counts = Counts(cu_seconds=self.totals[0])
        for run in self.runs.values():
            if run.seen and run.submit > bt:
                counts.submitted += 1
            if run.seen_ended and run.end is not None and run.end > bt:
                counts.finished[(run.phase, run.state)] += 1
        return counts

    def usage(self) -> tuple[float, float]:
        """The vcore seconds and memory byte seconds counted so far."""
        return self.totals[1], self.totals[2]

    def cu_slack(self) -> float:
        return self.slack[0]


class SparkExporting(Exporting):
    """The history's exporter, whose counts are checked for vcore and memory seconds too."""

    def __init__(self, history: SparkHistory, target: dict, state: Path) -> None:
        super().__init__(target, state, lambda: history.now[0], SPARK)
        self.history = history

    def counts(self) -> tuple[Counts, Counter]:
        assert self.exporter is not None
        body = self.exporter.exposition.body()
        totals = dict.fromkeys(USAGE_FAMILIES, 0.0)
        for line in body.decode().splitlines():
            if line.startswith(USAGE_FAMILIES):
                name = line.partition("{")[0]
                totals[name] += float(line.rpartition(" ")[2])
        for name, expected, slack in zip(
            USAGE_FAMILIES, self.history.usage(), self.history.slack[1:], strict=True
        ):
            assert totals[name] == pytest.approx(expected, rel=1e-9, abs=slack or 1e-6), name
        return exported(body)


def settle(seed: int, history: SparkHistory, exporting: SparkExporting) -> None:
    """Every run the API still lists shown and counted at the end (``check_settled``)."""

    def unseen() -> list[str]:
        return [
            run["jobRunId"]
            for run in history.api.runs()
            if not history.runs[run["jobRunId"]].seen
            or (run["state"] in ENDS and not history.runs[run["jobRunId"]].seen_ended)
        ]

    check_settled(seed, history, exporting, unseen)


@pytest.fixture(autouse=True)
def quick_restarts(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_restarts(monkeypatch)


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("jitter", [False, True], ids=["exact-times", "jittered-times"])
def test_spark_runs_and_their_usage_are_counted_exactly_whatever_happens(
    tmp_path: Path, jitter: bool
) -> None:
    now = [float(T0)]
    for seed in range(JITTERED if jitter else HISTORIES):
        now[0] = float(T0)
        with EmrServerlessSimulator(seed=seed, clock=lambda: now[0]) as sim:
            history = SparkHistory(seed, now, sim, jittered(sim, seed, jitter))
            target = sim.target_config(
                "emr", resources=[SPARK], requests_per_second=1000, full_list_interval="2m"
            )
            exporting = SparkExporting(history, target, tmp_path / f"state-{seed}.json")
            check(seed, history, exporting, history.fault, polls=10)
            settle(seed, history, exporting)
