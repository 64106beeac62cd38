"""Usage values a ledger counts: a cumulative reading a backend reports of each run (EMR's
``cuHours``), counted as its increase since the baseline (``JobLedger._account_usage``), into a
counter split by job labels and by attribution.

A backend declares them (``backends.kit.extras``); the ledger is handed the ``Usage`` of each,
which says where a job carries its reading and which family counts it.
"""

from __future__ import annotations

from dataclasses import dataclass

from exporter.exposition.family import Family
from exporter.ledger.attribution import AttributionValues
from exporter.model import Job

Readings = tuple[float | None, ...]  # a run's last readings, in the usage's order; () for none
UsageKey = tuple[tuple[str, ...], AttributionValues]  # split label values, attribution values


@dataclass(frozen=True, slots=True)
class Usage:
    """One usage value: ``Job.values[position]`` is a job's reading, counted times ``scale``
    in ``family``, by the job labels ``split_by`` (from ``Job.extra_labels``, "" when absent),
    each sample also carrying the fixed ``labels``. A ``whole`` value counts events (attempts):
    a run's first reading after the baseline counts whole, or not at all
    (``JobLedger._account_usage``), never a share."""

    name: str
    position: int
    family: Family
    split_by: tuple[str, ...] = ()
    scale: float = 1.0
    labels: tuple[tuple[str, str], ...] = ()
    whole: bool = False

    def reading(self, job: Job) -> float | None:
        values = job.values
        return values[self.position] if self.position < len(values) else None

    def split_values(self, job: Job) -> tuple[str, ...]:
        labels = job.extra_labels
        return tuple(next((v for n, v in labels if n == name), "") for name in self.split_by)

    def first_share(
        self, job: Job, baseline_time: float | None, api_now: float, submitted: bool
    ) -> float:
        """The part of a run's first reading, taken after the baseline, that is counted: of a
        ``whole`` value, all of it for a run counted ``submitted`` (submitted after the
        baseline), none for another (its events so far cannot be placed after the baseline:
        only those it adds later count); of another value, its share after the baseline."""
        if self.whole:
            return 1.0 if submitted else 0.0
        return share_after_baseline(job, baseline_time, api_now)


def kept(readings: Readings) -> Readings:
    """``readings`` as a run keeps them: () when none is known (no tuple kept per run)."""
    return readings if any(r is not None for r in readings) else ()


def share_after_baseline(job: Job, baseline_time: float | None, api_now: float) -> float:
    """The part of a job's first reading of a usage value consumed after the baseline: all
    of it for a job begun since, none for one ended before, else pro rata of its run time
    (the same for a job running at the baseline whose reading was null then)."""
    begin = job.start_time if job.start_time is not None else job.submit_time
    if baseline_time is None or begin is None or begin >= baseline_time:
        return 1.0
    stop = job.end_time if job.end_time is not None else api_now
    if stop <= baseline_time:
        return 0.0
    return (stop - baseline_time) / (stop - begin)
