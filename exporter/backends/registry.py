"""The backends the exporter knows: each backend module declares itself once, here.

A declaration says everything the rest of the exporter needs of a backend: the names a
target's ``backend`` key may take (those its target model accepts), the target model, the
client, the status -> phase table, the cluster states, the values its jobs carry beyond the
shared ones, the resources it lists beside jobs and clusters (``kit.resources``) and the
families only it emits, and a simulator for tests and ``--demo``.
Configuration parsing, ``--check-config``, the demo, the chart's schema and the shared tests
read the registry, so a backend defined anywhere (even outside this package) is complete
once it is registered.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_args, get_origin

from exporter.backends.base import Backend
from exporter.backends.kit.extras import NO_EXTRAS, Extras
from exporter.backends.kit.resources import (
    CLUSTERS,
    JOBS,
    JobResource,
    Resource,
    SnapshotResource,
    resource_problems,
)
from exporter.config.types import Target
from exporter.exposition.declared import declare_backend_families, withdraw_backend_families
from exporter.exposition.family import Family
from exporter.exposition.renderers.clusters import render_clusters
from exporter.ledger.attribution import NO_FIELDS, SourceFields
from exporter.model import StatusPairs
from exporter.polling.health import ApiStats

if TYPE_CHECKING:
    from exporter.simulators.base import Simulator


@dataclass(frozen=True)
class BackendDeclaration:
    """One backend, as its module declares it.

    ``target`` is the pydantic model of its targets: its ``backend`` field is a ``Literal`` of
    the names this backend answers to. ``client`` builds the client of one target.
    ``known_pairs`` is every (phase, status) the API reports (the status -> phase table:
    each is counted from 0). ``simulator(name, secret=..., seed=..., clock=...)`` makes a
    simulator of the API for the backend called ``name``, requiring ``secret`` (when given)
    as its credential; its workload runs the demo.

    ``attribution_fields`` are the job fields an attribution label may take its value from
    (docs/metrics.md, "Attribution"); ``failure_reasons`` the reasons (``Job.reason``) a failed
    job of each native status may have, each counted from 0; ``demo_attribution`` the
    attribution of the demo's target, from fields the simulator's workload fills.

    ``extras`` are the values its jobs carry in ``Job.values`` and the families showing them;
    ``families`` the other families only it emits. Both join the declared families
    (``exposition.declared``) when it is registered.

    ``known_pairs``, ``failure_reasons``, ``attribution_fields`` and ``extras`` declare its
    ``jobs``; ``resources`` are the kinds it lists besides jobs and clusters (other lists of
    jobs, each counted in a ledger of its own, and snapshots), whose families join the declared
    ones too. Code reads what a list of jobs is through ``job_resources`` and ``resource``.
    """

    target: type[Target]
    client: Callable[[Any, ApiStats], Backend]
    known_pairs: StatusPairs
    simulator: Callable[..., Simulator]
    cluster_states: tuple[str, ...] = ()
    attribution_fields: SourceFields = NO_FIELDS
    failure_reasons: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)
    demo_attribution: Mapping[str, Any] = field(default_factory=dict, hash=False)
    extras: Extras = NO_EXTRAS
    families: tuple[Family, ...] = ()
    resources: tuple[Resource, ...] = ()

    @property
    def own_families(self) -> tuple[Family, ...]:
        """The families this backend declares: its extras', its other ones and those of its
        own resources."""
        own = (family for resource in self.resources for family in resource.families)
        return tuple(dict.fromkeys((*self.extras.families, *self.families, *own)))

    @property
    def job_resources(self) -> tuple[JobResource, ...]:
        """Its lists of jobs, each counted in a ledger of its own: ``jobs`` first."""
        jobs = JobResource(
            JOBS, self.known_pairs, self.failure_reasons, self.attribution_fields, self.extras
        )
        return (jobs, *(r for r in self.resources if isinstance(r, JobResource)))

    def resource(self, name: str) -> Resource:
        """The resource ``name`` of its targets: ``jobs``, ``clusters`` or one of its own;
        KeyError for another."""
        if name == JOBS:
            return self.job_resources[0]
        if name == CLUSTERS:
            render = functools.partial(render_clusters, states=self.cluster_states)
            return SnapshotResource(CLUSTERS, render)
        return {resource.name: resource for resource in self.resources}[name]

    @property
    def names(self) -> tuple[str, ...]:
        """The values of ``backend`` that select this backend."""
        model = getattr(self.target, "__name__", repr(self.target))
        if not (isinstance(self.target, type) and issubclass(self.target, Target)):
            raise TypeError(f"{model} must be a model that extends config_types.Target")
        annotation = self.target.model_fields["backend"].annotation
        if get_origin(annotation) is not Literal:
            raise TypeError(f"{model}.backend must be a Literal of names")
        names = get_args(annotation)
        odd = [
            repr(name) for name in names if not isinstance(name, str) or not _NAME.fullmatch(name)
        ]
        if odd:
            raise TypeError(
                f"{model}.backend: a name is lower-case letters, digits and _ "
                f"(not {', '.join(odd)})"
            )
        return names


_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")  # a backend name: a config value and a label value
_lock = threading.Lock()
_by_name: dict[str, BackendDeclaration] = {}


def register(declaration: BackendDeclaration) -> BackendDeclaration:
    """Add ``declaration`` to the known backends, and its families to the declared ones; a
    name declared by another, or a family the contract's rules refuse, is refused."""
    names = declaration.names
    _check_resources(declaration)
    with _lock:
        taken = [n for n in names if _by_name.get(n, declaration) is not declaration]
        if taken:
            raise ValueError(f"backend names already declared: {', '.join(taken)}")
        declare_backend_families(names[0], declaration.own_families)
        for name in names:
            _by_name[name] = declaration
    return declaration


def _check_resources(declaration: BackendDeclaration) -> None:
    """TypeError naming what is wrong with the resources a backend declares and its targets
    may name (its target model's ``resources``), or a method its client lacks to list one."""
    model = declaration.target
    nameable = model.resource_names()
    problems = resource_problems(declaration.resources, nameable)
    if not problems and isinstance(declaration.client, type):
        methods = (declaration.resource(name).method for name in nameable)
        problems = [
            f"{declaration.client.__name__} has no method {method} to list a resource"
            for method in methods
            if not callable(getattr(declaration.client, method, None))
        ]
    if problems:
        raise TypeError(f"{model.__name__}: {'; '.join(problems)}")


def unregister(declaration: BackendDeclaration) -> None:
    """Forget ``declaration`` (a backend registered for a while, as a test does)."""
    with _lock:
        for name in declaration.names:
            if _by_name.get(name) is declaration:
                del _by_name[name]
        if declaration.names[0] not in _by_name:
            withdraw_backend_families(declaration.names[0])


def declaration(name: str) -> BackendDeclaration:
    """The declaration of backend ``name``; KeyError when none declares it."""
    with _lock:
        return _by_name[name]


def declarations() -> tuple[BackendDeclaration, ...]:
    """Every declared backend once, by its first name (not by the order modules loaded in)."""
    with _lock:
        unique = dict.fromkeys(_by_name.values())
    return tuple(sorted(unique, key=lambda declared: declared.names[0]))


def names() -> tuple[str, ...]:
    """Every backend name, sorted."""
    with _lock:
        return tuple(sorted(_by_name))
