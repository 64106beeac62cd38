"""ListRayCluster: the Ray clusters of the workspace by id, page-numbered, with every field of
the SDK's ``ListRayClusterResponseBodyRayClusters``."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from random import Random
from typing import Any

from exporter.simulators.emr_serverless.common import page_number_paging, request_id

CREATOR_UID = "202077646755123991"
ACCOUNT_ID = "1234567890"


class RayClustersMixin:
    """The Ray clusters of ``EmrServerlessSimulator``: it supplies the lock, clock and draws."""

    _lock: threading.Lock
    _rng: Random
    now: Callable[[], float]

    def _init_ray_clusters(self) -> None:
        self._clusters: dict[str, dict[str, Any]] = {}

    def add_cluster(
        self,
        cluster_id: str | None = None,
        *,
        name: str = "ray-cluster",
        state: str = "Running",
        worker_groups: int = 1,
        autoscaling: bool = True,
    ) -> str:
        with self._lock:
            key = cluster_id or f"ray-{self._rng.getrandbits(48):012x}"
            created = int(self.now() * 1000) - 86_400_000
            self._clusters[key] = {
                "clusterId": key,
                "name": name,
                "displayReleaseVersion": "ray-1.0.0 (Ray 2.47.1, Python 3.12)",
                "description": "simulated",
                "networkServiceName": "vpc",
                "headSpec": {
                    "queueName": "root_queue",
                    "cpu": "2",
                    "memory": "8Gi",
                    "enableAutoScaling": autoscaling,
                    "idleTimeoutSeconds": 60,
                    "replica": 1,
                    "gpuSpec": "",
                },
                "workerSpec": [_worker_group(i) for i in range(worker_groups)],
                "state": state,
                "createTime": created,
                "modifiedTime": created,
                "startTime": created + 60_000,
                "creator": CREATOR_UID,
                "creatorName": "Alice",
                "modifier": CREATOR_UID,
                "modifierName": "Alice",
                "userId": ACCOUNT_ID,
                "instanceId": f"{key}-{uuid.uuid4().hex[:7]}",
                "dashboardUrl": f"https://emr-spark-ray-gateway.aliyuncs.com?token={uuid.uuid4().hex}",
                "grpcEndpoint": "ray://emr-spark-ray-gateway-internal.emr.aliyuncs.com:80",
                "modified": False,
                "message": "ok",
            }
            return key

    def set_cluster(
        self, key: str, *, state: str | None = None, replicas: int | None = None
    ) -> None:
        with self._lock:
            cluster = self._clusters[key]
            if state is not None:
                cluster["state"] = state
            if replicas is not None:
                for spec in cluster["workerSpec"]:
                    spec["replica"] = replicas

    def list_clusters(self, query: dict[str, str]) -> dict[str, Any]:
        """The ListRayCluster answer to ``query``: no ``totalCount``, as the API has none."""
        page_num, page_size = page_number_paging(query)
        with self._lock:
            clusters = sorted(self._clusters.values(), key=lambda c: c["clusterId"])
            page = json.loads(
                json.dumps(clusters[(page_num - 1) * page_size : page_num * page_size])
            )
        return {"requestId": request_id(), "rayClusters": page}


def _worker_group(i: int) -> dict[str, Any]:
    """Worker group ``i``: the first of CPU nodes, the others of GPU nodes."""
    return {
        "groupName": f"Group{i + 1}",
        "workerType": "GPU" if i else "CPU",
        "replica": 2,
        "queueName": "root_queue",
        "cpu": "4",
        "memory": "16Gi",
        "minReplica": 1,
        "maxReplica": 10,
        "gpuSpec": "ecs.gn6i-c4g1.xlarge" if i else "",
    }
