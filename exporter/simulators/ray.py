"""A simulator of Ray's Jobs REST API and its openYuanrong flavour, for tests and ``--demo``.

Faithful to docs/backends/ray.md, the Ray 2.60 answers recorded in ``tests/data/ray`` and Ray's
dashboard code: Ray serves ``/api/jobs/`` (404 on ``/api/jobs``), integer epoch milliseconds and
nulls; openYuanrong serves ``/api/jobs`` (404 on ``/api/jobs/``), epoch SECONDS as strings, ``""``
for unset, and no ``job_id``/``message``. Token auth answers 401 without a token and 403 with a
wrong one. Tests drive it with ``add_job``/``set_status`` and the fault knobs; the demo runs a
seeded, evolving workload (``start_workload``; tests call ``step(now)`` on a clock of their own).
``restart_head`` is a head restart without GCS fault tolerance: the jobs are gone, DRIVER job
ids start again from ``02000000`` and ``/api/version`` names a new session.

The internal job records (``jobs()``) keep times in epoch seconds; rendering converts them.
"""

from __future__ import annotations

import copy
import json
import random
import string
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from exporter.simulators.base import JsonHandler, Outcome, Simulator, Workload, request_query

TERMINAL = frozenset({"SUCCEEDED", "FAILED", "STOPPED"})
ENDS: dict[Outcome, str] = {"succeeded": "SUCCEEDED", "failed": "FAILED", "cancelled": "STOPPED"}
ENTRYPOINT_ERROR = "JOB_ENTRYPOINT_COMMAND_ERROR"
SETUP_FAILURE = "RUNTIME_ENV_SETUP_FAILURE"
MAX_HANG_SECONDS = 120.0
MAX_LOGGED_REQUESTS = 10_000
MAX_JOBS = 500
MAX_DEAD_NODES = 10
DEFAULT_NODE_LIMIT = 100
AGENT_PORT = 52365
GIB = 2**30
GARBAGE = b'{"truncated": ['
# Ray's generated submission ids: "raysubmit_" and 16 characters without look-alikes.
SUBMIT_ID_CHARS = sorted(set(string.ascii_letters + string.digits) - set("IloO0"))
MESSAGES = {
    "RUNNING": "Job is currently running.",
    "SUCCEEDED": "Job finished successfully.",
    "STOPPED": "Job was intentionally stopped.",
}

Flavour = Literal["ray", "openyuanrong"]
Reply = tuple[int, Any]  # HTTP status and body: JSON-able, str (plain text) or raw bytes


class RaySimulator(Simulator):
    """An in-process HTTP server speaking the Ray Jobs API; thread-safe (one lock)."""

    JOB_ID_FIELD, JOB_SUBMIT_FIELD = "submission_id", "start_time"  # the answer is the list
    REUSES_IDS = True  # a submission id is free again once its job is gone; job ids after restarts

    def __init__(
        self,
        flavour: Flavour = "ray",
        auth_token: str | None = None,
        seed: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        if flavour not in ("ray", "openyuanrong"):
            raise ValueError(f"unknown flavour {flavour!r}")
        self.flavour = flavour
        self.auth_token = auth_token
        self.clock = clock
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.jobs_path = "/api/jobs/" if flavour == "ray" else "/api/jobs"
        self._seed = seed
        self._rng = random.Random(seed)  # ids: the same calls give the same ids
        self._order_rng = random.Random(seed + 1)  # list order, drawn per request
        self._lock = threading.Lock()
        self._jobs: dict[str, dict[str, Any]] = {}
        self._next_job_id = 2
        self._used_job_ids: set[str] = set()
        self._nodes: list[dict[str, Any]] = []
        self._node_shape: dict[str, float] = {}
        self._hosts = 0
        self._usage = {"CPU": 0.0, "GPU": 0.0, "memory": 0.0, "objectStoreMemory": 0.0}
        self._failures: deque[tuple[int, str]] = deque()
        self._list_failures = 0
        self._garbage = False
        self._empty_answers = 0
        self._unhang = threading.Event()
        self._unhang.set()
        self._session = self._session_name()
        self._commit = f"{self._rng.getrandbits(160):040x}"
        self.set_nodes()

    # --- lifecycle ------------------------------------------------------------------------

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _handler(self)

    def target_config(self, name: str, **settings: Any) -> dict[str, Any]:
        """A config target that polls this simulator, with its token when it wants one."""
        config: dict[str, Any] = {"name": name, "backend": self.flavour, "url": self.url}
        if self.auth_token is not None:
            config["credentials"] = {"token": self.auth_token}
        return {**config, **settings}

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

    def fail_job_lists(self, n: int) -> None:
        with self._lock:
            self._list_failures += n

    def stop(self) -> None:
        """Stop the workload and the server; hung requests are released."""
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
                del self._jobs[_key(record)]

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
        """Replace the node list with fresh nodes; the DEAD workers ended a minute ago."""
        with self._lock:
            self._node_shape = {
                "CPU": float(cpus_per_node),
                "GPU": float(gpus_per_node),
                "memory": float(memory_per_node),
            }
            now = self.clock()
            nodes = [self._new_node(True, now - 3600) for _ in range(alive_head)]
            nodes += [self._new_node(False, now - 3000) for _ in range(alive_workers)]
            dead = [self._new_node(False, now - 3000) for _ in range(dead_workers)]
            for node in dead:
                _end_node(node, now - 60, crashed=False)
            self._nodes = nodes + dead

    def set_usage(
        self, cpu_used: float, gpu_used: float, memory_used: float, object_store_used: float = 0.0
    ) -> None:
        """Resources in use, as /api/cluster_status reports them (capped at the totals)."""
        with self._lock:
            self._usage = {
                "CPU": float(cpu_used),
                "GPU": float(gpu_used),
                "memory": float(memory_used),
                "objectStoreMemory": float(object_store_used),
            }

    def _new_node_id(self) -> str:
        if self.flavour == "openyuanrong":
            return f"node{self._hosts}-{self._rng.randint(100000, 999999)}"
        return f"{self._rng.getrandbits(224):056x}"

    def _new_node(self, is_head: bool, started: float) -> dict[str, Any]:
        ip = f"192.0.2.{2 + self._hosts % 250}"
        self._hosts += 1
        node_id = self._new_node_id()
        shape = self._node_shape
        resources = {
            "CPU": shape["CPU"],
            "memory": shape["memory"],
            "object_store_memory": float(int(shape["memory"] * 0.3)),
            f"node:{ip}": 1.0,
        }
        if shape["GPU"]:
            resources["GPU"] = shape["GPU"]
        if is_head:
            resources["node:__internal_head__"] = 1.0
        return {
            "node_id": node_id,
            "node_ip": ip,
            "is_head_node": is_head,
            "state": "ALIVE",
            "state_message": None,
            "node_name": ip,
            "resources_total": resources,
            "labels": {"ray.io/node-id": node_id},
            "start_time_ms": _ms(started),
            "end_time_ms": 0,
        }

    # --- faults ---------------------------------------------------------------------------

    def fail_next(self, n: int, status: int = 500, body: str = "internal error") -> None:
        """The next ``n`` API requests (all but authentication_mode) get this plain-text reply."""
        with self._lock:
            self._failures.extend([(status, body)] * n)

    def set_hang(self, on: bool) -> None:
        """While on, API requests block until it is turned off, ``stop()``, or 120 s."""
        if on:
            self._unhang.clear()
        else:
            self._unhang.set()

    def empty_answers(self, n: int) -> None:
        """The next ``n`` job-list requests succeed with an empty list."""
        with self._lock:
            self._empty_answers += n

    def set_garbage(self, on: bool) -> None:
        """While on, API requests get 200 with a body that is not valid JSON."""
        with self._lock:
            self._garbage = on

    # --- workload hooks (called by _Workload) ---------------------------------------------

    def new_workload(self, rate_per_min: float) -> Workload:
        """The demo workload, seeded from the constructor's seed."""
        return _Workload(self, rate_per_min, self._seed)

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
                del self._jobs[_key(job)]

    def _alive_workers(self) -> int:
        with self._lock:
            return sum(1 for n in self._nodes if n["state"] == "ALIVE" and not n["is_head_node"])

    def _add_worker(self, now: float) -> None:
        with self._lock:
            self._nodes.append(self._new_node(False, now))

    def _end_worker(self, now: float, crashed: bool) -> None:
        """The oldest alive worker dies; only the newest MAX_DEAD_NODES dead ones are kept."""
        with self._lock:
            alive = [n for n in self._nodes if n["state"] == "ALIVE" and not n["is_head_node"]]
            if alive:
                _end_node(alive[0], now, crashed)
            dead = [n for n in self._nodes if n["state"] == "DEAD"]
            for node in dead[: max(0, len(dead) - MAX_DEAD_NODES)]:
                self._nodes.remove(node)

    # --- requests -------------------------------------------------------------------------

    def answer(self, method: str, target: str, headers: Message, body: bytes) -> Reply:
        """The reply to one HTTP request (called by the handler thread; may block on hang)."""
        url = urlsplit(target)
        self._log(method, url.path, dict(headers.items()))
        if method == "GET" and url.path == "/api/authentication_mode":
            return 200, {"authentication_mode": "token" if self.auth_token else "disabled"}
        denied = self._check_auth(headers)
        if denied:
            return denied
        self._unhang.wait(MAX_HANG_SECONDS)
        fault = self._take_fault()
        if fault:
            return fault
        return self._route(method, url.path, dict(request_query(target)), body)

    def _log(self, method: str, path: str, headers: dict[str, str]) -> None:
        with self._lock:
            if len(self.requests) < MAX_LOGGED_REQUESTS:
                self.requests.append((method, path, headers))

    def _check_auth(self, headers: Message) -> Reply | None:
        if self.auth_token is None:
            return None
        sent = [headers.get("Authorization"), headers.get("X-Ray-Authorization")]
        if not any(sent):
            return 401, "Unauthorized: Missing authentication token"
        if f"Bearer {self.auth_token}" not in sent:
            return 403, "Forbidden: Invalid authentication token"
        return None

    def _take_fault(self) -> Reply | None:
        with self._lock:
            if self._failures:
                return self._failures.popleft()
            return (200, GARBAGE) if self._garbage else None

    def _route(self, method: str, path: str, params: dict[str, str], body: bytes) -> Reply:
        parts = path.split("/")
        on_job = len(parts) in (4, 5) and parts[1:3] == ["api", "jobs"] and parts[3] != ""
        if method == "GET":
            if path == self.jobs_path:
                return self._job_list()
            if on_job and len(parts) == 4:
                return self._job_info(unquote(parts[3]))
            if path == "/api/v0/nodes":
                return 200, self._nodes_payload(_limit(params))
            if path == "/api/cluster_status":
                return 200, self._cluster_status()
            if path == "/api/version":
                return 200, self._version()
        elif method == "POST":
            if path == self.jobs_path:
                return self._submit(body)
            if on_job and len(parts) == 5 and parts[4] == "stop":
                return self._stop(unquote(parts[3]))
        return 404, "404: Not Found"

    # --- endpoints ------------------------------------------------------------------------

    def _render(self, job: dict[str, Any]) -> dict[str, Any]:
        if self.jitter is not None:
            end = job["end_time"]
            job = job | {
                "start_time": self.jitter(job["start_time"]),
                "end_time": None if end is None else self.jitter(end),
            }
        return _render_yuanrong(job) if self.flavour == "openyuanrong" else _render_ray(job)

    def _job_list(self) -> Reply:
        with self._lock:
            if self._list_failures:
                self._list_failures -= 1
                return 503, "upstream unavailable"
            records = [] if self._empty_answers else list(self._jobs.values())
            self._empty_answers = max(0, self._empty_answers - 1)
            self.record_answer(self.clock(), [(_key(job), job["status"]) for job in records])
            jobs = [self._render(job) for job in records]
            self._order_rng.shuffle(jobs)
        return 200, jobs

    def _job_info(self, key: str) -> Reply:
        with self._lock:
            record = self._find(key)
            if record is None:
                return 404, f"Job {key} does not exist"
            self.record_answer(self.clock(), [(_key(record), record["status"])])
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

    def _nodes_payload(self, limit: int) -> dict[str, Any]:
        with self._lock:
            nodes = copy.deepcopy(self._nodes)
        shown = nodes[:limit]
        result = {
            "total": len(nodes),
            "num_after_truncation": len(shown),
            "num_filtered": len(shown),
            "result": shown,
            "partial_failure_warning": "",
            "warnings": None,
        }
        return {"result": True, "msg": "", "data": {"result": result}}

    def _cluster_status(self) -> dict[str, Any]:
        with self._lock:
            alive = copy.deepcopy([n for n in self._nodes if n["state"] == "ALIVE"])
            used = dict(self._usage)
            pending = sum(1 for j in self._jobs.values() if j["status"] == "PENDING")
        totals = _sum_resources(n["resources_total"] for n in alive)
        usage = _usage_report(totals, used, totals)
        by_node = {n["node_id"]: _usage_report(n["resources_total"], used, totals) for n in alive}
        load = {
            "usage": usage,
            "resourceDemand": [[{"CPU": 1.0}, pending]] if pending else [],
            "pgDemand": [],
            "requestDemand": [],
            "nodeTypes": [[n["resources_total"], 1] for n in alive],
            "headIp": None,
            "usageByNode": by_node,
            "nodeTypeMapping": None,
            "idleTimeMap": None,
        }
        status = {
            "gcsRequestTime": 0.003,
            "time": self.clock(),
            "monitorPid": 7257,
            "autoscalerUpdateTime": 0.004,
            "autoscalerReport": _autoscaler_report(alive),
            "nonTerminatedNodesTime": 1e-05,
            "loadMetricsReport": load,
        }
        data = {
            "autoscalingStatus": _autoscaling_status(len(alive), usage),
            "autoscalingError": None,
            "clusterStatus": status,
        }
        return {"result": True, "msg": "Got cluster status.", "data": data}

    def _version(self) -> dict[str, Any]:
        return {
            "version": "4",
            "ray_version": "2.60.0",
            "ray_commit": self._commit,
            "session_name": self._session,
        }

    def _session_name(self) -> str:
        started = time.strftime("%Y-%m-%d_%H-%M-%S", time.gmtime(self.clock()))
        return (
            f"session_{started}_{self._rng.randint(0, 999999):06d}_{self._rng.randint(1000, 65535)}"
        )


class RayHeads(Simulator):
    """Ray heads behind one URL, as a balancer, a stale proxy or two clusters taken for one show
    them (docs/metrics.md, "Counting"). ``mode`` ``alternate``: each request is answered by the
    next head in turn; ``merged``: the job list holds the jobs of every head, in the heads'
    order; ``shuffled``: the same, in a new (seeded) order every time. In the merged modes, other
    requests go to the first head."""

    def __init__(self, heads: list[RaySimulator], mode: str = "alternate", seed: int = 0) -> None:
        super().__init__()
        if mode not in ("alternate", "merged", "shuffled"):
            raise ValueError(f"unknown mode {mode!r}")
        self.heads = heads
        self.mode = mode
        self._rng = random.Random(seed)
        self._turn = 0
        self._lock = threading.Lock()

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _handler(self)

    @property
    def clock(self) -> Callable[[], float]:
        return self.heads[0].clock

    def target_config(self, name: str, **settings: Any) -> dict[str, Any]:
        return self.heads[0].target_config(name, **settings) | {"url": self.url}

    def answer(self, method: str, target: str, headers: Message, body: bytes) -> Reply:
        with self._lock:
            turn = self._turn
            self._turn += 1
        if self.mode == "alternate":
            return self.heads[turn % len(self.heads)].answer(method, target, headers, body)
        first = self.heads[0]
        if method != "GET" or urlsplit(target).path != first.jobs_path:
            return first.answer(method, target, headers, body)
        jobs = []
        for head in self.heads:
            status, payload = head.answer(method, target, headers, body)
            if status != 200:
                return status, payload
            jobs += payload
        if self.mode == "shuffled":
            with self._lock:
                self._rng.shuffle(jobs)
        return 200, jobs


# --- records and payloads ---------------------------------------------------------------------


def _key(job: dict[str, Any]) -> str:
    return job["submission_id"] or job["job_id"]


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


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


def _render_ray(job: dict[str, Any]) -> dict[str, Any]:
    """A record as Ray sends it: epoch milliseconds, nulls; unfinished DRIVER jobs end at 0."""
    submission = job["type"] == "SUBMISSION"
    ran = job["driver_pid"] is not None
    end = job["end_time"]
    driver = {"id": job["job_id"], "node_ip_address": job["driver_ip"], "pid": job["driver_pid"]}
    return {
        "type": job["type"],
        "job_id": job["job_id"],
        "submission_id": job["submission_id"],
        "driver_info": driver if ran else None,
        "status": job["status"],
        "entrypoint": job["entrypoint"],
        "message": job["message"],
        "error_type": job["error_type"],
        "start_time": _ms(job["start_time"]),
        "end_time": _ms(end) if end is not None else (None if submission else 0),
        "metadata": dict(job["metadata"]),
        "runtime_env": copy.deepcopy(job["runtime_env"]),
        "driver_agent_http_address": (
            f"http://{job['driver_ip']}:{AGENT_PORT}" if submission and ran else None
        ),
        "driver_node_id": job["driver_node_id"] if submission and ran else None,
        "driver_exit_code": job["driver_exit_code"],
    }


def _render_yuanrong(job: dict[str, Any]) -> dict[str, Any]:
    """A record as openYuanrong's example: string epoch seconds, "" for unset, no job_id."""
    end = job["end_time"]
    driver = {
        "id": _key(job) if job["driver_pid"] else "",
        "node_ip_address": job["driver_ip"] or "",
        "pid": job["driver_pid"] or "",
    }
    return {
        "type": job["type"],
        "entrypoint": job["entrypoint"],
        "submission_id": job["submission_id"] or "",
        "driver_info": driver,
        "status": job["status"],
        "start_time": str(int(job["start_time"])),
        "end_time": "" if end is None else str(int(end)),
        "metadata": dict(job["metadata"]),
        "runtime_env": copy.deepcopy(job["runtime_env"]),
        "driver_agent_http_address": "",
        "driver_node_id": job["driver_node_id"] or "",
        "driver_exit_code": job["driver_exit_code"] or 0,
        "error_type": job["error_type"] or "",
    }


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


def _limit(params: dict[str, str]) -> int:
    value = params.get("limit", "")
    return int(value) if value.isdigit() and int(value) > 0 else DEFAULT_NODE_LIMIT


def _end_node(node: dict[str, Any], at: float, crashed: bool) -> None:
    node["state"] = "DEAD"
    node["end_time_ms"] = _ms(at)
    node["state_message"] = (
        "Unexpected termination: health check failed due to missing too many heartbeats"
        if crashed
        else "Expected termination: received SIGTERM"
    )


def _camel(key: str) -> str:
    """The dashboard's snake -> camel case: object_store_memory -> objectStoreMemory."""
    first, *rest = key.split("_")
    return first + "".join(part.title() for part in rest)


def _sum_resources(resources: Iterable[dict[str, float]]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for node in resources:
        for name, amount in node.items():
            totals[name] = totals.get(name, 0.0) + amount
    return totals


def _usage_report(
    resources: dict[str, float], used: dict[str, float], totals: dict[str, float]
) -> dict[str, list[float]]:
    """``{camelName: [used, total]}``; a node's share of use is proportional to its size."""
    report = {}
    for name, amount in resources.items():
        in_use = min(used.get(_camel(name), 0.0), totals[name])
        report[_camel(name)] = [in_use * amount / totals[name] if totals[name] else 0.0, amount]
    return report


def _autoscaler_report(alive: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "activeNodes": {_camel(f"node_{n['node_id']}"): 1 for n in alive},
        "idleNodes": None,
        "pendingNodes": [],
        "pendingLaunches": {},
        "failedNodes": [],
        "nodeAvailabilitySummary": {"nodeAvailabilities": {}},
        "nodeActivities": None,
        "pendingResources": {},
        "nodeTypeMapping": {n["node_id"]: f"node_{n['node_id']}" for n in alive},
        "legacy": True,
    }


def _autoscaling_status(nodes: int, usage: dict[str, list[float]]) -> str:
    cpu = usage.get("CPU", [0.0, 0.0])
    memory = [amount / GIB for amount in usage.get("memory", [0.0, 0.0])]
    return (
        f"Cluster status: {nodes} nodes\n"
        f" - ResourceUsage: {cpu[0]:.1f}/{cpu[1]:.1f} CPU, "
        f"{memory[0]:.2f} GiB/{memory[1]:.2f} GiB memory\n"
        "Worker node types:"
    )


def _handler(sim: RaySimulator | RayHeads) -> type[BaseHTTPRequestHandler]:
    class Handler(JsonHandler):
        server_clock = staticmethod(sim.clock)

        def do_GET(self) -> None:
            self._serve(b"")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self._serve(self.rfile.read(length) if length else b"")

        def _serve(self, body: bytes) -> None:
            status, payload = sim.answer(self.command, self.path, self.headers, body)
            if isinstance(payload, str):
                self.text(status, payload)
            else:
                self.reply(status, payload)

    return Handler


# --- the demo workload --------------------------------------------------------------------------


@dataclass
class _Plan:
    """When a submitted job starts (``start_at``) and ends, and how."""

    start_at: float
    end_at: float
    final: str
    error_type: str | None = None
    runs: bool = True  # False: it ends at start_at without running (stopped or setup failed)


class _Workload(Workload):
    """Jobs arrive, wait, run and end in every status; usage varies; workers die and join.

    Deterministic from the seed for a given sequence of ``step(now)`` calls.
    """

    NAMES = ("train-resnet", "etl-nightly", "eval-llm", "tune-xgb", "embed-docs", "batch-infer")
    TEAMS = ("vision", "nlp", "data-eng", "recsys")

    def __init__(self, sim: RaySimulator, rate_per_min: float, seed: float) -> None:
        super().__init__(sim.clock, rate_per_min, seed)
        self.sim = sim
        self.plans: dict[str, _Plan] = {}
        self.started = False
        self.next_arrival = self.next_node_event = self.next_fault = 0.0
        self.rejoin_at: float | None = None
        self.node_events = 0
        self._lock = threading.Lock()

    def step(self, now: float) -> None:
        """Advance everything to ``now``."""
        with self._lock:
            if not self.started:
                self._begin(now)
            self._arrive(now)
            self._advance(now)
            self._evolve_nodes(now)
            self._inject_fault(now)
            self._vary_usage()
            self.sim._drop_oldest_finished(MAX_JOBS)

    def _begin(self, now: float) -> None:
        self.started = True
        self.next_arrival = now
        self.next_node_event = now + 25
        self.next_fault = now + 20
        self.sim.set_nodes(
            alive_head=1,
            alive_workers=2,
            cpus_per_node=8,
            gpus_per_node=1,
            memory_per_node=32 * GIB,
        )

    def _arrive(self, now: float) -> None:
        for _ in range(1000):  # bounded catch-up after a jump of the clock
            if self.next_arrival > now:
                return
            self._submit(self.next_arrival)
            self.next_arrival += self.rng.expovariate(1.0 / self.mean_gap)

    def _submit(self, at: float) -> None:
        roll = self.rng.random()
        if roll < 0.05 and self.sim.flavour == "ray":  # a script that called ray.init() itself
            key = self.sim.add_job(
                type="DRIVER", status="RUNNING", start_time=at, entrypoint="python notebook.py"
            )
            self.plans[key] = _Plan(at, at + self.rng.uniform(20, 90), "SUCCEEDED")
            return
        final = "SUCCEEDED" if roll < 0.75 else "FAILED" if roll < 0.9 else "STOPPED"
        start_at = at + (
            self.rng.uniform(45, 75) if self.rng.random() < 0.1 else self.rng.uniform(2, 15)
        )
        plan = _Plan(start_at, start_at + self.rng.uniform(5, 60), final)
        if final == "FAILED" and self.rng.random() < 0.25:
            plan = _Plan(start_at, start_at, final, SETUP_FAILURE, runs=False)
        elif final == "STOPPED" and self.rng.random() < 0.3:
            plan = _Plan(start_at, start_at, final, runs=False)  # stopped while queued
        name = self.rng.choice(self.NAMES)
        key = self.sim.add_job(
            self._submission_id(name),
            start_time=at,
            entrypoint=f"python {name.replace('-', '_')}.py",
            metadata=self._metadata(name),
            runtime_env=self._runtime_env(),
        )
        self.plans[key] = plan

    def _submission_id(self, name: str) -> str:
        if self.sim.flavour == "openyuanrong":
            return f"app-{uuid.UUID(int=self.rng.getrandbits(128), version=4)}"
        return f"{name}-{self.rng.getrandbits(32):08x}"

    def _metadata(self, name: str) -> dict[str, str]:
        team = self.rng.choice(self.TEAMS)
        if self.sim.flavour == "openyuanrong":
            return {"job_name": name, "owner": team, "task_type": team, "ttl": "3600"}
        return {"job_name": name, "owner": team}

    def _runtime_env(self) -> dict[str, Any]:
        env = {"API_KEY": "demo-not-a-secret"}
        if self.sim.flavour == "openyuanrong":
            return {
                "envVars": json.dumps(env),
                "pip": "pip3.9 install numpy==1.24",
                "working_dir": "file:///home/disk/demo/job.zip",
            }
        return {
            "working_dir": f"gcs://_ray_pkg_{self.rng.getrandbits(64):016x}.zip",
            "env_vars": env,
        }

    def _advance(self, now: float) -> None:
        statuses = self.sim._statuses()
        for key, plan in list(self.plans.items()):
            status = statuses.get(key)
            if status is None or status in TERMINAL:  # removed, or stopped by a client
                del self.plans[key]
            elif now >= plan.start_at:
                self._progress(key, plan, status, now)

    def _progress(self, key: str, plan: _Plan, status: str, now: float) -> None:
        if not plan.runs:
            self.sim._move(key, plan.final, end_time=plan.start_at, error_type=plan.error_type)
            del self.plans[key]
            return
        if status == "PENDING":
            self.sim._move(key, "RUNNING")
        if now >= plan.end_at:
            self.sim._move(key, plan.final, end_time=plan.end_at)
            del self.plans[key]

    def _evolve_nodes(self, now: float) -> None:
        if self.rejoin_at is not None and now >= self.rejoin_at:
            self.sim._add_worker(now)
            self.rejoin_at = None
        if now < self.next_node_event:
            return
        alive = self.sim._alive_workers()
        roll = self.rng.random()
        if alive > 1 and self.rejoin_at is None and (self.node_events == 0 or roll < 0.4):
            self.sim._end_worker(now, crashed=True)  # a replacement joins soon
            self.rejoin_at = now + self.rng.uniform(8, 20)
        elif alive < 4 and roll < 0.7:
            self.sim._add_worker(now)  # scale up
        elif alive > 1:
            self.sim._end_worker(now, crashed=False)  # scale down
        self.node_events += 1
        self.next_node_event = now + self.rng.uniform(20, 45)

    def _inject_fault(self, now: float) -> None:
        if now >= self.next_fault:  # now and then a failed poll, so health metrics move too
            self.sim.fail_next(1, status=503, body="upstream unavailable")
            self.next_fault = now + self.rng.uniform(30, 60)

    def _vary_usage(self) -> None:
        running = sum(1 for s in self.sim._statuses().values() if s == "RUNNING")
        jitter = self.rng.uniform(0.0, 0.5)
        self.sim.set_usage(
            cpu_used=running * 2.0 + jitter,
            gpu_used=float(running),
            memory_used=(running * 3 + jitter) * GIB,
            object_store_used=(running + jitter) * GIB / 2,
        )
