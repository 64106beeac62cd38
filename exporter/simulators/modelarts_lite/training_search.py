"""The body of a training-job search (the SDK's ``JobSearches``) read as the API reads it.

``offset`` is the number of the page, from 0, and ``limit`` the jobs on a page (1-50): the SDK
documents ``offset`` as "the page to query, 0 for the first" (one older English edition of the
API reference says it counts jobs; the SDK is followed). Jobs come sorted by ``sort_by``
(``create_time``, the default, or ``name``), ``order`` ``desc`` (the default) or ``asc``, ties
in id order.

``filters`` are ``{key, operator, value[]}``; the API names neither the keys nor how each
operator reads a value, so the simulator takes these: ``phase``, ``secondary_phase``, ``name``,
``id``, ``pool_id``, ``flavor_id``, ``user_name`` with ``in`` (one of the values), ``not``
(none of them) or ``like`` (contains the first); ``create_time`` with ``between`` (from the
first value to the second, epoch ms, inclusive). Any other key or operator is refused (400),
so that a client relying on a filter the simulator does not know fails here first.
``tags`` match as the SDK documents: the values of one key OR-ed (none: the key alone), keys
AND-ed; ``host_ips`` keep jobs with a replica on one of those hosts. ``workspace_id``, when
given, keeps the jobs of that workspace; ``train_type`` ``job`` keeps every custom job and
``ftjob`` none (no fine-tuning job is simulated).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from exporter.simulators.modelarts_lite.common import BAD_REQUEST, ApiError
from exporter.simulators.modelarts_lite.training_job import TrainingJob

MAX_LIMIT = 50
DEFAULT_LIMIT = 10
FIELDS: dict[str, Callable[[TrainingJob], str]] = {
    "phase": lambda job: job.phase,
    "secondary_phase": lambda job: job.secondary,
    "name": lambda job: job.name,
    "id": lambda job: job.id,
    "pool_id": lambda job: job.pool_id,
    "flavor_id": lambda job: job.flavor_id,
    "user_name": lambda job: job.user_name,
}
SORTS: dict[str, Callable[[TrainingJob], Any]] = {
    "create_time": lambda job: job.create_ms,
    "name": lambda job: job.name,
}


def _bad(message: str) -> ApiError:
    return ApiError(400, BAD_REQUEST, message)


def _integer(body: dict[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _bad(f"{key} must be an integer from {low} to {high}")
    return value


def _filter(item: Any) -> Callable[[TrainingJob], bool]:
    """A test of a job from one ``{key, operator, value}`` filter."""
    if not isinstance(item, dict) or not isinstance(item.get("value"), list):
        raise _bad("a filter is {key, operator, value[]}")
    key, operator, values = item.get("key"), item.get("operator"), [str(v) for v in item["value"]]
    if key == "create_time" and operator == "between" and len(values) == 2:
        if not all(v.isdigit() for v in values):
            raise _bad("create_time is between two epoch milliseconds")
        low, high = (int(v) for v in values)
        return lambda job: low <= job.create_ms <= high
    if key not in FIELDS or operator not in ("in", "not", "like") or not values:
        raise _bad(f"unsupported filter {key!r} {operator!r}")
    read = FIELDS[key]
    if operator == "in":
        return lambda job: read(job) in values
    if operator == "not":
        return lambda job: read(job) not in values
    return lambda job: values[0] in read(job)


def _tag_test(tags: Any) -> Callable[[TrainingJob], bool]:
    wanted: dict[str, set[str]] = {}
    for tag in tags:
        if not isinstance(tag, dict) or not isinstance(tag.get("key"), str):
            raise _bad("a tag filter is {key, values[]}")
        wanted[tag["key"]] = {str(v) for v in tag.get("values") or () if str(v)}
    return lambda job: all(
        key in job.tags and (not values or job.tags[key] in values)
        for key, values in wanted.items()
    )


@dataclass
class Search:
    """A search body, read."""

    offset: int = 0
    limit: int = DEFAULT_LIMIT
    sort_by: str = "create_time"
    order: str = "desc"
    group_by: str = ""
    workspace_id: str | None = None
    train_type: str = ""
    host_ips: set[str] = field(default_factory=set)
    tests: list[Callable[[TrainingJob], bool]] = field(default_factory=list)

    @classmethod
    def parse(cls, body: dict[str, Any]) -> Search:
        """The search ``body`` asks for; ApiError (400) for anything the API refuses."""
        search = cls(
            offset=_integer(body, "offset", 0, 0, 2**31),
            limit=_integer(body, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
            sort_by=body.get("sort_by") or "create_time",
            order=body.get("order") or "desc",
            group_by=body.get("group_by") or "",
            workspace_id=body.get("workspace_id"),
            train_type=body.get("train_type") or "",
            host_ips={str(ip) for ip in body.get("host_ips") or ()},
        )
        if search.sort_by not in SORTS or search.order not in ("asc", "desc"):
            raise _bad("sort_by must be create_time or name, order asc or desc")
        if search.train_type not in ("", "job", "ftjob"):
            raise _bad("train_type must be job or ftjob")
        filters = body.get("filters") or []
        if not isinstance(filters, list):
            raise _bad("filters must be a list")
        search.tests = [_filter(item) for item in filters]
        if body.get("tags"):
            search.tests.append(_tag_test(body["tags"]))
        if search.host_ips:
            search.tests.append(lambda job: bool(search.host_ips & set(job.hosts)))
        return search

    def matches(self, job: TrainingJob) -> bool:
        if self.train_type == "ftjob":
            return False
        if self.workspace_id is not None and job.workspace_id != self.workspace_id:
            return False
        return all(test(job) for test in self.tests)

    def ordered(self, jobs: list[TrainingJob]) -> list[TrainingJob]:
        """``jobs`` in the order asked for, ties in id order."""
        jobs = sorted(jobs, key=lambda job: job.id)
        return sorted(jobs, key=SORTS[self.sort_by], reverse=self.order == "desc")

    def page(self, jobs: list[TrainingJob]) -> list[TrainingJob]:
        return jobs[self.offset * self.limit : (self.offset + 1) * self.limit]

    def echoed(self) -> dict[str, Any]:
        """The search's parameters as the answer repeats them."""
        return {
            "limit": self.limit,
            "offset": self.offset,
            "sort_by": self.sort_by,
            "order": self.order,
            "group_by": self.group_by,
            "workspace_id": self.workspace_id or "0",
            "ai_project": "default-ai-project",
            "train_type": self.train_type,
        }
