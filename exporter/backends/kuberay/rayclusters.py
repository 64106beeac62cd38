"""RayClusters (``ray.io/v1``): an element of a RayCluster list, read into a ``Cluster``.

The operator's ``status.state`` (``ready``, ``suspended``; ``failed`` in older versions;
empty until the head is up, shown as ``pending``) is the cluster's state. Each group (the
head, each of ``spec.workerGroupSpecs``) has its ``replicas``, ``minReplicas`` and
``maxReplicas``; each alive node its containers' resource limits (requests where no limit is
given) as its CPU, memory and GPUs (any ``*/gpu`` resource). The status gives ready workers
for the whole cluster only (``readyWorkerReplicas``): they are shown alive group by group in
spec order, the rest of each group's replicas dead (exact when every worker or none is ready).
``status.stateTransitionTimes.ready`` (written by operators since kuberay#2053) is when it
last became ready: where its idle time (``idle``) begins when no RayJob has run on it since.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from exporter.backends.kit.fields import mapping, parse_quantity, parse_time, text, whole_number
from exporter.backends.kit.token_list import value_at
from exporter.model import Cluster, ClusterGroup

CLUSTER_STATES = ("pending", "ready", "suspended", "failed")


def _resources(template: Any) -> tuple[float, float, float]:
    """CPU cores, memory bytes and GPUs of one pod of a group's ``template``."""
    cpu = memory = gpus = 0.0
    containers = mapping(mapping(template).get("spec")).get("containers")
    for container in containers if isinstance(containers, list) else []:
        resources = mapping(mapping(container).get("resources"))
        amounts = {**mapping(resources.get("requests")), **mapping(resources.get("limits"))}
        for name, amount in amounts.items():
            value = parse_quantity(amount) or 0.0
            if value < 0:
                continue
            if name == "cpu":
                cpu += value
            elif name == "memory":
                memory += value
            elif isinstance(name, str) and name.endswith("/gpu"):
                gpus += value
    return cpu, memory, gpus


def _group(spec: dict[str, Any], role: str, name: str, ready: int) -> ClusterGroup:
    replicas = 1 if role == "head" else max(whole_number(spec.get("replicas")) or 0, 0)
    cpu, memory, gpus = _resources(spec.get("template"))
    alive = min(replicas, max(ready, 0))
    autoscales = role == "worker"
    return ClusterGroup(
        role=role,
        group=name,
        nodes_alive=alive,
        nodes_dead=replicas - alive,
        cpu_cores=cpu * alive,
        memory_bytes=memory * alive,
        gpus=gpus * alive,
        min_replicas=whole_number(spec.get("minReplicas")) if autoscales else None,
        max_replicas=whole_number(spec.get("maxReplicas")) if autoscales else None,
    )


def parse_cluster(item: Any) -> Cluster | None:
    """One RayCluster; None without a ``metadata.uid``."""
    meta, spec, status = (
        mapping(mapping(item).get(part)) for part in ("metadata", "spec", "status")
    )
    key = text(meta.get("uid"))
    if not key:
        return None
    state = text(status.get("state")) or "pending"
    head_ready = 1 if state == "ready" else 0
    groups = [_group(mapping(spec.get("headGroupSpec")), "head", "head", head_ready)]
    ready = whole_number(status.get("readyWorkerReplicas")) or 0
    workers = spec.get("workerGroupSpecs")
    for index, group in enumerate(
        g for g in (workers if isinstance(workers, list) else []) if isinstance(g, dict)
    ):
        made = _group(group, "worker", text(group.get("groupName")) or f"worker-{index}", ready)
        ready -= made.nodes_alive
        groups.append(made)
    info = [("namespace", text(meta.get("namespace")))] if text(meta.get("namespace")) else []
    if text(spec.get("rayVersion")):
        info.append(("version", text(spec.get("rayVersion"))))
    return Cluster(
        key=key,
        name=text(meta.get("name")) or key,
        state=state,
        groups=groups,
        created_time=parse_time(meta.get("creationTimestamp")),
        info_labels=tuple(info),
    )


@dataclass(slots=True)
class ListedCluster:
    """A RayCluster as listed: its ``Cluster``, the (namespace, name) a RayJob's
    ``status.rayClusterName`` names it by, and when it last became ready (None where the
    operator does not say)."""

    cluster: Cluster
    where: tuple[str, str]
    ready_since: float | None

    @property
    def key(self) -> str:
        """Its identity, by which a list walk keeps it."""
        return self.cluster.key


def read_cluster(item: Any) -> ListedCluster | None:
    """One RayCluster as listed; None without a ``metadata.uid``."""
    cluster = parse_cluster(item)
    if cluster is None:
        return None
    meta = mapping(mapping(item).get("metadata"))
    where = (text(meta.get("namespace")), text(meta.get("name")))
    ready = parse_time(value_at(item, "status.stateTransitionTimes.ready"))
    return ListedCluster(cluster, where, ready)
