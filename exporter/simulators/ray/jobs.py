"""The job records and how they move: ``add_job``, ``set_status``, ``remove_job``, the job
contract over them, a head restart, the hooks the demo workload moves them by, and what a
record derives from its status (its driver, exit code and message). Records keep times in epoch
seconds."""

from __future__ import annotations

import copy
import random
import string
import threading
import uuid
from collections.abc import Callable
from typing import Any

from exporter.simulators.base import Outcome
from exporter.simulators.ray.common import TERMINAL, Flavour, job_key

ENDS: dict[Outcome, str] = {"succeeded": "SUCCEEDED", "failed": "FAILED", "cancelled": "STOPPED"}
ENTRYPOINT_ERROR = "JOB_ENTRYPOINT_COMMAND_ERROR"
SETUP_FAILURE = "RUNTIME_ENV_SETUP_FAILURE"
# Ray's generated submission ids: "raysubmit_" and 16 characters without look-alikes.
SUBMIT_ID_CHARS = sorted(set(string.ascii_letters + string.digits) - set("IloO0"))
MESSAGES = {
    "RUNNING": "Job is currently running.",
    "SUCCEEDED": "Job finished successfully.",
    "STOPPED": "Job was intentionally stopped.",
}


class JobsMixin:
    """The jobs of ``RaySimulator``: it supplies the lock, the clock, the seeded draws, the
    nodes a driver runs on and the session name."""

    _lock: threading.Lock
    _rng: random.Random
    clock: Callable[[], float]
    flavour: Flavour
    _jobs: dict[str, dict[str, Any]]
    _next_job_id: int
    _used_job_ids: set[str]
    _nodes: list[dict[str, Any]]
    _session: str
    _session_name: Callable[[], str]
    _new_node_id: Callable[[], str]

    # --- the job contract -----------------------------------------------------------------

    def submit_job(
        self, key: str | None = None, *, running: bool = False, name: str | None = None
    ) -> str:
        metadata = None if name is None else {"job_name": name}
        return self.add_job(key, status="RUNNING" if running else "PENDING", metadata=metadata)

    def start_job(self, key: str) -> None:
        self.set_status(key, "RUNNING")

    def end_job(self, key: str, outcome: Outcome) -> str:
        status = ENDS[outcome]
        with self._lock:
            record = self._find(key)
            if record is None:
                raise KeyError(key)
            if status == "SUCCEEDED":
                self._transition(record, "RUNNING", None, None)
            self._transition(record, status, None, None)
        return status

    # --- jobs -----------------------------------------------------------------------------

    def add_job(
        self,
        submission_id: str | None = None,
        *,
        status: str = "PENDING",
        type: str = "SUBMISSION",
        job_id: str | None = None,
        start_time: float | None = None,
        end_time: float | None = None,
        entrypoint: str = "python main.py",
        metadata: dict[str, str] | None = None,
        runtime_env: dict[str, Any] | None = None,
        error_type: str | None = None,
    ) -> str:
        """Add a job; return its id (the submission id, or a DRIVER job's job id).

        Times are epoch seconds: ``start_time`` (the submission time) defaults to ``clock()``, a
        terminal job without ``end_time`` ended now. Raises ValueError when the id is taken.
        """
        with self._lock:
            if job_id is not None:
                self._used_job_ids.add(job_id)
            if type == "DRIVER":
                submission_id, job_id = None, job_id or self._new_job_id()
            else:
                submission_id = submission_id or self._new_submission_id()
            key = submission_id or job_id
            assert key is not None
            if key in self._jobs:
                raise ValueError(
                    f"Job with submission_id {key} already exists. "
                    "Please use a different submission_id."
                )
            job = {
                "type": type,
                "job_id": job_id,
                "submission_id": submission_id,
                "status": status,
                "entrypoint": entrypoint,
                "message": None,
                "error_type": error_type,
                "start_time": self.clock() if start_time is None else start_time,
                "end_time": None,
                "metadata": dict(metadata or {}),
                "runtime_env": copy.deepcopy(runtime_env or {}),
                "driver_exit_code": None,
                "driver_node_id": None,
                "driver_ip": None,
                "driver_pid": None,
            }
            if type == "DRIVER" or (status != "PENDING" and error_type != SETUP_FAILURE):
                self._start_driver(job)
            self._settle(job, status, end_time, error_type)
            self._jobs[key] = job
            return key

    def set_status(
        self,
        job: str,
        status: str,
        *,
        end_time: float | None = None,
        error_type: str | None = None,
    ) -> None:
        """Move a job (by submission or job id) to ``status``; KeyError when unknown.

        A terminal status sets ``end_time`` (default ``clock()``), any other clears it; RUNNING
        starts the driver, which gives a SUBMISSION job its ``job_id``.
        """
        with self._lock:
            record = self._find(job)
            if record is None:
                raise KeyError(job)
            self._transition(record, status, end_time, error_type)

    def remove_job(self, job: str) -> None:
        """Forget a job (by submission or job id); unknown ids are ignored."""
        with self._lock:
            record = self._find(job)
            if record is not None:
                del self._jobs[job_key(record)]

    def jobs(self) -> list[dict[str, Any]]:
        """Deep copies of the internal job records (times in epoch seconds)."""
        with self._lock:
            return copy.deepcopy(list(self._jobs.values()))

    def _find(self, job: str) -> dict[str, Any] | None:
        if job in self._jobs:
            return self._jobs[job]
        return next((r for r in self._jobs.values() if r["job_id"] == job), None)

    def restart_head(self) -> None:
        """The head restarts without GCS fault tolerance: every job is forgotten, job ids are
        handed out again from ``02000000`` (so ids, and resubmitted submission ids, come back
        for new jobs) and the cluster gets a new session name."""
        with self._lock:
            self._jobs.clear()
            self._next_job_id = 2
            self._used_job_ids.clear()
            self._session = self._session_name()

    def _new_job_id(self) -> str:
        while (job_id := f"{self._next_job_id:02d}000000") in self._used_job_ids:
            self._next_job_id += 1
        self._next_job_id += 1
        self._used_job_ids.add(job_id)
        return job_id

    def _new_submission_id(self) -> str:
        if self.flavour == "openyuanrong":
            return f"app-{uuid.UUID(int=self._rng.getrandbits(128), version=4)}"
        return "raysubmit_" + "".join(self._rng.choices(SUBMIT_ID_CHARS, k=16))

    def _transition(
        self, record: dict[str, Any], status: str, end_time: float | None, error_type: str | None
    ) -> None:
        if status == "RUNNING":
            self._start_driver(record)
        self._settle(record, status, end_time, error_type)

    def _start_driver(self, record: dict[str, Any]) -> None:
        if record["job_id"] is None:
            record["job_id"] = self._new_job_id()
        if record["driver_pid"] is None:
            node = next((n for n in self._nodes if n["state"] == "ALIVE"), None)
            record["driver_node_id"] = node["node_id"] if node else self._new_node_id()
            record["driver_ip"] = node["node_ip"] if node else "192.0.2.2"
            record["driver_pid"] = str(self._rng.randint(1000, 99999))

    def _settle(
        self, record: dict[str, Any], status: str, end_time: float | None, error_type: str | None
    ) -> None:
        record["status"] = status
        if status in TERMINAL:
            record["end_time"] = self.clock() if end_time is None else end_time
        else:
            record["end_time"] = None
        if status == "FAILED":
            error_type = error_type or record["error_type"] or ENTRYPOINT_ERROR
        record["error_type"] = error_type
        record["driver_exit_code"] = _exit_code(record)
        record["message"] = _message(record)

    # --- workload hooks (called by RayWorkload) ------------------------------------------

    def _statuses(self) -> dict[str, str]:
        with self._lock:
            return {key: job["status"] for key, job in self._jobs.items()}

    def _move(
        self, job: str, status: str, *, end_time: float | None = None, error_type: str | None = None
    ) -> None:
        """set_status, unless the job is gone or already ended (a client may have stopped it)."""
        with self._lock:
            record = self._jobs.get(job)
            if record is not None and record["status"] not in TERMINAL:
                self._transition(record, status, end_time, error_type)

    def _drop_oldest_finished(self, limit: int) -> None:
        with self._lock:
            excess = len(self._jobs) - limit
            if excess <= 0:
                return
            finished = [j for j in self._jobs.values() if j["status"] in TERMINAL]
            finished.sort(key=lambda j: j["end_time"])
            for job in finished[:excess]:
                del self._jobs[job_key(job)]


def _exit_code(job: dict[str, Any]) -> int | None:
    if job["type"] != "SUBMISSION" or job["driver_pid"] is None:
        return None
    if job["status"] == "SUCCEEDED":
        return 0
    return 1 if job["status"] == "FAILED" and job["error_type"] == ENTRYPOINT_ERROR else None


def _message(job: dict[str, Any]) -> str | None:
    if job["type"] != "SUBMISSION":
        return None
    if job["status"] == "PENDING":
        waiting = " It may be waiting for the runtime environment to be set up."
        return "Job has not started yet." + (waiting if job["runtime_env"] else "")
    if job["status"] == "FAILED":
        return _failure_message(job)
    return MESSAGES.get(job["status"])


def _failure_message(job: dict[str, Any]) -> str:
    if job["error_type"] == ENTRYPOINT_ERROR:
        return (
            "Job entrypoint command failed with exit code 1, last available logs "
            "(truncated to 20,000 chars):\n"
            f"Running entrypoint for job {job['submission_id']}: {job['entrypoint']}\n"
            "Traceback (most recent call last):\n"
            '  File "main.py", line 12, in <module>\n'
            "RuntimeError: simulated failure\n"
        )
    if job["error_type"] == SETUP_FAILURE:
        return "runtime_env setup failed: Failed to set up runtime environment: pip install failed"
    return "Job failed."
