"""The ``pools`` resource of ModelArts targets: the project's resource pools (ListPools), the
pool counts of its statistics (ShowPoolStatistics), each pool's nodes (ListPoolNodes, walked
by ``pool_nodes``) and the training jobs waiting for each, as the SDK sends each request; and
how a listing of them is rendered at each poll.

ListPools takes no paging parameter: one answer holds every pool (created or creating, as the
API lists them by default; failed ones are counted by the statistics). The waiting jobs are
those the training-job search lists in the ``Creating`` or ``Pending`` phase (one search,
walked by ``TrainingJobWalker``), counted by their ``spec.resource.pool_id``: only the id,
phase and pool of each are read. The target's ``training_filters`` do not apply to it: a pool
is as full for the jobs of every user. A listing holds the ``Pool`` records, then the
``PoolCount`` records.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any

from exporter.backends.base import Listing
from exporter.backends.kit.fields import listed_items, read_items, text, word
from exporter.backends.kit.resources import SnapshotResource
from exporter.backends.kit.token_list import value_at
from exporter.backends.modelarts_lite.families import (
    POOL_FAMILIES,
    POOL_INFO,
    POOL_JOBS_WAITING,
    POOL_NODES,
    POOL_RESOURCE_ALLOCATED,
    POOL_RESOURCE_CAPACITY,
    POOL_STATUS,
    POOLS_BY_STATUS,
)
from exporter.backends.modelarts_lite.pool_nodes import PoolNodeWalker
from exporter.backends.modelarts_lite.pool_records import (
    Pool,
    PoolCount,
    parse_counts,
    parse_pool,
)
from exporter.backends.modelarts_lite.target import ModelArtsLiteTarget
from exporter.backends.modelarts_lite.training_job_walk import TrainingJobWalker
from exporter.exposition.block import Block
from exporter.http.client import ApiClient
from exporter.model import Job, Phase

log = logging.getLogger(__package__)

RESOURCE = "pools"  # the list's name in a target's ``resources``
POOLS_OPERATION = "ListPools"
STATISTICS_OPERATION = "ShowPoolStatistics"
WAITING_PHASES = ["Creating", "Pending"]  # a training job waits for its pool in these
POOL_PHASES = ("Creating", "Running", "Abnormal", "Deleting", "Error")  # the SDK's: from 0
NODE_PHASES = ("Available", "Creating", "Checking", "Abnormal", "Deleting")  # likewise
POOL_LABEL = "resource_pool"


class PoolLister:
    """The pools of one target, listed whole at each poll."""

    def __init__(self, api: ApiClient, target: ModelArtsLiteTarget) -> None:
        self.api = api
        self.target = target
        self._project = target.project()
        self._nodes = PoolNodeWalker(
            api, self._project, f"target {target.name}", target.max_node_pages
        )
        self._waiting = TrainingJobWalker(
            api,
            target,
            (),
            parse=waiting_job,
            filters={"phase": ("in", WAITING_PHASES)},
            purpose="jobs waiting for pools",
        )

    def list_pools(self, deadline: float) -> Listing:
        """Every pool with its nodes and waiting jobs, then the statistics' counts."""
        payload = self.api.get_json(
            f"/v2/{self._project}/pools", POOLS_OPERATION, deadline=deadline
        )
        items = listed_items(payload, "items", POOLS_OPERATION)
        pools, skipped = read_items(parse_pool, items)
        by_name: dict[str, Pool] = {}
        for pool in pools:
            by_name.setdefault(pool.name, pool)
        skipped += len(pools) - len(by_name)  # a name listed twice is one pool: the first
        complete, unreadable = True, []
        for pool in by_name.values():
            walk = self._nodes.walk(pool.name, deadline)
            pool.add_nodes(list(walk.nodes.values()))
            complete &= walk.complete
            skipped += walk.skipped
            unreadable += walk.unreadable
        if unreadable:
            log.warning(
                "target %s: %s: node resource values unreadable, left out: %s",
                self.target.name,
                "ListPoolNodes",
                ", ".join(unreadable[:20]),
            )
        waiting = self._waiting.walk({}, deadline)
        counts = Counter(dict(job.extra_labels)[POOL_LABEL] for job in waiting.found.values())
        for pool in by_name.values():
            pool.waiting = counts[pool.name]
        statistics = self.api.get_json(
            f"/v2/{self._project}/statistics/pools", STATISTICS_OPERATION, deadline=deadline
        )
        found, bad = parse_counts(statistics)
        return Listing(
            items=[*by_name.values(), *found],
            complete=complete and waiting.complete,
            skipped=skipped + len(unreadable) + waiting.skipped + bad,
        )


def waiting_job(item: Any) -> Job | None:
    """A waiting training job's id, phase and pool (``extra_labels``); None without an id."""
    key = text(value_at(item, "metadata.id"))
    if not key:
        return None
    pool = ((POOL_LABEL, word(value_at(item, "spec.resource.pool_id"))),)
    return Job(key, key, word(value_at(item, "status.phase")), Phase.PENDING, extra_labels=pool)


def render_pools(block: Block, items: Sequence[Pool | PoolCount]) -> None:
    """Per pool: its info, its status one-hot (every documented phase, and its own), its nodes
    by phase (each documented one from 0), each amount its nodes gave and the jobs waiting
    for it (0 included); then the project's pools by the statistics' status."""
    for item in items:
        if isinstance(item, PoolCount):
            block.add(POOLS_BY_STATUS, item.count, (("status", item.category),))
            continue
        key = ((POOL_LABEL, item.name),)
        block.add(POOL_INFO, 1, (*key, *item.info))
        own = () if item.status in POOL_PHASES else (item.status,)
        for status in (*POOL_PHASES, *own):
            block.add(POOL_STATUS, int(status == item.status), (*key, ("status", status)))
        phases = (*NODE_PHASES, *sorted(set(item.nodes) - set(NODE_PHASES)))
        for phase in phases:
            block.add(POOL_NODES, item.nodes.get(phase, 0), (*key, ("status", phase)))
        for family, amounts in (
            (POOL_RESOURCE_CAPACITY, item.capacity),
            (POOL_RESOURCE_ALLOCATED, item.allocated),
        ):
            for kind, amount in sorted(amounts.items()):
                block.add(family, amount, (*key, ("resource_kind", kind)))
        block.add(POOL_JOBS_WAITING, item.waiting, key)


POOLS = SnapshotResource(RESOURCE, render_pools, POOL_FAMILIES)
