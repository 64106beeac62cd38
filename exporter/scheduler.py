"""When each (target, resource) is polled: one apscheduler job each, never overlapping."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from .poller import TargetPoller

MAX_JITTER_SECONDS = 5.0


def job_id(poller: TargetPoller, resource: str) -> str:
    return f"{poller.target.name}/{resource}"


class PollScheduler:
    """A thread per (target, resource), so a slow or hung target never delays another.

    ``max_instances=1`` keeps one resource from being polled twice at once; ``coalesce`` folds
    runs missed while a poll overran into one; a little jitter spreads polls of many targets.
    """

    MIN_WORKERS = 64  # threads start lazily; room for targets added by a reload

    def __init__(self, pollers: Sequence[TargetPoller]) -> None:
        workers = max(1, sum(len(p.target.resources) for p in pollers))
        self._scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max(workers * 2, self.MIN_WORKERS))},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=dt.UTC,
        )
        self.add(pollers)

    def add(self, pollers: Sequence[TargetPoller]) -> None:
        """Schedule the pollers' resources, each polled at once and then every interval."""
        now = dt.datetime.now(dt.UTC)
        for poller in pollers:
            interval = poller.target.poll_interval
            for resource in poller.target.resources:
                self._scheduler.add_job(
                    poller.poll,
                    "interval",
                    args=[resource],
                    seconds=interval,
                    jitter=min(MAX_JITTER_SECONDS, interval / 10),
                    id=job_id(poller, resource),
                    next_run_time=now,
                )

    def remove(self, pollers: Sequence[TargetPoller]) -> None:
        for poller in pollers:
            for resource in poller.target.resources:
                self._scheduler.remove_job(job_id(poller, resource))

    def start(self) -> None:
        self._scheduler.start()

    def shutdown(self) -> None:
        """Stop scheduling; polls in flight end by their own deadline."""
        self._scheduler.shutdown(wait=False)
