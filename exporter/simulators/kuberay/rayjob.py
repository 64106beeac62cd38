"""A RayJob object and the status fields the KubeRay operator writes as it moves through its
life (``ray-operator/apis/ray/v1/rayjob_types.go``). The simulator names each stage by the
status the exporter reads: the Ray job's ``jobStatus`` once it has one, else the
``jobDeploymentStatus`` (``Failed`` for a job that failed before Ray ran it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from exporter.simulators.kubernetes.store import rfc3339

Fields = Callable[[dict[str, Any], float], None]  # (status, now) -> None


def _initializing(status: dict[str, Any], now: float) -> None:
    status.update(jobDeploymentStatus="Initializing", startTime=rfc3339(now))


def _pending(status: dict[str, Any], now: float) -> None:
    status.update(jobDeploymentStatus="Running", jobStatus="PENDING")


def _running(status: dict[str, Any], now: float) -> None:
    status.update(jobDeploymentStatus="Running", jobStatus="RUNNING")
    status.setdefault("rayJobInfo", {})["startTime"] = rfc3339(now)


def _ended(deployment: str, job: str, reason: str = "", counter: str = "") -> Fields:
    def fields(status: dict[str, Any], now: float) -> None:
        status.update(jobDeploymentStatus=deployment, endTime=rfc3339(now))
        if job:
            status["jobStatus"] = job
            status.setdefault("rayJobInfo", {})["endTime"] = rfc3339(now)
        if reason:
            status.update(reason=reason, message=f"{reason}: see the submitter's logs")
        if counter:
            status[counter] = status.get(counter, 0) + 1

    return fields


STAGES: dict[str, Fields] = {
    "Initializing": _initializing,
    "PENDING": _pending,
    "RUNNING": _running,
    "SUCCEEDED": _ended("Complete", "SUCCEEDED", counter="succeeded"),
    "FAILED": _ended("Failed", "FAILED", "AppFailed", "failed"),
    "STOPPED": _ended("Complete", "STOPPED"),
    "Failed": _ended("Failed", "", "SubmissionFailed", "failed"),  # before Ray ran it
}
ENDED = frozenset({"SUCCEEDED", "FAILED", "STOPPED", "Failed"})


def stage_of(status: dict[str, Any]) -> str:
    """The stage a RayJob's status shows (a stage of ``STAGES``)."""
    return status.get("jobStatus") or status.get("jobDeploymentStatus", "")


def new_ray_job(
    name: str, namespace: str, uid: str, *, labels: dict[str, str], entrypoint: str, ttl: int
) -> dict[str, Any]:
    """A RayJob as ``kubectl apply`` creates it: spec only, no status yet."""
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": {"name": name, "namespace": namespace, "uid": uid, "labels": labels},
        "spec": {
            "entrypoint": entrypoint,
            "metadata": {"owner": labels.get("team", "")},
            "shutdownAfterJobFinishes": True,
            "ttlSecondsAfterFinished": ttl,
            "submissionMode": "K8sJobMode",
            "rayClusterSpec": {"rayVersion": "2.49.0"},
        },
        "status": {},
    }


def enter(item: dict[str, Any], stage: str, now: float) -> None:
    """RayJob ``item`` enters ``stage`` at ``now``, its status written as the operator does."""
    status = item.setdefault("status", {})
    STAGES[stage](status, now)
    name = item["metadata"]["name"]
    status.setdefault("jobId", f"{name}-{item['metadata']['uid'][-6:]}")
    status.setdefault("rayClusterName", f"{name}-raycluster")
    status.setdefault("observedGeneration", 1)
