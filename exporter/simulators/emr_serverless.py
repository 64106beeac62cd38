"""A simulator of EMR Serverless Spark's ListRayJob and ListRayCluster, and of STS
AssumeRoleWithOIDC, for tests and ``--demo``.

It checks every request as the real service does (docs/backends/emr-serverless.md): the ACS3
signature over the headers ``SignedHeaders`` lists and the query as sent, a fresh nonce,
``x-acs-date`` within 15 minutes, STS tokens; failures get Alibaba's error shape. Jobs are listed
newest first.

What real clouds do to a paged list can be switched on, seeded, from tests: a clock ahead of ours
(``clock_skew``: job times, the ``Date`` header and the signature check follow it), jobs listed
only some time after their ``submitTime`` (``add_job(visible_delay=...)``), an order among equal
``submitTime`` values that changes with every request (``shuffle_ties``), jobs deleted between
two pages of a walk (``delete_between_pages``) and empty but successful answers
(``empty_answers``).
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import random
import re
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl

from exporter.auth.acs3 import authorization
from exporter.auth.canonical import canonical_query, query_pairs
from exporter.simulators.base import JsonHandler, Outcome, Simulator, Workload

MAX_CLOCK_SKEW = 900.0
REQUIRED_SIGNED = {
    "host",
    "x-acs-action",
    "x-acs-version",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-content-sha256",
}
ACTIVE = ("Submitted", "Pending", "Running", "Cancelling")
ENDS: dict[Outcome, tuple[str, ...]] = {
    "succeeded": ("Succeeded",),
    "failed": ("Failed", "Timeout"),
    "cancelled": ("Cancelled",),
}
_AUTHORIZATION = re.compile(
    r"^ACS3-HMAC-SHA256 Credential=([^,]+),SignedHeaders=([^,]+),Signature=([0-9a-f]{64})$"
)
_PATH = re.compile(r"^/api/v1/workspaces/([^/]+)/(rayJob|rayCluster)$")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class EmrServerlessSimulator(Simulator):
    """Thread-safe; tests drive it with add_job/set_job/add_cluster and the fault knobs."""

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
        self.requests: list[tuple[str, dict[str, str]]] = []  # (action, query)
        self.sts_calls = 0
        self.on_list_page: Callable[[int], None] | None = None
        self.clock_skew = 0.0
        self.shuffle_ties = False
        self._rng = random.Random(seed)
        self._tie_rng = random.Random(seed + 1)
        self._delete_queue: list[str] = []
        self._empty_answers = 0
        self._list_failures = 0
        self._ids: set[str] = set()  # every id ever listed: the API makes up new ones
        self._lock = threading.Lock()
        self._jobs: dict[str, dict[str, Any]] = {}
        self._order: list[dict[str, Any]] | None = None
        self._clusters: dict[str, dict[str, Any]] = {}
        self._nonces: set[str] = set()
        self._temporary: dict[str, tuple[str, str, float]] = {}  # id -> (secret, token, expiry)
        self._throttle: list[tuple[int, str, int | None]] = []

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _handler(self)

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

    def fail_job_lists(self, n: int) -> None:
        with self._lock:
            self._list_failures += n

    # --- jobs -----------------------------------------------------------------------------

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
        """Move a job on; leaving an active status sets its end time, duration and cluster state."""
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

    def remove_job(self, key: str) -> None:
        with self._lock:
            self._jobs.pop(key, None)
            self._order = None

    def jobs(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(job) for job in self._jobs.values()]

    # --- clusters -------------------------------------------------------------------------

    def add_cluster(
        self,
        cluster_id: str | None = None,
        *,
        name: str = "ray-cluster",
        state: str = "Running",
        worker_groups: int = 1,
        autoscaling: bool = True,
    ) -> str:
        with self._lock:
            key = cluster_id or f"ray-{self._rng.getrandbits(48):012x}"
            created = int(self.now() * 1000) - 86_400_000
            self._clusters[key] = {
                "clusterId": key,
                "name": name,
                "displayReleaseVersion": "ray-1.0.0 (Ray 2.47.1, Python 3.12)",
                "description": "simulated",
                "networkServiceName": "vpc",
                "headSpec": {
                    "queueName": "root_queue",
                    "cpu": "2",
                    "memory": "8Gi",
                    "enableAutoScaling": autoscaling,
                    "idleTimeoutSeconds": 60,
                    "replica": 1,
                    "gpuSpec": "",
                },
                "workerSpec": [
                    {
                        "groupName": f"Group{i + 1}",
                        "workerType": "GPU" if i else "CPU",
                        "replica": 2,
                        "queueName": "root_queue",
                        "cpu": "4",
                        "memory": "16Gi",
                        "minReplica": 1,
                        "maxReplica": 10,
                        "gpuSpec": "ecs.gn6i-c4g1.xlarge" if i else "",
                    }
                    for i in range(worker_groups)
                ],
                "state": state,
                "createTime": created,
                "modifiedTime": created,
                "startTime": created + 60_000,
                "creator": "202077646755123991",
                "creatorName": "Alice",
                "dashboardUrl": f"https://emr-spark-ray-gateway.aliyuncs.com?token={uuid.uuid4().hex}",
                "grpcEndpoint": "ray://emr-spark-ray-gateway-internal.emr.aliyuncs.com:80",
                "modified": False,
                "message": "ok",
            }
            return key

    def set_cluster(
        self, key: str, *, state: str | None = None, replicas: int | None = None
    ) -> None:
        with self._lock:
            cluster = self._clusters[key]
            if state is not None:
                cluster["state"] = state
            if replicas is not None:
                for spec in cluster["workerSpec"]:
                    spec["replica"] = replicas

    # --- faults ---------------------------------------------------------------------------

    def delete_between_pages(self, keys: list[str]) -> None:
        """Before each of the next ``len(keys)`` ListRayJob requests for a page after the first,
        delete the next of these jobs (like a user deleting jobs while a walk pages)."""
        with self._lock:
            self._delete_queue.extend(keys)

    def empty_answers(self, n: int) -> None:
        """The next ``n`` ListRayJob requests succeed with no jobs and ``totalCount`` 0."""
        with self._lock:
            self._empty_answers += n

    def throttle_next(
        self,
        n: int,
        status: int = 429,
        code: str = "Throttling.User",
        retry_after_ms: int | None = None,
    ) -> None:
        with self._lock:
            self._throttle.extend([(status, code, retry_after_ms)] * n)

    # --- workload -------------------------------------------------------------------------

    def new_workload(self, rate_per_min: float) -> Workload:
        return _Workload(self, rate_per_min, self._rng.random())

    # --- request handling -----------------------------------------------------------------

    def verify(self, method: str, raw_path: str, headers: dict[str, str]) -> None:
        """Raise ApiError unless the request is signed as ACS3 wants."""
        match = _AUTHORIZATION.match(headers.get("authorization", ""))
        if not match:
            raise ApiError(400, "IncompleteSignature", "The request signature does not conform.")
        key_id, signed_list, signature = match.groups()
        signed = signed_list.split(";")
        if not set(signed) >= REQUIRED_SIGNED or any(name not in headers for name in signed):
            raise ApiError(400, "IncompleteSignature", "Required headers are not signed.")
        secret, token = self._secret_for(key_id, headers)
        path, _, raw_query = raw_path.partition("?")
        pairs = query_pairs(raw_query.encode())
        if canonical_query(pairs) != raw_query:
            raise ApiError(400, "SignatureDoesNotMatch", "The query is not in canonical form.")
        expected = authorization(
            method, path, pairs, {name: headers[name] for name in signed}, key_id, secret
        )
        if not hmac.compare_digest(expected.rsplit("=", 1)[1], signature):
            raise ApiError(
                400,
                "SignatureDoesNotMatch",
                "Specified signature is not matched with our calculation.",
            )
        try:
            sent = dt.datetime.strptime(headers["x-acs-date"], "%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            raise ApiError(400, "InvalidTimeStamp.Format", "x-acs-date is malformed.") from None
        if abs(sent.replace(tzinfo=dt.UTC).timestamp() - self.now()) > MAX_CLOCK_SKEW:
            raise ApiError(400, "InvalidTimeStamp.Expired", "x-acs-date is out of range.")
        nonce = headers["x-acs-signature-nonce"]
        with self._lock:
            if nonce in self._nonces:
                raise ApiError(400, "SignatureNonceUsed", "The nonce has been used.")
            self._nonces.add(nonce)
        if token is not None and headers.get("x-acs-security-token") != token:
            raise ApiError(400, "InvalidSecurityToken.MismatchWithAccessKey", "Token mismatch.")

    def _secret_for(self, key_id: str, headers: dict[str, str]) -> tuple[str, str | None]:
        if key_id == self.access_key_id:
            return self.access_key_secret, None
        with self._lock:
            temporary = self._temporary.get(key_id)
        if temporary is None:
            raise ApiError(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        secret, token, expiry = temporary
        if self.now() > expiry:
            raise ApiError(
                400, "InvalidSecurityToken.Expired", "Specified SecurityToken is expired."
            )
        return secret, token

    def take_throttle(self) -> tuple[int, str, int | None] | None:
        with self._lock:
            return self._throttle.pop(0) if self._throttle else None

    def list_jobs(self, query: dict[str, str]) -> dict[str, Any]:
        page_num, page_size = _paging(query)
        window = None
        if "submitTime" in query:
            try:
                window = json.loads(query["submitTime"])
                start, end = int(window.get("startTime", 0)), int(window.get("endTime", 2**62))
            except (ValueError, TypeError, AttributeError):
                raise ApiError(400, "InvalidParameter", "submitTime is not valid JSON.") from None
        if self.on_list_page is not None:
            self.on_list_page(page_num)
        wanted = [
            (field, query[param])
            for param, field in (
                ("name", "name"),
                ("submissionId", "submissionId"),
                ("taskBizId", "taskBizId"),
            )
            if param in query
        ]
        with self._lock:
            if self._list_failures:
                self._list_failures -= 1
                raise ApiError(429, "Throttling.User", "Request was denied due to flow control.")
            if self._empty_answers:
                self._empty_answers -= 1
                self.record_answer(self.now(), ())
                return {"requestId": _request_id(), "totalCount": 0, "rayJobs": []}
            if page_num > 1 and self._delete_queue:
                self._jobs.pop(self._delete_queue.pop(0), None)
                self._order = None
            now_ms = self.now() * 1000
            jobs = [job for job in self._newest_first() if job["visibleAt"] <= now_ms]
            if wanted:
                jobs = [job for job in jobs if all(job[f] == v for f, v in wanted)]
            if window is not None:
                jobs = [job for job in jobs if start <= job["submitTime"] <= end]
            page = jobs[(page_num - 1) * page_size : page_num * page_size]
            self.record_answer(self.now(), [(job["submissionId"], job["status"]) for job in page])
            hidden = ("taskBizId", "visibleAt")
            rendered = [{k: v for k, v in job.items() if k not in hidden} for job in page]
            if self.jitter is not None:
                for job in rendered:
                    for key in ("submitTime", "startTime", "endTime"):
                        job[key] = self.jittered_ms(job[key])
        return {"requestId": _request_id(), "totalCount": len(jobs), "rayJobs": rendered}

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

    def list_clusters(self, query: dict[str, str]) -> dict[str, Any]:
        page_num, page_size = _paging(query)
        with self._lock:
            clusters = sorted(self._clusters.values(), key=lambda c: c["clusterId"])
            page = json.loads(
                json.dumps(clusters[(page_num - 1) * page_size : page_num * page_size])
            )
        return {"requestId": _request_id(), "rayClusters": page}

    def assume_role_with_oidc(self, form: dict[str, str]) -> dict[str, Any]:
        if self.oidc_token is None or form.get("OIDCToken") != self.oidc_token:
            raise ApiError(400, "InvalidParameter.OIDCToken", "The OIDC token is invalid.")
        if not form.get("RoleArn") or not form.get("OIDCProviderArn"):
            raise ApiError(400, "MissingParameter", "RoleArn and OIDCProviderArn are required.")
        key_id = f"STS.{self._rng.getrandbits(64):016x}"
        secret, token = uuid.uuid4().hex, f"CAIS{uuid.uuid4().hex}"
        expiry = self.now() + self.sts_lifetime
        with self._lock:
            self._temporary[key_id] = (secret, token, expiry)
            self.sts_calls += 1
        expiration = dt.datetime.fromtimestamp(expiry, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "RequestId": _request_id(),
            "Credentials": {
                "AccessKeyId": key_id,
                "AccessKeySecret": secret,
                "SecurityToken": token,
                "Expiration": expiration,
            },
        }


def _paging(query: dict[str, str]) -> tuple[int, int]:
    try:
        page_num = int(query.get("pageNum", "1"))
        page_size = int(query.get("pageSize", "20"))
    except ValueError:
        raise ApiError(400, "InvalidParameter", "pageNum and pageSize must be integers.") from None
    if page_num < 1 or not 1 <= page_size <= 100:
        raise ApiError(400, "InvalidParameter", "pageSize must be 1-100 and pageNum >= 1.")
    return page_num, page_size


def _request_id() -> str:
    return str(uuid.uuid4()).upper()


def _handler(sim: EmrServerlessSimulator) -> type[BaseHTTPRequestHandler]:
    class Handler(JsonHandler):
        server_clock = staticmethod(sim.now)

        def error(self, err: ApiError, headers: dict[str, str] | None = None) -> None:
            body = {
                "RequestId": _request_id(),
                "HostId": self.headers.get("host", ""),
                "Code": err.code,
                "Message": err.message,
            }
            self.reply(err.status, body, headers=headers)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            query = dict(parse_qsl(self.path.partition("?")[2]))
            if query.get("Action") != "AssumeRoleWithOIDC":
                self.error(ApiError(404, "InvalidAction.NotFound", "Unknown action."))
                return
            try:
                self.reply(200, sim.assume_role_with_oidc(dict(parse_qsl(body))))
            except ApiError as err:
                self.error(err)

        def do_GET(self) -> None:
            headers = {name.lower(): value for name, value in self.headers.items()}
            path = self.path.partition("?")[0]
            query = dict(query_pairs(self.path.partition("?")[2].encode()))
            action = headers.get("x-acs-action", "")
            with sim._lock:
                if len(sim.requests) < 100_000:
                    sim.requests.append((action, query))
            try:
                sim.verify("GET", self.path, headers)
                throttle = sim.take_throttle()
                if throttle:
                    status, code, retry_ms = throttle
                    extra = {"x-acs-retry-after": str(retry_ms)} if retry_ms is not None else {}
                    self.error(
                        ApiError(status, code, "Request was denied due to flow control."), extra
                    )
                    return
                match = _PATH.match(path)
                if not match or match.group(1) != sim.workspace_id:
                    raise ApiError(
                        404, "InvalidWorkspace.NotFound", "The workspace does not exist."
                    )
                expected = "ListRayJob" if match.group(2) == "rayJob" else "ListRayCluster"
                if action != expected:
                    raise ApiError(400, "InvalidAction", f"x-acs-action must be {expected}.")
                result = (
                    sim.list_jobs(query) if expected == "ListRayJob" else sim.list_clusters(query)
                )
                self.reply(200, result)
            except ApiError as err:
                self.error(err)

    return Handler


class _Workload(Workload):
    """Jobs arrive, queue, run while their cuHours grow, and end in every status; clusters
    start, scale and now and then fail."""

    NAMES = ("train-llm", "etl-features", "batch-infer", "eval-suite", "tune-hparams")
    CREATORS = ("Alice", "Bob", "Chen")  # who submits each of NAMES, in turn

    def __init__(self, sim: EmrServerlessSimulator, rate_per_min: float, seed: float) -> None:
        super().__init__(sim.clock, rate_per_min, seed)
        self.sim = sim
        self.plans: dict[str, tuple[float, float, str, float]] = {}  # start, end, final, CU rate
        self.next_arrival: float | None = None
        self.next_cluster_change = 0.0

    def step(self, now: float) -> None:
        if self.next_arrival is None:
            self.next_arrival = now
            self.next_cluster_change = now + 25
            for name in ("analytics", "training"):
                self.sim.add_cluster(name=name, state="Running", worker_groups=2)
            self.sim.add_cluster(
                name="scratch", state="Stopped", worker_groups=1, autoscaling=False
            )
        arrivals = 0
        while self.next_arrival <= now and arrivals < 1000:
            self._submit(self.next_arrival)
            self.next_arrival += self.rng.expovariate(1.0 / self.mean_gap)
            arrivals += 1
        jobs = {job["submissionId"]: job for job in self.sim.jobs()}
        for key, (start_at, end_at, final, rate) in list(self.plans.items()):
            job = jobs.get(key)
            if job is None:
                del self.plans[key]
                continue
            if job["status"] in ("Submitted", "Pending") and now >= start_at:
                self.sim.set_job(key, status="Pending" if now < start_at + 2 else "Running")
            if job["status"] == "Running":
                ran = min(now, end_at) - start_at
                self.sim.set_job(key, cu_hours=round(max(ran, 0) * rate / 3600, 6))
            if now >= end_at:
                ran = end_at - start_at
                self.sim.set_job(key, status=final, cu_hours=round(max(ran, 0) * rate / 3600, 6))
                del self.plans[key]
        if now >= self.next_cluster_change:
            clusters = self.sim.list_clusters({"pageNum": "1", "pageSize": "100"})["rayClusters"]
            target = self.rng.choice(clusters)
            state = self.rng.choice(("Running", "Running", "Starting", "Error", "Stopping"))
            self.sim.set_cluster(target["clusterId"], state=state, replicas=self.rng.randint(1, 6))
            self.next_cluster_change = now + self.rng.uniform(15, 40)

    def _submit(self, at: float) -> None:
        name = self.rng.choice(self.NAMES)
        roll = self.rng.random()
        final = (
            "Succeeded"
            if roll < 0.7
            else "Failed"
            if roll < 0.82
            else "Cancelled"
            if roll < 0.92
            else "Timeout"
        )
        wait, run = self.rng.uniform(2, 20), self.rng.uniform(10, 90)
        creator = self.CREATORS[self.NAMES.index(name) % len(self.CREATORS)]
        key = self.sim.add_job(
            name=name, status="Submitted", submit_time=at, cu_hours=0.0, creator_name=creator
        )
        self.plans[key] = (at + wait, at + wait + run, final, self.rng.choice((4.0, 8.0, 16.0)))
