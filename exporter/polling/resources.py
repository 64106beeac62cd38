"""How the poller handles each resource a target lists, by what its backend declares it to be
(``kit.resources``): a list of jobs is counted in its ledger, saved, then rendered; a snapshot
(clusters, a backend's own) is kept as listed and rendered as gauges. A new resource of either
kind is a declaration, not another branch in the poller.

``apply`` and ``render`` run under the poller's lock; ``render`` writes into the resource's
block and may return series rendered apart (the job series, published only once saved) to
join to it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from exporter.backends.base import Backend, Listing
from exporter.backends.kit.resources import JobResource, Resource
from exporter.exposition.block import Block, Encoded
from exporter.exposition.renderers.jobs import render_jobs

if TYPE_CHECKING:
    from exporter.polling.poller import TargetPoller


@dataclass(frozen=True, slots=True)
class ResourceKind:
    name: str
    fetch: Callable[[Backend, float], Listing]  # (the target's backend, deadline)
    apply: Callable[[TargetPoller, Listing, float, float], None]  # (poller, listing, now, began)
    render: Callable[[TargetPoller, Block], Encoded | None]


def resource_kind(resource: Resource) -> ResourceKind:
    """How the poller handles ``resource``: listed by the client's method it names."""
    method, name = resource.method, resource.name

    def fetch(backend: Backend, deadline: float) -> Listing:
        return getattr(backend, method)(deadline)

    if isinstance(resource, JobResource):
        apply, render = functools.partial(_apply_jobs, name), functools.partial(_render_jobs, name)
        return ResourceKind(name, fetch, apply, render)
    render = functools.partial(_render_snapshot, name, resource.render)
    return ResourceKind(name, fetch, functools.partial(_apply_snapshot, name), render)


def _apply_jobs(
    name: str, poller: TargetPoller, listing: Listing, now: float, began: float
) -> None:
    """Count the listing, then save the counts before anything is published."""
    ledger = poller.counted[name].ledger
    evicted = ledger.evicted
    ledger.apply(listing.items, now, listing.as_of, listing.complete, began)
    poller.note_evicted(name, ledger.evicted - evicted)
    poller.save(poller.counted[name], now)


def _render_jobs(name: str, poller: TargetPoller, block: Block) -> Encoded | None:
    """The job series as last saved: re-rendered once the ledger has its baseline and what it
    counted is saved; else the ones published before (a failed save publishes nothing new)."""
    counted = poller.counted[name]
    if counted.ledger.baselined and not counted.pending:
        jobs = Block(counted.labels, poller.exposition.wants_protobuf)
        render_jobs(jobs, counted.ledger.view(), poller.target.per_job_series, counted.lines)
        block.refused += jobs.refused  # counted with the resource's own
        counted.published = jobs.encode()
    return counted.published


def _apply_snapshot(
    name: str, poller: TargetPoller, listing: Listing, now: float, began: float
) -> None:
    poller.snapshots[name] = listing.items


def _render_snapshot(
    name: str, render: Callable[[Block, list], None], poller: TargetPoller, block: Block
) -> None:
    items = poller.snapshots.get(name)
    if items is not None:
        render(block, items)
