"""A simulator of ModelArts Lite Server's job list, for tests and ``--demo``.

It checks SDK-HMAC-SHA256 signatures (over the headers ``SignedHeaders`` lists and the query,
which it reads as the gateway does: ``+`` for a space, in any order, canonicalized before the
check), ``X-Sdk-Date`` within 15 minutes, ``X-Security-Token`` for temporary keys, or an IAM
token in ``X-Auth-Token``; failures get Huawei's error shape and an ``X-Request-Id``. Like the
real API it has no page parameter but answers with page metadata, partial when more jobs match
than ``page_limit`` (the newest ``page_limit`` jobs are answered). ``empty_answers`` makes the
next answers empty but successful.
"""

from __future__ import annotations

import datetime as dt
import hmac
import math
import random
import re
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

from exporter.auth.sdk_hmac import authorization
from exporter.simulators.base import JsonHandler, Outcome, Simulator, Workload, request_query

MAX_CLOCK_SKEW = 900.0
REQUIRED_SIGNED = {"host", "x-sdk-date", "x-project-id"}
TYPES = ("COMMON", "SERVICE_DEPLOY", "ASCEND_SOFTWARE_UPGRADE", "ASCEND_DIAGNOSIS")
_AUTHORIZATION = re.compile(
    r"^SDK-HMAC-SHA256 Access=([^,]+), SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$"
)
_PATH = re.compile(r"^/v1/([^/]+)/dev-servers/jobs$")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class ModelArtsLiteSimulator(Simulator):
    """Thread-safe; tests drive it with add_job/set_job and the fault knobs."""

    DEFAULT_RATE_PER_MIN = 6.0
    THROTTLED_ANSWER = b'{"error_code": "APIG.0308", "error_msg": "The request is throttled"}'
    JOB_LIST_KEY, JOB_ID_FIELD, JOB_SUBMIT_FIELD = "data", "id", "create_at"
    HAS_PENDING = False  # a job is PROCESSING from its creation

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
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._jobs: dict[str, dict[str, Any]] = {}
        self._throttle = 0
        self._empty_answers = 0
        self._ids: set[str] = set()  # every id ever listed: the API makes up new ones

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _handler(self)

    def new_workload(self, rate_per_min: float) -> Workload:
        return _Workload(self, rate_per_min, self._rng.random())

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

    def fail_job_lists(self, n: int) -> None:
        self.throttle_next(n)  # every request of this API is a job list

    # --- jobs -----------------------------------------------------------------------------

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

    def remove_job(self, key: str) -> None:
        with self._lock:
            self._jobs.pop(key, None)

    def jobs(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(job) for job in self._jobs.values()]

    def empty_answers(self, n: int) -> None:
        """The next ``n`` job-list requests succeed with no jobs."""
        with self._lock:
            self._empty_answers += n

    def throttle_next(self, n: int) -> None:
        with self._lock:
            self._throttle += n

    # --- request handling -----------------------------------------------------------------

    def verify(self, raw_path: str, headers: dict[str, str]) -> None:
        """Raise ApiError unless the request carries a valid signature or IAM token."""
        if "x-auth-token" in headers:
            if self.iam_token is None or headers["x-auth-token"] != self.iam_token:
                raise ApiError(401, "APIG.1002", "Incorrect token or token resolution failed")
            return
        match = _AUTHORIZATION.match(headers.get("authorization", ""))
        if not match:
            raise ApiError(401, "APIG.0301", "Incorrect IAM authentication information")
        access, signed_list, signature = match.groups()
        signed = signed_list.split(";")
        if not set(signed) >= REQUIRED_SIGNED or any(name not in headers for name in signed):
            raise ApiError(401, "APIG.0301", "Incorrect IAM authentication information")
        if access != self.access_key:
            raise ApiError(401, "APIG.0301", "Incorrect IAM authentication information: ak")
        path = raw_path.partition("?")[0]
        pairs = request_query(raw_path)  # signed in canonical form, whatever form it came in
        expected = authorization(
            "GET", path, pairs, {n: headers[n] for n in signed}, access, self.secret_key
        )
        if not hmac.compare_digest(expected.rsplit("=", 1)[1], signature):
            raise ApiError(401, "APIG.0301", "verify aksk signature fail")
        try:
            sent = dt.datetime.strptime(headers["x-sdk-date"], "%Y%m%dT%H%M%SZ")
        except ValueError:
            raise ApiError(401, "APIG.0301", "X-Sdk-Date is malformed") from None
        if abs(sent.replace(tzinfo=dt.UTC).timestamp() - self.clock()) > MAX_CLOCK_SKEW:
            raise ApiError(401, "APIG.0301", "X-Sdk-Date is out of range")
        if (
            self.security_token is not None
            and headers.get("x-security-token") != self.security_token
        ):
            raise ApiError(401, "APIG.0301", "invalid security token")

    def take_throttle(self) -> bool:
        with self._lock:
            if self._throttle:
                self._throttle -= 1
                return True
            return False

    def list_jobs(self, query: dict[str, str]) -> dict[str, Any]:
        if "visible" in query and query["visible"] not in ("true", "false"):
            raise ApiError(400, "ModelArts.0101", "visible must be true or false")
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
                    for k in ("id", "name", "type", "status", "visible")
                    if k in query
                )
            ]
            matched.sort(key=lambda job: job["create_at"], reverse=True)
            shown = [{k: v for k, v in job.items() if k != "visible"} for job in matched]
            size = min(len(shown), self.page_limit)
            self.record_answer(self.clock(), [(job["id"], job["status"]) for job in shown[:size]])
            for job in shown[:size] if self.jitter is not None else ():
                for key in ("create_at", "update_at"):
                    job[key] = self.jittered_ms(job[key])
        return {
            "current": 1,
            "data": shown[:size],
            "pages": max(1, math.ceil(len(shown) / self.page_limit)),
            "size": size,
            "total": len(shown),
        }


def _handler(sim: ModelArtsLiteSimulator) -> type[BaseHTTPRequestHandler]:
    class Handler(JsonHandler):
        server_clock = staticmethod(sim.clock)

        def do_GET(self) -> None:
            request_id = uuid.uuid4().hex
            headers = {name.lower(): value for name, value in self.headers.items()}
            path = self.path.partition("?")[0]
            query = dict(request_query(self.path))
            with sim._lock:
                if len(sim.requests) < 100_000:
                    sim.requests.append(query)
            try:
                sim.verify(self.path, headers)
                if sim.take_throttle():
                    raise ApiError(429, "APIG.0308", "The request is throttled")
                match = _PATH.match(path)
                if not match or match.group(1) != sim.project_id:
                    raise ApiError(404, "ModelArts.0107", "The project does not exist")
                if headers.get("x-project-id") not in (None, sim.project_id):
                    raise ApiError(400, "ModelArts.0108", "X-Project-Id does not match the path")
                self.reply(200, sim.list_jobs(query), headers={"X-Request-Id": request_id})
            except ApiError as err:
                body = {"error_code": err.code, "error_msg": err.message}
                self.reply(err.status, body, headers={"X-Request-Id": request_id})

    return Handler


class _Workload(Workload):
    """Lite Server jobs start, run, and finish cleanly, with failed nodes, or deleted."""

    NAMES = ("software-upgrade", "diagnosis", "deploy-service", "stress-test")

    def __init__(self, sim: ModelArtsLiteSimulator, rate_per_min: float, seed: float) -> None:
        super().__init__(sim.clock, rate_per_min, seed)
        self.sim = sim
        self.plans: dict[str, tuple[float, str, int]] = {}  # id -> (end at, final, abnormal)
        self.next_arrival: float | None = None

    def step(self, now: float) -> None:
        if self.next_arrival is None:
            self.next_arrival = now
        arrivals = 0
        while self.next_arrival <= now and arrivals < 1000:
            self._submit(self.next_arrival)
            self.next_arrival += self.rng.expovariate(1.0 / self.mean_gap)
            arrivals += 1
        for key, (end_at, final, abnormal) in list(self.plans.items()):
            if now >= end_at:
                self.sim.set_job(key, status=final, abnormal_count=abnormal)
                del self.plans[key]

    def _submit(self, at: float) -> None:
        index = self.rng.randrange(len(self.NAMES))
        name = f"{self.NAMES[index]}-{self.rng.getrandbits(16):04x}"
        key = self.sim.add_job(name=name, job_type=TYPES[index], create_at=at)
        roll = self.rng.random()
        final, abnormal = ("FINISHED", 0) if roll < 0.75 else ("DELETED", 0)
        if 0.6 <= roll < 0.75:
            abnormal = self.rng.randint(1, 3)
        self.plans[key] = (at + self.rng.uniform(10, 60), final, abnormal)
