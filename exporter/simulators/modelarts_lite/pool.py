"""A resource pool and its nodes, as the simulator keeps them.

A node's capacity is its flavor's; what training jobs hold of it is kept per job, in slots
(``flavors``). A node's phase is one of the SDK's: ``Available``, ``Creating``, ``Checking``,
``Abnormal``, ``Deleting``; only an ``Available`` node takes jobs. A pool's phase is
``Creating``, ``Running``, ``Abnormal``, ``Deleting`` or ``Error``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from exporter.simulators.modelarts_lite.flavors import Flavor

NODE_PHASES = ("Available", "Creating", "Checking", "Abnormal", "Deleting")
POOL_PHASES = ("Creating", "Running", "Abnormal", "Deleting", "Error")
AZS = ("cn-north-4a", "cn-north-4b")


@dataclass
class Node:
    name: str
    flavor: Flavor
    ip: str
    created: float  # epoch seconds
    az: str = AZS[0]
    phase: str = "Available"
    held: dict[str, int] = field(default_factory=dict)  # job id -> slots it holds here

    def free(self) -> int:
        """Slots a new replica may take here now."""
        if self.phase != "Available":
            return 0
        return self.flavor.slots - sum(self.held.values())


@dataclass
class Pool:
    """A pool: ``name`` is its id (``metadata.name``), ``display`` the name users gave it."""

    name: str
    display: str
    created: float  # epoch seconds
    workspace_id: str = "0"
    pool_type: str = "Dedicate"
    scope: tuple[str, ...] = ("Train", "Infer", "Notebook")
    phase: str = "Running"
    message: str = ""
    unpaid: bool = False  # a yearly/monthly pool not paid yet: "pending" in the statistics
    labels: dict[str, str] = field(default_factory=dict)  # besides the API's own
    nodes: dict[str, Node] = field(default_factory=dict)

    def flavors(self) -> list[Flavor]:
        """The node flavors of the pool, in the order first added."""
        found: dict[str, Flavor] = {}
        for node in self.nodes.values():
            found.setdefault(node.flavor.id, node.flavor)
        return list(found.values())

    def category(self) -> str:
        """What the statistics count the pool as: creating, created, failed or pending."""
        if self.unpaid:
            return "pending"
        return {"Creating": "creating", "Error": "failed"}.get(self.phase, "created")
