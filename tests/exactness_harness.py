"""The harness of the exactness histories (tests/conformance.py, tests/test_exactness.py):
an exporter on a fake clock restarted from its state file, the counters it exports, jittered
answer times, and the loop that polls, checks and lets a history happen."""

from __future__ import annotations

import functools
import random
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pytest

import exporter.http.transport
import exporter.store.opening
from exporter.app import Exporter
from exporter.config.parse import parse_config
from exporter.simulators.base import Simulator

from .helpers import on_clock

POLLS = 16  # polls per history, restarts and outages aside
INTERVAL = 30  # seconds between polls, on our clock
OUTAGE = 8 * 86400  # longer than forget_after
T0 = 1_800_000_000
JITTER = 3.0  # seconds a time of an answer may move, either way, before it is rounded
MARGIN = 5  # with jitter, nothing happens within this many seconds of a poll (nor of bt)


class Jitter:
    """A time as an answer re-derives it: moved by up to ``JITTER`` seconds either way, then
    rounded to the second or to the millisecond; afresh for every time of every answer."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def __call__(self, at: float) -> float:
        moved = at + self.rng.uniform(-JITTER, JITTER)
        return float(round(moved)) if self.rng.random() < 0.5 else round(moved, 3)


def jittered(sim: Simulator, seed: int, on: bool) -> int:
    """Switch jitter on (or not) in a simulator; the margin the history keeps around polls."""
    if not on:
        return 0
    sim.jitter = Jitter(seed + 7919)
    return MARGIN


@dataclass
class Counts:
    submitted: int = 0
    finished: Counter = field(default_factory=Counter)  # (phase, status) -> jobs
    cu_seconds: float | None = 0.0  # None: not checked
    untimed: Counter = field(default_factory=Counter)  # phase -> jobs no answer gives an end

    def durations(self) -> Counter:
        by_phase: Counter = Counter()
        for (phase, _), n in self.finished.items():
            by_phase[phase] += n
        by_phase.subtract(self.untimed)
        return +by_phase


COUNTED = (
    "jobfleet_jobs_submitted_total",
    "jobfleet_jobs_finished_total",
    "jobfleet_job_duration_seconds_count",
    "jobfleet_cu_seconds_total",
)
_SAMPLE = re.compile(r"^([a-z_]+)\{(.*)\} (\S+)$")
_LABEL = re.compile(r'([a-z_]+)="((?:[^"\\]|\\.)*)"')


def exported(body: bytes) -> tuple[Counts, Counter]:
    """The counted families of an exposition, summed over the series of other labels (a
    backend's own, as KubeRay's ``namespace``), read line by line: the full parser is too slow
    for a check after every poll of hundreds of histories."""
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
            counts.submitted += int(value)
        elif name == "jobfleet_jobs_finished_total" and value:
            counts.finished[(labels["phase"], labels["status"])] += int(value)
        elif name == "jobfleet_job_duration_seconds_count" and value:
            durations[labels["phase"]] += int(value)
        elif name == "jobfleet_cu_seconds_total":
            counts.cu_seconds = (counts.cu_seconds or 0.0) + value
    return counts, durations


def observations(body: bytes, names: tuple[str, ...]) -> dict[str, int]:
    """The observations of each histogram family of ``names`` in an exposition, all series."""
    counts = dict.fromkeys(names, 0)
    for line in body.decode().splitlines():
        name, _, rest = line.partition("{")
        if name.endswith("_count") and name.removesuffix("_count") in counts:
            counts[name.removesuffix("_count")] += int(float(rest.rpartition(" ")[2]))
    return counts


class Exporting:
    """One target's exporter on the fake clock, restarted from its state file on demand; each
    ``poll`` polls its job resource ``resource``. ``observed`` names histograms in which every
    job counted finished is observed once (a backend's observed values it always reports)."""

    def __init__(
        self,
        target: dict,
        state: Path,
        clock: Callable[[], float],
        resource: str = "jobs",
        observed: tuple[str, ...] = (),
    ) -> None:
        self.config = parse_config({"state_file": str(state), "targets": [target]})
        self.clock = clock
        self.resource = resource
        self.observed = observed
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
        return self.exporter.pollers[0].poll(self.resource)

    def counts(self) -> tuple[Counts, Counter]:
        assert self.exporter is not None
        return exported(self.exporter.exposition.body())

    def check_observed(self, finished: int) -> None:
        """Each job counted finished (``finished`` of them) observed once in each ``observed``."""
        assert self.exporter is not None
        seen = observations(self.exporter.exposition.body(), self.observed)
        assert seen == dict.fromkeys(self.observed, finished), (
            f"observed: {seen}, expected {finished} each"
        )


def fast_restarts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Thousands of polls and restarts in a minute. The simulators speak plain HTTP, so every
    exporter shares one TLS context (loading the CA bundle takes ~70 ms each time); the state
    file is written as always, but not synced to disk (durability is test_state's subject)."""
    shared = functools.lru_cache(maxsize=4)(exporter.http.transport.ssl_context)
    monkeypatch.setattr(exporter.http.transport, "ssl_context", shared)
    monkeypatch.setattr(exporter.store.opening.os, "fsync", lambda fd: None)


class Story(Protocol):
    """A history ``run_history`` drives: what happens between polls, and the truth so far."""

    rng: random.Random
    now: list[float]
    margin: int
    baseline: float | None
    trace: list[str]

    def before_poll(self) -> None: ...
    def observe(self, ok: bool) -> None: ...
    def truth(self) -> Counts: ...
    def cu_slack(self) -> float: ...
    def happen(self, at: float) -> None: ...
    def outage(self, start: float, end: float) -> None: ...


def run_history(
    history: Story, exporting: Exporting, faults: Callable[[], None], polls: int
) -> None:
    """Poll, check, let things happen; now and then restart, go down for days, or fail."""
    exporting.start()
    try:
        for _ in range(polls):
            history.before_poll()
            ok = exporting.poll()
            history.trace.append(f"{history.now[0]:.0f} poll ok={ok}")
            history.observe(ok)
            if history.baseline is not None:
                counts, durations = exporting.counts()
                expected = history.truth()
                assert counts.submitted == expected.submitted, (
                    f"submitted: exported {counts.submitted}, expected {expected.submitted}"
                )
                assert counts.finished == expected.finished, (
                    f"finished: exported {dict(counts.finished)}, "
                    f"expected {dict(expected.finished)}"
                )
                assert durations == expected.durations(), (
                    f"durations: exported {dict(durations)}, expected {dict(expected.durations())}"
                )
                exporting.check_observed(sum(counts.finished.values()))
                if expected.cu_seconds is not None:
                    slack = history.cu_slack() or 1e-6
                    assert counts.cu_seconds == pytest.approx(
                        expected.cu_seconds, rel=1e-9, abs=slack
                    )
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
            quiet = history.margin
            for offset in sorted(history.rng.sample(range(1 + quiet, INTERVAL - quiet), 3)):
                history.happen(start + offset)
            history.now[0] = start + INTERVAL
    finally:
        exporting.stop()


def check(
    seed: int,
    history: Story,
    exporting: Exporting,
    fault: Callable[[], None],
    polls: int = POLLS,
) -> None:
    """``run_history``, its failure told with the seed and the end of the history's trace."""
    try:
        run_history(history, exporting, fault, polls)
    except AssertionError as err:
        trace = "\n".join(history.trace[-40:])
        raise AssertionError(f"history {seed}: {err}\n{trace}") from err


SETTLE_POLLS = 3  # successful polls at the end of a history, with nothing happening
# polls to get them in: failures injected while the exporter backed off after throttling are
# still pending (each fails one request), and each failed poll backs off further
SETTLE_MAX_POLLS = 12
SETTLE_STEP = 2 * 3600.0  # between them: longer than any backend's default full list interval


def check_settled(
    seed: int, history: Story, exporting: Exporting, unseen: Callable[[], list]
) -> None:
    """The end of a history: nothing happens any more, and polls ``SETTLE_STEP`` apart (past
    every full list interval) must have shown every job the API still lists, in its last
    status (``unseen()`` names those not shown so), and counted it. What polls were shown is
    the truth of each poll; this is what makes them show everything in the end (a backend that
    never reads part of its list fails here)."""
    exporting.start()
    succeeded = 0
    try:
        for _ in range(SETTLE_MAX_POLLS):
            history.now[0] += SETTLE_STEP
            history.before_poll()
            ok = exporting.poll()
            history.observe(ok)
            succeeded += ok
            if succeeded == SETTLE_POLLS:
                break
        counts, _ = exporting.counts()
        exporting.check_observed(sum(counts.finished.values()))
    finally:
        exporting.stop()
    assert succeeded == SETTLE_POLLS, f"history {seed}: {succeeded} polls of {SETTLE_MAX_POLLS} ok"
    expected = history.truth()
    missing = unseen()
    assert not missing, f"history {seed}: never shown as the API lists them: {missing}"
    assert (counts.submitted, counts.finished) == (expected.submitted, expected.finished), seed
