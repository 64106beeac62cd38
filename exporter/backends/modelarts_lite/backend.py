"""The ModelArts Lite client of one target: its Lite Server jobs."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from exporter.backends.base import Backend, Listing
from exporter.backends.kit.resources import JOBS
from exporter.backends.modelarts_lite.api import open_client
from exporter.backends.modelarts_lite.server_job_list import ServerJobList
from exporter.backends.modelarts_lite.target import ModelArtsLiteTarget
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

    @property
    def clock(self) -> Callable[[], float]:
        """The wall clock the job list's schedule runs on (a test sets its own)."""
        return self._server_jobs.clock

    @clock.setter
    def clock(self, clock: Callable[[], float]) -> None:
        self._server_jobs.clock = clock

    def list_jobs(self, deadline: float) -> Listing:
        return self._server_jobs.list_jobs(deadline)

    def resume(self, unfinished: Iterable[str], resource: str) -> None:
        if resource == JOBS:
            self._server_jobs.resume(unfinished)

    def close(self) -> None:
        self.api.close()
