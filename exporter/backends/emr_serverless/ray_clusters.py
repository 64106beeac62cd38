"""Ray clusters: ListRayCluster, paged until a short page (its answer has no ``totalCount``),
each ``rayClusters`` element read into a ``Cluster``."""

from __future__ import annotations

import logging
import re
from typing import Any

from exporter.backends.base import Listing
from exporter.backends.emr_serverless.api import (
    PAGE_SIZE,
    workspace_path,
)
from exporter.backends.emr_serverless.target import EmrServerlessTarget
from exporter.backends.kit.fields import (
    MAX_MAGNITUDE,
    listed_items,
    mapping,
    number,
    parse_epoch,
    read_item,
    text,
    whole_number,
)
from exporter.http.client import ApiClient
from exporter.model import Cluster, ClusterGroup

log = logging.getLogger(__package__)  # the backend's logger, whichever module logs

CLUSTER_STATES = ("Starting", "Running", "Stopping", "Stopped", "Error")
_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGTP]i?)?[Bb]?\s*$")
_UNITS = {"K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15}
_UNITS.update({f"{unit}i": 1024.0 ** (i + 1) for i, unit in enumerate("KMGTP")})
GIB = 1024.0**3


def parse_memory(value: Any) -> float:
    """Bytes from ``8Gi``, ``512Mi``, ``16G`` or a plain number.

    The API documents memory in Gi, so a plain number below 2^20 is GiB; a larger one is bytes.
    """
    match = _MEMORY.match(text(value))
    amount = number(match.group(1)) if match else None
    if amount is None:
        return 0.0
    unit = match.group(2)
    if unit:
        amount *= _UNITS[unit]
    elif amount < 2**20:
        amount *= GIB
    return amount if amount < MAX_MAGNITUDE else 0.0


def _group(spec: dict[str, Any], role: str, name: str, autoscaling: bool) -> ClusterGroup:
    replicas = max(whole_number(spec.get("replica")) or 0, 0)
    labels = [
        (label, text(spec.get(key)))
        for label, key in (
            ("worker_type", "workerType"),
            ("gpu_spec", "gpuSpec"),
            ("queue", "queueName"),
        )
        if text(spec.get(key))
    ]
    return ClusterGroup(
        role=role,
        group=name,
        nodes_alive=replicas,
        cpu_cores=(number(spec.get("cpu")) or 0.0) * replicas,
        memory_bytes=parse_memory(spec.get("memory")) * replicas,
        min_replicas=whole_number(spec.get("minReplica")) if autoscaling else None,
        max_replicas=whole_number(spec.get("maxReplica")) if autoscaling else None,
        info_labels=tuple(labels),
    )


def parse_cluster(item: Any) -> Cluster | None:
    """One element of ``rayClusters``; None without a clusterId."""
    if not isinstance(item, dict):
        return None
    key = text(item.get("clusterId"))
    if not key:
        return None
    head = mapping(item.get("headSpec"))
    autoscaling = head.get("enableAutoScaling") is True
    groups = [_group(head, "head", "head", False)]
    workers = item.get("workerSpec") if isinstance(item.get("workerSpec"), list) else []
    for index, spec in enumerate(w for w in workers if isinstance(w, dict)):
        name = text(spec.get("groupName")) or f"worker-{index}"
        groups.append(_group(spec, "worker", name, autoscaling))
    info = [
        (label, text(item.get(key)))
        for label, key in (
            ("version", "displayReleaseVersion"),
            ("network_service", "networkServiceName"),
        )
        if text(item.get(key))
    ]
    return Cluster(
        key=key,
        name=text(item.get("name")) or key,
        state=text(item.get("state")) or "Unknown",
        groups=groups,
        created_time=parse_epoch(item.get("createTime")),
        started_time=parse_epoch(item.get("startTime")),
        info_labels=tuple(info),
    )


def list_clusters(api: ApiClient, target: EmrServerlessTarget, deadline: float) -> Listing:
    """Every cluster of ``target``'s workspace, at most ``max_pages`` pages of them."""
    clusters: dict[str, Cluster] = {}
    skipped = 0
    for page in range(1, target.max_pages + 1):
        payload = api.get_json(
            workspace_path(target, "rayCluster"),
            "ListRayCluster",
            deadline=deadline,
            params={"pageNum": page, "pageSize": PAGE_SIZE},
            headers={"x-acs-action": "ListRayCluster"},
        )
        items = listed_items(payload, "rayClusters", "ListRayCluster")
        for item in items:
            cluster = read_item(parse_cluster, item)
            if cluster is None:
                skipped += 1
            else:
                clusters[cluster.key] = cluster
        if len(items) < PAGE_SIZE:
            return Listing(items=list(clusters.values()), skipped=skipped)
    log.warning("target %s: ListRayCluster stopped at the page cap", target.name)
    return Listing(items=list(clusters.values()), complete=False, skipped=skipped)
