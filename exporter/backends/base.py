"""The face every backend shows: list jobs, list clusters, as the shared records; and list
each resource of its own, by the method its declaration names (``kit.resources``)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from exporter.backends.kit.resources import JOBS
from exporter.config.types.defaults import AttributionSettings
from exporter.errors import PollError
from exporter.http.scrub import Scrubber
from exporter.model import Cluster, Job


@dataclass(slots=True)
class Listing:
    """One poll's answer. ``complete`` is False when the API said it returned only part, or
    the list moved under the walk so that it may have missed some.

    ``skipped`` counts items that were unusable (no identity, wrong shape) and left out.
    ``as_of`` is the API's clock when the listing began (its ``Date`` header), None when the
    API did not say: job times are on that clock.
    """

    items: list
    complete: bool = True
    skipped: int = 0
    as_of: float | None = None


class Backend(ABC):
    """One target's API. Implementations raise ``PollError`` for every failure.

    ``attribution`` is the target's: each ``Job`` it lists carries the values of the source
    fields of its list (``sources``)."""

    def __init__(self, kind: str, attribution: AttributionSettings | None = None) -> None:
        self.kind = kind
        self.attribution = attribution or AttributionSettings()
        self.scrub = Scrubber()  # masks the target's secrets in text a backend sent

    def sources(self, resource: str = JOBS) -> tuple[str, ...]:
        """The attribution source fields of the jobs of list ``resource``, in label order."""
        return self.attribution.sources(resource)

    @abstractmethod
    def list_jobs(self, deadline: float) -> Listing:
        """Every job the target knows (a ``Listing`` of ``Job``)."""

    def resume(self, unfinished: Iterable[str], resource: str) -> None:  # noqa: B027 - optional hook
        """After a restart: the jobs of job resource ``resource`` (``jobs``, or another list of
        jobs it declares) the saved state knows as not yet finished. A backend that does not
        list every job each poll must follow these until it sees them end."""

    def follow_counting(self, resource: str, uncounted: Callable[[Job], bool]) -> None:  # noqa: B027 - optional hook
        """The ledger of job resource ``resource`` answers ``uncounted(job)``: whether an ended
        job it lists now is still to be counted finished. A backend that fetches more of an
        ended job before it is counted (``Job.values_due``) fetches only for those."""

    def list_clusters(self, deadline: float) -> Listing:
        """Every cluster of the target (a ``Listing`` of ``Cluster``)."""
        raise PollError("other", f"backend {self.kind} has no cluster API")

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


__all__ = ["Backend", "Cluster", "Job", "Listing"]
