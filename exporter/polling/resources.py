"""The kinds of thing a target lists, each a registered record: how it is fetched, what a
listing changes, and what is rendered from it. A new kind (Spark job runs, resource pools) is
a new record here, not another branch in the poller.

``apply`` and ``render`` run under the poller's lock; ``render`` writes into the resource's
block and may return series rendered apart (the job series, published only once saved) to
join to it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from exporter.backends.base import Backend, Listing
from exporter.exposition.block import Block, Encoded
from exporter.exposition.renderers.clusters import render_clusters
from exporter.exposition.renderers.health import render_saves
from exporter.exposition.renderers.jobs import render_jobs

if TYPE_CHECKING:
    from exporter.polling.poller import TargetPoller


@dataclass(frozen=True, slots=True)
class ResourceKind:
    name: str
    fetch: Callable[[Backend, float], Listing]  # (the target's backend, deadline)
    apply: Callable[[TargetPoller, Listing, float, float], None]  # (poller, listing, now, began)
    render: Callable[[TargetPoller, Block], Encoded | None]


def _apply_jobs(poller: TargetPoller, listing: Listing, now: float, began: float) -> None:
    """Count the listing, then save the counts before anything is published."""
    ledger = poller.ledger
    evicted = ledger.evicted
    ledger.apply(listing.items, now, listing.as_of, listing.complete, began)
    poller.note_evicted(ledger.evicted - evicted)
    poller.save(now)


def _render_jobs(poller: TargetPoller, block: Block) -> Encoded | None:
    """The job series as last saved: re-rendered once the ledger has its baseline and what it
    counted is saved; else the ones published before (a failed save publishes nothing new)."""
    saves = poller.saves
    if saves is not None:
        render_saves(block, saves)
    if poller.ledger.baselined and (saves is None or not saves.pending):
        jobs = Block(poller.base)
        render_jobs(jobs, poller.ledger.view(), poller.target.per_job_series, poller.job_lines)
        block.refused += jobs.refused  # counted with the resource's own
        poller.jobs_published = jobs.encode()
    return poller.jobs_published


def _apply_clusters(poller: TargetPoller, listing: Listing, now: float, began: float) -> None:
    poller.snapshots["clusters"] = listing.items


def _render_clusters(poller: TargetPoller, block: Block) -> None:
    clusters = poller.snapshots.get("clusters")
    if clusters is not None:
        render_clusters(block, clusters, poller.declaration.cluster_states)


RESOURCE_KINDS: dict[str, ResourceKind] = {
    kind.name: kind
    for kind in (
        ResourceKind(
            "jobs", lambda backend, deadline: backend.list_jobs(deadline), _apply_jobs, _render_jobs
        ),
        ResourceKind(
            "clusters",
            lambda backend, deadline: backend.list_clusters(deadline),
            _apply_clusters,
            _render_clusters,
        ),
    )
}
