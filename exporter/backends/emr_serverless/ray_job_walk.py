"""ListRayJob as the shared page walk sees it: pages by ``pageNum``/``pageSize`` with a
``totalCount``, a ``submitTime`` filter of compact JSON, a job looked up by ``submissionId``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exporter.backends.emr_serverless.api import (
    PAGE_SIZE,
    time_range,
    workspace_path,
)
from exporter.backends.emr_serverless.ray_jobs import decode_job_page, parse_jobs
from exporter.backends.emr_serverless.target import EmrServerlessTarget
from exporter.backends.kit.fields import listed_items, whole_number
from exporter.backends.kit.page_walk import walk_pages
from exporter.backends.kit.walk import Page, Walk
from exporter.http.client import ApiClient


class RayJobWalker:
    """Reads the ListRayJob pages of one target, its filters applied (``NumberedPages``, and
    the ``WindowedSource`` of its incremental list)."""

    page_size = PAGE_SIZE

    def __init__(
        self, api: ApiClient, target: EmrServerlessTarget, sources: tuple[str, ...]
    ) -> None:
        self.api = api
        self.sources = sources  # the target's attribution source fields
        self.name = f"target {target.name}: ListRayJob"
        self.max_pages = target.max_pages
        self._path = workspace_path(target, "rayJob")
        self._filters = {
            key: value
            for key, value in (
                ("name", target.filters.name),
                ("taskBizId", target.filters.task_biz_id),
            )
            if value
        }

    def read(self, params: Mapping[str, Any], number: int, deadline: float) -> Page:
        """Page ``number`` of the jobs matching ``params`` (and the target's filters)."""
        payload, date = self.api.get_json_dated(
            self._path,
            "ListRayJob",
            deadline=deadline,
            params={**self._filters, **params, "pageNum": number, "pageSize": PAGE_SIZE},
            headers={"x-acs-action": "ListRayJob"},
            decode=decode_job_page,
        )
        items = listed_items(payload, "rayJobs", "ListRayJob")
        jobs, skipped = parse_jobs(items, self.sources)
        return Page(jobs, len(items), whole_number(payload.get("totalCount")), skipped, date)

    def window(self, start_ms: int, end_ms: int) -> dict[str, Any]:
        return {"submitTime": time_range(start_ms, end_ms)}

    def lookup(self, key: str, deadline: float) -> Page:
        """The answer to a query for job ``key`` by its id."""
        return self.read({"submissionId": key}, 1, deadline)

    def walk(self, params: Mapping[str, Any], deadline: float) -> Walk:
        """Every job matching ``params``: the shared page walk."""
        return walk_pages(self, params, deadline)
