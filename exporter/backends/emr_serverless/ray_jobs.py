"""Ray jobs: a ``rayJobs`` element of a ListRayJob answer, read into a ``Job``.

``dashboardUrl`` carries an access token and is never read.
"""

from __future__ import annotations

from typing import Any

from exporter.backends.emr_serverless.families import EXTRAS
from exporter.backends.kit.field_map import FieldMap, Reason, Status, Value
from exporter.backends.kit.fields import number, parse_epoch, read_items, text
from exporter.http.decode import Scalar, TypedRecord, typed_decoder
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
# Why a failed job failed: its status, Failed or Timeout.
FAILURE_REASONS = {"Failed": ("Failed",), "Timeout": ("Timeout",)}


class EmrJobItem(TypedRecord):
    """The fields of a ``rayJobs`` element that ``JOB_MAP`` reads."""

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


JOB_MAP = FieldMap(
    id=("submissionId",),
    name=("name",),
    status=Status("status", STATUSES, default="Unknown"),
    job_type="RayJob",
    times={
        "submit": Value("submitTime", parse_epoch),
        "start": Value("startTime", parse_epoch),
        "end": Value("endTime", parse_epoch),
    },
    values={"cu_hours": Value("cuHours", number, minimum=0)},
    extras=EXTRAS,
    labels={"resourceQueue": "resource_queue", "clusterState": "cluster_state"},
    # the fields an attribution label may take its value from (docs/metrics.md, "Attribution")
    attribution={"creatorName": text, "name": text, "resourceQueue": text},
    secret=("dashboardUrl",),
    reason=Reason(),  # its status, Failed or Timeout
)
ATTRIBUTION_FIELDS = JOB_MAP.source_fields
# One element of ``rayJobs`` (an ``EmrJobItem`` or a decoded dict) for a target without
# attribution labels; ``JOB_MAP.parser(sources)`` for one with.
parse_job = JOB_MAP.parser()


def parse_jobs(items: list[Any], sources: tuple[str, ...] = ()) -> tuple[list[Job], int]:
    """(jobs in the answer's order, items without an identity). Consumes ``items``."""
    return read_items(JOB_MAP.parser(sources) if sources else parse_job, items)
