"""Ray jobs: an element of the job list (``/api/jobs/``), its typed record and its field map.

Field quirks (docs/backends/ray.md, Quirks): times are int, float or numeric strings, in
seconds or milliseconds; null, "" and 0 mean unset; every key may be missing.
"""

from __future__ import annotations

from typing import Any

from exporter.backends.base import Listing
from exporter.backends.kit.field_map import FieldMap, Reason, Status, Value
from exporter.backends.kit.fields import parse_epoch, read_items, text, word
from exporter.errors import PollError
from exporter.http.decode import Scalar, TypedRecord, typed_decoder
from exporter.ledger.attribution import first_word
from exporter.model import Phase

STATUSES = {
    "PENDING": Phase.PENDING,
    "RUNNING": Phase.RUNNING,
    "SUCCEEDED": Phase.SUCCEEDED,
    "FAILED": Phase.FAILED,
    "STOPPED": Phase.CANCELLED,
}
# Ray's JobErrorType (Ray 2.60; tests/e2e/test_ray_enums.py compares both tables with the
# installed Ray): why a job failed, the reason of a failed job ("other" for any other value);
# the counters of each, "other" too, start at 0.
ERROR_TYPES = (
    "JOB_ENTRYPOINT_COMMAND_ERROR",
    "JOB_ENTRYPOINT_COMMAND_START_ERROR",
    "RUNTIME_ENV_SETUP_FAILURE",
    "JOB_SUPERVISOR_ACTOR_UNSCHEDULABLE",
    "JOB_SUPERVISOR_ACTOR_START_TIMEOUT",
    "JOB_SUPERVISOR_ACTOR_START_FAILURE",
    "JOB_SUPERVISOR_ACTOR_UNKNOWN_FAILURE",
    "JOB_SUPERVISOR_ACTOR_DIED",
)
FAILURE_REASONS = {"FAILED": ("", *ERROR_TYPES, "other")}


class RayJobItem(TypedRecord):
    """The fields of a job list item that ``JOB_MAP`` reads (the other keys, most of an
    item's bytes, are skipped unread); an item that does not fit (an object or an array where
    a field is read, ``metadata`` not an object of such values, an item not an object) is
    decoded generically."""

    submission_id: Scalar = None
    job_id: Scalar = None
    status: Scalar = None
    type: Scalar = None
    start_time: Scalar = None
    end_time: Scalar = None
    error_type: Scalar = None
    metadata: dict[str, Scalar] | None = None
    entrypoint: Scalar = None


decode_job_list = typed_decoder(list[RayJobItem])

JOB_MAP = FieldMap(
    id=("submission_id", "job_id"),  # a DRIVER job has no submission id
    name=("metadata.job_name", "metadata.name"),
    status=Status("status", STATUSES, default="UNKNOWN", upper=True),
    job_type=Value("type", word, default="SUBMISSION"),
    times={"submit": Value("start_time", parse_epoch), "end": Value("end_time", parse_epoch)},
    # After a head restart without GCS fault tolerance, Ray hands out DRIVER ids from
    # 02000000 again and a submission id may be reused: the submission time tells runs
    # apart (within reconcile.RUN_TOLERANCE: a time rounded or re-derived is the same run).
    run="submit",
    labels={"error_type": "error_type"},
    # the fields an attribution label may take its value from (docs/metrics.md, "Attribution")
    attribution={"entrypoint": first_word, "type": text},
    keyed=("metadata.",),
    secret=("runtime_env", "driver_agent_http_address", "message"),
    reason=Reason("error_type", ERROR_TYPES),
)
ATTRIBUTION_FIELDS = JOB_MAP.source_fields
# One element of the job list (a ``RayJobItem`` or a decoded dict) for a target without
# attribution labels; ``JOB_MAP.parser(sources)`` for one with.
parse_job = JOB_MAP.parser()


def read_jobs(body: bytes, sources: tuple[str, ...] = ()) -> Listing:
    """A job list answer read whole: typed records, or the generic tree when it does not fit."""
    return parse_jobs(decode_job_list(body), sources)


def parse_jobs(payload: Any, sources: tuple[str, ...] = ()) -> Listing:
    """The whole job list; raises PollError when it is not a JSON array. Consumes ``payload``."""
    if not isinstance(payload, list):
        raise PollError("parse", f"job list is a JSON {type(payload).__name__}, not an array")
    jobs, skipped = read_items(JOB_MAP.parser(sources) if sources else parse_job, payload)
    return Listing(items=jobs, skipped=skipped)
