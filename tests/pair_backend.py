"""A backend with two lists of jobs and a snapshot, declared by tests on the flows API
(tests/flows_backend.py): ``flowpair``, whose targets poll its ``jobs`` (flows at /v1/flows),
its ``batches`` (another list of flows, at /v1/batches, with a status table and attribution
fields of their own) and its ``pools`` (a snapshot at /v1/pools, shown as gauges)."""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

from exporter.backends import Listing, registry
from exporter.backends.kit.fields import text
from exporter.backends.kit.resources import JobResource, SnapshotResource
from exporter.exposition.block import Block
from exporter.exposition.families import TARGET
from exporter.exposition.family import Family
from exporter.model import Phase
from exporter.polling.health import ApiStats

from .flows_backend import (
    FLOW_MAP,
    FLOW_PAIRS,
    FlowBackend,
    FlowList,
    FlowServer,
    FlowTarget,
    flow_list,
)

BATCH_MAP = dataclasses.replace(FLOW_MAP, attribution={"meta.name": text})
HELD = (Phase.PENDING, "Held")  # a status only batches may have: each list has its own table
POOLS = Family(
    "jobfleet_flowpair_pools",
    "gauge",
    "Pools by state.",
    (*TARGET, "state"),
    backends=("flowpair",),
)


Resources = Literal["jobs", "batches", "pools"]


class PairTarget(FlowTarget):
    backend: Literal["flowpair"]  # type: ignore[assignment]
    resources: tuple[Resources, ...] = ("jobs", "batches", "pools")  # type: ignore[assignment]

    def identity(self) -> dict[str, object]:
        """One API per test: the state saved of another one (tests/data/state) is this one's."""
        return {}


class PairBackend(FlowBackend):
    def __init__(self, target: PairTarget, stats: ApiStats) -> None:
        super().__init__(target, stats)
        parse = BATCH_MAP.parser(tuple(target.attribution.labels.values()))
        self.batches = flow_list(self.api, target.name, "/v1/batches", "ListBatches", parse)
        self.resumed: dict[str, set[str]] = {}

    def list_batches(self, deadline: float) -> Listing:
        return self.batches.listing(deadline)

    def list_pools(self, deadline: float) -> Listing:
        return Listing(self.api.get_json("/v1/pools", "ListPools", deadline=deadline)["pools"])

    def resume(self, unfinished: Iterable[str], resource: str) -> None:
        self.resumed[resource] = set(unfinished)


def render_pools(block: Block, pools: Sequence[Any]) -> None:
    for state, count in sorted(Counter(pool["state"] for pool in pools).items()):
        block.add(POOLS, count, (("state", state),))


class PairServer(FlowServer):
    """The flows API with its batches at /v1/batches (a list of flows of their own, with a job
    contract of their own: ``job_resource("batches")``) and its pools at /v1/pools."""

    def __init__(self, clock: Callable[[], float] = time.time, **_: object) -> None:
        super().__init__(clock)
        self.batches = FlowList(clock)
        self.pools = [{"name": "p1", "state": "ready"}, {"name": "p2", "state": "ready"}]
        self.routes["/v1/batches"] = lambda query: self.batches.page(query, self.jitter)
        self.routes["/v1/pools"] = lambda query: (200, {"pools": self.pools})

    def job_resource(self, resource: str) -> FlowList:
        return self.batches if resource == "batches" else super().job_resource(resource)

    def target_config(self, name: str, **settings: Any) -> dict[str, Any]:
        return {**super().target_config(name, **settings), "backend": "flowpair"}


PAIR = registry.BackendDeclaration(
    target=PairTarget,
    client=PairBackend,
    known_pairs=FLOW_PAIRS,
    simulator=lambda name, secret=None, **settings: PairServer(**settings),
    resources=(
        JobResource("batches", (*FLOW_PAIRS, HELD), attribution_fields=BATCH_MAP.source_fields),
        SnapshotResource("pools", render_pools, (POOLS,)),
    ),
)
