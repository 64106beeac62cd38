"""The Ray cluster behind a dashboard: /api/version, /api/v0/nodes and /api/cluster_status read
into one ``Cluster``."""

from __future__ import annotations

from typing import Any

from exporter.backends.kit.fields import mapping, number, parse_epoch, text
from exporter.errors import PollError
from exporter.model import Cluster, ClusterGroup

CLUSTER_STATES = ("Running",)


def _data(payload: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(payload, dict):
            return None
        payload = payload.get(key)
    return payload


def _amount(value: Any) -> float:
    return number(value) or 0.0


def parse_cluster(name: str, version: Any, nodes_payload: Any, status_payload: Any) -> Cluster:
    """The Ray cluster behind a dashboard: /api/version, /api/v0/nodes, /api/cluster_status."""
    nodes = _data(nodes_payload, "data", "result", "result")
    if not isinstance(nodes, list):
        raise PollError("parse", "/api/v0/nodes: no data.result.result list")
    groups = {role: ClusterGroup(role, role) for role in ("head", "worker")}
    created: float | None = None
    for node in nodes:
        if not isinstance(node, dict):
            continue
        group = groups["head" if node.get("is_head_node") is True else "worker"]
        if node.get("state") != "ALIVE":
            group.nodes_dead += 1
            continue
        group.nodes_alive += 1
        resources = mapping(node.get("resources_total"))
        group.cpu_cores += _amount(resources.get("CPU"))
        group.gpus += _amount(resources.get("GPU"))
        group.memory_bytes += _amount(resources.get("memory"))
        if node.get("is_head_node") is True:
            created = parse_epoch(node.get("start_time_ms"))
    usage = _data(status_payload, "data", "clusterStatus", "loadMetricsReport", "usage")
    usage = mapping(usage)

    def used(resource: str) -> float | None:
        pair = usage.get(resource)
        return _amount(pair[0]) if isinstance(pair, list) and pair else None

    version = mapping(version)
    session = text(version.get("session_name"))
    ray_version = text(version.get("ray_version"))
    return Cluster(
        key=session or name,
        name=name,
        state="Running",
        groups=list(groups.values()),
        cpu_used=used("CPU"),
        gpus_used=used("GPU"),
        memory_used_bytes=used("memory"),
        created_time=created,
        started_time=created,
        info_labels=(("version", ray_version),) if ray_version else (),
    )
