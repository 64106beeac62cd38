"""What every listing strategy reads and gives: the pages of a list answer, and a walk's result."""

from __future__ import annotations

from dataclasses import dataclass, field

from exporter.model import Job

# How far a submission time an answer gives may be from the one the API filters by (rounded, or
# re-derived by a proxy): a window meant to hold a job starts this much before its time
SUBMIT_SLACK = 60.0


@dataclass(slots=True)
class Page:
    """One list answer: its jobs, how many items it held (``size``, unusable ones too), the
    total the API gave (None when it gives none), the items skipped and the API's clock
    (``Date``)."""

    jobs: list[Job]
    size: int
    total: int | None = None
    skipped: int = 0
    date: float | None = None


@dataclass(slots=True)
class TokenPage(Page):
    """A page of a token-paged list, the token of the next one (None or empty: the last) and
    the version of the list it shows ("" where the API gives none: Kubernetes'
    ``metadata.resourceVersion``, from which a watch goes on)."""

    next_token: str | None = None
    version: str = ""


@dataclass(slots=True)
class Walk:
    """What a walk found, and how far it can be trusted."""

    found: dict[str, Job] = field(default_factory=dict)
    complete: bool = True
    unstable: bool = False  # the list moved under it: take it again soon
    capped: bool = False
    skipped: int = 0
    as_of: float | None = None

    def add(self, page: Page) -> int:
        """Take in one page; the number of jobs it brought that were not found before."""
        before = len(self.found)
        for job in page.jobs:
            self.found[job.key] = job
        self.skipped += page.skipped
        if self.as_of is None:
            self.as_of = page.date
        return len(self.found) - before
