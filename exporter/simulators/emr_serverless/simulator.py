"""``EmrServerlessSimulator``: one workspace's Ray jobs and clusters, Spark job runs and
queues behind the gateway's signature check, with STS beside it."""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from exporter.simulators.base import JobResource, Simulator, Workload
from exporter.simulators.emr_serverless.handler import handler
from exporter.simulators.emr_serverless.queues import Queues
from exporter.simulators.emr_serverless.ray_clusters import RayClustersMixin
from exporter.simulators.emr_serverless.ray_jobs import RayJobsMixin
from exporter.simulators.emr_serverless.signing import SignatureCheck, assume_role_with_oidc
from exporter.simulators.emr_serverless.spark_runs import SparkRuns
from exporter.simulators.emr_serverless.workload import EmrWorkload

SPARK_RUNS = "spark_runs"  # the name of the Spark job runs as a job resource
MAX_LOGGED_REQUESTS = 100_000
MAX_HEADS = 256  # request heads kept (``heads``): the demo runs for days


@dataclass(frozen=True, slots=True)
class RequestHead:
    """A request as it came: its method, its target (path and query, as sent) and its header
    lines in order, names as sent."""

    method: str
    target: str
    headers: tuple[tuple[str, str], ...]


class EmrServerlessSimulator(RayJobsMixin, RayClustersMixin, Simulator):
    """Thread-safe. The simulator is the job contract of its Ray jobs (``add_job``,
    ``set_job``, the fault knobs); ``spark_runs`` is that of its Spark job runs, ``queues``
    holds its resource queues, ``add_cluster``/``set_cluster`` its Ray clusters."""

    DEFAULT_RATE_PER_MIN = 6.0
    THROTTLED_ANSWER = b'{"Code": "Throttling.Api", "Message": "flow control", "RequestId": "r"}'
    JOB_LIST_KEY, JOB_ID_FIELD, JOB_SUBMIT_FIELD = "rayJobs", "submissionId", "submitTime"

    def __init__(
        self,
        access_key_id: str = "LTAI5tSimulatorKeyId",
        access_key_secret: str = "SimulatorSecret0123456789abcdef",
        workspace_id: str = "w-sim0000000001",
        oidc_token: str | None = None,
        sts_lifetime: float = 3600.0,
        seed: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.access_key_id = access_key_id
        self.access_key_secret = access_key_secret
        self.workspace_id = workspace_id
        self.oidc_token = oidc_token
        self.sts_lifetime = sts_lifetime
        self.clock = clock
        self.clock_skew = 0.0
        self.requests: list[tuple[str, dict[str, str]]] = []  # (action, query)
        self.heads: deque[RequestHead] = deque(maxlen=MAX_HEADS)
        self.sts_calls = 0
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._throttle: list[tuple[int, str, int | None]] = []
        self.signatures = SignatureCheck(access_key_id, access_key_secret, self.now, self._rng)
        self._init_ray_jobs(seed)
        self._init_ray_clusters()
        self.spark_runs = SparkRuns(workspace_id, self.now, self.jittered_ms, seed + 2)
        self.queues = Queues(workspace_id, self.now, self.spark_runs.queue_load)

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return handler(self)

    def now(self) -> float:
        """The cloud's clock: ``clock()`` plus ``clock_skew``."""
        return self.clock() + self.clock_skew

    def target_config(self, name: str, **settings: Any) -> dict[str, Any]:
        """A config target that polls this simulator."""
        return {
            "name": name,
            "backend": "emr_serverless",
            "workspace_id": self.workspace_id,
            "endpoint": self.url,
            "credentials": {
                "access_key_id": self.access_key_id,
                "access_key_secret": self.access_key_secret,
            },
            **settings,
        }

    def job_resource(self, resource: str) -> JobResource:
        """The job contract of ``resource``: the simulator's own for its Ray jobs (``jobs``),
        ``spark_runs`` for the Spark job runs (``SPARK_RUNS``); KeyError for any other."""
        resources: dict[str, JobResource] = {"jobs": self, SPARK_RUNS: self.spark_runs}
        if resource not in resources:
            raise KeyError(f"{type(self).__name__} simulates no job resource {resource!r}")
        return resources[resource]

    def new_workload(self, rate_per_min: float) -> Workload:
        return EmrWorkload(self, rate_per_min, self._rng.random())

    # --- requests -----------------------------------------------------------------------

    def verify(self, method: str, target: str, headers: dict[str, str]) -> None:
        """Raise ApiError unless the request is signed as the gateway wants."""
        self.signatures.verify(method, target, headers)

    def assume_role_with_oidc(self, form: dict[str, str]) -> dict[str, Any]:
        answer = assume_role_with_oidc(self.signatures, self.oidc_token, self.sts_lifetime, form)
        with self._lock:
            self.sts_calls += 1
        return answer

    def log_request(
        self,
        action: str,
        query: dict[str, str],
        method: str,
        target: str,
        headers: Iterable[tuple[str, str]],
    ) -> None:
        """Keep a workspace request: its action and query (``requests``), and its head as it
        came (``heads``: the last ``MAX_HEADS``), for tests to compare what clients send."""
        with self._lock:
            if len(self.requests) < MAX_LOGGED_REQUESTS:
                self.requests.append((action, query))
            self.heads.append(RequestHead(method, target, tuple(headers)))

    def throttle_next(
        self,
        n: int,
        status: int = 429,
        code: str = "Throttling.User",
        retry_after_ms: int | None = None,
    ) -> None:
        """The next ``n`` workspace requests, whatever their action, fail with ``status`` and
        ``code`` (and ``x-acs-retry-after``, when given) once their signature is checked."""
        with self._lock:
            self._throttle.extend([(status, code, retry_after_ms)] * n)

    def take_throttle(self) -> tuple[int, str, int | None] | None:
        with self._lock:
            return self._throttle.pop(0) if self._throttle else None
