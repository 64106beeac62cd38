"""Lite Server jobs: a ``data`` element of a ListDevServerJobs answer, read into a ``Job``,
and the answer's paging fields, which say when it is partial."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from exporter.backends.fields import number, parse_epoch, read_items, text, word
from exporter.errors import PollError
from exporter.http.decode import Scalar, TypedRecord, typed_decoder
from exporter.ledger.attribution import SourceFields
from exporter.model import Job, Phase

KNOWN_PAIRS = (
    (Phase.RUNNING, "PROCESSING"),
    (Phase.SUCCEEDED, "FINISHED"),
    (Phase.FAILED, "FINISHED"),
    (Phase.CANCELLED, "DELETED"),
)
# Job fields an attribution label may take its value from (docs/metrics.md, "Attribution").
ATTRIBUTION_FIELDS = SourceFields(fields=("type", "name"))
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
    """The fields of a ``data`` element that ``parse_job`` reads."""

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


def parse_job(
    item: Any, job_type: Callable[[str], str] = str, sources: tuple[str, ...] = ()
) -> Job | None:
    """One element of ``data`` (a ``LiteJobItem`` or a decoded dict); None without an id.
    ``job_type`` bounds the open-ended type; ``sources`` are the target's attribution source
    fields."""
    if not isinstance(item, dict | LiteJobItem):
        return None
    key = text(item.get("id"))
    if not key:
        return None
    status = word(text(item.get("status")).upper()) or "UNKNOWN"
    abnormal = number(item.get("abnormal_count"))
    abnormal_nodes = int(abnormal) if abnormal is not None and abnormal >= 0 else None
    phase = phase_of(status, abnormal_nodes)
    updated = parse_epoch(item.get("update_at"))
    return Job(
        key=key,
        name=text(item.get("name")) or key,
        status=status,
        phase=phase,
        job_type=job_type(text(item.get("type")) or "UNKNOWN"),
        submit_time=parse_epoch(item.get("create_at")),
        end_time=updated if phase.terminal else None,
        updated_time=updated,
        abnormal_nodes=abnormal_nodes,
        attribution=tuple(text(item.get(source)) for source in sources),
        reason="abnormal_nodes" if phase is Phase.FAILED else "",
    )


def parse_page(
    payload: Any, job_type: Callable[[str], str] = str, sources: tuple[str, ...] = ()
) -> tuple[list[Job], bool, int]:
    """(jobs, partial, skipped): partial when ``pages > 1`` or ``total`` exceeds the data.
    Consumes the data list."""
    if not isinstance(payload, dict | LiteJobPage) or not isinstance(payload.get("data"), list):
        raise PollError("parse", "job list: answer has no data list")
    data = payload.get("data")
    parse = functools.partial(parse_job, job_type=job_type, sources=sources)
    jobs, skipped = read_items(parse, data)
    pages, total = number(payload.get("pages")), number(payload.get("total"))
    partial = (pages is not None and pages > 1) or (total is not None and total > len(data))
    return jobs, partial, skipped
