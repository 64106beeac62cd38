"""The cluster's nodes and the resources in use: ``set_nodes``, ``set_usage``, the hooks the demo
workload adds and ends workers by, and the node list (``/api/v0/nodes``) and cluster status
(``/api/cluster_status``) they are served as."""

from __future__ import annotations

import copy
import random
import threading
from collections.abc import Callable
from typing import Any

from exporter.simulators.ray.cluster_status import cluster_status
from exporter.simulators.ray.common import GIB, Flavour, ms

MAX_DEAD_NODES = 10


class NodesMixin:
    """The nodes of ``RaySimulator``: it supplies the lock, the clock, the seeded draws and the
    jobs (the pending ones are the cluster's demand)."""

    _lock: threading.Lock
    _rng: random.Random
    clock: Callable[[], float]
    flavour: Flavour
    _nodes: list[dict[str, Any]]
    _node_shape: dict[str, float]
    _hosts: int
    _usage: dict[str, float]
    _jobs: dict[str, dict[str, Any]]

    # --- cluster --------------------------------------------------------------------------

    def set_nodes(
        self,
        alive_head: int = 1,
        alive_workers: int = 0,
        dead_workers: int = 0,
        cpus_per_node: float = 4,
        gpus_per_node: float = 0,
        memory_per_node: float = 16 * GIB,
    ) -> None:
        """Replace the node list with fresh nodes; the DEAD workers ended a minute ago."""
        with self._lock:
            self._node_shape = {
                "CPU": float(cpus_per_node),
                "GPU": float(gpus_per_node),
                "memory": float(memory_per_node),
            }
            now = self.clock()
            nodes = [self._new_node(True, now - 3600) for _ in range(alive_head)]
            nodes += [self._new_node(False, now - 3000) for _ in range(alive_workers)]
            dead = [self._new_node(False, now - 3000) for _ in range(dead_workers)]
            for node in dead:
                _end_node(node, now - 60, crashed=False)
            self._nodes = nodes + dead

    def set_usage(
        self, cpu_used: float, gpu_used: float, memory_used: float, object_store_used: float = 0.0
    ) -> None:
        """Resources in use, as /api/cluster_status reports them (capped at the totals)."""
        with self._lock:
            self._usage = {
                "CPU": float(cpu_used),
                "GPU": float(gpu_used),
                "memory": float(memory_used),
                "objectStoreMemory": float(object_store_used),
            }

    def _new_node_id(self) -> str:
        if self.flavour == "openyuanrong":
            return f"node{self._hosts}-{self._rng.randint(100000, 999999)}"
        return f"{self._rng.getrandbits(224):056x}"

    def _new_node(self, is_head: bool, started: float) -> dict[str, Any]:
        ip = f"192.0.2.{2 + self._hosts % 250}"
        self._hosts += 1
        node_id = self._new_node_id()
        shape = self._node_shape
        resources = {
            "CPU": shape["CPU"],
            "memory": shape["memory"],
            "object_store_memory": float(int(shape["memory"] * 0.3)),
            f"node:{ip}": 1.0,
        }
        if shape["GPU"]:
            resources["GPU"] = shape["GPU"]
        if is_head:
            resources["node:__internal_head__"] = 1.0
        return {
            "node_id": node_id,
            "node_ip": ip,
            "is_head_node": is_head,
            "state": "ALIVE",
            "state_message": None,
            "node_name": ip,
            "resources_total": resources,
            "labels": {"ray.io/node-id": node_id},
            "start_time_ms": ms(started),
            "end_time_ms": 0,
        }

    # --- workload hooks (called by RayWorkload) ------------------------------------------

    def _alive_workers(self) -> int:
        with self._lock:
            return sum(1 for n in self._nodes if n["state"] == "ALIVE" and not n["is_head_node"])

    def _add_worker(self, now: float) -> None:
        with self._lock:
            self._nodes.append(self._new_node(False, now))

    def _end_worker(self, now: float, crashed: bool) -> None:
        """The oldest alive worker dies; only the newest MAX_DEAD_NODES dead ones are kept."""
        with self._lock:
            alive = [n for n in self._nodes if n["state"] == "ALIVE" and not n["is_head_node"]]
            if alive:
                _end_node(alive[0], now, crashed)
            dead = [n for n in self._nodes if n["state"] == "DEAD"]
            for node in dead[: max(0, len(dead) - MAX_DEAD_NODES)]:
                self._nodes.remove(node)

    # --- endpoints ------------------------------------------------------------------------

    def _nodes_payload(self, limit: int) -> dict[str, Any]:
        with self._lock:
            nodes = copy.deepcopy(self._nodes)
        shown = nodes[:limit]
        result = {
            "total": len(nodes),
            "num_after_truncation": len(shown),
            "num_filtered": len(shown),
            "result": shown,
            "partial_failure_warning": "",
            "warnings": None,
        }
        return {"result": True, "msg": "", "data": {"result": result}}

    def _cluster_status(self) -> dict[str, Any]:
        with self._lock:
            alive = copy.deepcopy([n for n in self._nodes if n["state"] == "ALIVE"])
            used = dict(self._usage)
            pending = sum(1 for j in self._jobs.values() if j["status"] == "PENDING")
        return cluster_status(alive, used, pending, self.clock())


def _end_node(node: dict[str, Any], at: float, crashed: bool) -> None:
    node["state"] = "DEAD"
    node["end_time_ms"] = ms(at)
    node["state_message"] = (
        "Unexpected termination: health check failed due to missing too many heartbeats"
        if crashed
        else "Expected termination: received SIGTERM"
    )
