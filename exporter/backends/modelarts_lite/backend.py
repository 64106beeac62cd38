"""The ModelArts client of one target: its Lite Server jobs, its training jobs and its resource
pools. The training jobs are kept between polls (``kit.windowed``): full walks every
``full_list_interval``, windows of recent and active jobs in between; an ended one's stages are
fetched before it is counted (``training_stages``); the pools are listed whole at each poll
(``pools``)."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable
from dataclasses import replace

from exporter.backends.base import Backend, Job, Listing
from exporter.backends.kit.resources import JOBS
from exporter.backends.kit.windowed import WindowedList
from exporter.backends.modelarts_lite.api import open_client
from exporter.backends.modelarts_lite.pools import PoolLister
from exporter.backends.modelarts_lite.server_job_list import ServerJobList
from exporter.backends.modelarts_lite.target import ModelArtsLiteTarget
from exporter.backends.modelarts_lite.training_job_walk import TrainingJobWalker
from exporter.backends.modelarts_lite.training_jobs import RESOURCE as TRAINING_JOBS
from exporter.backends.modelarts_lite.training_stages import StageFetcher
from exporter.polling.health import ApiStats


class ModelArtsLiteBackend(Backend):
    def __init__(
        self,
        target: ModelArtsLiteTarget,
        stats: ApiStats,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(target.backend, target.attribution)
        self.target = target
        self.api = open_client(target, stats)
        self.scrub = self.api.scrub
        self._server_jobs = ServerJobList(self.api, target, self.sources(), clock)
        self._stages = StageFetcher(self.api, target.project())

    @property
    def clock(self) -> Callable[[], float]:
        """The wall clock the job lists' schedules run on (a test sets its own)."""
        return self._server_jobs.clock

    @clock.setter
    def clock(self, clock: Callable[[], float]) -> None:
        self._server_jobs.clock = clock

    @functools.cached_property
    def _training_jobs(self) -> WindowedList:
        """Made at the first poll of the training jobs: a target that does not poll them may
        name attribution fields only Lite Server jobs have."""
        return WindowedList(
            TrainingJobWalker(self.api, self.target, self.sources(TRAINING_JOBS)),
            lambda: self.clock(),
            full_list_interval=self.target.full_list_interval,
            poll_interval=self.target.poll_interval,
        )

    @functools.cached_property
    def _pools(self) -> PoolLister:
        return PoolLister(self.api, self.target)

    def list_jobs(self, deadline: float) -> Listing:
        return self._server_jobs.list_jobs(deadline)

    def list_training_jobs(self, deadline: float) -> Listing:
        listing = self._training_jobs.list_jobs(deadline)
        return replace(listing, items=self._stages.complete(listing.items, deadline))

    def follow_counting(self, resource: str, uncounted: Callable[[Job], bool]) -> None:
        if resource == TRAINING_JOBS:
            self._stages.uncounted = uncounted

    def list_pools(self, deadline: float) -> Listing:
        return self._pools.list_pools(deadline)

    def resume(self, unfinished: Iterable[str], resource: str) -> None:
        if resource == JOBS:
            self._server_jobs.resume(unfinished)

    def close(self) -> None:
        self.api.close()
