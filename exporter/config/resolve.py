"""A target as it is polled: its settings with the defaults filled in, and its attribution
labels checked against the fields its backend offers. The one path of a configured target
and of a discovered one (``config.discovery``)."""

from __future__ import annotations

from exporter.backends import registry
from exporter.backends.kit.resources import JOBS
from exporter.config.types import Defaults, Target


def resolve_target(given: Target, defaults: Defaults, where: str) -> Target:
    """``given`` with every unset setting taken from ``defaults``; ValueError (one line
    starting with ``where``, e.g. ``targets[1]``) when its attribution cannot be read."""
    target = given.with_defaults(defaults)
    check_attribution_sources(where, target, inherited=given.attribution is None)
    return target


def check_attribution_sources(where: str, target: Target, inherited: bool) -> None:
    """Each attribution label's source is a field of every job resource the target polls
    (the labels go on the series of each), or, given per list, of the list it names."""
    where = f"{where}.attribution.labels"
    origin = " (from defaults.attribution)" if inherited else ""
    declared = registry.declaration(target.backend).job_resources
    lists = [resource.name for resource in declared]
    for name, given in target.attribution.labels.items():
        for resource in given if isinstance(given, dict) else ():
            if resource not in lists:
                raise ValueError(
                    f"{where}.{name}.{resource}: not a list of jobs of this backend; "
                    f"one of: {', '.join(lists)}{origin}"
                )
    for resource in declared:
        if resource.name not in target.resources:
            continue
        sources = target.attribution.sources(resource.name)
        for (name, given), source in zip(target.attribution.labels.items(), sources, strict=True):
            problem = resource.attribution_fields.problem(source) if source else None
            if problem is not None:
                if isinstance(given, str):
                    at, of = name, "" if resource.name == JOBS else f" (of its {resource.name})"
                else:
                    at, of = f"{name}.{resource.name}", ""
                raise ValueError(f"{where}.{at}: {problem}{of}{origin}")
