"""The KubeRay client of one target: its RayJobs as jobs, listed whole once and then watched
from poll to poll (``watched_list``), and its RayClusters as clusters, listed whole every poll;
one list per namespace when the target names some, paged by ``limit``/``continue`` and begun
again when a ``continue`` expires (410 Gone). Each RayCluster is idle since when no RayJob has
held it (``idle``), as of the last RayJob poll; a target that polls only clusters brings its
RayJobs up to date at each cluster poll for that."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from exporter.backends.base import Backend, Listing
from exporter.backends.kit.resources import CLUSTERS, JOBS
from exporter.backends.kit.token_list import TokenList
from exporter.backends.kuberay.api import namespaced_lists, open_client
from exporter.backends.kuberay.idle import ClusterActivity
from exporter.backends.kuberay.rayclusters import read_cluster
from exporter.backends.kuberay.rayjobs import RayJobParser
from exporter.backends.kuberay.target import KubeRayTarget
from exporter.backends.kuberay.watched_list import WatchedList
from exporter.errors import PollError
from exporter.polling.health import ApiStats

log = logging.getLogger(__name__)


class KubeRayBackend(Backend):
    def __init__(
        self, target: KubeRayTarget, stats: ApiStats, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(target.backend, target.attribution)
        self.target = target
        self.api = open_client(target, stats, target.max_response_bytes)
        self.scrub = self.api.scrub
        self.clock = clock  # when a deletion was read, for a RayJob without deletionTimestamp
        self._ray_jobs = [
            WatchedList(
                pages,
                "WatchRayJobs",
                self.scrub,
                lambda: self.clock(),
                target.full_list_interval,
            )
            for pages in self._lists("rayjobs", "ListRayJobs", RayJobParser(self.sources()))
        ]
        self._ray_clusters = self._lists("rayclusters", "ListRayClusters", read_cluster)
        # which RayClusters RayJobs hold: noted only where clusters are polled (a cluster
        # listing forgets what it noted of clusters gone)
        self.activity = ClusterActivity()
        self._notes_jobs = CLUSTERS in target.resources
        self._jobs_unread = False  # the last RayJob listing for the idle time failed

    def _lists(self, plural: str, operation: str, parse: Any) -> list[TokenList]:
        """One token list per namespace of the target (one for all when it names none)."""
        who = f"target {self.target.name}"
        return namespaced_lists(self.api, self.target, plural, operation, parse, who)

    @staticmethod
    def _listing(lists: list[TokenList] | list[WatchedList], deadline: float) -> Listing:
        whole = Listing(items=[])
        for one in lists:
            part = one.listing(deadline)
            whole.items.extend(part.items)
            whole.complete &= part.complete
            whole.skipped += part.skipped
            whole.as_of = part.as_of if whole.as_of is None else whole.as_of
        return whole

    def _now(self, listing: Listing) -> float:
        """When ``listing`` was read: the API's clock, the object times' own, where it said."""
        return self.clock() if listing.as_of is None else listing.as_of

    def list_jobs(self, deadline: float) -> Listing:
        listing = self._listing(self._ray_jobs, deadline)
        if self._notes_jobs:
            self.activity.note_jobs(listing.items, listing.complete, self._now(listing))
        return listing

    def list_clusters(self, deadline: float) -> Listing:
        if JOBS not in self.target.resources:
            self._read_jobs_for_idle(deadline)
        listing = self._listing(self._ray_clusters, deadline)
        listing.items = self.activity.clusters(listing.items, listing.complete, self._now(listing))
        return listing

    def _read_jobs_for_idle(self, deadline: float) -> None:
        """Bring the RayJobs up to date for the idle time, where no job poll does; a failure
        leaves it as of the last RayJob listing (none: no cluster is shown idle)."""
        try:
            self.list_jobs(deadline)
        except PollError as err:
            if not self._jobs_unread:
                log.warning(
                    "target %s: RayJobs not read for the RayClusters' idle time (%s: %s); "
                    "idle as of the last RayJobs read",
                    self.target.name,
                    err.reason,
                    err,
                )
            self._jobs_unread = True
        else:
            self._jobs_unread = False

    def close(self) -> None:
        self.api.close()
