"""A RayCluster object (``raycluster_types.go``): a head group and worker groups in its spec,
and the status the operator writes: ``state`` and when it last entered each state
(``stateTransitionTimes``), worker replicas desired, ready and available, the CPU, memory and
GPU it asks for (Kubernetes quantities), the head's addresses (``head``: the pod's IP and
name, the head service's cluster IP and name, ``<cluster>-head-svc``) and the service's ports
by name (``endpoints``)."""

from __future__ import annotations

from typing import Any

from exporter.simulators.kubernetes.store import rfc3339

WORKER_CPU = 4
WORKER_MEMORY_GI = 16
HEAD_CPU = 2
HEAD_MEMORY_GI = 8
DASHBOARD_PORT = 8265
SERVICE_IP = "10.96.0.10"
POD_IP = "10.0.0.10"


def _group(name: str, replicas: int, gpus: int) -> dict[str, Any]:
    limits = {"cpu": str(WORKER_CPU), "memory": f"{WORKER_MEMORY_GI}Gi"}
    if gpus:
        limits["nvidia.com/gpu"] = str(gpus)
    container = {
        "name": "ray-worker",
        "image": "rayproject/ray:2.49.0",
        "resources": {"limits": limits, "requests": limits},
    }
    return {
        "groupName": name,
        "replicas": replicas,
        "minReplicas": 0,
        "maxReplicas": max(replicas, 1) * 2,
        "rayStartParams": {},
        "template": {"spec": {"containers": [container]}},
    }


def new_ray_cluster(
    name: str,
    namespace: str,
    *,
    workers: dict[str, tuple[int, int]],
    labels: dict[str, str],
    dashboard_port: int = DASHBOARD_PORT,
) -> dict[str, Any]:
    """A RayCluster of ``workers`` ({group: (replicas, GPUs per worker)}), not yet ready, its
    head container's ports named as KubeRay's samples name them."""
    ports = {"gcs-server": 6379, "dashboard": dashboard_port, "client": 10001}
    head = {
        "name": "ray-head",
        "image": "rayproject/ray:2.49.0",
        "ports": [{"name": port, "containerPort": number} for port, number in ports.items()],
        "resources": {"limits": {"cpu": str(HEAD_CPU), "memory": f"{HEAD_MEMORY_GI}Gi"}},
    }
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "rayVersion": "2.49.0",
            "headGroupSpec": {"rayStartParams": {}, "template": {"spec": {"containers": [head]}}},
            "workerGroupSpecs": [_group(group, n, gpus) for group, (n, gpus) in workers.items()],
        },
        "status": {},
    }


def become_ready(
    item: dict[str, Any],
    now: float,
    ready_workers: int | None = None,
    *,
    service_ip: str = SERVICE_IP,
    pod_ip: str = POD_IP,
) -> None:
    """The operator's status once the head is up and ``ready_workers`` (default: all) run."""
    name = item["metadata"]["name"]
    head_ports = item["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["ports"]
    groups = item["spec"]["workerGroupSpecs"]
    desired = sum(group["replicas"] for group in groups)
    ready = desired if ready_workers is None else ready_workers
    before = item.get("status", {})
    times = dict(before.get("stateTransitionTimes", {}))
    if before.get("state") != "ready":  # the operator stamps a state as the cluster enters it
        times["ready"] = rfc3339(now)
    gpus = sum(
        group["replicas"] * int(_limits(group).get("nvidia.com/gpu", "0")) for group in groups
    )
    item["status"] = {
        "state": "ready",
        "desiredWorkerReplicas": desired,
        "readyWorkerReplicas": ready,
        "availableWorkerReplicas": ready,
        "minWorkerReplicas": 0,
        "maxWorkerReplicas": sum(group["maxReplicas"] for group in groups),
        "desiredCPU": str(HEAD_CPU + desired * WORKER_CPU),
        "desiredMemory": f"{HEAD_MEMORY_GI + desired * WORKER_MEMORY_GI}Gi",
        "desiredGPU": str(gpus),
        "desiredTPU": "0",
        "head": {
            "podIP": pod_ip,
            "podName": f"{name}-head-x7k2p",
            "serviceIP": service_ip,
            "serviceName": f"{name}-head-svc",
        },
        "endpoints": {port["name"]: str(port["containerPort"]) for port in head_ports},
        "lastUpdateTime": rfc3339(now),
        "stateTransitionTimes": times,
        "observedGeneration": 1,
        "conditions": [
            {"type": "HeadPodReady", "status": "True", "reason": "HeadPodRunningAndReady"},
            {
                "type": "RayClusterProvisioned",
                "status": "True",
                "reason": "AllPodRunningAndReadyFirstTime",
            },
        ],
    }


def suspend(item: dict[str, Any], now: float) -> None:
    item["spec"]["suspend"] = True
    item["status"].update(state="suspended", readyWorkerReplicas=0, availableWorkerReplicas=0)
    item["status"]["lastUpdateTime"] = rfc3339(now)
    item["status"].setdefault("stateTransitionTimes", {})["suspended"] = rfc3339(now)


def _limits(group: dict[str, Any]) -> dict[str, str]:
    return group["template"]["spec"]["containers"][0]["resources"]["limits"]
