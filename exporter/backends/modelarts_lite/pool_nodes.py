"""The nodes of one resource pool: ``GET /v2/{project_id}/pools/{pool_name}/nodes``, paged as
Kubernetes lists are (``limit``, and ``continue``: the token a page's ``metadata.continue``
hands out; none or empty on the last page), as the SDK sends it (``continue`` before
``limit``).

A walk reads at most ``max_pages`` pages (then it is incomplete: the nodes read so far are
kept). A token the API no longer knows (410 Gone, as Kubernetes refuses an expired
``continue``) begins the walk again from the first page, once; a second refusal, or a token
handed out twice (a server in a loop), leaves it incomplete.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from urllib.parse import quote

from exporter.backends.kit.fields import listed_items, read_items, text
from exporter.backends.kit.token_list import value_at
from exporter.backends.kit.token_walk import expired
from exporter.backends.modelarts_lite.pool_records import PoolNode, parse_node
from exporter.errors import PollError
from exporter.http.client import ApiClient

log = logging.getLogger(__package__)

OPERATION = "ListPoolNodes"
PAGE_SIZE = 500  # the most a page holds (the API's default too)
RESTARTS = 1  # walks begun again after the API refused a page token


@dataclass(slots=True)
class NodeWalk:
    """The nodes a walk of one pool found, how many items it skipped, whether it is whole."""

    nodes: dict[str, PoolNode] = field(default_factory=dict)
    skipped: int = 0
    complete: bool = True
    unreadable: list[str] = field(default_factory=list)  # "node: resources.cpu"


class _Refused(Exception):
    """The API refused a page token: the walk begins again."""


class PoolNodeWalker:
    """Walks the nodes of the pools of one project."""

    def __init__(self, api: ApiClient, project: str, name: str, max_pages: int) -> None:
        self.api = api
        self.project = project
        self.name = name  # who walks, for log lines: "target t"
        self.max_pages = max_pages

    def walk(self, pool: str, deadline: float) -> NodeWalk:
        """Every node of pool ``pool`` (its ``metadata.name``), as far as the bounds allow."""
        for attempt in range(RESTARTS + 1):
            walk = NodeWalk()
            try:
                self._pages(pool, walk, deadline)
                return walk
            except _Refused:
                log.info(
                    "%s: %s %s: page token refused (attempt %d)",
                    self.name,
                    OPERATION,
                    pool,
                    attempt + 1,
                )
        log.warning("%s: %s %s: page tokens kept expiring; incomplete", self.name, OPERATION, pool)
        walk.complete = False
        return walk

    def _pages(self, pool: str, walk: NodeWalk, deadline: float) -> None:
        path = f"/v2/{self.project}/pools/{quote(pool, safe='')}/nodes"
        token, seen = "", set()
        for _ in range(self.max_pages):
            params = {"continue": token, "limit": PAGE_SIZE} if token else {"limit": PAGE_SIZE}
            try:
                payload = self.api.get_json(path, OPERATION, deadline=deadline, params=params)
            except PollError as err:
                if expired(err, token or None):
                    raise _Refused from err
                raise
            items = listed_items(payload, "items", OPERATION)
            nodes, skipped = read_items(parse_node, items)
            walk.skipped += skipped
            for node in nodes:
                walk.nodes.setdefault(node.name, node)
                walk.unreadable += [f"{node.name}: {value}" for value in node.unreadable]
            token = text(value_at(payload, "metadata.continue"))
            if not token:
                return
            if token in seen:
                log.warning("%s: %s %s: a page token came twice", self.name, OPERATION, pool)
                walk.complete = False
                return
            seen.add(token)
        log.warning(
            "%s: %s %s stopped at the page cap (%d pages)",
            self.name,
            OPERATION,
            pool,
            self.max_pages,
        )
        walk.complete = False
