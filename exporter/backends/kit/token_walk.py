"""Walking a list paged by token: each answer names the next page (EMR ``nextToken``, the
Kubernetes ``continue``), the first page asked for without one.

The walk stops at the first answer without a token and guards against what servers do to a
token walk: it reads at most ``max_pages`` pages a pass (then incomplete and ``capped``); a
token given twice (a server in a loop) stops it incomplete; a token the API no longer knows
(``TokenExpired``: Kubernetes answers 410 Gone to an old ``continue``) begins the walk again
from the first page, ``MAX_RESTARTS`` times at most. When the pages give a total and a walk
listed fewer jobs than it, or the total dropped between two pages (a token that is an offset
skips a job when one before it is deleted, and misses one when ties are reordered), the list
is walked again, ``MAX_REREADS`` times at most; past either bound the walk is incomplete and
``unstable``, to be taken again soon.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from exporter.backends.kit.walk import TokenPage, Walk
from exporter.errors import PollError

log = logging.getLogger(__name__)

MAX_RESTARTS = 3  # walks begun again after a token expired, before the walk gives up
MAX_REREADS = 3  # walks again when the pages' total says a job may have been missed


class TokenExpired(Exception):
    """The API no longer knows the page token it was given: the walk must begin again."""


@dataclass(frozen=True, slots=True)
class TokenParams:
    """How a request names its page: the query parameters of the token and of the size."""

    token: str
    size: str

    def query(self, token: str | None, size: int) -> dict[str, Any]:
        """The paging parameters of a request; the first page's carries no token."""
        return {self.size: size, self.token: token} if token else {self.size: size}


NEXT_TOKEN = TokenParams("nextToken", "maxResults")  # EMR and most cloud APIs
CONTINUE = TokenParams("continue", "limit")  # Kubernetes


def expired(error: PollError, token: str | None) -> bool:
    """Whether ``error`` says a page token expired: HTTP 410 Gone to a request that carried
    one (how Kubernetes refuses a ``continue`` older than its compaction)."""
    return token is not None and error.status == 410


class TokenPages(Protocol):
    """A list API paged by token."""

    name: str  # who walks what, for log lines: "target k8s: ListJobs"
    max_pages: int

    def read(self, params: Mapping[str, Any], token: str | None, deadline: float) -> TokenPage:
        """The page of the jobs matching ``params`` that ``token`` names (None: the first);
        raises ``TokenExpired`` when the API no longer knows ``token``."""


@dataclass(slots=True)
class _Pass:
    """One walk from the first page to the last."""

    listed: set[str] = field(default_factory=set)
    total: int | None = None  # the last page's
    shrank: bool = False  # a page gave a lower total than the page before


def walk_tokens(pages: TokenPages, params: Mapping[str, Any], deadline: float) -> Walk:
    """Every job matching ``params``, page by page: see the module's guarantees."""
    walk = Walk()
    trusted: set[str] = set()  # listed by passes the list did not shrink under
    restarts = rereads = 0
    while True:
        try:
            done = _walk_once(pages, params, deadline, walk)
        except TokenExpired:
            restarts += 1
            if restarts > MAX_RESTARTS:
                log.warning("%s: page tokens kept expiring; incomplete", pages.name)
                walk.complete, walk.unstable = False, True
                return walk
            continue
        if done is None or done.total is None:
            return walk
        if not done.shrank:
            trusted |= done.listed
        if len(trusted) >= done.total:
            return walk
        rereads += 1
        if rereads > MAX_REREADS:
            log.warning("%s kept changing under the walk; incomplete", pages.name)
            walk.complete, walk.unstable = False, True
            return walk


def _walk_once(
    pages: TokenPages, params: Mapping[str, Any], deadline: float, walk: Walk
) -> _Pass | None:
    """Read the pages once, into ``walk``; None when the walk must stop here (a page cap, a
    token given twice), the walk marked incomplete."""
    done, token = _Pass(), None
    seen: set[str] = set()
    for _ in range(pages.max_pages):
        page = pages.read(params, token, deadline)
        walk.add(page)
        done.listed.update(job.key for job in page.jobs)
        if page.total is not None:
            done.shrank |= done.total is not None and page.total < done.total
            done.total = page.total
        token = page.next_token
        if not token:
            return done
        if token in seen:
            log.warning("%s: the API gave the same page token twice; incomplete", pages.name)
            walk.complete = False
            return None
        seen.add(token)
    log.warning("%s stopped at the page cap (%d pages)", pages.name, pages.max_pages)
    walk.complete, walk.capped = False, True
    return None
