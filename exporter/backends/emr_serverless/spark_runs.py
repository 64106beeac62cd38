"""Spark job runs: a ``jobRuns`` element of a ListJobRuns answer, read into a ``Job``.

``state`` gives the phase. ``CancelFailed`` is running: a cancellation that failed leaves the
run going on, holding its resources, and it ends later in a state of its own. ``codeType`` is
the job type, from the vendor's vocabulary (SQL, JAR, PYTHON; any other value is ``other``).
A failed run's reason is its ``stateChangeReason.code``, an open-ended error code: the ledger
admits the first ``REASON_CAP`` distinct codes of a target (kept in its saved counts, so a
restart admits no more), later ones are ``other`` (``JobResource.open_reasons``).

``tags`` is a list of ``{key, value}``; an attribution label reads one by ``tags.<key>``.
``webUI`` (a URL that may carry a token) and ``log`` (where the run's logs are) are never read.
"""

from __future__ import annotations

from typing import Any

from exporter.backends.emr_serverless.families import SPARK_EXTRAS
from exporter.backends.kit.field_map import FieldMap, Status, Value
from exporter.backends.kit.fields import number, parse_epoch, text, word
from exporter.backends.kit.token_list import value_at
from exporter.exposition.labels import OTHER
from exporter.http.decode import Scalar, TypedRecord, typed_decoder
from exporter.model import Job, Phase

RESOURCE = "spark_runs"  # the list's name in a target's ``resources``
STATES = {
    "Submitted": Phase.PENDING,
    "Pending": Phase.PENDING,
    "Running": Phase.RUNNING,
    "Cancelling": Phase.RUNNING,
    "CancelFailed": Phase.RUNNING,  # the cancellation failed: the run goes on
    "Success": Phase.SUCCEEDED,
    "Failed": Phase.FAILED,
    "Cancelled": Phase.CANCELLED,
}
CODE_TYPES = ("SQL", "JAR", "PYTHON")
REASON_CAP = 20  # distinct failure codes per target before the rest are "other"
# Why a failed run failed: a code the cap admits (its series appears with its first failure),
# ``other`` past the cap, none when the run gives no code; these two are counted from 0.
FAILURE_REASONS = {"Failed": ("", OTHER)}
TAGS = "tags."  # the prefix of an attribution source naming a tag by its key


class SparkTag(TypedRecord):
    key: Scalar = None
    value: Scalar = None


class SparkReason(TypedRecord):
    code: Scalar = None


class SparkRunItem(TypedRecord):
    """The fields of a ``jobRuns`` element that ``RUN_MAP`` and ``SparkRunParser`` read."""

    jobRunId: Scalar = None
    name: Scalar = None
    state: Scalar = None
    stateChangeReason: SparkReason | None = None
    submitTime: Scalar = None
    endTime: Scalar = None
    cuHours: Scalar = None
    vcoreSeconds: Scalar = None
    mbSeconds: Scalar = None
    resourceQueueId: Scalar = None
    creator: Scalar = None
    codeType: Scalar = None
    tags: list[SparkTag] | None = None


class SparkRunPage(TypedRecord):
    """A ListJobRuns answer, read straight into records (``decode.typed_decoder``)."""

    jobRuns: list[SparkRunItem] | None = None
    nextToken: Scalar = None
    totalCount: Scalar = None


decode_run_page = typed_decoder(SparkRunPage)


def code_type(value: str) -> str:
    """A run's job type: its ``codeType`` when the vendor documents it, else ``other``."""
    return value if value in CODE_TYPES else OTHER


RUN_MAP = FieldMap(
    id=("jobRunId",),
    name=("name",),
    status=Status("state", STATES, default="Unknown"),
    job_type=Value("codeType", word),
    times={"submit": Value("submitTime", parse_epoch), "end": Value("endTime", parse_epoch)},
    values={
        "cu_hours": Value("cuHours", number, minimum=0),
        "vcore_seconds": Value("vcoreSeconds", number, minimum=0),
        "mb_seconds": Value("mbSeconds", number, minimum=0),
    },
    extras=SPARK_EXTRAS,
    labels={"resourceQueueId": "resource_queue"},
    # the fields an attribution label may take its value from (docs/metrics.md, "Attribution")
    attribution={"creator": text, "name": text, "resourceQueueId": text, "codeType": text},
    keyed=(TAGS,),
    secret=("webUI", "log"),
)
ATTRIBUTION_FIELDS = RUN_MAP.source_fields


def tags_by_key(tags: list[Any]) -> dict[str, Any]:
    """A run's ``tags`` list as an object keyed by each tag's ``key`` (the last of a key given
    twice wins); elements that are not ``{key, value}`` objects are left out."""
    return {
        text(tag.get("key")): tag.get("value")
        for tag in tags
        if isinstance(tag, dict | TypedRecord) and text(tag.get("key"))
    }


class SparkRunParser:
    """One target's parser of ``jobRuns`` elements (``SparkRunItem`` records or decoded dicts):
    ``RUN_MAP`` for the target's attribution ``sources``, the tags made an object first when
    a source names one (keyed attribution reads objects), a failure's code as its reason.
    """

    def __init__(self, sources: tuple[str, ...] = ()) -> None:
        self._parse = RUN_MAP.parser(sources, code_type)
        self._tags = any(source.startswith(TAGS) for source in sources)

    def __call__(self, item: Any) -> Job | None:
        if self._tags and isinstance(item, dict | TypedRecord):
            tags = item.get("tags")
            if isinstance(tags, list):
                if isinstance(item, dict):
                    item["tags"] = tags_by_key(tags)
                else:
                    item.tags = tags_by_key(tags)
        job = self._parse(item)
        if job is not None and job.phase is Phase.FAILED:
            job.reason = word(value_at(item, "stateChangeReason.code"))
        return job
