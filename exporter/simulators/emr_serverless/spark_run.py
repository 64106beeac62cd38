"""One Spark job run as the simulator keeps it, and as ListJobRuns gives it: every field of the
SDK's ``ListJobRunsResponseBodyJobRuns`` that the List operation returns.

States (the vendor's ``RunState``): a run is ``Submitted``, waits ``Pending`` for resources,
is ``Running``, and ends ``Success``, ``Failed`` or ``Cancelled``; cancelling it shows
``Cancelling`` and, when the cancellation fails, ``CancelFailed``, the run going on. It holds
resources, and its usage grows, while ``Running``, ``Cancelling`` or ``CancelFailed``.

Usage, in the API's units: ``vcoreSeconds`` and ``mbSeconds`` are its vcores and memory (MB)
times the seconds it held them; ``cuHours`` counts a CU as 1 vcore or 4 GiB, whichever the run
holds more of (an estimate until billed, as the API says).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

STATES = (
    "Submitted",
    "Pending",
    "Running",
    "Success",
    "Failed",
    "Cancelling",
    "Cancelled",
    "CancelFailed",
)
FINAL = frozenset({"Success", "Failed", "Cancelled"})
HOLDING = frozenset({"Running", "Cancelling", "CancelFailed"})  # resources held, usage grows
WAITING = frozenset({"Submitted", "Pending"})
RELEASE = "esr-4.3.0 (Spark 3.5.2, Scala 2.12, Java Runtime)"
DISPLAY_RELEASE = "esr-4.3.0 (Spark 3.5.2, Scala 2.12)"
FAILURE = ("ERR-100000", "Job run failed: the driver exited with code 1.")
MB_PER_CU = 4096


@dataclass
class SparkRun:
    """A job run: times in epoch ms on the API's clock."""

    job_run_id: str
    workspace_id: str
    name: str
    state: str
    submit_ms: int
    queue: str = "root_queue"
    creator: str = "1509789347011222"
    tags: dict[str, str] = field(default_factory=dict)
    code_type: str = "JAR"
    vcores: int = 4
    memory_mb: int = 16384
    timeout_seconds: int = 3600
    priority: str = "1"
    end_ms: int | None = None
    reason: tuple[str, str] = ("", "")  # stateChangeReason's (code, message)
    visible_ms: int = 0  # listed from then on
    held_ms: int = 0  # ms it held resources before ``holding_since``
    holding_since: int | None = None
    ui_token: str = ""

    def move(self, state: str, now_ms: int) -> None:
        """Enter ``state`` at ``now_ms``: resources taken or given back, the end time set."""
        if state in HOLDING and self.holding_since is None:
            self.holding_since = now_ms
        if state not in HOLDING and self.holding_since is not None:
            self.held_ms += now_ms - self.holding_since
            self.holding_since = None
        if state in FINAL and self.end_ms is None:
            self.end_ms = now_ms
        if state == "Failed":
            self.reason = FAILURE
        self.state = state

    def held_seconds(self, now_ms: int) -> float:
        """Seconds it has held resources, up to ``now_ms``."""
        holding = now_ms - self.holding_since if self.holding_since is not None else 0
        return (self.held_ms + holding) / 1000

    def duration_ms(self, now_ms: int) -> int:
        """From its submission to its end, or to ``now_ms`` while it has not ended."""
        return (self.end_ms if self.end_ms is not None else now_ms) - self.submit_ms

    def render(self, now_ms: int, jittered_ms: Callable[[int | None], int | None]) -> dict:
        """The run as ListJobRuns answers it at ``now_ms``, its times through ``jittered_ms``.
        ``configurationOverrides`` and ``jobDriver`` are left out: the SDK's model says the List
        operation does not return them."""
        held = self.held_seconds(now_ms)
        logs = f"oss://emr-spark-logs/{self.workspace_id}/{self.job_run_id}/driver"
        return {
            "jobRunId": self.job_run_id,
            "workspaceId": self.workspace_id,
            "name": self.name,
            "state": self.state,
            "stateChangeReason": {"code": self.reason[0], "message": self.reason[1]},
            "submitTime": jittered_ms(self.submit_ms),
            "endTime": jittered_ms(self.end_ms),
            "cuHours": round(max(self.vcores, self.memory_mb / MB_PER_CU) * held / 3600, 6),
            "vcoreSeconds": int(self.vcores * held),
            "mbSeconds": int(self.memory_mb * held),
            "resourceQueueId": self.queue,
            "creator": self.creator,
            "tags": [{"key": key, "value": value} for key, value in self.tags.items()],
            "codeType": self.code_type,
            "releaseVersion": RELEASE,
            "displayReleaseVersion": DISPLAY_RELEASE,
            "executionTimeoutSeconds": self.timeout_seconds,
            "priority": self.priority,
            "fusion": False,
            "webUI": f"https://emr-spark-ui.aliyuncs.com/{self.job_run_id}?token={self.ui_token}",
            "log": {
                "driverStartup": f"{logs}/startup.log",
                "driverStdError": f"{logs}/stderr",
                "driverStdOut": f"{logs}/stdout",
                "driverSyslog": f"{logs}/syslog",
            },
        }
