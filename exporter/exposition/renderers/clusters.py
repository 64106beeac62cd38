"""Cluster metrics of one target, from its last cluster listing."""

from __future__ import annotations

from collections.abc import Sequence

from exporter.exposition import families
from exporter.exposition.block import Block
from exporter.model import Cluster


def _per_cluster(block: Block, cluster: Cluster, states: Sequence[str]) -> None:
    key = (("cluster_id", cluster.key),)
    block.add(
        families.CLUSTER_INFO, 1, (*key, ("cluster_name", cluster.name), *cluster.info_labels)
    )
    for state in (*states, *(() if cluster.state in states else (cluster.state,))):
        block.add(families.CLUSTER_STATE, int(state == cluster.state), (*key, ("state", state)))
    for group in cluster.groups:
        role = (*key, ("role", group.role), ("group", group.group or group.role))
        block.add(families.CLUSTER_NODES, group.nodes_alive, (*role, ("state", "alive")))
        block.add(families.CLUSTER_NODES, group.nodes_dead, (*role, ("state", "dead")))
        block.add(families.CLUSTER_CPU_CORES, group.cpu_cores, role)
        block.add(families.CLUSTER_MEMORY_BYTES, group.memory_bytes, role)
        block.add(families.CLUSTER_GPUS, group.gpus, role)
        if group.info_labels:
            block.add(families.CLUSTER_GROUP_INFO, 1, (*role, *group.info_labels))
        if group.min_replicas is not None:
            block.add(families.CLUSTER_GROUP_REPLICAS_MIN, group.min_replicas, role)
        if group.max_replicas is not None:
            block.add(families.CLUSTER_GROUP_REPLICAS_MAX, group.max_replicas, role)
    for family, value in (
        (families.CLUSTER_CPU_CORES_USED, cluster.cpu_used),
        (families.CLUSTER_MEMORY_USED_BYTES, cluster.memory_used_bytes),
        (families.CLUSTER_GPUS_USED, cluster.gpus_used),
        (families.CLUSTER_CREATED_TIMESTAMP_SECONDS, cluster.created_time),
        (families.CLUSTER_STARTED_TIMESTAMP_SECONDS, cluster.started_time),
        (families.CLUSTER_IDLE_SINCE_TIMESTAMP_SECONDS, cluster.idle_since),
    ):
        if value is not None:
            block.add(family, value, key)


def render_clusters(block: Block, clusters: Sequence[Cluster], states: Sequence[str]) -> None:
    """Counts per state (every known state, 0 included) and per-cluster series."""
    counts = dict.fromkeys(states, 0)
    for cluster in clusters:
        counts[cluster.state] = counts.get(cluster.state, 0) + 1
        _per_cluster(block, cluster, states)
    for state, count in counts.items():
        block.add(families.CLUSTERS, count, (("state", state),))
