"""Values a backend reports of each job beyond the shared ``Job`` fields, and the families that
carry them: the backend declares them (``BackendDeclaration.extras``), its parser puts them in
``Job.values`` in the declared order, and the ledger, the state file and the renderers handle
them without knowing which they are.

A value may be shown per job (a gauge of each tracked job: ``gauge``) and, when it is a
cumulative reading of a run (compute units used so far), counted (``counter``: its increase
after the baseline, ``ledger.usage``, split by the job labels ``split_by`` and by attribution).
Both are ``scale`` times the value (hours read, seconds exported).
"""

from __future__ import annotations

from dataclasses import dataclass

from exporter.exposition.family import Family
from exporter.exposition.renderers.jobs import JobGauge
from exporter.ledger.usage import Usage


@dataclass(frozen=True, slots=True)
class ExtraValue:
    """One per-job value, by ``name`` (its name in the state file: never renamed)."""

    name: str
    gauge: Family | None = None
    counter: Family | None = None
    scale: float = 1.0
    split_by: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Extras:
    """A backend's per-job values, in the order ``Job.values`` holds them."""

    values: tuple[ExtraValue, ...] = ()

    def __post_init__(self) -> None:
        names = [value.name for value in self.values]
        if len(set(names)) != len(names):
            raise ValueError(f"extra values named twice: {names}")
        for value in self.values:
            if value.counter is None and value.split_by:
                raise ValueError(f"{value.name}: split_by is for a value with a counter")
            if value.counter is not None and not set(value.split_by) <= value.counter.label_names:
                raise ValueError(f"{value.name}: {value.counter.name} lacks its split_by labels")

    def position(self, name: str) -> int:
        """Where ``Job.values`` holds the value ``name``; ValueError if none is declared."""
        return [value.name for value in self.values].index(name)

    @property
    def families(self) -> tuple[Family, ...]:
        return tuple(
            family
            for value in self.values
            for family in (value.gauge, value.counter)
            if family is not None
        )

    def usage(self) -> tuple[Usage, ...]:
        """The values a ledger counts."""
        return tuple(
            Usage(value.name, position, value.counter, value.split_by, value.scale)
            for position, value in enumerate(self.values)
            if value.counter is not None
        )

    def gauges(self) -> tuple[JobGauge, ...]:
        """The per-job gauges of the values shown per job."""
        return tuple(
            (position, value.gauge, value.scale)
            for position, value in enumerate(self.values)
            if value.gauge is not None
        )


NO_EXTRAS = Extras()
