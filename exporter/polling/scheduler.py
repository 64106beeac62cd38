"""When each (target, resource) is polled: one apscheduler job each, never overlapping."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from apscheduler.schedulers.background import BackgroundScheduler

from exporter.polling.poller import TargetPoller
from exporter.polling.pool import ElasticExecutor


def job_id(poller: TargetPoller, resource: str) -> str:
    return f"{poller.target.name}/{resource}"


SPREAD = 0.9  # of an interval: the last first poll leaves time to finish within the interval


def first_poll(start: dt.datetime, interval: float, rank: int, of: int) -> dt.datetime:
    """When the ``rank``-th of ``of`` pollers started together first polls: spread evenly over
    most of one interval (the first at once), so thousands of targets do not all poll at once,
    and all have polled once within an interval. Deterministic: configuration order."""
    return start + dt.timedelta(seconds=SPREAD * interval * rank / max(of, 1))


class PollScheduler:
    """Polls run in a thread pool, so a slow or hung target never delays another.

    ``max_instances=1`` keeps one resource from being polled twice at once; ``coalesce`` folds
    runs missed while a poll overran into one. Threads start only as polls overlap, and end
    after a minute idle (``pool``); the pool is sized for the configured (target, resource)
    pairs, within ``MAX_WORKERS``.
    """

    MIN_WORKERS = 64  # room for targets added by a reload
    MAX_WORKERS = 1024  # beyond, polls wait for a thread (only when many targets hang at once)

    def __init__(self, resources: int) -> None:
        workers = min(max(resources * 2, self.MIN_WORKERS), self.MAX_WORKERS)
        self._scheduler = BackgroundScheduler(
            executors={"default": ElasticExecutor(workers)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=dt.UTC,
        )

    def add(self, poller: TargetPoller, first: dt.datetime | None = None) -> None:
        """Schedule the poller's resources: first polled at ``first`` (default: now), then
        every interval."""
        first = max(first or dt.datetime.now(dt.UTC), dt.datetime.now(dt.UTC))
        for resource in poller.target.resources:
            self._scheduler.add_job(
                poller.poll,
                "interval",
                args=[resource],
                seconds=poller.target.poll_interval,
                id=job_id(poller, resource),
                next_run_time=first,
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
