"""Cluster metrics of one target, from its last cluster listing."""

from __future__ import annotations

from collections.abc import Sequence

from exporter.exposition.store import Block
from exporter.model import Cluster


def _per_cluster(block: Block, cluster: Cluster, states: Sequence[str]) -> None:
    key = (("cluster_id", cluster.key),)
    block.add(
        "jobfleet_cluster_info", 1, (*key, ("cluster_name", cluster.name), *cluster.info_labels)
    )
    for state in (*states, *(() if cluster.state in states else (cluster.state,))):
        block.add("jobfleet_cluster_state", int(state == cluster.state), (*key, ("state", state)))
    for group in cluster.groups:
        role = (*key, ("role", group.role), ("group", group.group or group.role))
        block.add("jobfleet_cluster_nodes", group.nodes_alive, (*role, ("state", "alive")))
        block.add("jobfleet_cluster_nodes", group.nodes_dead, (*role, ("state", "dead")))
        block.add("jobfleet_cluster_cpu_cores", group.cpu_cores, role)
        block.add("jobfleet_cluster_memory_bytes", group.memory_bytes, role)
        block.add("jobfleet_cluster_gpus", group.gpus, role)
        if group.info_labels:
            block.add("jobfleet_cluster_group_info", 1, (*role, *group.info_labels))
        if group.min_replicas is not None:
            block.add("jobfleet_cluster_group_replicas_min", group.min_replicas, role)
        if group.max_replicas is not None:
            block.add("jobfleet_cluster_group_replicas_max", group.max_replicas, role)
    for family, value in (
        ("jobfleet_cluster_cpu_cores_used", cluster.cpu_used),
        ("jobfleet_cluster_memory_used_bytes", cluster.memory_used_bytes),
        ("jobfleet_cluster_gpus_used", cluster.gpus_used),
        ("jobfleet_cluster_created_timestamp_seconds", cluster.created_time),
        ("jobfleet_cluster_started_timestamp_seconds", cluster.started_time),
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
        block.add("jobfleet_clusters", count, (("state", state),))
