"""RayJobs (``ray.io/v1``): an element of a RayJob list, read into a ``Job``.

A RayJob has two statuses (``rayjob_types.go``): the Ray job's ``jobStatus`` (``""`` until
submitted, PENDING, RUNNING, STOPPED, SUCCEEDED, FAILED; SCHEDULED between the runs of a cron
RayJob) and the operator's ``jobDeploymentStatus`` (``""``, Initializing, Running, Complete,
Failed, Suspending, Suspended, Retrying, Waiting, Scheduling, Scheduled). The native status
this exporter shows is the one that says what the object is doing:

- a terminal ``jobDeploymentStatus`` (Complete, Failed) with a terminal ``jobStatus``: the
  ``jobStatus``; with any other (empty: the submission failed, kuberay#4233; RUNNING: the
  deadline passed while it ran) the ``jobDeploymentStatus``, so ``Failed`` fails;
- a waiting ``jobDeploymentStatus`` (Suspending, Suspended, Retrying, Waiting, Scheduling,
  Scheduled): it, as pending, whatever the last attempt's ``jobStatus`` was;
- else the ``jobStatus`` when set, else the ``jobDeploymentStatus`` (``New`` when empty).

Times are RFC 3339 (whole seconds): ``metadata.creationTimestamp`` (submitted),
``status.rayJobInfo.startTime`` (Ray began to run it: queue wait is creation to that),
``status.endTime`` (ended). A failed job's reason is ``status.reason``. The RayCluster it runs
on is ``status.rayClusterName`` (same namespace), which the operator sets at its first
reconcile, to ``spec.clusterSelector["ray.io/cluster"]`` when the RayJob selects one that is
already there: until then that selection names it. Its attempts that failed and succeeded,
``status.failed`` and ``status.succeeded``, are its values (``families``): 0 when absent,
as the CRD defaults them.
``spec.runtimeEnvYAML``, the pod templates and ``status.message`` may carry secrets (an
environment, a command line) and are never read; so is the last-applied annotation, which
holds the whole spec.
"""

from __future__ import annotations

import itertools
from typing import Any

from exporter.backends.kit.field_map import FieldMap, Reason, Status, Value
from exporter.backends.kit.fields import mapping, parse_time, text, whole_number, word
from exporter.backends.kit.token_list import value_at
from exporter.backends.kuberay.families import EXTRAS
from exporter.backends.kuberay.watched_list import DELETED
from exporter.exposition.labels import OTHER
from exporter.ledger.attribution import first_word
from exporter.model import Job, Phase

JOB_STATUSES = {
    "PENDING": Phase.PENDING,
    "RUNNING": Phase.RUNNING,
    "SCHEDULED": Phase.PENDING,
    "STOPPED": Phase.CANCELLED,
    "SUCCEEDED": Phase.SUCCEEDED,
    "FAILED": Phase.FAILED,
}
TERMINAL_JOB = frozenset({"STOPPED", "SUCCEEDED", "FAILED"})
DEPLOYMENT_STATUSES = {
    "New": Phase.PENDING,
    "Initializing": Phase.PENDING,
    "Running": Phase.PENDING,  # the cluster runs; the job is not submitted yet
    "Complete": Phase.UNKNOWN,  # never without a terminal jobStatus: say nothing false
    "Failed": Phase.FAILED,
    "Suspending": Phase.PENDING,
    "Suspended": Phase.PENDING,
    "Retrying": Phase.PENDING,
    "Waiting": Phase.PENDING,
    "Scheduling": Phase.PENDING,
    "Scheduled": Phase.PENDING,
}
TERMINAL_DEPLOYMENT = frozenset({"Complete", "Failed"})
WAITING_DEPLOYMENT = frozenset(
    {"Suspending", "Suspended", "Retrying", "Waiting", "Scheduling", "Scheduled"}
)
STATUSES = {**JOB_STATUSES, **DEPLOYMENT_STATUSES}
REASONS = (
    "SubmissionFailed",
    "DeadlineExceeded",
    "AppFailed",
    "JobDeploymentStatusTransitionGracePeriodExceeded",
)
FAILURE_REASONS = {status: ("", *REASONS, OTHER) for status in ("FAILED", "Failed")}
RAY_CLUSTER = "ray_cluster"  # the label naming the RayCluster a RayJob runs on
CLUSTER_SELECTOR = "ray.io/cluster"  # the one key of ``spec.clusterSelector`` KubeRay reads


def attempts(value: Any) -> int | None:
    """An attempt count of the status: 0 when the operator has not written it yet (the CRD's
    default), None when it is no number."""
    return 0 if value is None else whole_number(value)


def native_status(deployment: str, job: str) -> str:
    """The status shown for a RayJob's ``jobDeploymentStatus`` and ``jobStatus``."""
    if deployment in TERMINAL_DEPLOYMENT:
        return job if job in TERMINAL_JOB else deployment
    if deployment in WAITING_DEPLOYMENT:
        return deployment
    return job or deployment or "New"


# (jobDeploymentStatus, jobStatus) -> phase, for every pair of known values
PHASES = {
    (deployment, job): STATUSES[native_status(deployment, job)]
    for deployment, job in itertools.product(("", *DEPLOYMENT_STATUSES), ("", *JOB_STATUSES))
    if native_status(deployment, job) in STATUSES
}
# and a RayJob deleted before it ended, as its watch's DELETED event shows (``watched_list``)
KNOWN_PAIRS = tuple(
    sorted(
        {(phase, status) for status, phase in STATUSES.items() if phase != Phase.UNKNOWN}
        | {(Phase.CANCELLED, DELETED)}
    )
)

RAY_JOB_MAP = FieldMap(
    id=("metadata.uid",),
    name=("metadata.name",),
    status=Status(("status.jobDeploymentStatus", "status.jobStatus"), PHASES, default="New"),
    job_type=Value("spec.submissionMode", word, default="K8sJobMode"),
    times={
        "submit": Value("metadata.creationTimestamp", parse_time),
        "start": Value("status.rayJobInfo.startTime", parse_time),
        "end": Value("status.endTime", parse_time, terminal_only=True),
    },
    values={
        "failed_attempts": Value("status.failed", attempts, minimum=0),
        "succeeded_attempts": Value("status.succeeded", attempts, minimum=0),
    },
    labels={"metadata.namespace": "namespace", "status.rayClusterName": RAY_CLUSTER},
    # the fields an attribution label may take its value from (docs/metrics.md, "Attribution")
    attribution={
        "metadata.namespace": text,
        "metadata.name": text,
        "status.rayClusterName": text,
        "spec.entrypoint": first_word,
        "spec.submissionMode": text,
    },
    keyed=("metadata.labels.", "metadata.annotations.", "spec.metadata."),
    secret=(
        "spec.runtimeEnvYAML",
        "spec.submitterPodTemplate",
        "spec.rayClusterSpec",
        "status.message",
        "metadata.annotations.kubectl.kubernetes.io/last-applied-configuration",
    ),
    reason=Reason("status.reason", REASONS),
    extras=EXTRAS,
)
ATTRIBUTION_FIELDS = RAY_JOB_MAP.source_fields


class RayJobParser:
    """One target's parser of RayJob list items: ``RAY_JOB_MAP`` for its attribution
    ``sources``, its status then named by ``native_status``, its RayCluster by its
    ``clusterSelector`` until the operator names it."""

    def __init__(self, sources: tuple[str, ...] = ()) -> None:
        self._parse = RAY_JOB_MAP.parser(sources)

    def __call__(self, item: Any) -> Job | None:
        job = self._parse(item)
        if job is not None:
            deployment = text(value_at(item, "status.jobDeploymentStatus"))
            job.status = native_status(deployment, text(value_at(item, "status.jobStatus")))
            if all(name != RAY_CLUSTER for name, _ in job.extra_labels):
                selector = mapping(value_at(item, "spec.clusterSelector"))
                if selected := word(selector.get(CLUSTER_SELECTOR)):
                    job.extra_labels = (*job.extra_labels, (RAY_CLUSTER, selected))
        return job
