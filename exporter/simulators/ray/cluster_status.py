"""The ``/api/cluster_status`` report of the alive nodes: resources in use per cluster and per
node (in the dashboard's camel case), the autoscaler's report and its status text."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from exporter.simulators.ray.common import GIB


def cluster_status(
    alive: list[dict[str, Any]], used: dict[str, float], pending: int, now: float
) -> dict[str, Any]:
    """The report of the ``alive`` nodes with resources ``used`` and ``pending`` jobs, at
    ``now``."""
    totals = _sum_resources(n["resources_total"] for n in alive)
    usage = _usage_report(totals, used, totals)
    by_node = {n["node_id"]: _usage_report(n["resources_total"], used, totals) for n in alive}
    load = {
        "usage": usage,
        "resourceDemand": [[{"CPU": 1.0}, pending]] if pending else [],
        "pgDemand": [],
        "requestDemand": [],
        "nodeTypes": [[n["resources_total"], 1] for n in alive],
        "headIp": None,
        "usageByNode": by_node,
        "nodeTypeMapping": None,
        "idleTimeMap": None,
    }
    status = {
        "gcsRequestTime": 0.003,
        "time": now,
        "monitorPid": 7257,
        "autoscalerUpdateTime": 0.004,
        "autoscalerReport": _autoscaler_report(alive),
        "nonTerminatedNodesTime": 1e-05,
        "loadMetricsReport": load,
    }
    data = {
        "autoscalingStatus": _autoscaling_status(len(alive), usage),
        "autoscalingError": None,
        "clusterStatus": status,
    }
    return {"result": True, "msg": "Got cluster status.", "data": data}


def _camel(key: str) -> str:
    """The dashboard's snake -> camel case: object_store_memory -> objectStoreMemory."""
    first, *rest = key.split("_")
    return first + "".join(part.title() for part in rest)


def _sum_resources(resources: Iterable[dict[str, float]]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for node in resources:
        for name, amount in node.items():
            totals[name] = totals.get(name, 0.0) + amount
    return totals


def _usage_report(
    resources: dict[str, float], used: dict[str, float], totals: dict[str, float]
) -> dict[str, list[float]]:
    """``{camelName: [used, total]}``; a node's share of use is proportional to its size."""
    report = {}
    for name, amount in resources.items():
        in_use = min(used.get(_camel(name), 0.0), totals[name])
        report[_camel(name)] = [in_use * amount / totals[name] if totals[name] else 0.0, amount]
    return report


def _autoscaler_report(alive: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "activeNodes": {_camel(f"node_{n['node_id']}"): 1 for n in alive},
        "idleNodes": None,
        "pendingNodes": [],
        "pendingLaunches": {},
        "failedNodes": [],
        "nodeAvailabilitySummary": {"nodeAvailabilities": {}},
        "nodeActivities": None,
        "pendingResources": {},
        "nodeTypeMapping": {n["node_id"]: f"node_{n['node_id']}" for n in alive},
        "legacy": True,
    }


def _autoscaling_status(nodes: int, usage: dict[str, list[float]]) -> str:
    cpu = usage.get("CPU", [0.0, 0.0])
    memory = [amount / GIB for amount in usage.get("memory", [0.0, 0.0])]
    return (
        f"Cluster status: {nodes} nodes\n"
        f" - ResourceUsage: {cpu[0]:.1f}/{cpu[1]:.1f} CPU, "
        f"{memory[0]:.2f} GiB/{memory[1]:.2f} GiB memory\n"
        "Worker node types:"
    )
