"""Where an ended training job's time went: ``GET
/v2/{project_id}/training-jobs/{id}/stages`` (the SDK's ``ListTrainingJobStages``), read into
the job's ``queueing_seconds`` (its ``scheduling`` stage) and ``preparing_seconds`` (its
``preparing`` stage), which the ledger observes once, as it counts the job finished.

The answer holds ``running_records`` (one per run of the job: a rescheduled job has several),
each with its ``stages`` (``name``, ``start_time`` and ``end_time``: epoch milliseconds, typed
as strings); a stage's time is summed over the records, and a stage the job never reached (a
job stopped while it queued never prepared) took 0 s. A stage not over has no ``end_time``: it
lasted until the next stage began.

The stages are fetched only for a job the ledger has still to count (``uncounted``): not for
jobs ended by the baseline, nor again once counted, so each is fetched once (again only after
a failure). At most ``FETCHES_PER_POLL`` are fetched in a poll, oldest waiting first; the rest
wait for the next. While a job waits its count waits too (``Job.values_due``), but no longer
than ``MAX_WAIT_POLLS`` polls, nor past ``MAX_FAILURES`` failed fetches (each logged, and
counted in ``jobfleet_api_requests_total``), nor past an answer that the job is gone (404):
then it is counted without them, and its stages are not observed. A waiting job deleted before
its stages came, and so listed no more, is given once more, as last listed, to be counted then.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

from exporter.backends.kit.fields import number
from exporter.backends.modelarts_lite.families import TRAINING_EXTRAS
from exporter.errors import NotFound, PollError
from exporter.http.client import ApiClient
from exporter.model import Job

log = logging.getLogger(__name__)

OPERATION = "ListTrainingJobStages"
FETCHES_PER_POLL = 20
MAX_WAIT_POLLS = 5  # polls a job's count may wait for its stages
MAX_FAILURES = 3  # failed fetches of a job's stages before it is counted without them
STAGES = {"scheduling": "queueing_seconds", "preparing": "preparing_seconds"}
POSITIONS = {value: TRAINING_EXTRAS.position(value) for value in STAGES.values()}
WIDTH = len(TRAINING_EXTRAS.values)

StageSeconds = dict[str, float]  # by value name: queueing_seconds, preparing_seconds


def _ms(value: Any) -> float | None:
    found = number(value)
    return found if found is not None and found >= 0 else None


def stage_seconds(payload: Any) -> StageSeconds | None:
    """The seconds of each stage read (``STAGES``) in a stages answer, or None when it holds
    no running record (nothing to say of where the time went)."""
    records = payload.get("running_records") if isinstance(payload, Mapping) else None
    if not isinstance(records, list) or not records:
        return None
    seconds = dict.fromkeys(STAGES.values(), 0.0)
    for record in records:
        stages = record.get("stages") if isinstance(record, Mapping) else None
        stages = [s for s in stages if isinstance(s, Mapping)] if isinstance(stages, list) else []
        for i, stage in enumerate(stages):
            name = STAGES.get(stage.get("name"))  # type: ignore[arg-type]
            start, end = _ms(stage.get("start_time")), _ms(stage.get("end_time"))
            if end is None and i + 1 < len(stages):
                end = _ms(stages[i + 1].get("start_time"))
            if name is not None and start is not None and end is not None and end >= start:
                seconds[name] += (end - start) / 1000.0
    return seconds


@dataclass(slots=True)
class Waiting:
    """A job whose stages are still to come: as last listed, the polls it has waited, the
    fetches failed."""

    job: Job
    polls: int = 0
    failures: int = 0


class StageFetcher:
    """One target's fetches of its ended training jobs' stages, between polls."""

    def __init__(self, api: ApiClient, project: str) -> None:
        self.api = api
        self._path = f"/v2/{project}/training-jobs/{{}}/stages"
        # the ledger's answer: is an ended job listed now still to be counted? (none: never)
        self.uncounted: Callable[[Job], bool] = lambda job: False
        self._waiting: dict[str, Waiting] = {}  # in the order they began to wait
        self._read: dict[str, StageSeconds | None] = {}  # None: counted without them

    def complete(self, jobs: list[Job], deadline: float) -> list[Job]:
        """``jobs`` with the stages of those ended and still to be counted: fetched now, or
        marked ``values_due`` while they wait; and each job that waited and is listed no more
        (deleted meanwhile), once, as last listed, to be counted now without its stages."""
        due = {j.key: j for j in jobs if j.phase.terminal and self.uncounted(j)}
        listed = {job.key for job in jobs}
        gone = [waiting.job for key, waiting in self._waiting.items() if key not in listed]
        for job in gone:
            log.info("training job %s: deleted before its stages were read; counted", job.key)
        for key in [k for k in (*self._waiting, *self._read) if k not in due]:
            self._waiting.pop(key, None)  # counted, or no longer listed
            self._read.pop(key, None)
        for key, job in due.items():
            self._waiting.setdefault(key, Waiting(job)).job = job
        self._fetch([key for key in self._waiting if key not in self._read], deadline)
        return [self._completed(job) if job.key in due else job for job in jobs] + gone

    def _fetch(self, keys: list[str], deadline: float) -> None:
        for key in keys[:FETCHES_PER_POLL]:
            try:
                path = self._path.format(quote(key, safe=""))
                payload = self.api.get_json(path, OPERATION, deadline=deadline)
            except NotFound:
                self._read[key] = None  # gone: nothing more to learn of it
                continue
            except PollError as err:
                waiting = self._waiting[key]
                waiting.failures += 1
                log.warning("training job %s: its stages could not be read: %s", key, err)
                if err.reason in ("throttled", "timeout"):
                    return  # the rest wait for the next poll
                continue
            self._read[key] = stage_seconds(payload)

    def _completed(self, job: Job) -> Job:
        """``job`` with its stages' seconds, or waiting for them, or past waiting."""
        key = job.key
        if key not in self._read:
            waiting = self._waiting[key]
            waiting.polls += 1
            if waiting.polls <= MAX_WAIT_POLLS and waiting.failures < MAX_FAILURES:
                return replace(job, values_due=True)
            log.warning("training job %s: counted without its stages", key)
            self._read[key] = None
        seconds = self._read[key]
        if seconds is None:
            return job
        values = [*job.values, *(None,) * (WIDTH - len(job.values))]
        for name, at in POSITIONS.items():
            values[at] = seconds[name]
        return replace(job, values=tuple(values))
