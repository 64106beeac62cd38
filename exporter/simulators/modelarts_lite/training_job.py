"""One training job: its phase and secondary phase as they move, the times they set, and the
``metadata`` and ``status`` parts of the SDK's ``JobResponse`` it is answered as.

Phases and secondary phases are the SDK's (``Status``): a job is ``Creating``, waits
``Pending`` (``Queuing``) for its pool, runs, and ends ``Completed``, ``Failed`` (or
``Failed``/``CreateFailed`` before it ran) or, stopped, ``Terminating`` then ``Terminated``;
``Abnormal`` is a running job in trouble. Times are epoch milliseconds (``create_time``,
``start_time``, ``duration``), as the SDK documents them, except ``running_records``, whose
``start_at``/``end_at`` are seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from exporter.simulators.modelarts_lite.flavors import Flavor

# phase -> the secondary phase it takes unless told otherwise
SECONDARY = {
    "Creating": "Creating",
    "Pending": "Queuing",
    "Running": "Running",
    "Abnormal": "Unknown",
    "Terminating": "Terminating",
    "Completed": "Completed",
    "Failed": "Failed",
    "Terminated": "Terminated",
}
ENDED = ("Completed", "Failed", "Terminated")
HOLDING = ("Running", "Abnormal", "Terminating")  # phases in which a job holds pool nodes
EXPERIMENT_ID = "c8a3bd5e-2b11-4c1d-9b8a-7e0f3c2a9d10"


@dataclass
class TrainingJob:
    """A training job; times in epoch ms on the API's clock."""

    id: str
    name: str
    create_ms: int
    flavor_id: str
    node: Flavor  # the flavor of the nodes it runs on
    cards: int  # slots of a node each replica takes
    node_count: int = 1
    pool_id: str = ""  # "" : the public pool
    pool_name: str = ""
    user_name: str = "modelarts_user"
    workspace_id: str = "0"
    description: str = ""
    engine: tuple[str, str] = ("PyTorch", "pytorch_2.1.0-cuda_12.1-py_3.10")
    tags: dict[str, str] = field(default_factory=dict)
    phase: str = "Creating"
    secondary: str = "Creating"
    start_ms: int | None = None
    end_ms: int | None = None
    exit_code: int = 0
    hosts: list[str] = field(default_factory=list)  # the host IP of each replica placed
    serial: int = 1  # its number in its experiment

    def move(self, phase: str, secondary: str | None, now_ms: int) -> None:
        """Enter ``phase`` (and ``secondary``, else the phase's own) at ``now_ms``: running
        sets the start, an end the end and, for a failure, a nonzero exit code."""
        if phase not in SECONDARY:
            raise ValueError(f"no training job phase {phase!r}")
        self.phase, self.secondary = phase, secondary or SECONDARY[phase]
        if phase in HOLDING and self.start_ms is None:
            self.start_ms = now_ms
        if phase in ENDED and self.end_ms is None:
            self.end_ms = now_ms
            self.exit_code = 1 if phase == "Failed" else 0

    def tasks(self) -> list[str]:
        return [f"worker-{i}" for i in range(self.node_count)]

    def duration_ms(self, now_ms: int) -> int:
        if self.start_ms is None:
            return 0
        return (self.end_ms or now_ms) - self.start_ms

    def metadata(self, jittered_ms: Any) -> dict[str, Any]:
        """The SDK's ``JobMetadataResponse``."""
        return {
            "id": self.id,
            "name": self.name,
            "workspace_id": self.workspace_id,
            "description": self.description,
            "create_time": jittered_ms(self.create_ms),
            "user_name": self.user_name,
            "annotations": {
                "fault-tolerance/job-retry-num": "0",
                "jupyter-lab/enable": "true",
                "tensorboard/enable": "true",
            },
            "training_experiment_reference": {
                "name": "default",
                "id": EXPERIMENT_ID,
                "serial_number": str(self.serial),
            },
        }

    def status(self, now_ms: int, jittered_ms: Any, host_ips: set[str]) -> dict[str, Any]:
        """The SDK's ``Status``: ``task_ips`` only when the search asked for ``host_ips``."""
        status: dict[str, Any] = {
            "phase": self.phase,
            "secondary_phase": self.secondary,
            "duration": self.duration_ms(now_ms),
            "node_count_metrics": self._node_counts(),
            "tasks": self.tasks(),
            "task_statuses": [
                {"task": task, "exit_code": self.exit_code, "message": self._message()}
                for task in self.tasks()
            ],
            "running_records": self._running_records(),
        }
        if self.start_ms is not None:
            status["start_time"] = jittered_ms(self.start_ms)
        if host_ips:
            status["task_ips"] = [
                {"task": task, "ip": f"172.16.{i}.{10 + i}", "host_ip": host, "schedule_count": 1}
                for i, (task, host) in enumerate(zip(self.tasks(), self.hosts, strict=False))
                if host in host_ips
            ]
        return status

    def _message(self) -> str:
        return "Command exited with code 1" if self.exit_code else ""

    def _node_counts(self) -> list[list[int]]:
        """[epoch ms, nodes] at each change of the nodes it runs on."""
        if self.start_ms is None:
            return []
        counts = [[self.start_ms, self.node_count]]
        return counts if self.end_ms is None else [*counts, [self.end_ms, 0]]

    def _running_records(self) -> list[dict[str, Any]]:
        if self.start_ms is None:
            return []
        record: dict[str, Any] = {
            "start_at": self.start_ms // 1000,
            "xpu_start_at": self.start_ms // 1000 + 5,
            "start_type": "init_or_rescheduled",
            "recover_records": [],
        }
        if self.end_ms is not None:
            record |= {
                "end_at": self.end_ms // 1000,
                "end_reason": self.phase,
                "end_related_task": "worker-0" if self.exit_code else "",
                "end_recover": "",
                "end_recover_before_downgrade": "",
            }
        return [record]
