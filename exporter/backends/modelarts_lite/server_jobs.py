"""Lite Server jobs: a ``data`` element of a ListDevServerJobs answer, read into a ``Job``,
and the answer's paging fields, which say when it is partial."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from exporter.backends.kit.field_map import FieldMap, Reason, Status, Value
from exporter.backends.kit.fields import number, parse_epoch, read_items, text, word
from exporter.backends.modelarts_lite.families import EXTRAS
from exporter.errors import PollError
from exporter.http.decode import Scalar, TypedRecord, typed_decoder
from exporter.model import Job, Phase

KNOWN_PAIRS = (
    (Phase.RUNNING, "PROCESSING"),
    (Phase.SUCCEEDED, "FINISHED"),
    (Phase.FAILED, "FINISHED"),
    (Phase.CANCELLED, "DELETED"),
)
# Why a failed job failed: FINISHED with nodes where the task failed.
FAILURE_REASONS = {"FINISHED": ("abnormal_nodes",)}


def phase_of(status: str, abnormal_nodes: int | None) -> Phase:
    """FINISHED with nodes where the task failed is a failure (docs/metrics.md, Phases)."""
    if status == "PROCESSING":
        return Phase.RUNNING
    if status == "FINISHED":
        return Phase.FAILED if abnormal_nodes else Phase.SUCCEEDED
    if status == "DELETED":
        return Phase.CANCELLED
    return Phase.UNKNOWN


class LiteJobItem(TypedRecord):
    """The fields of a ``data`` element that ``JOB_MAP`` reads."""

    id: Scalar = None
    status: Scalar = None
    abnormal_count: Scalar = None
    update_at: Scalar = None
    name: Scalar = None
    type: Scalar = None
    create_at: Scalar = None


class LiteJobPage(TypedRecord):
    """A ListDevServerJobs answer, read straight into records (``decode.typed_decoder``)."""

    data: list[LiteJobItem] | None = None
    pages: Scalar = None
    total: Scalar = None


decode_job_page = typed_decoder(LiteJobPage)


JOB_MAP = FieldMap(
    id=("id",),
    name=("name",),
    status=Status("status", phase_of, default="UNKNOWN", upper=True, uses=("abnormal_nodes",)),
    job_type=Value("type", word, default="UNKNOWN"),  # open-ended: bounded per target
    times={
        "submit": Value("create_at", parse_epoch),
        # a finished job's last update is its end
        "end": Value("update_at", parse_epoch, terminal_only=True),
        "updated": Value("update_at", parse_epoch),
    },
    values={"abnormal_nodes": Value("abnormal_count", number, minimum=0, integer=True)},
    extras=EXTRAS,
    # the fields an attribution label may take its value from (docs/metrics.md, "Attribution")
    attribution={"type": text, "name": text},
    reason=Reason(fixed="abnormal_nodes"),
)
ATTRIBUTION_FIELDS = JOB_MAP.source_fields
# One element of ``data`` (a ``LiteJobItem`` or a decoded dict) for a target without
# attribution labels or a bound on job types; ``JOB_MAP.parser(sources, job_type)`` for one.
parse_job = JOB_MAP.parser()


def parse_page(
    payload: Any, job_type: Callable[[str], str] | None = None, sources: tuple[str, ...] = ()
) -> tuple[list[Job], bool, int]:
    """(jobs, partial, skipped): partial when ``pages > 1`` or ``total`` exceeds the data.
    ``job_type`` bounds the open-ended type; ``sources`` are the target's attribution source
    fields. Consumes the data list."""
    if not isinstance(payload, dict | LiteJobPage) or not isinstance(payload.get("data"), list):
        raise PollError("parse", "job list: answer has no data list")
    data = payload.get("data")
    jobs, skipped = read_items(JOB_MAP.parser(sources, job_type), data)
    pages, total = number(payload.get("pages")), number(payload.get("total"))
    partial = (pages is not None and pages > 1) or (total is not None and total > len(data))
    return jobs, partial, skipped
