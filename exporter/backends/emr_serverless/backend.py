"""The EMR Serverless Spark client of one target: its Ray jobs and its Ray clusters."""

from __future__ import annotations

import time
from collections.abc import Callable

from exporter.backends.base import Backend, Listing
from exporter.backends.emr_serverless.api import open_client
from exporter.backends.emr_serverless.queues import list_queues
from exporter.backends.emr_serverless.ray_clusters import list_clusters
from exporter.backends.emr_serverless.ray_job_list import ray_job_list
from exporter.backends.emr_serverless.target import EmrServerlessTarget
from exporter.polling.health import ApiStats


class EmrServerlessBackend(Backend):
    def __init__(
        self,
        target: EmrServerlessTarget,
        stats: ApiStats,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(target.backend, tuple(target.attribution.labels.values()))
        self.target = target
        self.api = open_client(target, stats)
        self.scrub = self.api.scrub
        self._ray_jobs = ray_job_list(self.api, target, self.sources, clock)

    @property
    def clock(self) -> Callable[[], float]:
        """The wall clock the job list's schedule runs on (a test sets its own)."""
        return self._ray_jobs.clock

    @clock.setter
    def clock(self, clock: Callable[[], float]) -> None:
        self._ray_jobs.clock = clock

    def list_jobs(self, deadline: float) -> Listing:
        return self._ray_jobs.list_jobs(deadline)

    def list_clusters(self, deadline: float) -> Listing:
        return list_clusters(self.api, self.target, deadline)

    def list_queues(self, deadline: float) -> Listing:
        return list_queues(self.api, self.target, deadline)

    def close(self) -> None:
        self.api.close()
