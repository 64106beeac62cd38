"""Ray jobs: a ``rayJobs`` element of a ListRayJob answer, read into a ``Job``.

``dashboardUrl`` carries an access token and is never read.
"""

from __future__ import annotations

import functools
from typing import Any

from exporter.backends.fields import number, parse_epoch, read_items, text, word
from exporter.http.decode import Scalar, TypedRecord, typed_decoder
from exporter.ledger.attribution import SourceFields
from exporter.model import Job, Phase

STATUSES = {
    "Submitted": Phase.PENDING,
    "Pending": Phase.PENDING,
    "Running": Phase.RUNNING,
    "Cancelling": Phase.RUNNING,
    "Succeeded": Phase.SUCCEEDED,
    "Failed": Phase.FAILED,
    "Timeout": Phase.FAILED,
    "Cancelled": Phase.CANCELLED,
}
# Job fields an attribution label may take its value from (docs/metrics.md, "Attribution");
# dashboardUrl carries an access token.
ATTRIBUTION_FIELDS = SourceFields(
    fields=("creatorName", "name", "resourceQueue"), secret=("dashboardUrl",)
)
# Why a failed job failed: its status, Failed or Timeout.
FAILURE_REASONS = {"Failed": ("Failed",), "Timeout": ("Timeout",)}


@functools.lru_cache(maxsize=1024)
def _job_labels(queue: str, cluster_state: str) -> tuple[tuple[str, str], ...]:
    """Shared by every job with the same engine and cluster state."""
    labels = [("resource_queue", queue)] if queue else []
    if cluster_state:
        labels.append(("cluster_state", cluster_state))
    return tuple(labels)


class EmrJobItem(TypedRecord):
    """The fields of a ``rayJobs`` element that ``parse_job`` reads."""

    submissionId: Scalar = None
    status: Scalar = None
    resourceQueue: Scalar = None
    cuHours: Scalar = None
    name: Scalar = None
    submitTime: Scalar = None
    startTime: Scalar = None
    endTime: Scalar = None
    clusterState: Scalar = None
    creatorName: Scalar = None


class EmrJobPage(TypedRecord):
    """A ListRayJob answer, read straight into records (``decode.typed_decoder``)."""

    rayJobs: list[EmrJobItem] | None = None
    totalCount: Scalar = None


decode_job_page = typed_decoder(EmrJobPage)


def parse_job(item: Any, sources: tuple[str, ...] = ()) -> Job | None:
    """One element of ``rayJobs`` (an ``EmrJobItem`` or a decoded dict); None without a
    submissionId. ``sources`` are the target's attribution source fields."""
    if not isinstance(item, dict | EmrJobItem):
        return None
    key = text(item.get("submissionId"))
    if not key:
        return None
    status = word(item.get("status")) or "Unknown"
    queue = word(item.get("resourceQueue"))
    cu_hours = number(item.get("cuHours"))
    phase = STATUSES.get(status, Phase.UNKNOWN)
    return Job(
        key=key,
        name=text(item.get("name")) or key,
        status=status,
        phase=phase,
        job_type="RayJob",
        submit_time=parse_epoch(item.get("submitTime")),
        start_time=parse_epoch(item.get("startTime")),
        end_time=parse_epoch(item.get("endTime")),
        resource_queue=queue,
        cu_hours=cu_hours if cu_hours is not None and cu_hours >= 0 else None,
        extra_labels=_job_labels(queue, word(item.get("clusterState"))),
        attribution=tuple(text(item.get(source)) for source in sources),
        reason=status if phase is Phase.FAILED else "",
    )


def parse_jobs(items: list[Any], sources: tuple[str, ...] = ()) -> tuple[list[Job], int]:
    """(jobs in the answer's order, items without an identity). Consumes ``items``."""
    parse = functools.partial(parse_job, sources=sources) if sources else parse_job
    return read_items(parse, items)
