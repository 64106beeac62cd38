"""Walking ListRayJob: pages read by ``pageNum``/``pageSize`` against ``totalCount``, sure to
miss no job while the list moves under the walk (jobs submitted or deleted meanwhile, jobs of
equal ``submitTime`` listed in a new order by each request)."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from typing import Any

from exporter.backends.emr_serverless.api import (
    PAGE_SIZE,
    listed_items,
    whole_number,
    workspace_path,
)
from exporter.backends.emr_serverless.ray_jobs import decode_job_page, parse_jobs
from exporter.backends.emr_serverless.target import EmrServerlessTarget
from exporter.http.client import ApiClient
from exporter.model import Job

log = logging.getLogger(__package__)  # the backend's logger, whichever module logs

# How far a submitTime an answer gives may be from the one the API filters by (rounded, or
# re-derived by a proxy): a window meant to hold a job starts this much before its time
SUBMIT_SLACK = 60.0
MAX_STEPS_BACK = 20  # pages read again for deletions in one walk before it is incomplete
TIE_ROUNDS = 10  # reads of a group of equal submitTime before it counts as incomplete


def submit_window(start_ms: int, end_ms: int) -> str:
    """The ``submitTime`` filter: one query parameter of compact JSON."""
    return json.dumps({"endTime": end_ms, "startTime": start_ms}, separators=(",", ":"))


@dataclass(slots=True)
class JobPage:
    """One ListRayJob answer: page ``number``, its jobs, how many items it held (``size``),
    the ``totalCount`` it gave, the items skipped and the API's clock (``Date``)."""

    number: int
    jobs: list[Job]
    size: int
    total: int
    skipped: int
    date: float | None


@dataclass(slots=True)
class Walk:
    """What a walk found, and how far it can be trusted."""

    found: dict[str, Job] = field(default_factory=dict)
    complete: bool = True
    unstable: bool = False  # the list moved under it: take it again soon
    capped: bool = False
    skipped: int = 0
    as_of: float | None = None

    def add(self, page: JobPage) -> int:
        """Take in one page; the number of jobs it brought that were not found before."""
        before = len(self.found)
        for job in page.jobs:
            self.found[job.key] = job
        self.skipped += page.skipped
        if self.as_of is None:
            self.as_of = page.date
        return len(self.found) - before


def _boundary_spans(pages: dict[int, JobPage]) -> list[tuple[float, float]]:
    """Where a group of equal submitTime may be split across two consecutive pages: around
    each boundary whose two sides are within ``SUBMIT_SLACK`` (the times an answer gives may
    be rounded or re-derived, so equal ones may not look equal), widened by it; overlapping
    spans joined."""
    spans: list[tuple[float, float]] = []
    for index, page in sorted(pages.items()):
        following = pages.get(index + 1)
        if page.jobs and following is not None and following.jobs:
            last, first = page.jobs[-1].submit_time, following.jobs[0].submit_time
            if last is not None and first is not None and abs(last - first) <= SUBMIT_SLACK:
                spans.append((min(last, first) - SUBMIT_SLACK, max(last, first) + SUBMIT_SLACK))
    joined: list[tuple[float, float]] = []
    for low, high in sorted(spans):
        if joined and low <= joined[-1][1]:
            joined[-1] = (joined[-1][0], max(high, joined[-1][1]))
        else:
            joined.append((low, high))
    return joined


class RayJobWalker:
    """Reads the ListRayJob pages of one target, its filters applied."""

    def __init__(
        self, api: ApiClient, target: EmrServerlessTarget, sources: tuple[str, ...]
    ) -> None:
        self.api = api
        self.target = target
        self.sources = sources  # the target's attribution source fields
        self._path = workspace_path(target, "rayJob")
        self._filters = {
            key: value
            for key, value in (
                ("name", target.filters.name),
                ("taskBizId", target.filters.task_biz_id),
            )
            if value
        }

    def page(self, params: dict[str, Any], page: int, deadline: float) -> JobPage:
        """Page ``page`` of the jobs matching ``params`` (and the target's filters)."""
        payload, date = self.api.get_json_dated(
            self._path,
            "ListRayJob",
            deadline=deadline,
            params={**self._filters, **params, "pageNum": page, "pageSize": PAGE_SIZE},
            headers={"x-acs-action": "ListRayJob"},
            decode=decode_job_page,
        )
        items = listed_items(payload, "rayJobs", "ListRayJob")
        total = whole_number(payload.get("totalCount"))
        jobs, skipped = parse_jobs(items, self.sources)
        total = total if total is not None else len(items)
        return JobPage(page, jobs, len(items), total, skipped, date)

    def walk(self, params: dict[str, Any], deadline: float) -> Walk:
        """Every job matching ``params``, page by page, sure to miss none.

        A job inserted while paging pushes the rest down: a boundary item shows twice, nothing
        is missed. A job deleted while paging pulls the rest up, so the first item of the page
        about to be read moves to the end of the page read before: when ``totalCount`` drops
        between two reads, the page before is read again (``MAX_STEPS_BACK`` times at most,
        then the walk is incomplete and ``unstable``). Jobs of equal ``submitTime`` may come in
        any order, a new one per request: when a walk found fewer jobs than ``totalCount``,
        each group of them across a page boundary (``_boundary_spans``: times within
        ``SUBMIT_SLACK``, as an answer may round them) is read on its own until all are seen.
        """
        walk = Walk()
        pages: dict[int, JobPage] = {}
        previous: JobPage | None = None  # the page read last, whichever it was
        page_num, steps_back = 1, 0
        while True:
            if page_num > self.target.max_pages:
                log.warning(
                    "target %s: ListRayJob stopped at the page cap (%d pages)",
                    self.target.name,
                    self.target.max_pages,
                )
                walk.complete, walk.capped = False, True
                return walk
            page = self.page(params, page_num, deadline)
            walk.add(page)
            if previous is not None and page.total < previous.total and page_num > 1:
                steps_back += 1
                if steps_back > MAX_STEPS_BACK:
                    walk.complete, walk.unstable = False, True
                    log.warning(
                        "target %s: ListRayJob kept shrinking under the walk; incomplete",
                        self.target.name,
                    )
                    return walk
                previous, page_num = page, page_num - 1
                continue
            pages[page_num] = previous = page
            if page.size < PAGE_SIZE or page_num * PAGE_SIZE >= page.total:
                break
            page_num += 1
        self._find_missed(params, pages, page_num, page.total, deadline, walk)
        return walk

    def _find_missed(
        self,
        params: dict[str, Any],
        pages: dict[int, JobPage],
        last: int,
        total: int,
        deadline: float,
        walk: Walk,
    ) -> None:
        """After a walk to page ``last``, find what it may have missed: pages read again for
        jobs submitted meanwhile, then groups of equal ``submitTime`` across page boundaries."""
        # what the pages list now: the last read of each, and the reads again below (fewer of
        # the jobs deleted during the walk than all it found, which could hide one missed)
        listed = {job.key for kept in pages.values() for job in kept.jobs}
        # jobs submitted meanwhile sit on pages already read: read those again
        for again in range(1, last + 1):
            if len(walk.found) >= total:
                break
            fresh = self.page(params, again, deadline)
            listed.update(job.key for job in fresh.jobs)
            if not walk.add(fresh):
                break
        if len(listed) < total:
            # a group of equal submitTime across a page boundary was reordered between two
            # reads (with no job deleted, nothing else can be missing)
            for span in _boundary_spans(pages):
                if not self._read_ties(params, span, deadline, walk):
                    walk.complete, walk.unstable = False, True
                    log.warning(
                        "target %s: jobs submitted at one instant never listed in full",
                        self.target.name,
                    )

    def _read_ties(
        self, params: dict[str, Any], span: tuple[float, float], deadline: float, walk: Walk
    ) -> bool:
        """Read every job submitted within ``span`` (epoch seconds), however they are ordered."""
        low, high = span
        window = {"submitTime": submit_window(math.floor(low * 1000), math.ceil(high * 1000))}
        seen: set[str] = set()
        for _ in range(TIE_ROUNDS):
            page_num, total = 1, None
            while True:
                page = self.page({**params, **window}, page_num, deadline)
                walk.add(page)
                seen.update(job.key for job in page.jobs)
                if total is not None and page.total != total:
                    break  # changed meanwhile: this round does not tell
                total = page.total
                if page.size < PAGE_SIZE or page_num * PAGE_SIZE >= total:
                    if len(seen) >= total:
                        return True
                    break
                page_num += 1
        return False
