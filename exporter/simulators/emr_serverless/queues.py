"""ListWorkspaceQueues: the resource queues of the workspace, with every field of the SDK's
``ListWorkspaceQueuesResponseBodyQueues``.

``maxResource``, ``minResource`` and ``usedResource`` are JSON strings, such as
``{"cpu":"16","memory":"64Gi"}`` (Kubernetes quantities; GPU queues add ``"gpu"``). What a
queue uses is what the Spark runs holding resources in it hold, plus what it is set to use
besides (``set_use``: sessions, Ray clusters). The request has no paging parameter (only
``regionId`` and ``environment``), so one answer holds every queue that matches. Tests break
an answer on purpose, as a faulty or hostile API would: a queue's fields (``answer_fields``),
or the fields around the queues (``answer_envelope``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from exporter.simulators.emr_serverless.common import request_id

MAX_RESULTS = 100
CREATOR_UID = "1509789347011222"
ACTIONS = (
    ("edit", "Edit the queue"),
    ("view", "View the queue"),
)


@dataclass
class Queue:
    """A queue's settings; memory in MB."""

    name: str
    max_cpu: int
    max_memory_mb: int
    min_cpu: int = 0
    min_memory_mb: int = 0
    gpus: int = 0  # the most GPUs it may use (a GPU queue has some)
    status: str = "RUNNING"
    queue_type: str = "instance"
    environments: tuple[str, ...] = ("dev", "production")
    payment_type: str = "PayAsYouGo"
    gpu_spec: tuple[str, ...] = ()
    gpu_machines: int = 0
    created_ms: int = 0
    other_cpu: int = 0  # used besides the Spark runs
    other_memory_mb: int = 0
    answered: dict[str, Any] = field(default_factory=dict)  # fields answered as they are


class Queues:
    """The queues of one workspace; thread-safe. ``load(queue)`` tells (vcores, memory MB)
    the Spark runs of a queue hold now and how many of them wait."""

    def __init__(
        self,
        workspace_id: str,
        now: Callable[[], float],
        load: Callable[[str], tuple[int, int, int]],
        region_id: str = "cn-hangzhou",
    ) -> None:
        self.workspace_id = workspace_id
        self.region_id = region_id
        self.now = now
        self.load = load
        self._lock = threading.Lock()
        self._queues: dict[str, Queue] = {}
        self._envelope: dict[str, Any] = {}  # fields of the answer around its queues

    def add_queue(
        self,
        name: str,
        *,
        max_cpu: int,
        max_memory_gi: int,
        min_memory_gi: int = 0,
        **settings: Any,
    ) -> None:
        """Add (or replace) queue ``name`` of at most ``max_cpu`` vcores and ``max_memory_gi``
        GiB (at least ``min_memory_gi``), with any other ``Queue`` setting given (``min_cpu``,
        ``gpus``, ``status``, ``environments``, ...)."""
        queue = replace(
            Queue(name, max_cpu, max_memory_gi * 1024, min_memory_mb=min_memory_gi * 1024),
            **settings,
        )
        queue.created_ms = int(self.now() * 1000) - 86_400_000
        with self._lock:
            self._queues[name] = queue

    def set_status(self, name: str, status: str) -> None:
        with self._lock:
            self._queues[name].status = status

    def set_use(self, name: str, *, cpu: int, memory_gi: float) -> None:
        """What queue ``name`` uses besides its Spark runs (sessions, Ray clusters)."""
        with self._lock:
            queue = self._queues[name]
            queue.other_cpu, queue.other_memory_mb = cpu, int(memory_gi * 1024)

    def answer_fields(self, name: str, **fields: Any) -> None:
        """From now on, answer these fields of queue ``name`` as given, whatever they hold (a
        ``maxResource`` that is no JSON, an amount that is no quantity, a wrong type): what a
        broken or hostile API sends."""
        with self._lock:
            self._queues[name].answered.update(fields)

    def answer_envelope(self, **fields: Any) -> None:
        """From now on, answer these fields around the queues as given (a ``nextToken``, a
        ``totalCount`` above the queues listed: an answer that holds only part of them)."""
        with self._lock:
            self._envelope.update(fields)

    def usage(self, name: str) -> tuple[int, int, int]:
        """(vcores, memory MB) queue ``name`` uses now, and how many of its runs wait."""
        with self._lock:
            queue = self._queues[name]
        cpu, memory_mb, waiting = self.load(name)
        return queue.other_cpu + cpu, queue.other_memory_mb + memory_mb, waiting

    def list_queues(self, query: dict[str, str]) -> dict[str, Any]:
        """The ListWorkspaceQueues answer: the queues of ``environment``, if given, by name."""
        environment = query.get("environment")
        with self._lock:
            queues = sorted(self._queues.values(), key=lambda queue: queue.name)
            answered = {queue.name: dict(queue.answered) for queue in queues}
            envelope = dict(self._envelope)
        shown = [
            {**self._rendered(queue), **answered[queue.name]}
            for queue in queues
            if environment is None or environment in queue.environments
        ]
        return {
            "requestId": request_id(),
            "queues": shown,
            "maxResults": MAX_RESULTS,
            "nextToken": "",
            "totalCount": len(shown),
            **envelope,
        }

    def _rendered(self, queue: Queue) -> dict[str, Any]:
        cpu, memory_mb, _ = self.usage(queue.name)
        gpus = queue.gpus if queue.gpus else None
        return {
            "queueName": queue.name,
            "queueStatus": queue.status,
            "queueType": queue.queue_type,
            "queueCategory": "GPU" if queue.gpus else "CPU",
            "queueScope": "x86",
            "maxResource": _resource(queue.max_cpu, queue.max_memory_mb, gpus),
            "minResource": _resource(queue.min_cpu, queue.min_memory_mb, 0 if gpus else None),
            "usedResource": _resource(cpu, memory_mb, 0 if gpus else None),
            "gpuMachineNum": queue.gpu_machines,
            "gpuSpec": list(queue.gpu_spec),
            "paymentType": queue.payment_type,
            "preheat": False,
            "properties": json.dumps({"label": queue.name}, separators=(",", ":")),
            "environments": list(queue.environments),
            "allowActions": [self._action(name, text) for name, text in ACTIONS],
            "createTime": queue.created_ms,
            "creator": CREATOR_UID,
            "description": f"{queue.name} of {self.workspace_id}",
            "instanceId": f"{self.workspace_id}-{queue.name}",
            "regionId": self.region_id,
            "workspaceId": self.workspace_id,
        }

    def _action(self, name: str, text: str) -> dict[str, Any]:
        return {
            "actionArn": f"acs:emr::{self.workspace_id}:action/{name}_queue",
            "actionName": f"{name}_queue",
            "dependencies": [],
            "description": text,
            "displayName": text,
        }


def _resource(cpu: int, memory_mb: int, gpus: int | None) -> str:
    """A resource amount as the API writes it: a JSON string of Kubernetes quantities."""
    memory = f"{memory_mb // 1024}Gi" if memory_mb % 1024 == 0 else f"{memory_mb}Mi"
    amount = {"cpu": str(cpu), "memory": memory}
    if gpus is not None:
        amount["gpu"] = str(gpus)
    return json.dumps(amount, separators=(",", ":"))
