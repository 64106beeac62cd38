"""``RaySimulator``: one Ray (or openYuanrong) head's Jobs API, its nodes and cluster status
behind a token check, put together from the package's modules; its fault knobs and version."""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

from exporter.simulators.base import Simulator, Workload
from exporter.simulators.ray.common import Flavour
from exporter.simulators.ray.handler import handler
from exporter.simulators.ray.jobs import JobsMixin
from exporter.simulators.ray.jobs_api import JobsApiMixin
from exporter.simulators.ray.nodes import NodesMixin
from exporter.simulators.ray.serving import ServingMixin
from exporter.simulators.ray.workload import RayWorkload


class RaySimulator(JobsMixin, JobsApiMixin, NodesMixin, ServingMixin, Simulator):
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
        return handler(self)

    def target_config(self, name: str, **settings: Any) -> dict[str, Any]:
        """A config target that polls this simulator, with its token when it wants one."""
        config: dict[str, Any] = {"name": name, "backend": self.flavour, "url": self.url}
        if self.auth_token is not None:
            config["credentials"] = {"token": self.auth_token}
        return {**config, **settings}

    def fail_job_lists(self, n: int) -> None:
        with self._lock:
            self._list_failures += n

    def stop(self) -> None:
        """Stop the workload and the server; hung requests are released."""
        self._unhang.set()
        super().stop()

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

    # --- the demo workload ----------------------------------------------------------------

    def new_workload(self, rate_per_min: float) -> Workload:
        """The demo workload, seeded from the constructor's seed."""
        return RayWorkload(self, rate_per_min, self._seed)

    # --- version --------------------------------------------------------------------------

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
