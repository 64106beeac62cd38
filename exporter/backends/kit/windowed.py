"""The jobs of one list, kept between polls, asked for by submission-time window.

The first poll (and one every ``full_list_interval``) walks the whole list; steady-state polls
ask only for what can have changed: one window from just before the newest job seen (or from
the oldest job still active, when that is cheaper than asking for the older active jobs one by
one), so the request count grows with active and new jobs, not with history.

It works over any ``WindowedSource``: a walker by page number (``page_walk``) or by token
(``token_walk``) with the API's time filter and its by-id query.
"""

from __future__ import annotations

import bisect
import logging
import math
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from exporter.backends.base import Listing
from exporter.backends.kit.walk import SUBMIT_SLACK, Page, Walk
from exporter.model import Job

log = logging.getLogger(__name__)

WATERMARK_OVERLAP = 600.0  # seconds re-read before the newest submission time seen, at least
OPEN_END = 86400.0  # a window's end lies this far past both clocks: open-ended in effect


class WindowedSource(Protocol):
    """What the incremental list needs of a list API."""

    name: str  # who walks what, for log lines: "target emr: ListRayJob"
    page_size: int  # jobs a page holds: what a window costs in requests

    def walk(self, params: Mapping[str, Any], deadline: float) -> Walk:
        """Every job matching ``params``, sure to miss none (or saying it may have)."""

    def window(self, start_ms: int, end_ms: int) -> dict[str, Any]:
        """The query parameters that keep the jobs submitted from ``start_ms`` to ``end_ms``
        (epoch milliseconds, both included)."""

    def lookup(self, key: str, deadline: float) -> Page:
        """The answer to a query for job ``key`` by its id (one request)."""


class WindowedList:
    """Every job of one list, as of the last poll: ``list_jobs`` brings it up to date."""

    def __init__(
        self,
        source: WindowedSource,
        clock: Callable[[], float],
        *,
        full_list_interval: float,
        poll_interval: float,
    ) -> None:
        self.source = source
        self.clock = clock
        self.full_list_interval = full_list_interval
        self.poll_interval = poll_interval
        self._jobs: dict[str, Job] | None = None
        self._watermark = 0.0
        self._lookback = WATERMARK_OVERLAP  # grows when a walk finds a job listed later
        self._window_start: float | None = None  # of the last incremental poll since a walk
        self._next_full_walk = 0.0
        self._complete = True

    def list_jobs(self, deadline: float) -> Listing:
        now = self.clock()
        if self._jobs is None or now >= self._next_full_walk:
            walk = self.source.walk({}, deadline)
            self._learn_lookback(walk, now)
            if walk.complete or self._jobs is None:
                self._jobs = walk.found
            else:  # a job still active is never dropped on the strength of an incomplete walk
                active = {k: j for k, j in self._jobs.items() if not j.phase.terminal}
                self._jobs = {**active, **walk.found}
            self._complete = walk.complete
            # a walk the list moved under, or an empty answer (often a passing fault: one page to
            # ask again), is taken again at the next poll
            again = walk.unstable or not walk.found
            self._next_full_walk = now + (0.0 if again else self.full_list_interval)
            skipped, as_of = walk.skipped, walk.as_of
        else:
            skipped, as_of = self._refresh(deadline)
        newest = max((job.submit_time or 0.0 for job in self._jobs.values()), default=None)
        # With no job yet (an empty first answer), the window starts at the API's clock, not
        # at the epoch.
        self._watermark = newest if newest is not None else as_of or self._watermark or now
        return Listing(
            items=list(self._jobs.values()), complete=self._complete, skipped=skipped, as_of=as_of
        )

    def _learn_lookback(self, walk: Walk, now: float) -> None:
        """Widen the incremental window for jobs the API lists late.

        A job first found by a full walk, though submitted before the start of the last
        incremental window, was listed by the API later than the lookback: no incremental poll
        could find it. The lookback grows to how old the job is now (an upper bound of its
        delay) plus one poll interval, at most ``full_list_interval``, so the next such job is
        found by the first poll after it is listed rather than by the next walk.
        """
        start, self._window_start = self._window_start, None
        if self._jobs is None or start is None:
            return
        as_of = walk.as_of if walk.as_of is not None else now
        missed = [
            job.submit_time
            for key, job in walk.found.items()
            if key not in self._jobs
            and job.submit_time is not None
            and job.submit_time < start - SUBMIT_SLACK
        ]
        if not missed:
            return
        delay = min(as_of - min(missed) + self.poll_interval, self.full_list_interval)
        if delay > self._lookback:
            log.warning(
                "%s: %d jobs were listed more than %.0fs after their submitTime; "
                "looking back %.0fs from now on",
                self.source.name,
                len(missed),
                self._lookback,
                delay,
            )
            self._lookback = delay

    def _refresh(self, deadline: float) -> tuple[int, float | None]:
        """Ask for new jobs and the still-active ones, at the lowest request count.

        The window is open-ended (its end a day past the API's clock and ours, so a clock
        ahead of ours hides nothing) and starts a lookback (``WATERMARK_OVERLAP``, or more
        once jobs listed later were seen: ``_learn_lookback``) before the newest submission
        time seen: a job listed up to that long after its submission is still found. An
        active job is in the window only when its submission time is ``SUBMIT_SLACK`` past
        its start: one whose answers round or re-derive that time is never taken for deleted.
        """
        assert self._jobs is not None
        active = sorted(
            (job for job in self._jobs.values() if job.phase.active),  # unknown waits for a walk
            key=lambda job: job.submit_time or 0.0,
        )
        floors = [(job.submit_time or 0.0) - SUBMIT_SLACK for job in active]  # surely before it
        cut = self._cheapest_cut(floors)
        if self._window_start is None or cut > self._window_start:
            self._window_start = cut
        end = max(self._watermark, self.clock()) + OPEN_END
        walk = self.source.walk(self.source.window(int(cut * 1000), int(end * 1000)), deadline)
        fresh, skipped = walk.found, walk.skipped
        for job, floor in zip(active, floors, strict=True):
            if floor >= cut:
                if walk.complete and job.key not in fresh:  # gone from its window: deleted
                    self._jobs.pop(job.key, None)
                continue
            page = self.source.lookup(job.key, deadline)
            skipped += page.skipped
            match = next((j for j in page.jobs if j.key == job.key), None)
            if match is None:
                self._jobs.pop(job.key, None)
            else:
                fresh[job.key] = match
        self._jobs.update(fresh)
        self._complete = walk.complete
        return skipped, walk.as_of

    def _cheapest_cut(self, floors: list[float]) -> float:
        """Where the window starts: the lookback before the watermark, or earlier to hold the
        oldest active jobs (``floors``, sorted) rather than look each up by id, whichever
        costs fewer requests (a window costs a request a page of the jobs known to be in it)."""
        assert self._jobs is not None
        submits = sorted(job.submit_time or 0.0 for job in self._jobs.values())
        window_start = self._watermark - self._lookback
        best_cost, best_cut = math.inf, window_start
        for older_count in range(len(floors) + 1):
            cut = window_start
            if older_count < len(floors):
                cut = min(window_start, floors[older_count])
            in_window = len(submits) - bisect.bisect_left(submits, cut)
            cost = older_count + max(1, math.ceil(in_window / self.source.page_size))
            if cost < best_cost:
                best_cost, best_cut = cost, cut
        return best_cut
