"""A target's lists of jobs at run time: each job resource it polls counted in a ledger of its
own (``kit.resources.JobResource``), kept in the state file under a key of its own
(``store.identity``), its series published as last saved."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from exporter.backends import Backend, registry
from exporter.backends.kit.resources import JOBS, JobResource
from exporter.config.types import Target
from exporter.exposition.block import Encoded
from exporter.exposition.renderers.jobs import JobLines
from exporter.exposition.text import Labels
from exporter.ledger.attribution import Slots
from exporter.ledger.job_ledger import JobLedger
from exporter.store import ledger_form
from exporter.store.identity import fingerprint, ledger_key

log = logging.getLogger(__name__)


@dataclass(eq=False)
class CountedJobs:
    """One job resource of a target: its ledger, the key and identity the state file keeps
    it by, the labels of its series (``resource`` on all but ``jobs``), its per-job lines
    kept between publishes, its series as last saved, and whether what it counted since is
    unsaved (and so unpublished)."""

    resource: JobResource
    key: str
    identity: str
    labels: Labels
    ledger: JobLedger
    lines: JobLines
    published: Encoded | None = None
    pending: bool = False


def job_resources(target: Target) -> tuple[JobResource, ...]:
    """The job resources ``target`` polls, in the order its backend declares them."""
    declared = registry.declaration(target.backend).job_resources
    return tuple(resource for resource in declared if resource.name in target.resources)


def saved_entries(target: Target) -> dict[str, tuple[str, str]]:
    """Where the state file keeps the ledger of each job resource ``target`` polls: (key,
    identity), by resource."""
    return {
        resource.name: (ledger_key(target.name, resource.name), fingerprint(target, resource.name))
        for resource in job_resources(target)
    }


def counted_jobs(
    target: Target, resource: JobResource, backend: Backend, saved: dict | None
) -> CountedJobs:
    """Job resource ``resource`` of ``target``, continuing from ``saved`` (its ledger's saved
    form) when given and usable, else from a new baseline; ``backend`` learns which of its
    jobs were not finished."""
    ledger = _new_ledger(target, resource)
    if saved is not None:
        where = target.name if resource.name == JOBS else f"{target.name} {resource.name}"
        try:
            notes = ledger_form.restore(ledger, saved)
        except (KeyError, TypeError, ValueError) as err:
            log.error("target %s: saved state unusable (%s): starting clean", where, err)
            ledger = _new_ledger(target, resource)
        else:
            backend.resume(ledger.unfinished(), resource.name)
            if notes:
                log.info("target %s: native histograms: %s", where, "; ".join(notes))
    backend.follow_counting(resource.name, ledger.uncounted)
    base = (("target", target.name), ("backend", target.backend))
    labels = base if resource.name == JOBS else (*base, ("resource", resource.name))
    return CountedJobs(
        resource,
        ledger_key(target.name, resource.name),
        fingerprint(target, resource.name),
        labels,
        ledger,
        JobLines(resource.extras.gauges()),
    )


def _new_ledger(target: Target, resource: JobResource) -> JobLedger:
    attribution = target.attribution
    labels = tuple(attribution.labels)
    return JobLedger(
        resource.known_pairs,
        retention=target.retention,
        max_departed=target.max_departed_jobs,
        failure_reasons=resource.failure_reasons,
        slots=Slots(labels, attribution.max_values) if labels else None,
        histogram_labels=attribution.histograms,
        usage=resource.extras.usage(),
        observed=resource.extras.observed(),
        open_reasons=resource.open_reasons,
        native=target.native_histograms.settings() if target.native_histograms else None,
    )
