"""A simulator of Ray's Jobs REST API and its openYuanrong flavour, for tests and ``--demo``.

Faithful to API-NOTES §2 and the captured Ray 2.60 responses: Ray serves ``/api/jobs/`` (and 404
on ``/api/jobs``), integer epoch milliseconds and nulls; openYuanrong serves ``/api/jobs``, epoch
SECONDS as strings, ``""`` for unset, and no ``job_id``/``message``. Token auth answers 401
without a token and 403 with a wrong one. Tests drive it with ``add_job``/``set_status`` and the
fault knobs; the demo runs a seeded, evolving workload.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any, Literal

from .base import JsonHandler, Simulator, Workload

TERMINAL = frozenset({"SUCCEEDED", "FAILED", "STOPPED"})
MAX_HANG_SECONDS = 120.0
MAX_LOGGED_REQUESTS = 10_000
MAX_JOBS = 500
GIB = 2**30

Flavour = Literal["ray", "openyuanrong"]


class RaySimulator(Simulator):
    """An in-process HTTP server speaking the Ray Jobs API; thread-safe."""

    def __init__(
        self,
        flavour: Flavour = "ray",
        auth_token: str | None = None,
        seed: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.flavour = flavour
        self.auth_token = auth_token
        self.clock = clock
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._jobs: dict[str, dict[str, Any]] = {}
        self._next_job_id = 2
        self._nodes: list[dict[str, Any]] = []
        self._usage = {"CPU": 0.0, "GPU": 0.0, "memory": 0.0}
        self._failures: list[tuple[int, str]] = []
        self._garbage = False
        self._unhang = threading.Event()
        self._unhang.set()
        self._stopped = threading.Event()
        self._session = f"session_sim_{seed}"
        self.set_nodes()

    # --- lifecycle ------------------------------------------------------------------------

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _handler(self)

    def target_config(self, name: str, **settings: Any) -> dict[str, Any]:
        """A config target that polls this simulator."""
        return {"name": name, "backend": self.flavour, "url": self.url, **settings}

    def stop(self) -> None:
        self._stopped.set()
        self._unhang.set()
        super().stop()

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
        """Add a job; return its id (submission id, or job id for a DRIVER)."""
        with self._lock:
            if type == "DRIVER" or (status != "PENDING" and job_id is None):
                job_id = job_id or self._new_job_id()
            if type == "DRIVER":
                submission_id = None
            elif submission_id is None:
                submission_id = f"raysubmit_{self._rng.getrandbits(48):012x}"
            now = self.clock()
            if status in TERMINAL and end_time is None:
                end_time = now
            job = {
                "type": type,
                "job_id": job_id,
                "submission_id": submission_id,
                "status": status,
                "entrypoint": entrypoint,
                "message": _message(status),
                "error_type": error_type
                or ("JOB_ENTRYPOINT_COMMAND_ERROR" if status == "FAILED" else None),
                "start_time": now if start_time is None else start_time,
                "end_time": end_time,
                "metadata": dict(metadata or {}),
                "runtime_env": dict(runtime_env or {}),
                "driver_exit_code": None,
            }
            key = submission_id or job_id
            assert key is not None
            self._jobs[key] = job
            return key

    def _new_job_id(self) -> str:
        job_id = f"{self._next_job_id:02d}000000"
        self._next_job_id += 1
        return job_id

    def set_status(self, job: str, status: str, *, end_time: float | None = None) -> None:
        with self._lock:
            record = self._find(job)
            if record is None:
                raise KeyError(job)
            record["status"] = status
            record["message"] = _message(status)
            if status in TERMINAL:
                record["end_time"] = self.clock() if end_time is None else end_time
                record["driver_exit_code"] = (
                    0 if status == "SUCCEEDED" else record["driver_exit_code"]
                )
                if status == "FAILED" and not record["error_type"]:
                    record["error_type"] = "JOB_ENTRYPOINT_COMMAND_ERROR"
            else:
                record["end_time"] = None
            if status == "RUNNING" and record["job_id"] is None:
                record["job_id"] = self._new_job_id()

    def remove_job(self, job: str) -> None:
        with self._lock:
            record = self._find(job)
            if record is not None:
                del self._jobs[record["submission_id"] or record["job_id"]]

    def jobs(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(job) for job in self._jobs.values()]

    def _find(self, job: str) -> dict[str, Any] | None:
        if job in self._jobs:
            return self._jobs[job]
        return next((r for r in self._jobs.values() if r["job_id"] == job), None)

    # --- cluster --------------------------------------------------------------------------

    def set_nodes(
        self,
        alive_head: int = 1,
        alive_workers: int = 0,
        dead_workers: int = 0,
        cpus_per_node: float = 4,
        gpus_per_node: float = 0,
        memory_per_node: float = 16 * GIB,
    ) -> None:
        with self._lock:
            nodes = []
            kinds = [(True, "ALIVE")] * alive_head
            kinds += [(False, "ALIVE")] * alive_workers + [(False, "DEAD")] * dead_workers
            start_ms = int(self.clock() * 1000) - 3_600_000
            for index, (is_head, state) in enumerate(kinds):
                resources = {"CPU": float(cpus_per_node), "memory": float(memory_per_node)}
                resources["object_store_memory"] = float(memory_per_node) * 0.3
                if gpus_per_node:
                    resources["GPU"] = float(gpus_per_node)
                nodes.append(
                    {
                        "node_id": f"{index:056x}",
                        "node_ip": "192.0.2.2",
                        "is_head_node": is_head,
                        "state": state,
                        "state_message": None if state == "ALIVE" else "Expected termination",
                        "node_name": "192.0.2.2",
                        "resources_total": resources,
                        "labels": {},
                        "start_time_ms": start_ms + index * 1000,
                        "end_time_ms": 0 if state == "ALIVE" else start_ms + 60_000,
                    }
                )
            self._nodes = nodes

    def set_usage(self, cpu_used: float, gpu_used: float, memory_used: float) -> None:
        with self._lock:
            self._usage = {"CPU": cpu_used, "GPU": gpu_used, "memory": memory_used}

    # --- faults ---------------------------------------------------------------------------

    def fail_next(self, n: int, status: int = 500, body: str = "internal error") -> None:
        with self._lock:
            self._failures.extend([(status, body)] * n)

    def set_hang(self, on: bool) -> None:
        """While on, API requests block (at most MAX_HANG_SECONDS, or until stop)."""
        if on:
            self._unhang.clear()
        else:
            self._unhang.set()

    def set_garbage(self, on: bool) -> None:
        with self._lock:
            self._garbage = on

    # --- workload -------------------------------------------------------------------------

    def new_workload(self, rate_per_min: float) -> Workload:
        return _Workload(self, rate_per_min, self._rng.random())

    # --- rendering ------------------------------------------------------------------------

    def render_job(self, job: dict[str, Any]) -> dict[str, Any]:
        running = job["status"] not in ("PENDING",) and job["job_id"] is not None
        driver = (
            {
                "id": job["job_id"],
                "node_ip_address": "192.0.2.2",
                "pid": str(9000 + len(job["entrypoint"])),
            }
            if running
            else None
        )
        start, end = job["start_time"], job["end_time"]
        if self.flavour == "openyuanrong":
            return {
                "type": job["type"],
                "entrypoint": job["entrypoint"],
                "submission_id": job["submission_id"] or "",
                "driver_info": driver,
                "status": job["status"],
                "start_time": str(int(start)),
                "end_time": "" if end is None else str(int(end)),
                "metadata": job["metadata"],
                "runtime_env": job["runtime_env"],
                "driver_agent_http_address": "",
                "driver_node_id": "node2-744947" if running else "",
                "driver_exit_code": job["driver_exit_code"]
                if job["driver_exit_code"] is not None
                else "",
                "error_type": job["error_type"] or "",
            }
        if end is None and job["type"] == "DRIVER":
            end_ms: int | None = 0
        else:
            end_ms = None if end is None else int(end * 1000)
        return {
            "type": job["type"],
            "job_id": job["job_id"],
            "submission_id": job["submission_id"],
            "driver_info": driver,
            "status": job["status"],
            "entrypoint": job["entrypoint"],
            "message": job["message"],
            "error_type": job["error_type"],
            "start_time": int(start * 1000),
            "end_time": end_ms,
            "metadata": job["metadata"],
            "runtime_env": job["runtime_env"],
            "driver_agent_http_address": "http://192.0.2.2:52365" if running else None,
            "driver_node_id": "0" * 56 if running else None,
            "driver_exit_code": job["driver_exit_code"],
        }

    def job_list(self) -> list[dict[str, Any]]:
        with self._lock:
            jobs = [self.render_job(job) for job in self._jobs.values()]
        self._rng.shuffle(jobs)
        return jobs

    def nodes_payload(self, limit: int) -> dict[str, Any]:
        with self._lock:
            nodes = list(self._nodes)
        shown = nodes[:limit]
        return {
            "result": True,
            "msg": "",
            "data": {
                "result": {
                    "total": len(nodes),
                    "num_after_truncation": len(shown),
                    "num_filtered": len(nodes),
                    "result": shown,
                    "partial_failure_warning": "",
                    "warnings": None,
                }
            },
        }

    def cluster_status_payload(self) -> dict[str, Any]:
        with self._lock:
            alive = [n for n in self._nodes if n["state"] == "ALIVE"]
            usage = dict(self._usage)
            pending = sum(1 for j in self._jobs.values() if j["status"] == "PENDING")
        totals = {"CPU": 0.0, "GPU": 0.0, "memory": 0.0, "objectStoreMemory": 0.0}
        for node in alive:
            resources = node["resources_total"]
            totals["CPU"] += resources.get("CPU", 0.0)
            totals["GPU"] += resources.get("GPU", 0.0)
            totals["memory"] += resources.get("memory", 0.0)
            totals["objectStoreMemory"] += resources.get("object_store_memory", 0.0)
        report = {
            resource: [min(usage.get(resource, 0.0), total), total]
            for resource, total in totals.items()
            if total or resource != "GPU"
        }
        return {
            "result": True,
            "msg": "Got cluster status.",
            "data": {
                "autoscalingStatus": "",
                "autoscalingError": None,
                "clusterStatus": {
                    "time": self.clock(),
                    "loadMetricsReport": {
                        "usage": report,
                        "resourceDemand": [[{"CPU": 1.0}, pending]] if pending else [],
                        "pgDemand": [],
                        "requestDemand": [],
                    },
                },
            },
        }

    def version_payload(self) -> dict[str, Any]:
        return {
            "version": "4",
            "ray_version": "2.60.0",
            "ray_commit": "0" * 40,
            "session_name": self._session,
        }

    # --- request plumbing (called by the handler) -----------------------------------------

    def _log(self, method: str, path: str, headers: dict[str, str]) -> None:
        with self._lock:
            if len(self.requests) < MAX_LOGGED_REQUESTS:
                self.requests.append((method, path, headers))

    def _take_failure(self) -> tuple[int, str] | None:
        with self._lock:
            return self._failures.pop(0) if self._failures else None

    def _wait_unhang(self) -> None:
        deadline = time.monotonic() + MAX_HANG_SECONDS
        while not self._unhang.is_set() and not self._stopped.is_set():
            if time.monotonic() > deadline:
                return
            self._unhang.wait(0.1)


def _message(status: str) -> str:
    return {
        "PENDING": "Job has not started yet.",
        "RUNNING": "Job is currently running.",
        "SUCCEEDED": "Job finished successfully.",
        "FAILED": "Job entrypoint command failed with exit code 1.",
        "STOPPED": "Job was intentionally stopped.",
    }.get(status, "")


def _handler(sim: RaySimulator) -> type[BaseHTTPRequestHandler]:
    jobs_path = "/api/jobs/" if sim.flavour == "ray" else "/api/jobs"

    class Handler(JsonHandler):
        def _authorized(self) -> bool:
            if sim.auth_token is None:
                return True
            header = self.headers.get("Authorization") or self.headers.get("X-Ray-Authorization")
            if not header:
                self.text(401, "Unauthorized: missing authentication token")
                return False
            if header != f"Bearer {sim.auth_token}":
                self.text(403, "Forbidden: invalid authentication token")
                return False
            return True

        def _prelude(self) -> tuple[str, dict[str, str]] | None:
            path, _, query = self.path.partition("?")
            sim._log(self.command, path, dict(self.headers.items()))
            if path == "/api/authentication_mode":
                mode = "token" if sim.auth_token else "disabled"
                self.reply(200, {"authentication_mode": mode})
                return None
            if not self._authorized():
                return None
            sim._wait_unhang()
            failure = sim._take_failure()
            if failure:
                self.text(*failure)
                return None
            if sim._garbage:
                self.reply(200, b'{"truncated": [', "application/json")
                return None
            params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
            return path, params

        def do_GET(self) -> None:
            prelude = self._prelude()
            if prelude is None:
                return
            path, params = prelude
            if path == jobs_path:
                self.reply(200, sim.job_list())
            elif path.startswith("/api/jobs/") and path.count("/") == 3 and path != "/api/jobs/":
                job_key = path.rsplit("/", 1)[1]
                with sim._lock:
                    record = sim._find(job_key)
                    rendered = sim.render_job(record) if record else None
                if rendered is None:
                    self.text(404, f"Job {job_key} does not exist.")
                else:
                    self.reply(200, rendered)
            elif path == "/api/v0/nodes":
                limit = params.get("limit", "100")
                self.reply(200, sim.nodes_payload(int(limit) if limit.isdigit() else 100))
            elif path == "/api/cluster_status":
                self.reply(200, sim.cluster_status_payload())
            elif path == "/api/version":
                self.reply(200, sim.version_payload())
            else:
                self.text(404, "404: Not Found")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            prelude = self._prelude()
            if prelude is None:
                return
            path, _ = prelude
            if path.rstrip("/") == "/api/jobs":
                try:
                    request = json.loads(raw or b"{}")
                    entrypoint = request["entrypoint"]
                except (ValueError, KeyError, TypeError):
                    self.text(400, "Failed to parse request body: entrypoint is required")
                    return
                key = sim.add_job(
                    request.get("submission_id"),
                    entrypoint=entrypoint,
                    metadata=request.get("metadata"),
                    runtime_env=request.get("runtime_env"),
                )
                self.reply(200, {"submission_id": key, "job_id": None})
            elif path.startswith("/api/jobs/") and path.endswith("/stop"):
                job_key = path.split("/")[3]
                try:
                    sim.set_status(job_key, "STOPPED")
                except KeyError:
                    self.text(404, f"Job {job_key} does not exist.")
                    return
                self.reply(200, {"stopped": True})
            else:
                self.text(404, "404: Not Found")

    return Handler


class _Workload(Workload):
    """A seeded workload: jobs arrive, wait, run, and end in every status; nodes come and go."""

    NAMES = ("train-resnet", "etl-nightly", "eval-llm", "tune-xgb", "embed-docs", "batch-infer")

    def __init__(self, sim: RaySimulator, rate_per_min: float, seed: float) -> None:
        super().__init__(sim.clock, rate_per_min, seed)
        self.sim = sim
        self.plans: dict[str, tuple[float, float, str]] = {}  # id -> (start at, end at, final)
        self.next_arrival: float | None = None
        self.next_node_change: float | None = None
        self.next_fault = 0.0
        self.workers = 2

    def step(self, now: float) -> None:
        if self.next_arrival is None:
            self.next_arrival = now
            self.next_node_change = now + 30
            self.next_fault = now + 20
            self.sim.set_nodes(
                alive_head=1, alive_workers=self.workers, cpus_per_node=8, gpus_per_node=1
            )
        arrivals = 0
        while self.next_arrival <= now and arrivals < 1000:
            self._submit(self.next_arrival)
            self.next_arrival += self.rng.expovariate(1.0 / self.mean_gap)
            arrivals += 1
        records = {j["submission_id"] or j["job_id"]: j for j in self.sim.jobs()}
        for key, (start_at, end_at, final) in list(self.plans.items()):
            record = records.get(key)
            if record is None:
                del self.plans[key]
                continue
            if record["status"] == "PENDING" and now >= start_at:
                if final == "STOPPED" and self.rng.random() < 0.3:
                    self.sim.set_status(key, "STOPPED", end_time=start_at)
                    del self.plans[key]
                    continue
                self.sim.set_status(key, "RUNNING")
            if record["status"] in ("RUNNING", "PENDING") and now >= end_at:
                self.sim.set_status(key, final, end_time=end_at)
                del self.plans[key]
        assert self.next_node_change is not None
        if now >= self.next_node_change:
            self.workers = max(1, min(4, self.workers + self.rng.choice((-1, 1))))
            dead = self.rng.randint(0, 1)
            self.sim.set_nodes(
                alive_head=1,
                alive_workers=self.workers,
                dead_workers=dead,
                cpus_per_node=8,
                gpus_per_node=1,
            )
            self.next_node_change = now + self.rng.uniform(20, 50)
        if now >= self.next_fault:  # now and then a failed poll, so health metrics move too
            self.sim.fail_next(1, status=503, body="upstream unavailable")
            self.next_fault = now + self.rng.uniform(30, 60)
        running = sum(1 for j in records.values() if j["status"] == "RUNNING")
        self.sim.set_usage(
            cpu_used=min(running * 2.0, 8.0 * (self.workers + 1)),
            gpu_used=min(running, self.workers + 1),
            memory_used=running * 3 * GIB,
        )
        self._trim()

    def _submit(self, at: float) -> None:
        name = self.rng.choice(self.NAMES)
        roll = self.rng.random()
        final = (
            "SUCCEEDED"
            if roll < 0.7
            else "FAILED"
            if roll < 0.85
            else "STOPPED"
            if roll < 0.95
            else "DRIVER"
        )
        wait = self.rng.uniform(40, 70) if self.rng.random() < 0.1 else self.rng.uniform(2, 15)
        run = self.rng.uniform(5, 60)
        if final == "DRIVER":
            key = self.sim.add_job(None, type="DRIVER", status="RUNNING", start_time=at)
            self.plans[key] = (at, at + run, "SUCCEEDED")
            return
        key = self.sim.add_job(
            f"{name}-{self.rng.getrandbits(32):08x}",
            start_time=at,
            entrypoint=f"python {name}.py",
            metadata={"job_name": name, "owner": "demo"},
            runtime_env={"env_vars": {"API_KEY": "demo-not-a-secret"}},
        )
        self.plans[key] = (at + wait, at + wait + run, final)

    def _trim(self) -> None:
        jobs = self.sim.jobs()
        if len(jobs) <= MAX_JOBS:
            return
        finished = sorted(
            (j for j in jobs if j["status"] in TERMINAL), key=lambda j: j["end_time"] or 0
        )
        for job in finished[: len(jobs) - MAX_JOBS]:
            self.sim.remove_job(job["submission_id"] or job["job_id"])
