"""Walking a list paged by number against the total it gives, sure to miss no job while the
list moves under the walk (jobs submitted or deleted meanwhile, jobs of equal submission time
listed in a new order by each request).

The API is seen through ``NumberedPages``, which a backend implements: its request, its page
size and cap, and its filter for jobs submitted within a span of time.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any, Protocol

from exporter.backends.kit.walk import SUBMIT_SLACK, Page, Walk

log = logging.getLogger(__name__)

MAX_STEPS_BACK = 20  # pages read again for deletions in one walk before it is incomplete
TIE_ROUNDS = 10  # reads of a group of equal submission time before it counts as incomplete


class NumberedPages(Protocol):
    """A list API paged by number, newest first, with a total in every answer."""

    name: str  # who walks what, for log lines: "target emr: ListRayJob"
    page_size: int
    max_pages: int

    def read(self, params: Mapping[str, Any], number: int, deadline: float) -> Page:
        """Page ``number`` (from 1) of the jobs matching ``params``; a ``Page`` without a
        total counts as one whose total is its size."""

    def window(self, start_ms: int, end_ms: int) -> dict[str, Any]:
        """The query parameters that keep the jobs submitted from ``start_ms`` to ``end_ms``
        (epoch milliseconds, both included)."""


def total(page: Page) -> int:
    """The total a page gave, or its size when it gave none."""
    return page.total if page.total is not None else page.size


def walk_pages(pages: NumberedPages, params: Mapping[str, Any], deadline: float) -> Walk:
    """Every job matching ``params``, page by page, sure to miss none.

    A job inserted while paging pushes the rest down: a boundary item shows twice, nothing is
    missed. A job deleted while paging pulls the rest up, so the first item of the page about
    to be read moves to the end of the page read before: when the total drops between two
    reads, the page before is read again (``MAX_STEPS_BACK`` times at most, then the walk is
    incomplete and ``unstable``). Jobs of equal submission time may come in any order, a new
    one per request: when a walk found fewer jobs than the total, each group of them across a
    page boundary (``boundary_spans``: times within ``SUBMIT_SLACK``, as an answer may round
    them) is read on its own until all are seen.
    """
    walk = Walk()
    read: dict[int, Page] = {}
    previous: Page | None = None  # the page read last, whichever it was
    number, steps_back = 1, 0
    while True:
        if number > pages.max_pages:
            log.warning("%s stopped at the page cap (%d pages)", pages.name, pages.max_pages)
            walk.complete, walk.capped = False, True
            return walk
        page = pages.read(params, number, deadline)
        walk.add(page)
        if previous is not None and total(page) < total(previous) and number > 1:
            steps_back += 1
            if steps_back > MAX_STEPS_BACK:
                walk.complete, walk.unstable = False, True
                log.warning("%s kept shrinking under the walk; incomplete", pages.name)
                return walk
            previous, number = page, number - 1
            continue
        read[number] = previous = page
        if page.size < pages.page_size or number * pages.page_size >= total(page):
            break
        number += 1
    _find_missed(pages, params, read, number, total(page), deadline, walk)
    return walk


def _find_missed(
    pages: NumberedPages,
    params: Mapping[str, Any],
    read: dict[int, Page],
    last: int,
    expected: int,
    deadline: float,
    walk: Walk,
) -> None:
    """After a walk to page ``last``, find what it may have missed: pages read again for jobs
    submitted meanwhile, then groups of equal submission time across page boundaries."""
    # what the pages list now: the last read of each, and the reads again below (fewer of the
    # jobs deleted during the walk than all it found, which could hide one missed)
    listed = {job.key for kept in read.values() for job in kept.jobs}
    # jobs submitted meanwhile sit on pages already read: read those again
    for again in range(1, last + 1):
        if len(walk.found) >= expected:
            break
        fresh = pages.read(params, again, deadline)
        listed.update(job.key for job in fresh.jobs)
        if not walk.add(fresh):
            break
    if len(listed) < expected:
        # a group of equal submission time across a page boundary was reordered between two
        # reads (with no job deleted, nothing else can be missing)
        for span in boundary_spans(read):
            if not _read_ties(pages, params, span, deadline, walk):
                walk.complete, walk.unstable = False, True
                log.warning("%s: jobs submitted at one instant never listed in full", pages.name)


def _read_ties(
    pages: NumberedPages,
    params: Mapping[str, Any],
    span: tuple[float, float],
    deadline: float,
    walk: Walk,
) -> bool:
    """Read every job submitted within ``span`` (epoch seconds), however they are ordered."""
    low, high = span
    window = {**params, **pages.window(math.floor(low * 1000), math.ceil(high * 1000))}
    seen: set[str] = set()
    for _ in range(TIE_ROUNDS):
        number, expected = 1, None
        while True:
            page = pages.read(window, number, deadline)
            walk.add(page)
            seen.update(job.key for job in page.jobs)
            if expected is not None and total(page) != expected:
                break  # changed meanwhile: this round does not tell
            expected = total(page)
            if page.size < pages.page_size or number * pages.page_size >= expected:
                if len(seen) >= expected:
                    return True
                break
            number += 1
    return False


def boundary_spans(read: dict[int, Page]) -> list[tuple[float, float]]:
    """Where a group of equal submission time may be split across two consecutive pages:
    around each boundary whose two sides are within ``SUBMIT_SLACK`` (the times an answer
    gives may be rounded or re-derived, so equal ones may not look equal), widened by it;
    overlapping spans joined."""
    spans: list[tuple[float, float]] = []
    for index, page in sorted(read.items()):
        following = read.get(index + 1)
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
