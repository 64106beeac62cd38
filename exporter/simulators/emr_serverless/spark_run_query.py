"""What a ListJobRuns request asks for: its filters, read from the query as the SDK sends it
(``states``, ``tags``, ``startTime`` and ``endTime`` as JSON), and its page: ``maxResults`` and
the ``nextToken`` an earlier answer handed out.

A token marks where its page ended (the last run's ``submitTime`` and ``jobRunId``, the order
being newest first), so runs submitted or deleted meanwhile neither shift nor repeat the rest.
It is good for the filters it was issued for and for ``lifetime`` seconds; an unknown, expired
or foreign token is refused as the API refuses an invalid parameter.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from exporter.simulators.emr_serverless.common import ApiError, json_parameter, time_range
from exporter.simulators.emr_serverless.spark_run import SparkRun

DEFAULT_MAX_RESULTS = 20
MAX_RESULTS = 100
EXACT = (
    ("jobRunId", "job_run_id"),
    ("name", "name"),
    ("creator", "creator"),
    ("resourceQueueId", "queue"),
)
NOT_FILTERS = ("maxResults", "nextToken", "regionId")  # what a token may change between pages
Position = tuple[int, str]  # (submitTime, jobRunId) of the last run a page held


@dataclass(frozen=True)
class RunQuery:
    """The filters of one request; a run must pass every one given."""

    exact: tuple[tuple[str, str], ...]
    states: frozenset[str] | None
    tags: tuple[tuple[str, str], ...]
    submitted: tuple[int, int] | None
    ended: tuple[int, int] | None
    min_duration_ms: int

    @classmethod
    def parse(cls, query: dict[str, str]) -> RunQuery:
        states = json_parameter(query, "states")
        if states is not None and not _strings(states):
            raise ApiError(400, "InvalidParameter", "states must be a list of states.")
        tags = json_parameter(query, "tags") or []
        if not isinstance(tags, list) or not all(_tag(tag) for tag in tags):
            raise ApiError(400, "InvalidParameter", "tags must be a list of {key, value}.")
        try:
            min_duration = int(query.get("minDuration", "0"))
        except ValueError:
            raise ApiError(400, "InvalidParameter", "minDuration must be an integer.") from None
        return cls(
            exact=tuple((field, query[param]) for param, field in EXACT if param in query),
            states=None if states is None else frozenset(states),
            tags=tuple((tag["key"], tag["value"]) for tag in tags),
            submitted=time_range(query, "startTime"),
            ended=time_range(query, "endTime"),
            min_duration_ms=min_duration,
        )

    def matches(self, run: SparkRun, now_ms: int) -> bool:
        """Whether ``run`` passes: ``startTime`` ranges its ``submitTime`` (the time a run is
        listed with), ``endTime`` its ``endTime`` (a run not ended has none), ``minDuration``
        its time from submission to its end or now."""
        return (
            all(getattr(run, field) == value for field, value in self.exact)
            and (self.states is None or run.state in self.states)
            and all(run.tags.get(key) == value for key, value in self.tags)
            and (self.submitted is None or _within(run.submit_ms, self.submitted))
            and (self.ended is None or _within(run.end_ms, self.ended))
            and run.duration_ms(now_ms) >= self.min_duration_ms
        )


def max_results(query: dict[str, str]) -> int:
    try:
        wanted = int(query.get("maxResults", str(DEFAULT_MAX_RESULTS)))
    except ValueError:
        raise ApiError(400, "InvalidParameter", "maxResults must be an integer.") from None
    if not 1 <= wanted <= MAX_RESULTS:
        raise ApiError(400, "InvalidParameter", f"maxResults must be 1-{MAX_RESULTS}.")
    return wanted


def filters_of(query: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """The parameters a token is bound to: all but paging's."""
    return tuple(sorted((k, v) for k, v in query.items() if k not in NOT_FILTERS))


class PageTokens:
    """The tokens handed out and not yet expired; not thread-safe (the runs' lock guards it)."""

    def __init__(self, lifetime: float) -> None:
        self.lifetime = lifetime
        self._issued: dict[str, tuple[tuple[tuple[str, str], ...], Position, float]] = {}

    def issue(self, filters: tuple[tuple[str, str], ...], after: Position, now: float) -> str:
        self._issued = {token: issued for token, issued in self._issued.items() if issued[2] > now}
        token = secrets.token_urlsafe(24)
        self._issued[token] = (filters, after, now + self.lifetime)
        return token

    def resolve(self, token: str, filters: tuple[tuple[str, str], ...], now: float) -> Position:
        """Where the page of ``token`` starts; ApiError for a token not good for the request."""
        issued = self._issued.get(token)
        if issued is None or issued[2] <= now or issued[0] != filters:
            raise ApiError(400, "InvalidParameter", "The specified nextToken is invalid.")
        return issued[1]

    def expire_all(self) -> None:
        self._issued.clear()


def _within(millis: int | None, window: tuple[int, int]) -> bool:
    return millis is not None and window[0] <= millis <= window[1]


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _tag(tag: object) -> bool:
    return isinstance(tag, dict) and isinstance(tag.get("key"), str) and "value" in tag
