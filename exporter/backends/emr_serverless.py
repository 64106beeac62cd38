"""Alibaba Cloud EMR Serverless Spark (API 2023-08-08): ListRayJob and ListRayCluster.

Jobs are paged by ``pageNum``/``pageSize`` against ``totalCount``. The first poll (and one every
``full_list_interval``) walks the whole list; steady-state polls ask only for what can have
changed: one ``submitTime`` window from just before the newest job seen (or from the oldest
job still active, when that is cheaper than asking for the older active jobs one by one), so the
request count grows with active and new jobs, not with history. Clusters are paged until a short
page: ListRayCluster has no ``totalCount``. ``dashboardUrl`` carries a token and is never read.
"""

from __future__ import annotations

import bisect
import functools
import json
import logging
import math
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

import httpx

from ..auth.acs3 import Acs3Auth
from ..config import EmrServerlessTarget
from ..errors import PollError
from ..model import Cluster, ClusterGroup, Job, Phase, status_pairs
from .base import Backend, Listing
from .fields import MAX_MAGNITUDE, mapping, number, parse_epoch, read_item, text, word
from .http import ApiClient, ApiStats, default_error, first_text, json_object, vendor_error

log = logging.getLogger(__name__)

API_VERSION = "2023-08-08"
PAGE_SIZE = 100
WATERMARK_OVERLAP = 600.0  # seconds re-read before the newest submitTime seen
STATUSES = {
    "Submitted": Phase.PENDING,
    "Pending": Phase.PENDING,
    "Running": Phase.RUNNING,
    "Cancelling": Phase.RUNNING,
    "Succeeded": Phase.SUCCEEDED,
    "Failed": Phase.FAILED,
    "Timeout": Phase.FAILED,
    "Cancelled": Phase.CANCELLED,
}
CLUSTER_STATES = ("Starting", "Running", "Stopping", "Stopped", "Error")
AUTH_CODES = ("SignatureDoesNotMatch", "IncompleteSignature", "SignatureNonceUsed")
AUTH_CODE_PREFIXES = ("InvalidAccessKeyId", "InvalidSecurityToken", "Forbidden")


# --- parsing ---------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def _job_labels(queue: str, cluster_state: str) -> tuple[tuple[str, str], ...]:
    """Shared by every job with the same engine and cluster state."""
    labels = [("resource_queue", queue)] if queue else []
    if cluster_state:
        labels.append(("cluster_state", cluster_state))
    return tuple(labels)


def parse_job(item: Any) -> Job | None:
    """One element of ``rayJobs``; None without a submissionId."""
    if not isinstance(item, dict):
        return None
    key = text(item.get("submissionId"))
    if not key:
        return None
    status = word(item.get("status")) or "Unknown"
    queue = word(item.get("resourceQueue"))
    cu_hours = number(item.get("cuHours"))
    return Job(
        key=key,
        name=text(item.get("name")) or key,
        status=status,
        phase=STATUSES.get(status, Phase.UNKNOWN),
        job_type="RayJob",
        submit_time=parse_epoch(item.get("submitTime")),
        start_time=parse_epoch(item.get("startTime")),
        end_time=parse_epoch(item.get("endTime")),
        resource_queue=queue,
        cu_hours=cu_hours if cu_hours is not None and cu_hours >= 0 else None,
        extra_labels=_job_labels(queue, word(item.get("clusterState"))),
    )


_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGTP]i?)?[Bb]?\s*$")
_UNITS = {"K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15}
_UNITS.update({f"{unit}i": 1024.0 ** (i + 1) for i, unit in enumerate("KMGTP")})
GIB = 1024.0**3


def parse_memory(value: Any) -> float:
    """Bytes from ``8Gi``, ``512Mi``, ``16G`` or a plain number.

    The API documents memory in Gi, so a plain number below 2^20 is GiB; a larger one is bytes.
    """
    match = _MEMORY.match(text(value))
    amount = number(match.group(1)) if match else None
    if amount is None:
        return 0.0
    unit = match.group(2)
    if unit:
        amount *= _UNITS[unit]
    elif amount < 2**20:
        amount *= GIB
    return amount if amount < MAX_MAGNITUDE else 0.0


def _int(value: Any) -> int | None:
    whole = number(value)
    return int(whole) if whole is not None else None


def _group(spec: dict[str, Any], role: str, name: str, autoscaling: bool) -> ClusterGroup:
    replicas = max(_int(spec.get("replica")) or 0, 0)
    labels = [
        (label, text(spec.get(key)))
        for label, key in (
            ("worker_type", "workerType"),
            ("gpu_spec", "gpuSpec"),
            ("queue", "queueName"),
        )
        if text(spec.get(key))
    ]
    return ClusterGroup(
        role=role,
        group=name,
        nodes_alive=replicas,
        cpu_cores=(number(spec.get("cpu")) or 0.0) * replicas,
        memory_bytes=parse_memory(spec.get("memory")) * replicas,
        min_replicas=_int(spec.get("minReplica")) if autoscaling else None,
        max_replicas=_int(spec.get("maxReplica")) if autoscaling else None,
        info_labels=tuple(labels),
    )


def parse_cluster(item: Any) -> Cluster | None:
    """One element of ``rayClusters``; None without a clusterId."""
    if not isinstance(item, dict):
        return None
    key = text(item.get("clusterId"))
    if not key:
        return None
    head = mapping(item.get("headSpec"))
    autoscaling = head.get("enableAutoScaling") is True
    groups = [_group(head, "head", "head", False)]
    workers = item.get("workerSpec") if isinstance(item.get("workerSpec"), list) else []
    for index, spec in enumerate(w for w in workers if isinstance(w, dict)):
        name = text(spec.get("groupName")) or f"worker-{index}"
        groups.append(_group(spec, "worker", name, autoscaling))
    info = [
        (label, text(item.get(key)))
        for label, key in (
            ("version", "displayReleaseVersion"),
            ("network_service", "networkServiceName"),
        )
        if text(item.get(key))
    ]
    return Cluster(
        key=key,
        name=text(item.get("name")) or key,
        state=text(item.get("state")) or "Unknown",
        groups=groups,
        created_time=parse_epoch(item.get("createTime")),
        started_time=parse_epoch(item.get("startTime")),
        info_labels=tuple(info),
    )


def _items(payload: Any, field: str, operation: str) -> list[Any]:
    if not isinstance(payload, dict) or not isinstance(payload.get(field), list):
        raise PollError("parse", f"{operation}: answer has no {field} list")
    return payload[field]


def classify_error(operation: str, response: httpx.Response, body: bytes) -> PollError:
    """Alibaba's error shape: ``{Code|code, Message|message, RequestId|requestId}``;
    ``x-acs-retry-after`` (milliseconds) says how long to wait after throttling."""
    payload = json_object(body)
    if payload is None:
        return default_error(operation, response, body)
    code = first_text(payload, "Code", "code")
    retry_ms = number(response.headers.get("x-acs-retry-after"))
    return vendor_error(
        operation,
        response,
        code,
        first_text(payload, "Message", "message"),
        first_text(payload, "RequestId", "requestId"),
        throttled=response.status_code == 429 or code.startswith("Throttling"),
        auth=code in AUTH_CODES or code.startswith(AUTH_CODE_PREFIXES),
        retry_after=retry_ms / 1000.0 if retry_ms and retry_ms > 0 else None,
    )


# --- the backend -----------------------------------------------------------------------------


class EmrServerlessBackend(Backend):
    known_pairs = status_pairs(STATUSES)
    cluster_states = CLUSTER_STATES

    def __init__(
        self,
        target: EmrServerlessTarget,
        stats: ApiStats,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(target.backend)
        self.target = target
        self.clock = clock
        provider = target.credential_provider()
        assert provider is not None  # the config refuses a target without credentials
        self.api = ApiClient(
            target.base_url(),
            stats,
            max_response_bytes=target.max_response_bytes,
            auth=Acs3Auth(provider, API_VERSION),
            classify_error=classify_error,
            requests_per_second=target.requests_per_second,
        )
        prefix = f"/api/v1/workspaces/{target.workspace_id}"
        self._jobs_path, self._clusters_path = f"{prefix}/rayJob", f"{prefix}/rayCluster"
        self._filters = {
            key: value
            for key, value in (
                ("name", target.filters.name),
                ("taskBizId", target.filters.task_biz_id),
            )
            if value
        }
        self._jobs: dict[str, Job] | None = None
        self._watermark = 0.0
        self._next_full_walk = 0.0
        self._complete = True

    # jobs

    def list_jobs(self, deadline: float) -> Listing:
        now = self.clock()
        if self._jobs is None or now >= self._next_full_walk:
            jobs, complete, skipped = self._walk({}, deadline)
            self._jobs, self._complete = jobs, complete
            self._next_full_walk = now + self.target.full_list_interval
        else:
            skipped = self._refresh(now, deadline)
        self._watermark = max(
            (job.submit_time or 0.0 for job in self._jobs.values()), default=self._watermark
        )
        return Listing(items=list(self._jobs.values()), complete=self._complete, skipped=skipped)

    def _page(self, params: dict[str, Any], page: int, deadline: float) -> tuple[list[Any], int]:
        payload = self.api.get_json(
            self._jobs_path,
            "ListRayJob",
            deadline=deadline,
            params={**self._filters, **params, "pageNum": page, "pageSize": PAGE_SIZE},
            headers={"x-acs-action": "ListRayJob"},
        )
        items = _items(payload, "rayJobs", "ListRayJob")
        total = _int(payload.get("totalCount"))
        return items, total if total is not None else len(items)

    def _walk(self, params: dict[str, Any], deadline: float) -> tuple[dict[str, Job], bool, int]:
        """Every job matching ``params``, page by page; tolerant of a list that moves meanwhile.

        A job inserted at the head while paging pushes the rest down: the page boundary item
        shows twice (deduplicated by submissionId) and the newcomer sits on a page already
        read, so when fewer jobs than ``totalCount`` were found the first pages are re-read
        until they bring nothing new.
        """
        found: dict[str, Job] = {}
        skipped, page, total = 0, 1, 0
        while True:
            if page > self.target.max_pages:
                log.warning(
                    "target %s: ListRayJob stopped at the page cap (%d pages)",
                    self.target.name,
                    self.target.max_pages,
                )
                return found, False, skipped
            items, total = self._page(params, page, deadline)
            skipped += self._collect(items, found)
            if len(items) < PAGE_SIZE or page * PAGE_SIZE >= total:
                break
            page += 1
        for again in range(1, page + 1):
            if len(found) >= total:
                break
            items, total = self._page(params, again, deadline)
            before = len(found)
            skipped += self._collect(items, found)
            if len(found) == before:
                break
        return found, True, skipped

    @staticmethod
    def _collect(items: Iterable[Any], found: dict[str, Job]) -> int:
        skipped = 0
        for item in items:
            job = read_item(parse_job, item)
            if job is None:
                skipped += 1
            else:
                found[job.key] = job
        return skipped

    def _refresh(self, now: float, deadline: float) -> int:
        """Ask for new jobs and the still-active ones, at the lowest request count."""
        assert self._jobs is not None
        submits = sorted(job.submit_time or 0.0 for job in self._jobs.values())
        active = sorted(
            (job for job in self._jobs.values() if not job.phase.terminal),
            key=lambda job: job.submit_time or 0.0,
        )
        window_start = self._watermark - WATERMARK_OVERLAP
        best_cost, best_cut = math.inf, window_start
        for older_count in range(len(active) + 1):
            cut = window_start
            if older_count < len(active):
                cut = min(window_start, active[older_count].submit_time or 0.0)
            in_window = len(submits) - bisect.bisect_left(submits, cut)
            cost = older_count + max(1, math.ceil(in_window / PAGE_SIZE))
            if cost < best_cost:
                best_cost, best_cut = cost, cut
        window = json.dumps(
            {"endTime": int((now + WATERMARK_OVERLAP) * 1000), "startTime": int(best_cut * 1000)},
            separators=(",", ":"),
        )
        fresh, complete, skipped = self._walk({"submitTime": window}, deadline)
        for job in active:
            if (job.submit_time or 0.0) >= best_cut:
                if complete and job.key not in fresh:  # gone from its window: deleted
                    self._jobs.pop(job.key, None)
                continue
            items, _ = self._page({"submissionId": job.key}, 1, deadline)
            skipped += self._collect(items, fresh)
            if job.key not in fresh:
                self._jobs.pop(job.key, None)
        self._jobs.update(fresh)
        self._complete = complete
        return skipped

    # clusters

    def list_clusters(self, deadline: float) -> Listing:
        clusters: dict[str, Cluster] = {}
        skipped = 0
        for page in range(1, self.target.max_pages + 1):
            payload = self.api.get_json(
                self._clusters_path,
                "ListRayCluster",
                deadline=deadline,
                params={"pageNum": page, "pageSize": PAGE_SIZE},
                headers={"x-acs-action": "ListRayCluster"},
            )
            items = _items(payload, "rayClusters", "ListRayCluster")
            for item in items:
                cluster = read_item(parse_cluster, item)
                if cluster is None:
                    skipped += 1
                else:
                    clusters[cluster.key] = cluster
            if len(items) < PAGE_SIZE:
                return Listing(items=list(clusters.values()), skipped=skipped)
        log.warning("target %s: ListRayCluster stopped at the page cap", self.target.name)
        return Listing(items=list(clusters.values()), complete=False, skipped=skipped)

    def close(self) -> None:
        self.api.close()
