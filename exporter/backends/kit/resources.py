"""The kinds of thing a backend lists beside its jobs, as it declares them.

Every backend lists ``jobs`` (its primary job list) and may list ``clusters``; it may declare
more of its own (``BackendDeclaration.resources``): a ``JobResource`` is another list of jobs
(Spark job runs beside Ray jobs, training jobs beside server jobs), counted by the same rules
in a ledger of its own; a ``SnapshotResource`` is a list shown as gauges at each poll and
counted in no ledger, as clusters are (resource queues, resource pools). A target names the
ones it polls in ``resources``, and its client lists each by the method the kind names
(``list_<name>(deadline)``, returning a ``Listing``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from exporter.backends.kit.extras import NO_EXTRAS, Extras
from exporter.exposition.block import Block
from exporter.exposition.family import Family
from exporter.ledger.attribution import NO_FIELDS, SourceFields
from exporter.model import RESOURCE_NAME, StatusPairs

JOBS = "jobs"  # every backend's primary job list: its series carry no ``resource`` label
CLUSTERS = "clusters"
SHARED = (JOBS, CLUSTERS)


@dataclass(frozen=True)
class JobResource:
    """One list of jobs, counted in its own ledger.

    ``known_pairs`` is every (phase, status) its API reports (each counted from 0);
    ``failure_reasons`` the reasons a failed job of each native status may have;
    ``attribution_fields`` the job fields an attribution label may take its value from;
    ``extras`` the values its jobs carry in ``Job.values`` and the families showing them;
    ``open_reasons`` how many reasons beyond the declared ones (an open-ended vocabulary, such
    as error codes) a failed status may have per target before later ones are ``other``.
    """

    name: str
    known_pairs: StatusPairs
    failure_reasons: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)
    attribution_fields: SourceFields = NO_FIELDS
    extras: Extras = NO_EXTRAS
    open_reasons: int = 0

    @property
    def method(self) -> str:
        """The client's method that lists it."""
        return f"list_{self.name}"

    @property
    def families(self) -> tuple[Family, ...]:
        return self.extras.families


@dataclass(frozen=True)
class SnapshotResource:
    """A list shown as it is at each poll: ``render(block, items)`` writes the series of the
    last listing's items into the resource's block, in the ``families`` declared here."""

    name: str
    render: Callable[[Block, Sequence[Any]], None]
    families: tuple[Family, ...] = ()

    @property
    def method(self) -> str:
        """The client's method that lists it."""
        return f"list_{self.name}"


Resource = JobResource | SnapshotResource


def resource_problems(own: Sequence[Resource], nameable: Sequence[str]) -> list[str]:
    """What is wrong with a backend's own resources, given the names its targets may give in
    ``resources`` (``nameable``): each own one must be nameable, each nameable one declared
    (shared or own), each name a valid one given once, and the series of a job resource beside
    ``jobs`` carry ``resource``, so each family of its extras must declare it."""
    names = [resource.name for resource in own]
    problems = [
        f"resource {name!r} declared twice" for name in sorted(set(names)) if names.count(name) > 1
    ]
    for name in names:
        if name in SHARED or not RESOURCE_NAME.fullmatch(name):
            problems.append(
                f"resource name {name!r}: lower-case letters, digits and _, "
                f"not {' or '.join(SHARED)}"
            )
        elif name not in nameable:
            problems.append(f"resource {name!r} is not one its targets' resources may name")
    for name in nameable:
        if name not in SHARED and name not in names:
            problems.append(f"resources may name {name!r}, which it does not declare")
    for resource in own:
        if isinstance(resource, JobResource):
            problems.extend(
                f"{family.name} is rendered from job resource {resource.name!r}: it must "
                "declare the label resource"
                for family in resource.families
                if "resource" not in family.label_names
            )
    return problems
