"""Resource pools as ListPools gives them, their nodes as ListPoolNodes gives them, and the
pool counts of ShowPoolStatistics, read into records (the SDK's ``PoolModel``, ``Node`` and
``PoolStatisticsStatisticsStatus``).

A pool is named by ``metadata.name`` (its id: what ListPoolNodes takes as ``pool_name`` and
training jobs give as ``spec.resource.pool_id``); the name users gave it is the label
``os.modelarts/name``. A node's ``status.resources`` is what it holds, ``availableResources``
what jobs leave free of it, each a ``NodeResource`` of Kubernetes quantities: ``cpu`` (cores),
``memory`` (bytes), ``nvidia.com/gpu`` (GPUs) and ``huawei.com/ascend-*`` (NPUs). Only nodes
that take jobs (``Available``) give the pool capacity; what jobs hold of them is allocated.
A value that is no quantity is left out alone, noted in ``unreadable``; the node stays.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from exporter.backends.kit.fields import mapping, parse_quantity, text, whole_number, word
from exporter.backends.kit.token_list import value_at

KINDS = ("cpu", "memory", "gpu", "npu")  # cores, bytes, devices, devices: ``resource_kind``
ACCELERATORS = (("nvidia.com/gpu", "gpu"), ("huawei.com/ascend-", "npu"))  # key prefix -> kind
SCHEDULABLE = "Available"  # the node phase in which a node takes jobs
UNKNOWN_STATUS = "Unknown"
CATEGORIES = ("created", "creating", "failed", "pending", "deleting")  # ShowPoolStatistics
DISPLAY_NAME = "os.modelarts/name"
MAX_FLAVORS = 8  # flavors named in a pool's info: more are damage


@dataclass(slots=True)
class PoolNode:
    """One node: its phase, what it holds and what jobs leave free of it, by kind."""

    name: str
    phase: str
    capacity: dict[str, float] = field(default_factory=dict)
    free: dict[str, float] = field(default_factory=dict)
    unreadable: tuple[str, ...] = ()


@dataclass(slots=True)
class Pool:
    """One pool: its descriptive labels, phase, nodes by phase, what its Available nodes hold
    (``capacity``) and what jobs hold of it (``allocated``) by kind, and the training jobs
    waiting for it (the lister sets the last four)."""

    name: str
    status: str
    info: tuple[tuple[str, str], ...] = ()
    nodes: Counter[str] = field(default_factory=Counter)
    capacity: dict[str, float] = field(default_factory=dict)
    allocated: dict[str, float] = field(default_factory=dict)
    waiting: int = 0

    def add_nodes(self, nodes: list[PoolNode]) -> None:
        """Count ``nodes`` by phase, and sum the capacity and allocation of those that take
        jobs (allocated: held less free, never below 0)."""
        for node in nodes:
            self.nodes[node.phase] += 1
            if node.phase != SCHEDULABLE:
                continue
            for kind, amount in node.capacity.items():
                self.capacity[kind] = self.capacity.get(kind, 0.0) + amount
                held = max(amount - node.free.get(kind, 0.0), 0.0)
                self.allocated[kind] = self.allocated.get(kind, 0.0) + held


@dataclass(frozen=True, slots=True)
class PoolCount:
    """How many pools of the project ShowPoolStatistics counts in one category."""

    category: str
    count: int


def parse_pool(item: Any) -> Pool | None:
    """One element of ListPools' ``items``; None when it is no object or has no name."""
    name = text(value_at(item, "metadata.name"))
    if not name:
        return None
    spec = mapping(value_at(item, "spec"))
    resources = spec.get("resources")
    listed = resources if isinstance(resources, list) else []
    flavors = [text(mapping(r).get("flavor")) for r in listed]
    info = (
        ("display_name", text(mapping(value_at(item, "metadata.labels")).get(DISPLAY_NAME))),
        ("pool_type", word(spec.get("type"))),
        ("scope", _joined(spec.get("scope"))),
        ("flavor", ",".join(sorted(set(filter(None, flavors)))[:MAX_FLAVORS])),
    )
    return Pool(
        name=name,
        status=word(value_at(item, "status.phase")) or UNKNOWN_STATUS,
        info=tuple((label, value) for label, value in info if value),
    )


def parse_node(item: Any) -> PoolNode | None:
    """One element of ListPoolNodes' ``items``; None when it is no object or has no name."""
    name = text(value_at(item, "metadata.name"))
    if not name:
        return None
    capacity, bad = read_resources(value_at(item, "status.resources"))
    free, bad_free = read_resources(value_at(item, "status.availableResources"))
    unreadable = [f"resources.{kind}" for kind in bad]
    unreadable += [f"availableResources.{kind}" for kind in bad_free]
    phase = word(value_at(item, "status.phase")) or UNKNOWN_STATUS
    return PoolNode(name, phase, capacity, free, tuple(unreadable))


def read_resources(value: Any) -> tuple[dict[str, float], list[str]]:
    """The amounts of a ``NodeResource`` by kind, and the kinds of it that are no quantity
    (an absent or empty amount is neither); other keys are not read."""
    amounts: dict[str, float] = {}
    unreadable: list[str] = []
    for key, raw in mapping(value).items():
        kind = resource_kind(key)
        if kind is None or raw is None or raw == "":
            continue
        amount = parse_quantity(raw)
        if amount is None or amount < 0:
            unreadable.append(kind)
        else:
            amounts[kind] = amounts.get(kind, 0.0) + amount
    return amounts, unreadable


def resource_kind(key: Any) -> str | None:
    """The ``resource_kind`` of a ``NodeResource`` key; None for one not shown."""
    if key in ("cpu", "memory"):
        return str(key)
    for prefix, kind in ACCELERATORS:
        if isinstance(key, str) and key.startswith(prefix):
            return kind
    return None


def parse_counts(payload: Any) -> tuple[list[PoolCount], int]:
    """ShowPoolStatistics' ``statistics.status``: a count per documented category, and how
    many values were unusable (a category given as no count; 1 for an answer without the
    object). A category the answer lacks is neither."""
    status = value_at(payload, "statistics.status")
    if not isinstance(status, dict):
        return [], 1
    counts, bad = [], 0
    for category in CATEGORIES:
        if status.get(category) is None:
            continue
        count = whole_number(status[category])
        if count is None or count < 0:
            bad += 1
        else:
            counts.append(PoolCount(category, count))
    return counts, bad


def _joined(value: Any) -> str:
    """A list of words, sorted and comma-joined ("" for anything else)."""
    if not isinstance(value, list):
        return ""
    return ",".join(sorted({word(v) for v in value if word(v)}))
