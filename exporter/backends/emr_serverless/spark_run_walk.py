"""ListJobRuns as the shared token walk sees it: pages by ``nextToken``/``maxResults`` with a
``totalCount``, a ``startTime`` range of compact JSON over the runs' ``submitTime``, a run
looked up by ``jobRunId``.

A ``nextToken`` the API no longer knows is refused with HTTP 400 (``api.stale_token``), and the
walk begins again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exporter.backends.emr_serverless.api import (
    PAGE_SIZE,
    stale_token,
    time_range,
    workspace_path,
)
from exporter.backends.emr_serverless.spark_runs import SparkRunParser, decode_run_page
from exporter.backends.emr_serverless.target import EmrServerlessTarget
from exporter.backends.kit.token_list import TokenEnvelope, TokenList
from exporter.backends.kit.token_walk import walk_tokens
from exporter.backends.kit.walk import TokenPage, Walk
from exporter.http.client import ApiClient

ACTION = "ListJobRuns"
ENVELOPE = TokenEnvelope(items="jobRuns", next_token="nextToken", total="totalCount")


class SparkRunWalker:
    """Reads the ListJobRuns pages of one target, its ``spark_filters`` applied (the
    ``TokenPages`` of the token walk, and the ``WindowedSource`` of its incremental list)."""

    page_size = PAGE_SIZE

    def __init__(
        self, api: ApiClient, target: EmrServerlessTarget, sources: tuple[str, ...]
    ) -> None:
        self.name = f"target {target.name}: {ACTION}"
        self.max_pages = target.max_pages
        region = {"regionId": target.region} if target.region else {}
        self._pages = TokenList(
            api,
            workspace_path(target, "jobRuns"),
            ACTION,
            SparkRunParser(sources),
            ENVELOPE,
            name=self.name,
            page_size=PAGE_SIZE,
            max_pages=target.max_pages,
            params={**region, **target.spark_filters.query()},
            headers={"x-acs-action": ACTION},
            decode=decode_run_page,
            token_refused=stale_token,
        )

    def read(self, params: Mapping[str, Any], token: str | None, deadline: float) -> TokenPage:
        """The page ``token`` names (None: the first) of the runs matching ``params``."""
        return self._pages.read(params, token, deadline)

    def walk(self, params: Mapping[str, Any], deadline: float) -> Walk:
        """Every run matching ``params``: the shared token walk."""
        return walk_tokens(self, params, deadline)

    def window(self, start_ms: int, end_ms: int) -> dict[str, Any]:
        return {"startTime": time_range(start_ms, end_ms)}

    def lookup(self, key: str, deadline: float) -> TokenPage:
        """The answer to a query for run ``key`` by its id."""
        return self.read({"jobRunId": key}, None, deadline)
