"""The EMR Serverless Spark client of one target: its Ray jobs, its Ray clusters and its Spark
job runs. Each list of jobs is kept between polls (``kit.windowed``): full walks every
``full_list_interval``, windows of recent and active jobs in between."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

from exporter.backends.base import Backend, Listing
from exporter.backends.emr_serverless import spark_runs
from exporter.backends.emr_serverless.api import open_client
from exporter.backends.emr_serverless.queues import list_queues
from exporter.backends.emr_serverless.ray_clusters import list_clusters
from exporter.backends.emr_serverless.ray_job_walk import RayJobWalker
from exporter.backends.emr_serverless.spark_run_walk import SparkRunWalker
from exporter.backends.emr_serverless.target import EmrServerlessTarget
from exporter.backends.kit.windowed import WindowedList, WindowedSource
from exporter.polling.health import ApiStats


class EmrServerlessBackend(Backend):
    def __init__(
        self,
        target: EmrServerlessTarget,
        stats: ApiStats,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(target.backend, target.attribution)
        self.target = target
        self.api = open_client(target, stats)
        self.scrub = self.api.scrub
        self.clock = clock  # the wall clock the job lists' schedules run on (a test sets its own)
        self._ray_jobs = self._kept(RayJobWalker(self.api, target, self.sources()))

    def _kept(self, source: WindowedSource) -> WindowedList:
        """The jobs of ``source`` kept between polls, on the target's intervals."""
        return WindowedList(
            source,
            lambda: self.clock(),
            full_list_interval=self.target.full_list_interval,
            poll_interval=self.target.poll_interval,
        )

    @functools.cached_property
    def _spark_runs(self) -> WindowedList:
        """Made at the first poll of the runs: a target that does not poll them may name
        attribution fields only Ray jobs have."""
        return self._kept(SparkRunWalker(self.api, self.target, self.sources(spark_runs.RESOURCE)))

    def list_jobs(self, deadline: float) -> Listing:
        return self._ray_jobs.list_jobs(deadline)

    def list_spark_runs(self, deadline: float) -> Listing:
        return self._spark_runs.list_jobs(deadline)

    def list_clusters(self, deadline: float) -> Listing:
        return list_clusters(self.api, self.target, deadline)

    def list_queues(self, deadline: float) -> Listing:
        return list_queues(self.api, self.target, deadline)

    def close(self) -> None:
        self.api.close()
