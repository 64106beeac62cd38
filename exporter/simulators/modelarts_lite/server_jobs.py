"""The Lite Server job list (``GET /v1/{project_id}/dev-servers/jobs``) and the job contract
over it: the simulator is the contract of its Lite Server jobs.

Like the real API it has no page parameter but answers with page metadata, partial when more
jobs match than ``page_limit`` (the newest ``page_limit`` jobs are answered).
"""

from __future__ import annotations

import math
import threading
import uuid
from collections.abc import Callable
from random import Random
from typing import Any

from exporter.simulators.base import Outcome
from exporter.simulators.modelarts_lite.common import BAD_REQUEST, ApiError

TYPES = ("COMMON", "SERVICE_DEPLOY", "ASCEND_SOFTWARE_UPGRADE", "ASCEND_DIAGNOSIS")
FILTERS = ("id", "name", "type", "status", "visible")


class ServerJobsMixin:
    """The Lite Server jobs of ``ModelArtsLiteSimulator``: it supplies the lock, the clock, the
    seeded draws, ``jitter``, ``page_limit`` and the record of answers."""

    _lock: threading.Lock
    _rng: Random
    clock: Callable[[], float]
    page_limit: int
    jittered_ms: Callable[[int | None], int | None]
    record_answer: Callable[..., None]

    def _init_server_jobs(self) -> None:
        self._jobs: dict[str, dict[str, Any]] = {}
        self._empty_answers = 0
        self._ids: set[str] = set()  # every id ever listed: the API makes up new ones

    # --- the job contract ---------------------------------------------------------------

    def submit_job(
        self, key: str | None = None, *, running: bool = False, name: str | None = None
    ) -> str:
        with self._lock:
            if key in self._ids:
                raise ValueError(f"job id {key} is taken")
        return self.add_job(key, **({} if name is None else {"name": name}))

    def end_job(self, key: str, outcome: Outcome) -> str:
        """FINISHED (with abnormal nodes when failed), or DELETED when cancelled."""
        with self._lock:
            abnormal = self._rng.randint(1, 3) if outcome == "failed" else 0
        status = "DELETED" if outcome == "cancelled" else "FINISHED"
        self.set_job(key, status=status, abnormal_count=abnormal)
        return status

    def remove_job(self, key: str) -> None:
        with self._lock:
            self._jobs.pop(key, None)

    # --- jobs ---------------------------------------------------------------------------

    def add_job(
        self,
        job_id: str | None = None,
        *,
        name: str = "lite-job",
        job_type: str = "COMMON",
        status: str = "PROCESSING",
        abnormal_count: int = 0,
        create_at: float | None = None,
        visible: bool = True,
    ) -> str:
        with self._lock:
            key = job_id or str(uuid.UUID(int=self._rng.getrandbits(128)))
            self._ids.add(key)
            created = int((self.clock() if create_at is None else create_at) * 1000)
            self._jobs[key] = {
                "create_at": created,
                "update_at": created,
                "id": key,
                "name": name,
                "user_name": "modelarts_user",
                "description": "",
                "type": job_type,
                "status": status,
                "abnormal_count": abnormal_count,
                "visible": visible,
            }
            return key

    def set_job(self, key: str, *, status: str, abnormal_count: int | None = None) -> None:
        with self._lock:
            job = self._jobs[key]
            job["status"] = status
            job["update_at"] = int(self.clock() * 1000)
            if abnormal_count is not None:
                job["abnormal_count"] = abnormal_count

    def jobs(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(job) for job in self._jobs.values()]

    def empty_answers(self, n: int) -> None:
        """The next ``n`` job-list requests succeed with no jobs."""
        with self._lock:
            self._empty_answers += n

    # --- the answer ---------------------------------------------------------------------

    def list_jobs(self, query: dict[str, str]) -> dict[str, Any]:
        """The answer to a job-list request with ``query``: the newest ``page_limit`` jobs that
        match, and page metadata telling how many matched."""
        if "visible" in query and query["visible"] not in ("true", "false"):
            raise ApiError(400, BAD_REQUEST, "visible must be true or false")
        with self._lock:
            if self._empty_answers:
                self._empty_answers -= 1
                self.record_answer(self.clock(), ())
                return {"current": 1, "data": [], "pages": 1, "size": 0, "total": 0}
            matched = [
                job
                for job in self._jobs.values()
                if all(
                    (str(job[k]).lower() if k == "visible" else job[k]) == query[k]
                    for k in FILTERS
                    if k in query
                )
            ]
            matched.sort(key=lambda job: job["create_at"], reverse=True)
            shown = [{k: v for k, v in job.items() if k != "visible"} for job in matched]
            size = min(len(shown), self.page_limit)
            self.record_answer(self.clock(), [(job["id"], job["status"]) for job in shown[:size]])
            for job in shown[:size]:
                for key in ("create_at", "update_at"):
                    job[key] = self.jittered_ms(job[key])
        return {
            "current": 1,
            "data": shown[:size],
            "pages": max(1, math.ceil(len(shown) / self.page_limit)),
            "size": size,
            "total": len(shown),
        }
