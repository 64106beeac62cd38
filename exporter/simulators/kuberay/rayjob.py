"""A RayJob object and the status fields the KubeRay operator writes as it moves through its
life (``ray-operator/apis/ray/v1/rayjob_types.go``). The simulator names each stage by the
status the exporter reads: the Ray job's ``jobStatus`` once it has one, else the
``jobDeploymentStatus`` (``Failed`` for a job that failed before Ray ran it); ``Retrying``
while a failed attempt waits for the next (``spec.backoffLimit``).

The operator counts each attempt that ends failed in ``status.failed`` and each that succeeds
in ``status.succeeded`` (``checkBackoffLimitAndUpdateStatusIfNeeded``). A failed attempt that
the backoff limit allows to retry is counted, then marked ``Retrying`` instead of ``Failed``
(no end time); the operator deletes its RayCluster, resets the attempt's fields and begins
again from ``Initializing``, with a RayCluster of a new name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from exporter.simulators.kubernetes.store import rfc3339

Fields = Callable[[dict[str, Any], float], None]  # (status, now) -> None
CLUSTER_SELECTOR = "ray.io/cluster"  # the one key of ``spec.clusterSelector`` KubeRay reads


# what the operator resets when a retried RayJob begins its next attempt
ATTEMPT_FIELDS = ("jobStatus", "rayJobInfo", "reason", "message", "jobId", "rayClusterName")


def _initializing(status: dict[str, Any], now: float) -> None:
    if status.get("jobDeploymentStatus") == "Retrying":
        for field in ATTEMPT_FIELDS:
            status.pop(field, None)
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


def _retrying(status: dict[str, Any], now: float) -> None:
    """The attempt failed, and the backoff limit allows another: counted failed, no end."""
    reason = "AppFailed" if status.get("jobStatus") else "SubmissionFailed"
    if status.get("jobStatus"):
        status["jobStatus"] = "FAILED"
        status.setdefault("rayJobInfo", {})["endTime"] = rfc3339(now)
    status.update(jobDeploymentStatus="Retrying", reason=reason, message=f"{reason}: retrying")
    status["failed"] = status.get("failed", 0) + 1


STAGES: dict[str, Fields] = {
    "Initializing": _initializing,
    "PENDING": _pending,
    "RUNNING": _running,
    "SUCCEEDED": _ended("Complete", "SUCCEEDED", counter="succeeded"),
    "FAILED": _ended("Failed", "FAILED", "AppFailed", "failed"),
    "STOPPED": _ended("Complete", "STOPPED"),
    "Failed": _ended("Failed", "", "SubmissionFailed", "failed"),  # before Ray ran it
    "Retrying": _retrying,  # then Initializing: the next attempt
}
ENDED = frozenset({"SUCCEEDED", "FAILED", "STOPPED", "Failed"})


def stage_of(status: dict[str, Any]) -> str:
    """The stage a RayJob's status shows (a stage of ``STAGES``)."""
    if status.get("jobDeploymentStatus") == "Retrying":
        return "Retrying"  # whatever the failed attempt's jobStatus
    return status.get("jobStatus") or status.get("jobDeploymentStatus", "")


def new_ray_job(
    name: str,
    namespace: str,
    uid: str,
    *,
    labels: dict[str, str],
    entrypoint: str,
    ttl: int,
    cluster: str | None = None,
    backoff_limit: int | None = None,
) -> dict[str, Any]:
    """A RayJob as ``kubectl apply`` creates it: spec only, no status yet. With ``cluster``
    it runs on that RayCluster of its namespace (``clusterSelector``), which it neither
    creates nor deletes; else on one of its own, deleted when it ends. Retried up to
    ``backoff_limit`` times when given."""
    spec: dict[str, Any] = {
        "entrypoint": entrypoint,
        "metadata": {"owner": labels.get("team", "")},
        "ttlSecondsAfterFinished": ttl,
        "submissionMode": "K8sJobMode",
    }
    if cluster:
        spec.update(clusterSelector={CLUSTER_SELECTOR: cluster}, shutdownAfterJobFinishes=False)
    else:
        spec.update(rayClusterSpec={"rayVersion": "2.49.0"}, shutdownAfterJobFinishes=True)
    if backoff_limit is not None:
        spec["backoffLimit"] = backoff_limit
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": {"name": name, "namespace": namespace, "uid": uid, "labels": labels},
        "spec": spec,
        "status": {},
    }


def enter(item: dict[str, Any], stage: str, now: float) -> None:
    """RayJob ``item`` enters ``stage`` at ``now``, its status written as the operator does."""
    status = item.setdefault("status", {})
    STAGES[stage](status, now)
    name = item["metadata"]["name"]
    status.setdefault("jobId", f"{name}-{item['metadata']['uid'][-6:]}")
    # the operator's first reconcile: the selected RayCluster, else one named for the RayJob
    # (a retried RayJob's next RayCluster has a new name)
    selected = item["spec"].get("clusterSelector", {}).get(CLUSTER_SELECTOR)
    retried = status.get("failed", 0)
    own = f"{name}-raycluster" + (f"-{retried}" if retried else "")
    status.setdefault("rayClusterName", selected or own)
    status.setdefault("observedGeneration", 1)
