"""The Jobs API's endpoints: the job list, one job, a submission (its body checked as Ray's
``JobSubmitRequest`` does) and a stop."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable
from typing import Any

from exporter.simulators.ray.common import TERMINAL, Flavour, Reply, job_key
from exporter.simulators.ray.jobs_render import render_ray, render_yuanrong


class JobsApiMixin:
    """The job endpoints of ``RaySimulator``: it supplies the lock, the clock, the jobs, the
    list faults, ``jitter`` and the record of answers."""

    _lock: threading.Lock
    _order_rng: random.Random
    clock: Callable[[], float]
    flavour: Flavour
    jitter: Callable[[float], float] | None
    _jobs: dict[str, dict[str, Any]]
    _list_failures: int
    _empty_answers: int
    record_answer: Callable[..., None]
    add_job: Callable[..., str]
    _find: Callable[[str], dict[str, Any] | None]
    _settle: Callable[..., None]

    def _render(self, job: dict[str, Any]) -> dict[str, Any]:
        if self.jitter is not None:
            end = job["end_time"]
            job = job | {
                "start_time": self.jitter(job["start_time"]),
                "end_time": None if end is None else self.jitter(end),
            }
        return render_yuanrong(job) if self.flavour == "openyuanrong" else render_ray(job)

    def _job_list(self) -> Reply:
        with self._lock:
            if self._list_failures:
                self._list_failures -= 1
                return 503, "upstream unavailable"
            records = [] if self._empty_answers else list(self._jobs.values())
            self._empty_answers = max(0, self._empty_answers - 1)
            self.record_answer(self.clock(), [(job_key(job), job["status"]) for job in records])
            jobs = [self._render(job) for job in records]
            self._order_rng.shuffle(jobs)
        return 200, jobs

    def _job_info(self, key: str) -> Reply:
        with self._lock:
            record = self._find(key)
            if record is None:
                return 404, f"Job {key} does not exist"
            self.record_answer(self.clock(), [(job_key(record), record["status"])])
            return 200, self._render(record)

    def _submit(self, body: bytes) -> Reply:
        try:
            request = _submit_request(body)
            key = self.add_job(
                request.get("submission_id"),
                entrypoint=request["entrypoint"],
                metadata=request.get("metadata"),
                runtime_env=request.get("runtime_env"),
            )
        except (TypeError, ValueError) as err:
            return 400, f"{type(err).__name__}: {err}"
        return 200, {"job_id": key, "submission_id": key}  # job_id: Ray's deprecated alias

    def _stop(self, key: str) -> Reply:
        with self._lock:
            record = self._find(key)
            if record is None:
                return 404, f"Job {key} does not exist"
            if record["type"] != "SUBMISSION":
                return 400, "Can only stop submission type jobs"
            if record["status"] in TERMINAL:
                return 200, {"stopped": False}
            self._settle(record, "STOPPED", None, None)
        return 200, {"stopped": True}


def _submit_request(body: bytes) -> dict[str, Any]:
    """A POST /api/jobs/ body, checked as Ray's JobSubmitRequest does."""
    request = json.loads(body or b"null")
    if not isinstance(request, dict):
        raise TypeError("request body must be a JSON object")
    if not isinstance(request.get("entrypoint"), str):
        raise TypeError("entrypoint must be a string")
    if not isinstance(request.get("submission_id") or "", str):
        raise TypeError("submission_id must be a string if provided")
    metadata = request.get("metadata") or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise TypeError("metadata must be a dict of strings")
    if not isinstance(request.get("runtime_env") or {}, dict):
        raise TypeError("runtime_env must be a dict")
    return request
