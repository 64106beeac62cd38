"""The runs a ledger remembers of a job id, and how a record is matched to one of them.

A job is one run: an id the platform hands out again is a new job when its ``Job.run`` time is
more than ``RUN_TOLERANCE`` from that of every run of the id remembered (a time rounded or
re-derived between two answers is the same run). A run is remembered in full (``KnownJob``)
while it is listed, or kept as departed (``departed.DepartedRun``) once it is counted and gone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from exporter.ledger.departed import DepartedRun
from exporter.ledger.usage import Readings
from exporter.model import Job

# Two records of one id whose run times are this close are one run (docs/metrics.md, "Counting"):
# far above what rounding (to the second) or a time re-derived by a proxy or another Ray version
# moves, far below the time between two runs of one id (a head restart and a resubmission)
RUN_TOLERANCE = 60.0


@dataclass(slots=True)
class KnownJob:
    """What is remembered of every job seen, so nothing is counted twice."""

    last_seen: float
    counted: bool = False
    started: bool = False
    seen_pending: bool = False
    finished_at: float | None = None
    readings: Readings = ()  # the last reading of each usage value (``usage``); () for none
    run: float | None = None  # which run of its id (Job.run's time), None: the id alone
    absent_since: float | None = None  # first complete listing without it, since last seen

    def kept_fields(self) -> tuple:
        """All but ``last_seen``: a change of any of them is journaled (``last_seen`` alone is
        not: it only says when the job was last listed, and no rule reads it)."""
        return (
            self.counted,
            self.started,
            self.seen_pending,
            self.finished_at,
            self.readings,
            self.run,
            self.absent_since,
        )


Remembered = KnownJob | list[KnownJob]  # one run of an id, or two and more (each with its time)
Run = KnownJob | DepartedRun  # a run remembered in full, or as departed


def returned(run: DepartedRun, now: float) -> KnownJob:
    """A departed run listed again, remembered in full from now on."""
    return KnownJob(
        last_seen=now,
        counted=True,
        started=run.started,
        seen_pending=run.seen_pending,
        finished_at=run.finished_at,
        readings=run.readings,
        run=run.run,
        absent_since=run.absent_since,
    )


def departing(known: KnownJob) -> DepartedRun:
    """A counted run that complete listings lack, as a departed record keeps it."""
    assert known.absent_since is not None
    return DepartedRun(
        known.run,
        known.absent_since,
        known.finished_at,
        known.readings,
        known.started,
        known.seen_pending,
    )


def run_time(known: Run | Job) -> float:
    return -math.inf if known.run is None else known.run


def later(job: Job, other: Job) -> bool:
    """Whether ``job`` is of a later run than ``other`` (a run without a time is the earliest)."""
    return run_time(job) > run_time(other)


def run_of(entry: Run | list[Run] | list[KnownJob] | None, run: float | None) -> Run | None:
    """The run remembered that a record of run time ``run`` is: the one of nearest time within
    ``RUN_TOLERANCE``, the latest for a record without a time (a run remembered without one
    matches any), or None: a new run."""
    if entry is None:
        return None
    if type(entry) is not list:
        if run is None or entry.run is None or abs(entry.run - run) <= RUN_TOLERANCE:
            return entry
        return None
    if run is None:
        return max(entry, key=run_time)
    nearest, gap = None, RUN_TOLERANCE
    for known in entry:
        distance = RUN_TOLERANCE if known.run is None else abs(known.run - run)
        if distance <= gap:
            nearest, gap = known, distance
    return nearest
