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
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Literal

import httpx
from pydantic import Field, field_validator, model_validator

from exporter.auth import alibaba_credentials
from exporter.auth.acs3 import Acs3Auth
from exporter.auth.alibaba_credentials import CredentialProvider, StaticCredentials
from exporter.backends.base import Backend, Listing
from exporter.backends.fields import (
    MAX_MAGNITUDE,
    mapping,
    number,
    parse_epoch,
    read_item,
    read_items,
    text,
    word,
)
from exporter.backends.registry import BackendDeclaration, register
from exporter.config.types import (
    REGION_ID,
    Count,
    Duration,
    EmptyIfNone,
    Secret,
    SecretFile,
    SignedHttpUrl,
    Strict,
    Target,
    check_environment_credentials,
    redact_url,
)
from exporter.errors import PollError
from exporter.http.client import ApiClient, default_error, first_text, json_object, vendor_error
from exporter.http.decode import TypedRecord, typed_decoder
from exporter.http.scrub import NO_SECRETS, Scrubber, model_secrets
from exporter.ledger.attribution import SourceFields
from exporter.model import Cluster, ClusterGroup, Job, Phase, status_pairs
from exporter.polling.health import ApiStats

if TYPE_CHECKING:
    from exporter.simulators.emr_serverless import EmrServerlessSimulator

log = logging.getLogger(__name__)

API_VERSION = "2023-08-08"
PAGE_SIZE = 100
WATERMARK_OVERLAP = 600.0  # seconds re-read before the newest submitTime seen, at least
# How far a submitTime an answer gives may be from the one the API filters by (rounded, or
# re-derived by a proxy): a window meant to hold a job starts this much before its time
SUBMIT_SLACK = 60.0
OPEN_END = 86400.0  # a window's end lies this far past both clocks: open-ended in effect
MAX_STEPS_BACK = 20  # pages read again for deletions in one walk before it is incomplete
TIE_ROUNDS = 10  # reads of a group of equal submitTime before it counts as incomplete
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
# Job fields an attribution label may take its value from (docs/metrics.md, "Attribution");
# dashboardUrl carries an access token.
ATTRIBUTION_FIELDS = SourceFields(
    fields=("creatorName", "name", "resourceQueue"), secret=("dashboardUrl",)
)
# Why a failed job failed: its status, Failed or Timeout.
FAILURE_REASONS = {"Failed": ("Failed",), "Timeout": ("Timeout",)}
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


class EmrJobItem(TypedRecord):
    """The fields of a ``rayJobs`` element that ``parse_job`` reads."""

    submissionId: Any = None
    status: Any = None
    resourceQueue: Any = None
    cuHours: Any = None
    name: Any = None
    submitTime: Any = None
    startTime: Any = None
    endTime: Any = None
    clusterState: Any = None
    creatorName: Any = None


class EmrJobPage(TypedRecord):
    """A ListRayJob answer, read straight into records (``decode.typed_decoder``)."""

    rayJobs: list[EmrJobItem] | None = None
    totalCount: Any = None


decode_job_page = typed_decoder(EmrJobPage)


def parse_job(item: Any, sources: tuple[str, ...] = ()) -> Job | None:
    """One element of ``rayJobs`` (an ``EmrJobItem`` or a decoded dict); None without a
    submissionId. ``sources`` are the target's attribution source fields."""
    if not isinstance(item, dict | EmrJobItem):
        return None
    key = text(item.get("submissionId"))
    if not key:
        return None
    status = word(item.get("status")) or "Unknown"
    queue = word(item.get("resourceQueue"))
    cu_hours = number(item.get("cuHours"))
    phase = STATUSES.get(status, Phase.UNKNOWN)
    return Job(
        key=key,
        name=text(item.get("name")) or key,
        status=status,
        phase=phase,
        job_type="RayJob",
        submit_time=parse_epoch(item.get("submitTime")),
        start_time=parse_epoch(item.get("startTime")),
        end_time=parse_epoch(item.get("endTime")),
        resource_queue=queue,
        cu_hours=cu_hours if cu_hours is not None and cu_hours >= 0 else None,
        extra_labels=_job_labels(queue, word(item.get("clusterState"))),
        attribution=tuple(text(item.get(source)) for source in sources),
        reason=status if phase is Phase.FAILED else "",
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


def _window(start_ms: int, end_ms: int) -> str:
    """The ``submitTime`` filter: one query parameter of compact JSON."""
    return json.dumps({"endTime": end_ms, "startTime": start_ms}, separators=(",", ":"))


def _parse_items(items: list[Any], sources: tuple[str, ...] = ()) -> tuple[list[Job], int]:
    """(jobs in the answer's order, items without an identity). Consumes ``items``."""
    parse = functools.partial(parse_job, sources=sources) if sources else parse_job
    return read_items(parse, items)


@dataclass(slots=True)
class _Page:
    number: int
    jobs: list[Job]
    size: int
    total: int
    skipped: int
    date: float | None


@dataclass(slots=True)
class _Walk:
    """What a walk found, and how far it can be trusted."""

    found: dict[str, Job] = field(default_factory=dict)
    complete: bool = True
    unstable: bool = False  # the list moved under it: take it again soon
    capped: bool = False
    skipped: int = 0
    as_of: float | None = None

    def add(self, page: _Page) -> int:
        """Take in one page; the number of jobs it brought that were not found before."""
        before = len(self.found)
        for job in page.jobs:
            self.found[job.key] = job
        self.skipped += page.skipped
        if self.as_of is None:
            self.as_of = page.date
        return len(self.found) - before


def _boundary_spans(pages: dict[int, _Page]) -> list[tuple[float, float]]:
    """Where a group of equal submitTime may be split across two consecutive pages: around
    each boundary whose two sides are within ``SUBMIT_SLACK`` (the times an answer gives may
    be rounded or re-derived, so equal ones may not look equal), widened by it; overlapping
    spans joined."""
    spans: list[tuple[float, float]] = []
    for index, page in sorted(pages.items()):
        following = pages.get(index + 1)
        if page.jobs and following is not None and following.jobs:
            last, first = page.jobs[-1].submit_time, following.jobs[0].submit_time
            if last is not None and first is not None and abs(last - first) <= SUBMIT_SLACK:
                spans.append((min(last, first) - SUBMIT_SLACK, max(last, first) + SUBMIT_SLACK))
    joined: list[tuple[float, float]] = []
    for low, high in sorted(spans):
        if joined and low <= joined[-1][1]:
            joined[-1] = (joined[-1][0], max(high, joined[-1][1]))
        else:
            joined.append((low, high))
    return joined


def _items(payload: Any, field: str, operation: str) -> list[Any]:
    if not isinstance(payload, dict | TypedRecord) or not isinstance(payload.get(field), list):
        raise PollError("parse", f"{operation}: answer has no {field} list")
    return payload.get(field)


def classify_error(
    operation: str, response: httpx.Response, body: bytes, scrub: Scrubber = NO_SECRETS
) -> PollError:
    """Alibaba's error shape: ``{Code|code, Message|message, RequestId|requestId}``;
    ``x-acs-retry-after`` (milliseconds) says how long to wait after throttling."""
    payload = json_object(body)
    if payload is None:
        return default_error(operation, response, body, scrub)
    code = first_text(payload, "Code", "code")
    retry_ms = number(response.headers.get("x-acs-retry-after"))
    return vendor_error(
        operation,
        response,
        code,
        first_text(payload, "Message", "message"),
        first_text(payload, "RequestId", "requestId"),
        scrub,
        throttled=response.status_code == 429 or code.startswith("Throttling"),
        auth=code in AUTH_CODES or code.startswith(AUTH_CODE_PREFIXES),
        retry_after=retry_ms / 1000.0 if retry_ms and retry_ms > 0 else None,
    )


# --- the backend -----------------------------------------------------------------------------


class EmrServerlessBackend(Backend):
    def __init__(
        self,
        target: EmrServerlessTarget,
        stats: ApiStats,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(target.backend, tuple(target.attribution.labels.values()))
        self.target = target
        self.clock = clock
        provider = target.credential_provider()
        assert provider is not None  # the config refuses a target without credentials
        secrets = model_secrets(target)
        if isinstance(provider, StaticCredentials):  # keys from the environment, too
            key = provider.key
            secrets += [key.access_key_id, key.access_key_secret, key.security_token or ""]
        self.scrub = Scrubber(secrets)
        self.api = ApiClient(
            target.base_url(),
            stats,
            max_response_bytes=target.max_response_bytes,
            auth=Acs3Auth(provider, API_VERSION),
            classify_error=classify_error,
            requests_per_second=target.requests_per_second,
            tls=target.tls_settings(),
            scrub=self.scrub,
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
        self._lookback = WATERMARK_OVERLAP  # grows when a walk finds a job listed later
        self._window_start: float | None = None  # of the last incremental poll since a walk
        self._next_full_walk = 0.0
        self._complete = True

    # jobs

    def list_jobs(self, deadline: float) -> Listing:
        now = self.clock()
        if self._jobs is None or now >= self._next_full_walk:
            walk = self._walk({}, deadline)
            self._learn_lookback(walk, now)
            if walk.complete or self._jobs is None:
                self._jobs = walk.found
            else:  # a job still active is never dropped on the strength of an incomplete walk
                active = {k: j for k, j in self._jobs.items() if not j.phase.terminal}
                self._jobs = {**active, **walk.found}
            self._complete = walk.complete
            # a walk the list moved under, or an empty answer (often a passing fault: one page to
            # ask again), is taken again at the next poll
            again = walk.unstable or not walk.found
            self._next_full_walk = now + (0.0 if again else self.target.full_list_interval)
            skipped, as_of = walk.skipped, walk.as_of
        else:
            skipped, as_of = self._refresh(deadline)
        newest = max((job.submit_time or 0.0 for job in self._jobs.values()), default=None)
        # With no job yet (an empty first answer), the window starts at the API's clock, not
        # at the epoch.
        self._watermark = newest if newest is not None else as_of or self._watermark or now
        return Listing(
            items=list(self._jobs.values()), complete=self._complete, skipped=skipped, as_of=as_of
        )

    def _learn_lookback(self, walk: _Walk, now: float) -> None:
        """Widen the incremental window for jobs the API lists late.

        A job first found by a full walk, though submitted before the start of the last
        incremental window, was listed by the API later than the lookback: no incremental poll
        could find it. The lookback grows to how old the job is now (an upper bound of its
        delay) plus one poll interval, at most ``full_list_interval``, so the next such job is
        found by the first poll after it is listed rather than by the next walk.
        """
        start, self._window_start = self._window_start, None
        if self._jobs is None or start is None:
            return
        as_of = walk.as_of if walk.as_of is not None else now
        missed = [
            job.submit_time
            for key, job in walk.found.items()
            if key not in self._jobs
            and job.submit_time is not None
            and job.submit_time < start - SUBMIT_SLACK
        ]
        if not missed:
            return
        delay = min(as_of - min(missed) + self.target.poll_interval, self.target.full_list_interval)
        if delay > self._lookback:
            log.warning(
                "target %s: %d jobs were listed more than %.0fs after their submitTime; "
                "looking back %.0fs from now on",
                self.target.name,
                len(missed),
                self._lookback,
                delay,
            )
            self._lookback = delay

    def _page(self, params: dict[str, Any], page: int, deadline: float) -> _Page:
        payload, date = self.api.get_json_dated(
            self._jobs_path,
            "ListRayJob",
            deadline=deadline,
            params={**self._filters, **params, "pageNum": page, "pageSize": PAGE_SIZE},
            headers={"x-acs-action": "ListRayJob"},
            decode=decode_job_page,
        )
        items = _items(payload, "rayJobs", "ListRayJob")
        total = _int(payload.get("totalCount"))
        jobs, skipped = _parse_items(items, self.sources)
        total = total if total is not None else len(items)
        return _Page(page, jobs, len(items), total, skipped, date)

    def _walk(self, params: dict[str, Any], deadline: float) -> _Walk:
        """Every job matching ``params``, page by page, sure to miss none.

        A job inserted while paging pushes the rest down: a boundary item shows twice, nothing
        is missed. A job deleted while paging pulls the rest up, so the first item of the page
        about to be read moves to the end of the page read before: when ``totalCount`` drops
        between two reads, the page before is read again (``MAX_STEPS_BACK`` times at most,
        then the walk is incomplete and ``unstable``). Jobs of equal ``submitTime`` may come in
        any order, a new one per request: when a walk found fewer jobs than ``totalCount``,
        each group of them across a page boundary (``_boundary_spans``: times within
        ``SUBMIT_SLACK``, as an answer may round them) is read on its own until all are seen.
        """
        walk = _Walk()
        pages: dict[int, _Page] = {}
        previous: _Page | None = None  # the page read last, whichever it was
        page_num, steps_back = 1, 0
        while True:
            if page_num > self.target.max_pages:
                log.warning(
                    "target %s: ListRayJob stopped at the page cap (%d pages)",
                    self.target.name,
                    self.target.max_pages,
                )
                walk.complete, walk.capped = False, True
                return walk
            page = self._page(params, page_num, deadline)
            walk.add(page)
            if previous is not None and page.total < previous.total and page_num > 1:
                steps_back += 1
                if steps_back > MAX_STEPS_BACK:
                    walk.complete, walk.unstable = False, True
                    log.warning(
                        "target %s: ListRayJob kept shrinking under the walk; incomplete",
                        self.target.name,
                    )
                    return walk
                previous, page_num = page, page_num - 1
                continue
            pages[page_num] = previous = page
            if page.size < PAGE_SIZE or page_num * PAGE_SIZE >= page.total:
                break
            page_num += 1
        self._find_missed(params, pages, page_num, page.total, deadline, walk)
        return walk

    def _find_missed(
        self,
        params: dict[str, Any],
        pages: dict[int, _Page],
        last: int,
        total: int,
        deadline: float,
        walk: _Walk,
    ) -> None:
        """After a walk to page ``last``, find what it may have missed: pages read again for
        jobs submitted meanwhile, then groups of equal ``submitTime`` across page boundaries."""
        # what the pages list now: the last read of each, and the reads again below (fewer of
        # the jobs deleted during the walk than all it found, which could hide one missed)
        listed = {job.key for kept in pages.values() for job in kept.jobs}
        # jobs submitted meanwhile sit on pages already read: read those again
        for again in range(1, last + 1):
            if len(walk.found) >= total:
                break
            fresh = self._page(params, again, deadline)
            listed.update(job.key for job in fresh.jobs)
            if not walk.add(fresh):
                break
        if len(listed) < total:
            # a group of equal submitTime across a page boundary was reordered between two
            # reads (with no job deleted, nothing else can be missing)
            for span in _boundary_spans(pages):
                if not self._read_ties(params, span, deadline, walk):
                    walk.complete, walk.unstable = False, True
                    log.warning(
                        "target %s: jobs submitted at one instant never listed in full",
                        self.target.name,
                    )

    def _read_ties(
        self, params: dict[str, Any], span: tuple[float, float], deadline: float, walk: _Walk
    ) -> bool:
        """Read every job submitted within ``span`` (epoch seconds), however they are ordered."""
        low, high = span
        window = {"submitTime": _window(math.floor(low * 1000), math.ceil(high * 1000))}
        seen: set[str] = set()
        for _ in range(TIE_ROUNDS):
            page_num, total = 1, None
            while True:
                page = self._page({**params, **window}, page_num, deadline)
                walk.add(page)
                seen.update(job.key for job in page.jobs)
                if total is not None and page.total != total:
                    break  # changed meanwhile: this round does not tell
                total = page.total
                if page.size < PAGE_SIZE or page_num * PAGE_SIZE >= total:
                    if len(seen) >= total:
                        return True
                    break
                page_num += 1
        return False

    def _refresh(self, deadline: float) -> tuple[int, float | None]:
        """Ask for new jobs and the still-active ones, at the lowest request count.

        The window is open-ended (its end a day past the API's clock and ours, so a clock
        ahead of ours hides nothing) and starts a lookback (``WATERMARK_OVERLAP``, or more
        once jobs listed later were seen: ``_learn_lookback``) before the newest
        ``submitTime`` seen: a job listed up to that long after its submission is still found.
        An active job is in the window only when its ``submitTime`` is ``SUBMIT_SLACK`` past
        its start: one whose answers round or re-derive that time is never taken for deleted.
        """
        assert self._jobs is not None
        submits = sorted(job.submit_time or 0.0 for job in self._jobs.values())
        active = sorted(
            (job for job in self._jobs.values() if job.phase.active),  # unknown waits for a walk
            key=lambda job: job.submit_time or 0.0,
        )
        floors = [(job.submit_time or 0.0) - SUBMIT_SLACK for job in active]  # surely before it
        window_start = self._watermark - self._lookback
        best_cost, best_cut = math.inf, window_start
        for older_count in range(len(active) + 1):
            cut = window_start
            if older_count < len(active):
                cut = min(window_start, floors[older_count])
            in_window = len(submits) - bisect.bisect_left(submits, cut)
            cost = older_count + max(1, math.ceil(in_window / PAGE_SIZE))
            if cost < best_cost:
                best_cost, best_cut = cost, cut
        if self._window_start is None or best_cut > self._window_start:
            self._window_start = best_cut
        end = max(self._watermark, self.clock()) + OPEN_END
        window = _window(int(best_cut * 1000), int(end * 1000))
        walk = self._walk({"submitTime": window}, deadline)
        fresh, skipped = walk.found, walk.skipped
        for job, floor in zip(active, floors, strict=True):
            if floor >= best_cut:
                if walk.complete and job.key not in fresh:  # gone from its window: deleted
                    self._jobs.pop(job.key, None)
                continue
            page = self._page({"submissionId": job.key}, 1, deadline)
            skipped += page.skipped
            match = next((j for j in page.jobs if j.key == job.key), None)
            if match is None:
                self._jobs.pop(job.key, None)
            else:
                fresh[job.key] = match
        self._jobs.update(fresh)
        self._complete = walk.complete
        return skipped, walk.as_of

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


# --- configuration and declaration -----------------------------------------------------------


class AlibabaCredentials(Strict):
    """Keys from here (each also as ``*_file``); else ALIBABA_CLOUD_* variables; else RRSA."""

    access_key_id: Secret | None = None
    access_key_id_file: SecretFile | None = None
    access_key_secret: Secret | None = None
    access_key_secret_file: SecretFile | None = None
    security_token: Secret | None = None
    security_token_file: SecretFile | None = None
    sts_endpoint: SignedHttpUrl | None = None

    @model_validator(mode="after")
    def _pairs(self) -> AlibabaCredentials:
        for name in ("access_key_id", "access_key_secret", "security_token"):
            if getattr(self, name) is not None and getattr(self, f"{name}_file") is not None:
                raise ValueError(f"set {name} or {name}_file, not both")
        if bool(self.value("access_key_id")) != bool(self.value("access_key_secret")):
            raise ValueError("access_key_id and access_key_secret go together")
        return self

    def value(self, name: str) -> str | None:
        secret = getattr(self, name) or getattr(self, f"{name}_file")
        return secret.get_secret_value() if secret else None

    def source(self, field: str) -> str:
        return "file" if getattr(self, f"{field}_file") is not None else "config"


class EmrFilters(Strict):
    name: str | None = None
    task_biz_id: str | None = None


_WORKSPACE = re.compile(r"[A-Za-z0-9_-]{1,64}")


class EmrServerlessTarget(Target):
    """Ray jobs and Ray clusters of an EMR Serverless Spark workspace."""

    backend: Literal["emr_serverless"]
    workspace_id: str
    region: str | None = None
    network: Literal["public", "vpc"] = "public"
    endpoint: SignedHttpUrl | None = None
    credentials: Annotated[AlibabaCredentials, EmptyIfNone] = AlibabaCredentials()
    filters: Annotated[EmrFilters, EmptyIfNone] = EmrFilters()
    requests_per_second: float = Field(default=5.0, gt=0)
    full_list_interval: Duration = 3600.0
    max_pages: Count = Field(default=10_000, gt=0)

    @field_validator("region")
    @classmethod
    def _check_region(cls, region: str | None) -> str | None:
        if region is not None and not REGION_ID.fullmatch(region):
            raise ValueError("must be a region id such as cn-hangzhou")
        return region

    @field_validator("workspace_id")
    @classmethod
    def _check_workspace(cls, workspace: str) -> str:
        if not _WORKSPACE.fullmatch(workspace):
            raise ValueError("must be a workspace id such as w-d2d82aa09155")
        return workspace

    @model_validator(mode="after")
    def _where(self) -> EmrServerlessTarget:
        if self.region is None and self.endpoint is None:
            raise ValueError("set region (or endpoint)")
        provider = self.credential_provider()
        if provider is None:
            raise ValueError(
                "credentials: none found: set credentials.access_key_id and access_key_secret "
                "(or their *_file), or ALIBABA_CLOUD_ACCESS_KEY_ID and "
                "ALIBABA_CLOUD_ACCESS_KEY_SECRET, or RRSA's ALIBABA_CLOUD_ROLE_ARN, "
                "ALIBABA_CLOUD_OIDC_PROVIDER_ARN and ALIBABA_CLOUD_OIDC_TOKEN_FILE"
            )
        if getattr(provider, "source", "").startswith("environment"):
            check_environment_credentials(
                "ALIBABA_CLOUD_ACCESS_KEY_ID",
                "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
                "ALIBABA_CLOUD_SECURITY_TOKEN",
            )
        return self

    def credential_provider(self) -> CredentialProvider | None:
        """Where this target's keys come from, resolved as the Alibaba SDKs do."""
        creds = self.credentials
        return alibaba_credentials.resolve(
            creds.value("access_key_id"),
            creds.value("access_key_secret"),
            creds.value("security_token"),
            creds.sts_endpoint,
            os.environ,
        )

    def base_url(self) -> str:
        if self.endpoint:
            return self.endpoint
        host = "emr-serverless-spark-vpc" if self.network == "vpc" else "emr-serverless-spark"
        return f"https://{host}.{self.region}.aliyuncs.com"

    def endpoint_text(self) -> str:
        return f"{redact_url(self.base_url())} workspace={self.workspace_id}"

    def identity(self) -> dict[str, object]:
        return {
            "endpoint": redact_url(self.base_url()),
            "workspace": self.workspace_id,
            "filters": self.filters.model_dump(),
        }

    def auth_text(self) -> str:
        provider = self.credential_provider()
        return f"ACS3 access key ({getattr(provider, 'source', 'unknown')})"


def simulator(name: str, *, secret: str | None = None, **settings: Any) -> EmrServerlessSimulator:
    """A simulator of this API (tests, ``--demo``), imported only when one is wanted."""
    from exporter.simulators.emr_serverless import EmrServerlessSimulator

    keys = {"access_key_secret": secret} if secret is not None else {}
    return EmrServerlessSimulator(**keys, **settings)


DECLARATION = register(
    BackendDeclaration(
        target=EmrServerlessTarget,
        client=EmrServerlessBackend,
        known_pairs=status_pairs(STATUSES),
        cluster_states=CLUSTER_STATES,
        simulator=simulator,
        attribution_fields=ATTRIBUTION_FIELDS,
        failure_reasons=FAILURE_REASONS,
        demo_attribution={
            "labels": {"user": "creatorName", "workload": "name"},
            "histograms": ["user"],
        },
    )
)
