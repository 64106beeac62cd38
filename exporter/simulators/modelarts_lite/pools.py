"""Resource pools (``GET /v2/{project_id}/pools``), their statistics
(``GET /v2/{project_id}/statistics/pools``) and their nodes
(``GET /v2/{project_id}/pools/{pool_name}/nodes``), and where training jobs run on them.

``ListPools`` has no paging; ``status`` keeps the pools ``created``, ``creating`` or ``failed``
(none: those created or creating, as the API documents), ``workspaceId`` those of one
workspace, and ``labelSelector`` those whose labels match every term of it (``key=value``,
``key!=value``, ``key``, ``!key``, comma-separated). ``ListPoolNodes`` pages by ``limit``
(1-500, 0 or none: 500) and ``continue``, the token a page's ``metadata.continue`` hands out
(nodes in name order); a token may expire (``expire_tokens``): the API then answers 410 Gone,
as Kubernetes does to an expired ``continue``. Thread-safe.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from typing import Any

from exporter.simulators.modelarts_lite.common import (
    BAD_REQUEST,
    NOT_FOUND,
    ApiError,
    rfc3339,
)
from exporter.simulators.modelarts_lite.flavors import NODE_FLAVORS, Flavor
from exporter.simulators.modelarts_lite.pool import AZS, NODE_PHASES, POOL_PHASES, Node, Pool
from exporter.simulators.modelarts_lite.pool_render import node_item, pool_item

MAX_NODES_PAGE = 500
GONE = "ModelArts.0410"  # no code is documented for it: the simulator's own
LISTED = {None: ("created", "creating"), "created": ("created",), "creating": ("creating",)}


def _matches(labels: dict[str, str], selector: str) -> bool:
    """Whether ``labels`` match every term of a Kubernetes-style equality selector."""
    for term in filter(None, (part.strip() for part in selector.split(","))):
        key, op, value = term.partition("!=") if "!=" in term else term.partition("=")
        key, value = key.strip(), value.strip().removeprefix("=")
        if not key or key == "!":
            raise ApiError(400, BAD_REQUEST, f"labelSelector term {term!r} is malformed")
        if op == "!=" and labels.get(key) == value:
            return False
        if op == "=" and labels.get(key) != value:
            return False
        if not op and (key[1:] in labels if key.startswith("!") else key not in labels):
            return False
    return True


class Pools:
    """The project's pools; ``now`` is the API's clock."""

    def __init__(self, project_id: str, now: Callable[[], float], region: str) -> None:
        self.project_id = project_id
        self.region = region
        self.now = now
        self._lock = threading.Lock()
        self._pools: dict[str, Pool] = {}
        self._serial = 0
        self._expiring = 0  # node pages asked for by token that are refused as expired

    # --- pools and nodes ----------------------------------------------------------------

    def add_pool(
        self,
        display: str,
        *,
        flavor: str = "modelarts.vm.gpu.8v100nv32",
        nodes: int = 2,
        pool_id: str | None = None,
        **settings: Any,
    ) -> str:
        """Add a pool named ``display`` of ``nodes`` Available nodes of ``flavor``, with any
        other ``Pool`` setting given (``phase``, ``workspace_id``, ``unpaid``, ``labels``...);
        its id."""
        with self._lock:
            self._serial += 1
            key = pool_id or f"pool-{self._serial:08x}{'0' * 24}"
            if settings.get("phase", "Running") not in POOL_PHASES:
                raise ValueError(f"no pool phase {settings['phase']!r}")
            self._pools[key] = Pool(key, display, self.now(), **settings)
        self.add_nodes(key, nodes, flavor=flavor)
        return key

    def add_nodes(
        self, pool_id: str, n: int, *, flavor: str | None = None, phase: str = "Available"
    ) -> list[str]:
        """Add ``n`` nodes of ``flavor`` (the pool's first, when None) to a pool; their names."""
        with self._lock:
            pool = self._pools[pool_id]
            kind = NODE_FLAVORS[flavor] if flavor else pool.flavors()[0]
            names = []
            for _ in range(n):
                self._serial += 1
                name = f"{pool.display[:20]}-node-{self._serial:05d}"
                ip = f"192.168.{self._serial // 250 % 250}.{self._serial % 250 + 2}"
                az = AZS[self._serial % len(AZS)]
                pool.nodes[name] = Node(name, kind, ip, self.now(), az=az)
                names.append(name)
        for name in names:
            self.set_node(pool_id, name, phase)
        return names

    def set_node(self, pool_id: str, name: str, phase: str) -> None:
        """Node ``name`` enters ``phase``; a node leaving Available keeps what jobs hold."""
        if phase not in NODE_PHASES:
            raise ValueError(f"no node phase {phase!r}")
        with self._lock:
            self._pools[pool_id].nodes[name].phase = phase

    def remove_node(self, pool_id: str, name: str) -> None:
        with self._lock:
            self._pools[pool_id].nodes.pop(name, None)

    def set_pool(self, pool_id: str, **settings: Any) -> None:
        """Change a pool's ``phase``, ``message``, ``unpaid``, ``labels``..."""
        if settings.get("phase", "Running") not in POOL_PHASES:
            raise ValueError(f"no pool phase {settings['phase']!r}")
        with self._lock:
            pool = self._pools[pool_id]
            for name, value in settings.items():
                setattr(pool, name, value)

    def remove_pool(self, pool_id: str) -> None:
        with self._lock:
            self._pools.pop(pool_id, None)

    def nodes(self, pool_id: str) -> list[dict[str, Any]]:
        """Every node of a pool as ``ListPoolNodes`` gives it now."""
        with self._lock:
            pool = self._pools[pool_id]
            return [node_item(node, pool, self.project_id) for node in pool.nodes.values()]

    # --- where jobs run -----------------------------------------------------------------

    def node_flavor(self, pool_id: str) -> tuple[str, Flavor]:
        """(display name, first node flavor) of a pool; KeyError for an unknown pool."""
        with self._lock:
            pool = self._pools[pool_id]
            return pool.display, pool.flavors()[0]

    def room(self, pool_id: str, cards: int, replicas: int) -> bool:
        """Whether ``replicas`` replicas of ``cards`` slots each fit on the free nodes now."""
        with self._lock:
            free = sorted((n.free() for n in self._pools[pool_id].nodes.values()), reverse=True)
        fitted = 0
        for slots in free:
            fitted += slots // cards
        return fitted >= replicas

    def place(self, job_id: str, pool_id: str, cards: int, replicas: int) -> list[str]:
        """Put a job's replicas on nodes with room (first fit, by name); the host IP of each
        replica placed (fewer than ``replicas`` when the pool is full)."""
        hosts = []
        with self._lock:
            for node in sorted(self._pools[pool_id].nodes.values(), key=lambda n: n.name):
                while len(hosts) < replicas and node.free() >= cards:
                    node.held[job_id] = node.held.get(job_id, 0) + cards
                    hosts.append(node.ip)
        return hosts

    def release(self, job_id: str) -> None:
        """A job holds nothing any more."""
        with self._lock:
            for pool in self._pools.values():
                for node in pool.nodes.values():
                    node.held.pop(job_id, None)

    def expire_tokens(self, n: int) -> None:
        """The next ``n`` node-list requests that carry a ``continue`` token are refused with
        410 Gone, as if the token had expired."""
        with self._lock:
            self._expiring += n

    # --- the answers --------------------------------------------------------------------

    def list_pools(self, query: dict[str, str]) -> dict[str, Any]:
        status = query.get("status")
        if status not in (*LISTED, "failed"):
            raise ApiError(400, BAD_REQUEST, "status must be created, failed or creating")
        wanted = LISTED.get(status, ("failed",))
        with self._lock:
            items = [
                pool_item(pool, self.project_id, self.region)
                for pool in self._pools.values()
                if (pool.category() if pool.category() != "pending" else "creating") in wanted
                and query.get("workspaceId", pool.workspace_id) == pool.workspace_id
            ]
        selector = query.get("labelSelector", "")
        items = [item for item in items if _matches(item["metadata"]["labels"], selector)]
        return {"apiVersion": "v2", "kind": "PoolList", "items": items}

    def statistics(self, query: dict[str, str]) -> dict[str, Any]:
        """Pools by what the statistics count them as, in ``workspaceId`` when given."""
        counts = dict.fromkeys(("creating", "created", "failed", "pending"), 0)
        with self._lock:
            for pool in self._pools.values():
                if query.get("workspaceId", pool.workspace_id) == pool.workspace_id:
                    counts[pool.category()] += 1
        return {"statistics": {"status": counts}, "operationTime": rfc3339(self.now())}

    def list_nodes(self, pool_id: str, query: dict[str, str]) -> dict[str, Any]:
        try:
            limit = int(query.get("limit") or MAX_NODES_PAGE)
        except ValueError:
            raise ApiError(400, BAD_REQUEST, "limit must be an integer") from None
        if not 0 < limit <= MAX_NODES_PAGE:
            raise ApiError(400, BAD_REQUEST, "limit must be from 0 to 500")
        after = _after(query.get("continue", ""))
        with self._lock:
            if after and self._expiring:
                self._expiring -= 1
                raise ApiError(410, GONE, "the continue token has expired")
            pool = self._pools.get(pool_id)
            if pool is None:
                raise ApiError(404, NOT_FOUND, f"pool {pool_id} does not exist")
            rest = sorted((n for n in pool.nodes.values() if n.name > after), key=lambda n: n.name)
            page = [node_item(node, pool, self.project_id) for node in rest[:limit]]
        more = len(rest) > limit
        token = _token(rest[limit - 1].name) if more else ""
        return {
            "apiVersion": "v2",
            "kind": "NodeList",
            "metadata": {"continue": token, "remainingItemCount": len(rest) - len(page)},
            "items": page,
        }


def _token(name: str) -> str:
    return base64.urlsafe_b64encode(f"after:{name}".encode()).decode()


def _after(token: str) -> str:
    """The node name a ``continue`` token starts after ("" for none)."""
    if not token:
        return ""
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
    except ValueError:
        text = ""
    if not text.startswith("after:"):
        raise ApiError(400, BAD_REQUEST, "continue is not a token this API handed out")
    return text.removeprefix("after:")
