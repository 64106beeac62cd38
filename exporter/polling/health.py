"""What the exporter knows about its own polling: per-resource outcomes, API request counts,
and the read-only snapshot of them that the HTTP face shows.

This is state, written by pollers and backend clients; the renderers turn it into series.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from exporter.errors import REASONS
from exporter.exposition.histogram import REQUEST_BUCKETS, Histogram


@dataclass(slots=True)
class ResourceHealth:
    """Outcome of the polls of one (target, resource)."""

    attempted: bool = False
    up: bool = False
    last_poll: float | None = None
    last_success: float | None = None
    last_error: str = ""
    last_reason: str = ""
    incomplete: bool = False
    skipped_items: int = 0
    durations: Histogram = field(default_factory=lambda: Histogram(REQUEST_BUCKETS))
    errors: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REASONS, 0))


@dataclass(slots=True)
class SaveHealth:
    """A target's saves to the state file, of all its ledgers: failures so far, and the last
    good one (epoch)."""

    failed: int = 0
    last_success: float | None = None


class ApiStats:
    """Requests and their latency per (operation, code), shared by a target's pollers."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: dict[tuple[str, str], int] = {}
        self.durations: dict[str, Histogram] = {}

    def record(self, operation: str, code: str, seconds: float) -> None:
        with self.lock:
            self.requests[(operation, code)] = self.requests.get((operation, code), 0) + 1
            histogram = self.durations.get(operation)
            if histogram is None:
                histogram = self.durations[operation] = Histogram(REQUEST_BUCKETS)
            histogram.observe(seconds)


@dataclass(frozen=True, slots=True)
class ResourceStatus:
    """One (target, resource) as the landing page shows it; ``endpoint`` holds no secret."""

    target: str
    backend: str
    endpoint: str
    resource: str
    attempted: bool
    up: bool
    last_poll: float | None
    last_success: float | None
    last_error: str
    source: str = "config"  # or the discovery source that found the target

    @property
    def state(self) -> str:
        return "up" if self.up else ("pending" if not self.attempted else "down")


@dataclass(frozen=True, slots=True)
class StatusSnapshot:
    """The exporter's polling at one moment: each built target's resources, and the
    (target/resource) pairs not tried yet, built or not (``/readyz`` waits for them)."""

    resources: tuple[ResourceStatus, ...] = ()
    waiting: tuple[str, ...] = ()
