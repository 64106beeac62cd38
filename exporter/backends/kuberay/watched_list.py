"""A Kubernetes list kept between polls: listed whole once, then, at each poll, a watch from
the version reached, which replays every change since (``WATCH_SECONDS`` long, the server
closing it), so a steady poll reads only what changed, and sees how a RayJob deleted since
the last poll ended: a DELETED event carries the object's last state.

A watch whose version is compacted away (410, as an ERROR event or an answer) or whose stream
cannot be read is followed by a whole list again, in the same poll or the next. What was
deleted meanwhile is then unseen: how it ended is unknown, and it is not counted
(docs/backends/kuberay.md, "Deleted RayJobs").
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable, Mapping
from typing import Any

from exporter.backends.base import Listing
from exporter.backends.kit.fields import parse_time, text
from exporter.backends.kit.token_list import TokenList, value_at
from exporter.backends.kit.token_walk import walk_tokens
from exporter.backends.kit.walk import TokenPage
from exporter.backends.kuberay.watch_events import WatchEvents
from exporter.errors import PollError
from exporter.http.scrub import Scrubber
from exporter.model import Job, Phase

log = logging.getLogger(__name__)

WATCH_SECONDS = 1  # ``timeoutSeconds`` of a poll's watch: its replay comes first, at once
DELETED = "Deleted"  # the status of a RayJob deleted before it ended


class Expired(Exception):
    """The version a watch went on from is compacted away: the list must be read whole."""


class _VersionedPages:
    """A token list's pages, the version of the list they show kept from each walk's first."""

    def __init__(self, pages: TokenList) -> None:
        self.pages = pages
        self.name = pages.name
        self.max_pages = pages.max_pages
        self.version = ""

    def read(self, params: Mapping[str, Any], token: str | None, deadline: float) -> TokenPage:
        page = self.pages.read(params, token, deadline)
        if token is None:
            self.version = page.version
        return page


def ended_by_deletion(job: Job, item: Any, now: float) -> Job:
    """A job deleted before it ended: cancelled (deleting a RayJob stops its Ray job), at its
    ``deletionTimestamp`` when the object has one, else when the deletion was read."""
    at = parse_time(value_at(item, "metadata.deletionTimestamp"))
    return dataclasses.replace(
        job, status=DELETED, phase=Phase.CANCELLED, end_time=at if at is not None else now
    )


class WatchedList:
    """The jobs of one Kubernetes list (``pages``), kept up to date by a watch at each poll."""

    def __init__(
        self,
        pages: TokenList,
        watch_operation: str,
        scrub: Scrubber,
        clock: Callable[[], float],
        full_list_interval: float,
    ) -> None:
        self.pages = pages
        self.watch_operation = watch_operation
        self.scrub = scrub
        self.clock = clock
        self.full_list_interval = full_list_interval
        self.version = ""  # the list's version the jobs are at; "": list it whole
        self._jobs: dict[str, Job] = {}
        self._ended: dict[str, Job] = {}  # deleted since the last listing, in their last state
        self._listed_at = -math.inf
        self._suspect = False  # an event's object was unusable: list whole to mend it

    def listing(self, deadline: float) -> Listing:
        """Every job of the list now, and each one deleted since the last listing once. A
        poll that lists whole (its first, a 410, one ``full_list_interval`` after the last, or
        the next after an unusable event) watches first when it can, so that no deletion since
        the last poll is missed."""
        as_of, complete, skipped = None, True, 0
        due = self._suspect or self.clock() - self._listed_at >= self.full_list_interval
        if self.version:
            try:
                as_of = self._watch(deadline)
            except Expired:
                log.info("%s: watch version expired; listing whole", self.pages.name)
                self.version = ""
        if not self.version or due:
            as_of, complete, skipped = self._list(deadline)
        ended, self._ended = list(self._ended.values()), {}
        items = [*self._jobs.values(), *ended]
        return Listing(items=items, complete=complete, skipped=skipped, as_of=as_of)

    def _list(self, deadline: float) -> tuple[float | None, bool, int]:
        pages = _VersionedPages(self.pages)
        walk = walk_tokens(pages, {}, deadline)
        unseen = sum(
            1 for key, job in self._jobs.items() if key not in walk.found and not job.phase.terminal
        )
        if unseen:
            log.info(
                "%s: %d active jobs left while unwatched; how they ended is unknown: not counted",
                self.pages.name,
                unseen,
            )
        self._jobs = dict(walk.found)
        self.version = pages.version if walk.complete else ""
        self._listed_at, self._suspect = self.clock(), False
        return walk.as_of, walk.complete, walk.skipped

    def _watch(self, deadline: float) -> float | None:
        """Take in the changes since ``version``; the API's clock as it answered."""
        params = {
            **self.pages.params,
            "watch": "true",
            "resourceVersion": self.version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": WATCH_SECONDS,
        }
        try:
            _, date = self.pages.api.get_json_dated(
                self.pages.path,
                self.watch_operation,
                deadline=deadline,
                params=params,
                reader=lambda _limit: WatchEvents(self.take),
            )
        except PollError as err:
            if err.status == 410:
                raise Expired(str(err)) from None
            if err.reason == "parse":  # a stream not read to its end: list again
                self.version = ""
            raise
        return date

    def take(self, event: Any) -> None:
        """One watch event: the jobs changed, the version reached."""
        kind, item = value_at(event, "type"), value_at(event, "object")
        if not isinstance(item, dict):
            raise PollError("parse", f"{self.watch_operation}: an event without an object")
        if kind == "ERROR":
            self._refused(item)
        version = text(value_at(item, "metadata.resourceVersion"))
        if kind in ("ADDED", "MODIFIED", "DELETED"):
            job = self.pages.parse(item)
            # an object without its version, identity or a known status is not as the API
            # server keeps it: the next poll lists whole to mend it
            self._suspect |= job is None or job.phase == Phase.UNKNOWN or not version
            if job is not None and kind == "DELETED":
                self._jobs.pop(job.key, None)
                terminal = job.phase.terminal
                self._ended[job.key] = (
                    job if terminal else ended_by_deletion(job, item, self.clock())
                )
            elif job is not None:
                self._jobs[job.key] = job
        elif kind != "BOOKMARK":
            raise PollError("parse", f"{self.watch_operation}: an event of type {kind!r}")
        self.version = version or self.version

    def _refused(self, status: dict[str, Any]) -> None:
        code = value_at(status, "code")
        if code == 410:
            raise Expired(text(value_at(status, "message")))
        detail = f"{text(value_at(status, 'reason'))}: {text(value_at(status, 'message'))}"
        raise PollError("http", self.scrub(f"{self.watch_operation}: {code} {detail}", 200))
