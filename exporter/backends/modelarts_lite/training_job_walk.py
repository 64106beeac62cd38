"""The training-job search as the shared page walk sees it: ``POST
/v2/{project_id}/training-job-searches``, pages by number (``offset``, from 0) of ``limit`` jobs,
newest first by ``create_time``, with ``count`` (the jobs that match) as the total; a
``create_time`` ``between`` filter over the jobs' creation (epoch milliseconds, both
included); a job looked up by an ``id`` filter.

The body is written as the SDK writes it (``json.dumps`` of the ``JobSearches`` model: its
keys in the model's order, a filter's as ``key``, ``operator``, ``value``), so that what the
API sees is what it sees from the SDK.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from exporter.backends.kit.fields import listed_items, read_items, whole_number
from exporter.backends.kit.page_walk import walk_pages
from exporter.backends.kit.walk import Page, Walk
from exporter.backends.modelarts_lite.target import ModelArtsLiteTarget
from exporter.backends.modelarts_lite.training_jobs import TrainingJobParser
from exporter.http.client import ApiClient
from exporter.model import Job

OPERATION = "ListTrainingJobs"
PAGE_SIZE = 50  # the most a search page holds
WINDOW = "create_time"  # the filter key of a window over the jobs' creation


def search_body(number: int, filters: Mapping[str, tuple[str, list[str]]]) -> bytes:
    """The body of the search for page ``number`` (from 1) of the jobs matching ``filters``
    (key -> (operator, values)), as the SDK sends it."""
    body: dict[str, Any] = {
        "offset": number - 1,
        "limit": PAGE_SIZE,
        "sort_by": "create_time",
        "order": "desc",
    }
    if filters:
        body["filters"] = [
            {"key": key, "operator": operator, "value": values}
            for key, (operator, values) in filters.items()
        ]
    return json.dumps(body).encode()


class TrainingJobWalker:
    """Reads the search pages of one target's training jobs, its ``training_filters`` applied
    (``NumberedPages``, and the ``WindowedSource`` of its incremental list).

    Another search of the same jobs (the jobs waiting in each pool) gives its own ``parse``
    of an item and its own ``filters`` instead of the target's, and a ``purpose`` for logs."""

    page_size = PAGE_SIZE

    def __init__(
        self,
        api: ApiClient,
        target: ModelArtsLiteTarget,
        sources: tuple[str, ...],
        *,
        parse: Callable[[Any], Job | None] | None = None,
        filters: Mapping[str, tuple[str, list[str]]] | None = None,
        purpose: str = "",
    ) -> None:
        self.api = api
        self.name = f"target {target.name}: {OPERATION}{f' ({purpose})' if purpose else ''}"
        self.max_pages = target.max_pages
        self._path = f"/v2/{target.project()}/training-job-searches"
        self._parse = parse or TrainingJobParser(sources)
        self._filters = dict(target.training_filters.search() if filters is None else filters)

    def read(self, params: Mapping[str, Any], number: int, deadline: float) -> Page:
        """Page ``number`` of the jobs matching ``params`` (and the target's filters)."""
        payload, date = self.api.post_json_dated(
            self._path,
            OPERATION,
            deadline=deadline,
            body=search_body(number, {**self._filters, **params}),
        )
        items = listed_items(payload, "items", OPERATION)
        size = len(items)
        jobs, skipped = read_items(self._parse, items)
        return Page(jobs, size, whole_number(payload.get("count")), skipped, date)

    def window(self, start_ms: int, end_ms: int) -> dict[str, Any]:
        return {WINDOW: ("between", [str(start_ms), str(end_ms)])}

    def lookup(self, key: str, deadline: float) -> Page:
        """The answer to a search for job ``key`` by its id."""
        return self.read({"id": ("in", [key])}, 1, deadline)

    def walk(self, params: Mapping[str, Any], deadline: float) -> Walk:
        """Every job matching ``params``: the shared page walk."""
        return walk_pages(self, params, deadline)
