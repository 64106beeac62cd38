"""Ray's Jobs REST API (a Ray dashboard) and openYuanrong, which copies it.

The job list is one bare JSON array: no pagination. Ray serves ``/api/jobs/`` (the slash
matters); openYuanrong documents ``/api/jobs``; whichever answers is remembered. Field quirks
(docs/backends/ray.md, Quirks): times are int, float or numeric strings, in seconds or
milliseconds; null, "" and 0 mean unset; every key may be missing.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from exporter.backends.base import Backend, Listing
from exporter.backends.fields import mapping, number, parse_epoch, read_items, text, word
from exporter.backends.listed import ListedItems
from exporter.backends.registry import BackendDeclaration, register
from exporter.config.types import (
    BearerCredentials,
    EmptyIfNone,
    FileSecret,
    HeaderName,
    HeaderValue,
    HttpUrl,
    Target,
    redact_url,
)
from exporter.errors import NotFound, PollError
from exporter.http.client import ApiClient
from exporter.http.decode import Scalar, TypedRecord, typed_decoder
from exporter.http.scrub import Scrubber, model_secrets
from exporter.ledger.attribution import SourceFields, first_word, source_key
from exporter.model import Cluster, ClusterGroup, Job, Phase, status_pairs
from exporter.polling.health import ApiStats

if TYPE_CHECKING:
    from exporter.simulators.ray import RaySimulator

log = logging.getLogger(__name__)

STATUSES = {
    "PENDING": Phase.PENDING,
    "RUNNING": Phase.RUNNING,
    "SUCCEEDED": Phase.SUCCEEDED,
    "FAILED": Phase.FAILED,
    "STOPPED": Phase.CANCELLED,
}
CLUSTER_STATES = ("Running",)
# Job fields an attribution label may take its value from (docs/metrics.md, "Attribution").
ATTRIBUTION_FIELDS = SourceFields(
    fields=("entrypoint", "type"),
    keyed=("metadata.",),
    secret=("runtime_env", "driver_agent_http_address", "message"),
)
# Ray's JobErrorType (Ray 2.60; tests/e2e/test_ray_enums.py compares both tables with the
# installed Ray): why a job failed, the reason of a failed job ("other" for any other value);
# the counters of each, "other" too, start at 0.
ERROR_TYPES = (
    "JOB_ENTRYPOINT_COMMAND_ERROR",
    "JOB_ENTRYPOINT_COMMAND_START_ERROR",
    "RUNTIME_ENV_SETUP_FAILURE",
    "JOB_SUPERVISOR_ACTOR_UNSCHEDULABLE",
    "JOB_SUPERVISOR_ACTOR_START_TIMEOUT",
    "JOB_SUPERVISOR_ACTOR_START_FAILURE",
    "JOB_SUPERVISOR_ACTOR_UNKNOWN_FAILURE",
    "JOB_SUPERVISOR_ACTOR_DIED",
)
FAILURE_REASONS = {"FAILED": ("", *ERROR_TYPES, "other")}


@functools.lru_cache(maxsize=1024)
def _error_labels(error_type: str) -> tuple[tuple[str, str], ...]:
    return (("error_type", error_type),)


class RayJobItem(TypedRecord):
    """The fields of a job list item that ``parse_job`` reads (the other keys, most of an
    item's bytes, are skipped unread); an item that does not fit (an object or an array where
    a field is read, ``metadata`` not an object of such values, an item not an object) is
    decoded generically."""

    submission_id: Scalar = None
    job_id: Scalar = None
    status: Scalar = None
    type: Scalar = None
    start_time: Scalar = None
    end_time: Scalar = None
    error_type: Scalar = None
    metadata: dict[str, Scalar] | None = None
    entrypoint: Scalar = None


decode_job_list = typed_decoder(list[RayJobItem])


def _attribute(item: RayJobItem | dict, metadata: dict[str, Any], source: str) -> str:
    """The value of one attribution source field (``ATTRIBUTION_FIELDS``) of a job."""
    if source == "entrypoint":
        return first_word(item.get("entrypoint"))
    if source == "type":
        return text(item.get("type"))
    return text(metadata.get(source_key(source)))  # metadata.<key>


def _reason(phase: Phase, error_type: str) -> str:
    if phase is not Phase.FAILED or not error_type:
        return ""
    return error_type if error_type in ERROR_TYPES else "other"


def parse_job(item: Any, sources: tuple[str, ...] = ()) -> Job | None:
    """One element of the job list (a ``RayJobItem`` or a decoded dict), or None when it has
    no usable identity; ``sources`` are the target's attribution source fields."""
    if not isinstance(item, RayJobItem | dict):
        return None
    key = text(item.get("submission_id")) or text(item.get("job_id"))
    if not key:
        return None
    status = word(text(item.get("status")).upper()) or "UNKNOWN"
    metadata = mapping(item.get("metadata"))
    name = text(metadata.get("job_name")) or text(metadata.get("name")) or key
    error_type = word(item.get("error_type"))
    submitted = parse_epoch(item.get("start_time"))
    phase = STATUSES.get(status, Phase.UNKNOWN)
    return Job(
        key=key,
        name=name,
        status=status,
        phase=phase,
        job_type=word(item.get("type")) or "SUBMISSION",
        submit_time=submitted,
        end_time=parse_epoch(item.get("end_time")),
        extra_labels=_error_labels(error_type) if error_type else (),
        # After a head restart without GCS fault tolerance, Ray hands out DRIVER ids from
        # 02000000 again and a submission id may be reused: the submission time tells runs
        # apart (within reconcile.RUN_TOLERANCE: a time rounded or re-derived is the same run).
        run=submitted,
        attribution=tuple(_attribute(item, metadata, source) for source in sources),
        reason=_reason(phase, error_type),
    )


def read_jobs(body: bytes, sources: tuple[str, ...] = ()) -> Listing:
    """A job list answer read whole: typed records, or the generic tree when it does not fit."""
    return parse_jobs(decode_job_list(body), sources)


def parse_jobs(payload: Any, sources: tuple[str, ...] = ()) -> Listing:
    """The whole job list; raises PollError when it is not a JSON array. Consumes ``payload``."""
    if not isinstance(payload, list):
        raise PollError("parse", f"job list is a JSON {type(payload).__name__}, not an array")
    parse = functools.partial(parse_job, sources=sources) if sources else parse_job
    jobs, skipped = read_items(parse, payload)
    return Listing(items=jobs, skipped=skipped)


def _data(payload: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(payload, dict):
            return None
        payload = payload.get(key)
    return payload


def _amount(value: Any) -> float:
    return number(value) or 0.0


def parse_cluster(name: str, version: Any, nodes_payload: Any, status_payload: Any) -> Cluster:
    """The Ray cluster behind a dashboard: /api/version, /api/v0/nodes, /api/cluster_status."""
    nodes = _data(nodes_payload, "data", "result", "result")
    if not isinstance(nodes, list):
        raise PollError("parse", "/api/v0/nodes: no data.result.result list")
    groups = {role: ClusterGroup(role, role) for role in ("head", "worker")}
    created: float | None = None
    for node in nodes:
        if not isinstance(node, dict):
            continue
        group = groups["head" if node.get("is_head_node") is True else "worker"]
        if node.get("state") != "ALIVE":
            group.nodes_dead += 1
            continue
        group.nodes_alive += 1
        resources = mapping(node.get("resources_total"))
        group.cpu_cores += _amount(resources.get("CPU"))
        group.gpus += _amount(resources.get("GPU"))
        group.memory_bytes += _amount(resources.get("memory"))
        if node.get("is_head_node") is True:
            created = parse_epoch(node.get("start_time_ms"))
    usage = _data(status_payload, "data", "clusterStatus", "loadMetricsReport", "usage")
    usage = mapping(usage)

    def used(resource: str) -> float | None:
        pair = usage.get(resource)
        return _amount(pair[0]) if isinstance(pair, list) and pair else None

    version = mapping(version)
    session = text(version.get("session_name"))
    ray_version = text(version.get("ray_version"))
    return Cluster(
        key=session or name,
        name=name,
        state="Running",
        groups=list(groups.values()),
        cpu_used=used("CPU"),
        gpus_used=used("GPU"),
        memory_used_bytes=used("memory"),
        created_time=created,
        started_time=created,
        info_labels=(("version", ray_version),) if ray_version else (),
    )


class RayBackend(Backend):
    """A Ray dashboard or an openYuanrong frontend."""

    def __init__(self, target: RayTarget, stats: ApiStats) -> None:
        super().__init__(target.backend, tuple(target.attribution.labels.values()))
        self.name = target.name
        headers = {key: value.get_secret_value() for key, value in target.headers.items()}
        token = target.credentials.bearer_token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.scrub = Scrubber(model_secrets(target))
        self.api = ApiClient(
            target.url,
            stats,
            max_response_bytes=target.max_response_bytes,
            headers=headers,
            tls=target.tls_settings(),
            scrub=self.scrub,
        )
        preferred = "/api/jobs" if target.backend == "openyuanrong" else "/api/jobs/"
        self._jobs_paths = [
            preferred,
            preferred.rstrip("/") if preferred.endswith("/") else preferred + "/",
        ]
        # items listed as they were keep their records; each carries the attribution sources
        parse, read = parse_job, read_jobs
        if self.sources:
            parse = functools.partial(parse_job, sources=self.sources)
            read = functools.partial(read_jobs, sources=self.sources)
        self._jobs = ListedItems(RayJobItem, parse, read)

    def list_jobs(self, deadline: float) -> Listing:
        path = self._jobs_paths[0]
        read = self._jobs.reader  # the list is read as it arrives
        try:
            listing, as_of = self.api.get_json_dated(
                path, "ListJobs", deadline=deadline, reader=read
            )
        except NotFound:
            fallback = self._jobs_paths[1]
            listing, as_of = self.api.get_json_dated(
                fallback, "ListJobs", deadline=deadline, reader=read
            )
            log.info(
                "target %s: job list found at %s (not %s); using it", self.name, fallback, path
            )
            self._jobs_paths.reverse()
        listing.as_of = as_of
        return listing

    def list_clusters(self, deadline: float) -> Listing:
        try:
            version = self.api.get_json("/api/version", "GetVersion", deadline=deadline)
        except NotFound:
            version = None
        try:
            nodes = self.api.get_json(
                "/api/v0/nodes", "ListNodes", deadline=deadline, params={"limit": 10000}
            )
            status = self.api.get_json("/api/cluster_status", "GetClusterStatus", deadline=deadline)
        except NotFound as err:
            raise PollError(
                "http", f"{err} (no cluster API here? set resources: [jobs] on this target)"
            ) from None
        return Listing(items=[parse_cluster(self.name, version, nodes, status)])

    def close(self) -> None:
        self.api.close()


# --- configuration and declaration -----------------------------------------------------------


class RayTarget(Target):
    """A Ray dashboard (``ray``) or openYuanrong frontend (``openyuanrong``).

    One credential source: user info in ``url`` (basic auth), ``credentials`` (a bearer token)
    or an ``Authorization`` entry in ``headers``; each would replace the other silently."""

    backend: Literal["ray", "openyuanrong"]
    url: HttpUrl
    credentials: Annotated[BearerCredentials, EmptyIfNone] = BearerCredentials()
    headers: dict[HeaderName, HeaderValue] = Field(default_factory=dict)

    @field_validator("headers")
    @classmethod
    def _distinct_headers(cls, headers: dict[str, SecretStr]) -> dict[str, SecretStr]:
        seen: set[str] = set()
        for name in headers:
            if name.lower() in seen:
                raise ValueError(f"{name} is given twice (header names ignore case)")
            seen.add(name.lower())
        return headers

    @model_validator(mode="after")
    def _one_credential_source(self) -> RayTarget:
        token_field = "token_file" if self.credentials.token_file is not None else "token"
        sources = [
            text
            for text, present in (
                ("user info in url", self.userinfo()),
                (f"credentials.{token_field}", self.credentials.bearer_token()),
                (f"headers.{self._authorization_header()}", self._authorization_header()),
            )
            if present
        ]
        if len(sources) > 1:
            raise ValueError(f"more than one credential source ({', '.join(sources)}): keep one")
        return self

    def userinfo(self) -> bool:
        """Whether ``url`` carries user info, which the client sends as basic auth."""
        return "@" in urlsplit(self.url).netloc

    def _authorization_header(self) -> str | None:
        return next((name for name in self.headers if name.lower() == "authorization"), None)

    def endpoint_text(self) -> str:
        return redact_url(self.url)

    def identity(self) -> dict[str, object]:
        return {"url": redact_url(self.url)}

    def auth_text(self) -> str:
        token = self.credentials.token_file or self.credentials.token
        if self.userinfo():
            auth = "basic auth (user and password from the URL)"
        elif self.credentials.bearer_token():
            source = f"file {token.path}" if isinstance(token, FileSecret) else "credentials.token"
            auth = f"Authorization: Bearer token (from {source})"
        elif header := self._authorization_header():
            auth = f"{header} header (from headers)"
        else:
            auth = "none"
        others = sorted(name for name in self.headers if name.lower() != "authorization")
        if others:
            auth += f"; headers: {', '.join(others)}"
        return auth


def simulator(name: str, *, secret: str | None = None, **settings: Any) -> RaySimulator:
    """A simulator of this API (tests, ``--demo``), imported only when one is wanted."""
    from exporter.simulators.ray import RaySimulator

    return RaySimulator(flavour=name, auth_token=secret, **settings)


DECLARATION = register(
    BackendDeclaration(
        target=RayTarget,
        client=RayBackend,
        known_pairs=status_pairs(STATUSES),
        cluster_states=CLUSTER_STATES,
        simulator=simulator,
        attribution_fields=ATTRIBUTION_FIELDS,
        failure_reasons=FAILURE_REASONS,
        # the workload's metadata: job_name and owner (a team) in both flavours; 6 names
        # on 4 slots, so some go to "other"
        demo_attribution={
            "labels": {"team": "metadata.owner", "workload": "metadata.job_name"},
            "max_values": 4,
            "histograms": ["team"],
        },
    )
)
