"""``ModelArtsLiteSimulator``: one project's Lite Server jobs, training jobs and resource pools
behind the gateway's check."""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

from exporter.simulators.base import JobResource, Simulator, Workload
from exporter.simulators.modelarts_lite.common import Faults, RequestHead, throttled
from exporter.simulators.modelarts_lite.handler import handler
from exporter.simulators.modelarts_lite.pools import Pools
from exporter.simulators.modelarts_lite.server_jobs import ServerJobsMixin
from exporter.simulators.modelarts_lite.signing import SignatureCheck
from exporter.simulators.modelarts_lite.training_jobs import TrainingJobs
from exporter.simulators.modelarts_lite.workload import ModelArtsWorkload

TRAINING_JOBS = "training_jobs"  # the name of the training jobs as a job resource
MAX_LOGGED_REQUESTS = 100_000
MAX_HEADS = 256  # request heads kept (``heads``): the demo runs for days


class ModelArtsLiteSimulator(ServerJobsMixin, Simulator):
    """Thread-safe. The simulator is the job contract of its Lite Server jobs (``add_job``,
    ``set_job``, the fault knobs); ``training_jobs`` is that of its training jobs, ``pools``
    holds its resource pools and their nodes. ``requests`` logs the query of each Lite Server
    job-list request, ``heads`` every request as it came (the last ``MAX_HEADS``)."""

    DEFAULT_RATE_PER_MIN = 6.0
    THROTTLED_ANSWER = b'{"error_code": "APIG.0308", "error_msg": "The request is throttled"}'
    JOB_LIST_KEY, JOB_ID_FIELD, JOB_SUBMIT_FIELD = "data", "id", "create_at"
    HAS_PENDING = False  # a Lite Server job is PROCESSING from its creation

    def __init__(
        self,
        access_key: str = "HPUASIMULATORKEY0001",
        secret_key: str = "SimulatorSecretKey0123456789abcdefghij",
        project_id: str = "0123456789abcdef0123456789abcdef",
        security_token: str | None = None,
        iam_token: str | None = None,
        page_limit: int = 1000,
        seed: int = 0,
        clock: Callable[[], float] = time.time,
        region: str = "cn-north-4",
    ) -> None:
        super().__init__()
        self.access_key = access_key
        self.secret_key = secret_key
        self.project_id = project_id
        self.security_token = security_token
        self.iam_token = iam_token
        self.page_limit = page_limit
        self.clock = clock
        self.requests: list[dict[str, str]] = []
        self.heads: deque[RequestHead] = deque(maxlen=MAX_HEADS)
        self.faults = Faults()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._init_server_jobs()
        self.pools = Pools(project_id, self.now, region)
        self.training_jobs = TrainingJobs(self.pools, self.now, self.jittered_ms, seed + 1)

    def now(self) -> float:
        """The API's clock (``clock``, which tests may swap)."""
        return self.clock()

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return handler(self)

    def new_workload(self, rate_per_min: float) -> Workload:
        return ModelArtsWorkload(self, rate_per_min, self._rng.random())

    def target_config(self, name: str, **settings: Any) -> dict[str, Any]:
        """A config target that polls this simulator."""
        credentials: dict[str, str] = {"access_key": self.access_key, "secret_key": self.secret_key}
        if self.security_token:
            credentials["security_token"] = self.security_token
        return {
            "name": name,
            "backend": "modelarts_lite",
            "project_id": self.project_id,
            "endpoint": self.url,
            "credentials": credentials,
            **settings,
        }

    def job_resource(self, resource: str) -> JobResource:
        """The job contract of ``resource``: the simulator's own for its Lite Server jobs
        (``jobs``), ``training_jobs`` for the training jobs (``TRAINING_JOBS``)."""
        resources: dict[str, JobResource] = {"jobs": self, TRAINING_JOBS: self.training_jobs}
        if resource not in resources:
            raise KeyError(f"{type(self).__name__} simulates no job resource {resource!r}")
        return resources[resource]

    # --- faults -------------------------------------------------------------------------

    def fail_job_lists(self, n: int) -> None:
        """The next ``n`` Lite Server job-list requests are throttled (429 ``APIG.0308``)."""
        self.faults.add(n, throttled(), "ListDevServerJobs")

    def throttle_next(self, n: int) -> None:
        """The next ``n`` requests, whatever their operation, are throttled once checked."""
        self.faults.add(n, throttled())

    # --- requests -----------------------------------------------------------------------

    def verify(self, method: str, target: str, headers: dict[str, str], body: bytes) -> None:
        """Raise ApiError unless the request is signed (or carries an IAM token) as the
        gateway wants, with the keys the simulator has now."""
        check = SignatureCheck(
            self.access_key, self.secret_key, self.now, self.security_token, self.iam_token
        )
        check.verify(method, target, headers, body)

    def log_request(
        self, operation: str, request: BaseHTTPRequestHandler, query: dict[str, str], body: bytes
    ) -> None:
        """Keep a request's head and body (``heads``), and the query of a Lite Server job
        list (``requests``)."""
        head = RequestHead(
            operation, request.command, request.path, tuple(request.headers.items()), body
        )
        with self._lock:
            self.heads.append(head)
            if operation == "ListDevServerJobs" and len(self.requests) < MAX_LOGGED_REQUESTS:
                self.requests.append(query)
