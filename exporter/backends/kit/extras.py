"""Values a backend reports of each job beyond the shared ``Job`` fields, and the families that
carry them: the backend declares them (``BackendDeclaration.extras``), its parser puts them in
``Job.values`` in the declared order, and the ledger, the state file and the renderers handle
them without knowing which they are.

A value may be shown per job (a gauge of each tracked job: ``gauge``) and, when it is a
cumulative reading of a run (compute units used so far), counted (``counter``: its increase
after the baseline, ``ledger.usage``, split by the job labels ``split_by`` and by attribution,
its samples also carrying the fixed ``labels``: two values may so count into one family, each
under its own label value). A ``whole`` counter counts events (a run's attempts), not an amount
that accrues while a job runs: its first reading after the baseline counts whole or not at all.
A value known once a job has ended (the time it spent queueing) may be observed in a histogram
(``histogram``, with its bucket upper bounds ``buckets``): once per job, when the job is
counted finished (``ledger.observed``), under the target's histogram attribution labels.
All are ``scale`` times the value (hours read, seconds exported).
"""

from __future__ import annotations

from dataclasses import dataclass

from exporter.exposition.family import Family
from exporter.exposition.renderers.jobs import JobGauge
from exporter.ledger.observed import Observed
from exporter.ledger.usage import Usage


@dataclass(frozen=True, slots=True)
class ExtraValue:
    """One per-job value, by ``name`` (its name in the state file: never renamed)."""

    name: str
    gauge: Family | None = None
    counter: Family | None = None
    scale: float = 1.0
    split_by: tuple[str, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    whole: bool = False
    histogram: Family | None = None
    buckets: tuple[float, ...] = ()

    def problems(self) -> list[str]:
        """What is wrong with this declaration."""
        problems = []
        if self.counter is None and (self.split_by or self.labels or self.whole):
            problems.append(f"{self.name}: split_by, labels and whole are for a counter")
        if self.counter is not None and not set(self.split_by) <= self.counter.label_names:
            problems.append(f"{self.name}: {self.counter.name} lacks its split_by labels")
        names = [name for name, _ in self.labels]
        if self.counter is not None and not set(names) <= self.counter.label_names:
            problems.append(f"{self.name}: {self.counter.name} lacks its labels")
        if len(set(names) | set(self.split_by)) < len(names) + len(self.split_by):
            problems.append(f"{self.name}: a label given twice")
        if (self.histogram is None) != (not self.buckets):
            problems.append(f"{self.name}: a histogram and its buckets come together")
        if self.histogram is not None and self.histogram.type != "histogram":
            problems.append(f"{self.name}: {self.histogram.name} is no histogram")
        if list(self.buckets) != sorted(set(self.buckets)):
            problems.append(f"{self.name}: buckets must increase")
        return problems


@dataclass(frozen=True, slots=True)
class Extras:
    """A backend's per-job values, in the order ``Job.values`` holds them."""

    values: tuple[ExtraValue, ...] = ()

    def __post_init__(self) -> None:
        names = [value.name for value in self.values]
        if len(set(names)) != len(names):
            raise ValueError(f"extra values named twice: {names}")
        problems = [problem for value in self.values for problem in value.problems()]
        counted = [(v.counter.name, v.labels) for v in self.values if v.counter is not None]
        if len(set(counted)) < len(counted):
            problems.append("two values count into one family under the same labels")
        if problems:
            raise ValueError("; ".join(problems))

    def position(self, name: str) -> int:
        """Where ``Job.values`` holds the value ``name``; ValueError if none is declared."""
        return [value.name for value in self.values].index(name)

    @property
    def families(self) -> tuple[Family, ...]:
        """Each family once (two values may count into one, under labels of their own)."""
        return tuple(
            dict.fromkeys(
                family
                for value in self.values
                for family in (value.gauge, value.counter, value.histogram)
                if family is not None
            )
        )

    def usage(self) -> tuple[Usage, ...]:
        """The values a ledger counts."""
        return tuple(
            Usage(
                value.name,
                position,
                value.counter,
                value.split_by,
                value.scale,
                value.labels,
                value.whole,
            )
            for position, value in enumerate(self.values)
            if value.counter is not None
        )

    def observed(self) -> tuple[Observed, ...]:
        """The values a ledger observes in histograms."""
        return tuple(
            Observed(value.name, position, value.histogram, value.buckets, value.scale)
            for position, value in enumerate(self.values)
            if value.histogram is not None
        )

    def gauges(self) -> tuple[JobGauge, ...]:
        """The per-job gauges of the values shown per job."""
        return tuple(
            (position, value.gauge, value.scale)
            for position, value in enumerate(self.values)
            if value.gauge is not None
        )


NO_EXTRAS = Extras()
