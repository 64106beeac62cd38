"""ListRayJob: the Ray jobs of the workspace, newest first, page-numbered, with every field of
the SDK's ``ListRayJobResponseBodyRayJobs``; and the job contract over them (the simulator is
the contract of its Ray jobs)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from random import Random
from typing import Any

from exporter.simulators.base import Outcome
from exporter.simulators.emr_serverless.common import (
    ApiError,
    page_number_paging,
    request_id,
    time_range,
)

ACTIVE = ("Submitted", "Pending", "Running", "Cancelling")
ENDS: dict[Outcome, tuple[str, ...]] = {
    "succeeded": ("Succeeded",),
    "failed": ("Failed", "Timeout"),
    "cancelled": ("Cancelled",),
}
HIDDEN = ("taskBizId", "visibleAt")  # kept, never answered
FILTERS = (("name", "name"), ("submissionId", "submissionId"), ("taskBizId", "taskBizId"))


class RayJobsMixin:
    """The Ray jobs of ``EmrServerlessSimulator``: it supplies the lock, the clock, the seeded
    draws, ``jitter`` and the record of answers."""

    _lock: threading.Lock
    _rng: Random
    now: Callable[[], float]
    jittered_ms: Callable[[int | None], int | None]
    record_answer: Callable[..., None]

    def _init_ray_jobs(self, seed: int) -> None:
        self.on_list_page: Callable[[int], None] | None = None
        self.shuffle_ties = False
        self._tie_rng = Random(seed + 1)
        self._delete_queue: list[str] = []
        self._empty_answers = 0
        self._list_failures = 0
        self._ids: set[str] = set()  # every id ever listed: the API makes up new ones
        self._jobs: dict[str, dict[str, Any]] = {}
        self._order: list[dict[str, Any]] | None = None

    # --- the job contract ---------------------------------------------------------------

    def submit_job(
        self, key: str | None = None, *, running: bool = False, name: str | None = None
    ) -> str:
        with self._lock:
            if key in self._ids:
                raise ValueError(f"submissionId {key} is taken")
        named = {} if name is None else {"name": name}
        return self.add_job(key, status="Running" if running else "Submitted", **named)

    def start_job(self, key: str) -> None:
        self.set_job(key, status="Running")

    def end_job(self, key: str, outcome: Outcome) -> str:
        with self._lock:
            status = self._rng.choice(ENDS[outcome])
            ran = self._jobs[key]["startTime"] is not None
        if outcome == "succeeded" and not ran:
            self.set_job(key, status="Running")
        self.set_job(key, status=status)
        return status

    def remove_job(self, key: str) -> None:
        with self._lock:
            self._jobs.pop(key, None)
            self._order = None

    def fail_job_lists(self, n: int) -> None:
        """The next ``n`` ListRayJob requests are throttled (429 ``Throttling.User``)."""
        with self._lock:
            self._list_failures += n

    # --- jobs ---------------------------------------------------------------------------

    def add_job(
        self,
        submission_id: str | None = None,
        *,
        name: str = "ray-job",
        status: str = "Running",
        submit_time: float | None = None,
        start_time: float | None = None,
        end_time: float | None = None,
        cu_hours: float | None = 0.0,
        resource_queue: str = "err-1.2.0 (Ray 2.55.1, Python 3.12)",
        task_biz_id: str = "",
        cluster_state: str = "Running",
        visible_delay: float = 0.0,
        creator_name: str = "Alice",
    ) -> str:
        """Add a job (times on the cloud's clock); ``cu_hours=None`` is a null reading, and the
        job is listed only from ``visible_delay`` seconds after its ``submitTime``."""
        with self._lock:
            key = submission_id or f"rj-{self._rng.getrandbits(64):016x}"
            submit = self.now() if submit_time is None else submit_time
            if start_time is None and status not in ("Submitted", "Pending"):
                start_time = submit
            if end_time is None and status not in ACTIVE:
                end_time = self.now()
            self._order = None
            self._ids.add(key)
            self._jobs[key] = {
                "submissionId": key,
                "name": name,
                "status": status,
                "resourceQueue": resource_queue,
                "submitTime": int(submit * 1000),
                "startTime": None if start_time is None else int(start_time * 1000),
                "endTime": None if end_time is None else int(end_time * 1000),
                "creatorName": creator_name,
                "dashboardUrl": f"https://emr-ray-gateway.aliyuncs.com?token={uuid.uuid4().hex}",
                "cuHours": cu_hours,
                "clusterState": cluster_state,
                "taskBizId": task_biz_id,
                "visibleAt": int((submit + visible_delay) * 1000),
            }
            return key

    def set_job(
        self, key: str, *, status: str | None = None, cu_hours: float | None = None
    ) -> None:
        """Move a job on; leaving an active status sets its end time and cluster state."""
        with self._lock:
            job = self._jobs[key]
            now_ms = int(self.now() * 1000)
            if cu_hours is not None:
                job["cuHours"] = cu_hours
            if status is None:
                return
            job["status"] = status
            if status == "Running" and job["startTime"] is None:
                job["startTime"] = now_ms
            if status not in ACTIVE and job["endTime"] is None:
                job["endTime"] = now_ms
                job["clusterState"] = "Deleted"

    def jobs(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(job) for job in self._jobs.values()]

    # --- faults -------------------------------------------------------------------------

    def delete_between_pages(self, keys: list[str]) -> None:
        """Before each of the next ``len(keys)`` ListRayJob requests for a page after the first,
        delete the next of these jobs (like a user deleting jobs while a walk pages)."""
        with self._lock:
            self._delete_queue.extend(keys)

    def empty_answers(self, n: int) -> None:
        """The next ``n`` ListRayJob requests succeed with no jobs and ``totalCount`` 0."""
        with self._lock:
            self._empty_answers += n

    # --- the answer ---------------------------------------------------------------------

    def list_jobs(self, query: dict[str, str]) -> dict[str, Any]:
        """The ListRayJob answer to ``query``."""
        page_num, page_size = page_number_paging(query)
        window = time_range(query, "submitTime")
        if self.on_list_page is not None:
            self.on_list_page(page_num)
        wanted = [(field, query[param]) for param, field in FILTERS if param in query]
        with self._lock:
            if self._list_failures:
                self._list_failures -= 1
                raise ApiError(429, "Throttling.User", "Request was denied due to flow control.")
            if self._empty_answers:
                self._empty_answers -= 1
                self.record_answer(self.now(), ())
                return {"requestId": request_id(), "totalCount": 0, "rayJobs": []}
            if page_num > 1 and self._delete_queue:
                self._jobs.pop(self._delete_queue.pop(0), None)
                self._order = None
            now_ms = self.now() * 1000
            jobs = [job for job in self._newest_first() if job["visibleAt"] <= now_ms]
            jobs = [job for job in jobs if all(job[f] == v for f, v in wanted)]
            if window is not None:
                jobs = [job for job in jobs if window[0] <= job["submitTime"] <= window[1]]
            page = jobs[(page_num - 1) * page_size : page_num * page_size]
            self.record_answer(self.now(), [(job["submissionId"], job["status"]) for job in page])
            rendered = [self._rendered(job, now_ms) for job in page]
        return {"requestId": request_id(), "totalCount": len(jobs), "rayJobs": rendered}

    def _rendered(self, job: dict[str, Any], now_ms: float) -> dict[str, Any]:
        """A job as the answer gives it: ``duration`` (seconds) from its start to its end or
        now, times through ``jitter``."""
        shown = {key: value for key, value in job.items() if key not in HIDDEN}
        start, end = job["startTime"], job["endTime"]
        shown["duration"] = None if start is None else int(((end or now_ms) - start) // 1000)
        for key in ("submitTime", "startTime", "endTime"):
            shown[key] = self.jittered_ms(shown[key])
        return shown

    def _newest_first(self) -> list[dict[str, Any]]:
        """Jobs by submitTime, newest first; sorted again only after the set of jobs changed.
        With ``shuffle_ties``, jobs of equal submitTime come in a new order every time."""
        if self.shuffle_ties:
            draw = self._tie_rng.random
            return sorted(
                self._jobs.values(), key=lambda job: (job["submitTime"], draw()), reverse=True
            )
        if self._order is None:
            self._order = sorted(
                self._jobs.values(),
                key=lambda job: (job["submitTime"], job["submissionId"]),
                reverse=True,
            )
        return self._order
