"""Huawei Cloud ModelArts Lite Server jobs: ``GET /v1/{project_id}/dev-servers/jobs``.

The API takes filters but no page parameter, yet answers with ``current/pages/size/total``: when
those say the answer is partial, the listing is marked incomplete (and still used). Polls are
cheap: only the active jobs (``status=PROCESSING``) each interval, the full list every
``full_list_interval``; when jobs left PROCESSING, the lists of the ended statuses find them in
one or two requests however many ended, and only those these lists lack are fetched by ``id``
(at most ``MAX_FETCHES_BY_ID`` a poll, the rest in the next polls). A partial
full list never drops a job still active: the PROCESSING list is read with it, and every active
job in neither answer is fetched by ``id``.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import httpx
from pydantic import Field, field_validator, model_validator

from exporter.auth.sdk_hmac import HuaweiKey, IamTokenAuth, SdkHmacAuth, query_value
from exporter.backends.base import Backend, Listing
from exporter.backends.fields import number, parse_epoch, read_items, text, word
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
    TokenFilePath,
    check_environment_credentials,
    redact_url,
)
from exporter.errors import PollError
from exporter.exposition.labels import LabelCap
from exporter.http.client import (
    ApiClient,
    default_error,
    first_text,
    json_object,
    retry_after_seconds,
    vendor_error,
)
from exporter.http.decode import TypedRecord, typed_decoder
from exporter.http.scrub import NO_SECRETS, Scrubber, model_secrets
from exporter.ledger.attribution import SourceFields
from exporter.model import Job, Phase
from exporter.polling.health import ApiStats

if TYPE_CHECKING:
    from exporter.simulators.modelarts_lite import ModelArtsLiteSimulator

log = logging.getLogger(__name__)

ACTIVE = "PROCESSING"
ENDED = ("FINISHED", "DELETED")  # listed by status when jobs leave PROCESSING
MAX_FETCHES_BY_ID = 20  # per poll: 21 requests take ~4 s at the default 5 requests/s
UNKNOWN_RECHECKS = 3  # fetches by id of a job that went from active to an unknown status
KNOWN_PAIRS = (
    (Phase.RUNNING, "PROCESSING"),
    (Phase.SUCCEEDED, "FINISHED"),
    (Phase.FAILED, "FINISHED"),
    (Phase.CANCELLED, "DELETED"),
)
# Job fields an attribution label may take its value from (docs/metrics.md, "Attribution").
ATTRIBUTION_FIELDS = SourceFields(fields=("type", "name"))
# Why a failed job failed: FINISHED with nodes where the task failed.
FAILURE_REASONS = {"FINISHED": ("abnormal_nodes",)}
THROTTLE_CODES = ("APIG.0308",)
AUTH_CODES = ("APIG.0301", "APIG.0303", "APIG.1002", "APIG.0307")


def phase_of(status: str, abnormal_nodes: int | None) -> Phase:
    """FINISHED with nodes where the task failed is a failure (docs/metrics.md, Phases)."""
    if status == "PROCESSING":
        return Phase.RUNNING
    if status == "FINISHED":
        return Phase.FAILED if abnormal_nodes else Phase.SUCCEEDED
    if status == "DELETED":
        return Phase.CANCELLED
    return Phase.UNKNOWN


class LiteJobItem(TypedRecord):
    """The fields of a ``data`` element that ``parse_job`` reads."""

    id: Any = None
    status: Any = None
    abnormal_count: Any = None
    update_at: Any = None
    name: Any = None
    type: Any = None
    create_at: Any = None


class LiteJobPage(TypedRecord):
    """A ListDevServerJobs answer, read straight into records (``decode.typed_decoder``)."""

    data: list[LiteJobItem] | None = None
    pages: Any = None
    total: Any = None


decode_job_page = typed_decoder(LiteJobPage)


def parse_job(
    item: Any, job_type: Callable[[str], str] = str, sources: tuple[str, ...] = ()
) -> Job | None:
    """One element of ``data`` (a ``LiteJobItem`` or a decoded dict); None without an id.
    ``job_type`` bounds the open-ended type; ``sources`` are the target's attribution source
    fields."""
    if not isinstance(item, dict | LiteJobItem):
        return None
    key = text(item.get("id"))
    if not key:
        return None
    status = word(text(item.get("status")).upper()) or "UNKNOWN"
    abnormal = number(item.get("abnormal_count"))
    abnormal_nodes = int(abnormal) if abnormal is not None and abnormal >= 0 else None
    phase = phase_of(status, abnormal_nodes)
    updated = parse_epoch(item.get("update_at"))
    return Job(
        key=key,
        name=text(item.get("name")) or key,
        status=status,
        phase=phase,
        job_type=job_type(text(item.get("type")) or "UNKNOWN"),
        submit_time=parse_epoch(item.get("create_at")),
        end_time=updated if phase.terminal else None,
        updated_time=updated,
        abnormal_nodes=abnormal_nodes,
        attribution=tuple(text(item.get(source)) for source in sources),
        reason="abnormal_nodes" if phase is Phase.FAILED else "",
    )


def parse_page(
    payload: Any, job_type: Callable[[str], str] = str, sources: tuple[str, ...] = ()
) -> tuple[list[Job], bool, int]:
    """(jobs, partial, skipped): partial when ``pages > 1`` or ``total`` exceeds the data.
    Consumes the data list."""
    if not isinstance(payload, dict | LiteJobPage) or not isinstance(payload.get("data"), list):
        raise PollError("parse", "job list: answer has no data list")
    data = payload.get("data")
    parse = functools.partial(parse_job, job_type=job_type, sources=sources)
    jobs, skipped = read_items(parse, data)
    pages, total = number(payload.get("pages")), number(payload.get("total"))
    partial = (pages is not None and pages > 1) or (total is not None and total > len(data))
    return jobs, partial, skipped


def classify_error(
    operation: str, response: httpx.Response, body: bytes, scrub: Scrubber = NO_SECRETS
) -> PollError:
    """Huawei's shape: ``error_code``/``error_msg`` (or ``errorCode``/``errorMsg``,
    ``code``/``message``); the request id comes in ``X-Request-Id``."""
    payload = json_object(body)
    if payload is None:
        return default_error(operation, response, body, scrub)
    code = first_text(payload, "error_code", "errorCode", "code")
    return vendor_error(
        operation,
        response,
        code,
        first_text(payload, "error_msg", "errorMsg", "message"),
        response.headers.get("X-Request-Id", ""),
        scrub,
        throttled=response.status_code == 429 or code in THROTTLE_CODES,
        auth=code in AUTH_CODES,
        retry_after=retry_after_seconds(response.headers.get("Retry-After"), time.time()),
    )


class ModelArtsLiteBackend(Backend):
    def __init__(
        self,
        target: ModelArtsLiteTarget,
        stats: ApiStats,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(target.backend, tuple(target.attribution.labels.values()))
        self.target = target
        self.clock = clock
        found = target.auth()
        assert found is not None  # the config refuses a target without credentials
        secret = found[1]
        secrets = model_secrets(target)
        if isinstance(secret, HuaweiKey):  # keys from the environment, too
            auth: httpx.Auth = SdkHmacAuth(secret, target.project())
            secrets += [secret.access_key, secret.secret_key, secret.security_token or ""]
        elif isinstance(secret, Path):
            auth = IamTokenAuth(token_file=str(secret))
        else:
            auth = IamTokenAuth(token=secret)
        self.scrub = Scrubber(secrets)
        self.api = ApiClient(
            target.base_url(),
            stats,
            max_response_bytes=target.max_response_bytes,
            auth=auth,
            headers={"X-Project-Id": target.project()},
            classify_error=classify_error,
            requests_per_second=target.requests_per_second,
            tls=target.tls_settings(),
            scrub=self.scrub,
        )
        self._path = f"/v1/{target.project()}/dev-servers/jobs"
        self._filters = {
            key: query_value(value)
            for key, value in target.filters.model_dump().items()
            if value is not None
        }
        self._job_type = LabelCap("job_type", target.job_type_cap)
        self._jobs: dict[str, Job] | None = None
        self._unconfirmed: set[str] = set()  # unfinished in the saved state, not seen since
        self._polls = 0  # incremental polls so far
        self._checked: dict[str, int] = {}  # job -> the incremental poll that last saw it
        self._rechecks: dict[str, int] = {}  # job in an unknown status -> fetches by id left
        self._next_full = 0.0
        self._full_partial = False

    def _get(
        self, params: dict[str, str], deadline: float
    ) -> tuple[list[Job], bool, int, float | None]:
        """(jobs, partial, skipped, the API's clock)."""
        payload, date = self.api.get_json_dated(
            self._path,
            "ListDevServerJobs",
            deadline=deadline,
            params=params,
            decode=decode_job_page,
        )
        return (*parse_page(payload, self._job_type, self.sources), date)

    def list_jobs(self, deadline: float) -> Listing:
        now = self.clock()
        skipped = 0
        if self._jobs is None or now >= self._next_full or "status" in self._filters:
            jobs, partial, skipped, as_of = self._get(self._filters, deadline)
            listed = {job.key: job for job in jobs}
            if partial and self._jobs is not None:
                # a partial answer never drops a job still active: it is checked by id below
                active = {key: job for key, job in self._jobs.items() if not job.phase.terminal}
                listed = {**active, **listed}
            self._jobs = listed
            self._checked, self._rechecks = {}, {}
            if not partial:  # a complete list holds every job: one it lacks is gone
                self._unconfirmed.clear()
            self._full_partial, incomplete = partial, partial
            self._next_full = now + self.target.full_list_interval
            if not partial or "status" in self._filters:
                return Listing(list(self._jobs.values()), not incomplete, skipped, as_of)
            # the active jobs the partial answer left out come from the PROCESSING list
            incomplete, more, _ = self._refresh_active(deadline)
            skipped += more
        else:
            incomplete, skipped, as_of = self._refresh_active(deadline)
        return Listing(list(self._jobs.values()), not incomplete, skipped, as_of)

    def _refresh_active(self, deadline: float) -> tuple[bool, int, float | None]:
        """The PROCESSING jobs; then, for the jobs last seen active that the PROCESSING list no
        longer holds, the lists of the ended statuses (FINISHED, then DELETED while some are
        still missing): however many ended at once, one or two requests find them, before the
        API removes their records. Jobs neither list holds (a status this exporter does not
        know, a list cut short, a record removed) are fetched by id, up to
        ``MAX_FETCHES_BY_ID`` a poll, those waiting longest first; the rest in the next polls.

        A job in a status this exporter does not know (phase unknown) is not active. One that
        came to it from an active status is asked for again in ``UNKNOWN_RECHECKS`` more polls
        (such a status is often a short step to the end), then waits for the next full list.
        """
        assert self._jobs is not None
        self._polls += 1
        active, partial, skipped, as_of = self._get({**self._filters, "status": ACTIVE}, deadline)
        fresh = {job.key: job for job in active}
        self._unconfirmed -= fresh.keys() | self._jobs.keys()
        due = {
            key
            for key, job in self._jobs.items()
            if key not in fresh and (job.phase.active or key in self._rechecks)
        }
        due |= self._unconfirmed
        ended, more = self._ended(due - self._rechecks.keys(), deadline)
        skipped += more
        by_id = sorted(due - ended.keys(), key=lambda key: self._checked.get(key, 0))
        for key in by_id[:MAX_FETCHES_BY_ID]:
            found, _, more, _ = self._get({"id": key}, deadline)
            skipped += more
            ended[key] = next((j for j in found if j.key == key), None)
        for key, match in ended.items():
            if key in self._unconfirmed:
                self._unconfirmed.discard(key)
            elif key in self._jobs:
                self._count_recheck(key, self._jobs[key], match)
                if match is None:
                    del self._jobs[key]  # gone from the API
                    self._checked.pop(key, None)
            if match is not None:
                fresh[key] = match
        self._jobs.update(fresh)
        self._checked.update(dict.fromkeys(fresh, self._polls))
        return self._full_partial or partial, skipped, as_of

    def _ended(self, wanted: set[str], deadline: float) -> tuple[dict[str, Job | None], int]:
        """Of the jobs ``wanted``, those the lists of the ended statuses hold; and the items
        those lists skipped."""
        found: dict[str, Job | None] = {}
        skipped = 0
        for status in ENDED:
            if not wanted - found.keys():
                break
            jobs, _, more, _ = self._get({**self._filters, "status": status}, deadline)
            skipped += more
            found.update((job.key, job) for job in jobs if job.key in wanted)
        return found, skipped

    def _count_recheck(self, key: str, before: Job, after: Job | None) -> None:
        """How many more fetches by id ``key`` gets while its status is unknown here."""
        left = 0
        if after is not None and after.phase is Phase.UNKNOWN:
            left = UNKNOWN_RECHECKS if before.phase.active else self._rechecks[key] - 1
        if left:
            self._rechecks[key] = left
        else:
            self._rechecks.pop(key, None)

    def resume(self, unfinished: Iterable[str]) -> None:
        """Jobs a partial full list may not show are fetched by id until seen once."""
        self._unconfirmed = set(unfinished)

    def close(self) -> None:
        self.api.close()


# --- configuration and declaration -----------------------------------------------------------


class HuaweiCredentials(Strict):
    """AK/SK (each also as ``*_file``) or an IAM token; else HUAWEICLOUD_SDK_* variables."""

    access_key: Secret | None = None
    access_key_file: SecretFile | None = None
    secret_key: Secret | None = None
    secret_key_file: SecretFile | None = None
    security_token: Secret | None = None
    security_token_file: SecretFile | None = None
    auth_token: Secret | None = None
    auth_token_file: TokenFilePath | None = None  # re-read when it changes

    @model_validator(mode="after")
    def _pairs(self) -> HuaweiCredentials:
        for name in ("access_key", "secret_key", "security_token"):
            if getattr(self, name) is not None and getattr(self, f"{name}_file") is not None:
                raise ValueError(f"set {name} or {name}_file, not both")
        if self.auth_token is not None and self.auth_token_file is not None:
            raise ValueError("set auth_token or auth_token_file, not both")
        if bool(self.value("access_key")) != bool(self.value("secret_key")):
            raise ValueError("access_key and secret_key go together")
        return self

    def value(self, name: str) -> str | None:
        secret = getattr(self, name) or getattr(self, f"{name}_file", None)
        return secret.get_secret_value() if secret else None


class ModelArtsFilters(Strict):
    id: str | None = None
    name: str | None = None
    type: str | None = None
    status: str | None = None
    visible: bool | None = None


_PROJECT = re.compile(r"[A-Za-z0-9-]{1,64}")


class ModelArtsLiteTarget(Target):
    """The job list of Huawei Cloud ModelArts Lite Servers in one project."""

    backend: Literal["modelarts_lite"]
    project_id: str | None = None
    region: str | None = None
    endpoint: SignedHttpUrl | None = None
    credentials: Annotated[HuaweiCredentials, EmptyIfNone] = HuaweiCredentials()
    filters: Annotated[ModelArtsFilters, EmptyIfNone] = ModelArtsFilters()
    requests_per_second: float = Field(default=5.0, gt=0)
    full_list_interval: Duration = 600.0
    job_type_cap: Count = Field(default=30, gt=0)
    resources: tuple[Literal["jobs"], ...] = ("jobs",)

    @field_validator("region")
    @classmethod
    def _check_region(cls, region: str | None) -> str | None:
        if region is not None and not REGION_ID.fullmatch(region):
            raise ValueError("must be a region id such as cn-north-4")
        return region

    @model_validator(mode="after")
    def _complete(self) -> ModelArtsLiteTarget:
        if self.region is None and self.endpoint is None:
            raise ValueError("set region (or endpoint)")
        project = self.project()
        if not project:
            raise ValueError("project_id: required (or set HUAWEICLOUD_SDK_PROJECT_ID)")
        if not _PROJECT.fullmatch(project):
            raise ValueError("project_id: must be 1-64 letters, digits or hyphens")
        found = self.auth()
        if found is None:
            raise ValueError(
                "credentials: none found: set credentials.access_key and secret_key (or their "
                "*_file), or credentials.auth_token (or auth_token_file), or "
                "HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK"
            )
        if found[0].endswith("(environment)"):
            check_environment_credentials(
                "HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK", "HUAWEICLOUD_SDK_SECURITY_TOKEN"
            )
        return self

    def project(self) -> str:
        return self.project_id or os.environ.get("HUAWEICLOUD_SDK_PROJECT_ID", "")

    def base_url(self) -> str:
        if self.endpoint:
            return self.endpoint
        domain = "myhuaweicloud.cn" if self.region == "ap-southeast-1" else "myhuaweicloud.com"
        return f"https://modelarts.{self.region}.{domain}"

    def auth(self) -> tuple[str, HuaweiKey | str | Path] | None:
        """(how, key, token or token file) as found first: config keys, config token, the
        HUAWEICLOUD_SDK_* variables; None when there is nothing."""
        creds = self.credentials
        if creds.value("access_key") and creds.value("secret_key"):
            key = HuaweiKey(
                creds.value("access_key"), creds.value("secret_key"), creds.value("security_token")
            )
            return "AK/SK signature (config)", key
        if creds.auth_token is not None:
            return "IAM token (config)", creds.auth_token.get_secret_value()
        if creds.auth_token_file is not None:
            return "IAM token (file)", creds.auth_token_file
        ak, sk = os.environ.get("HUAWEICLOUD_SDK_AK"), os.environ.get("HUAWEICLOUD_SDK_SK")
        if ak and sk:
            token = os.environ.get("HUAWEICLOUD_SDK_SECURITY_TOKEN") or None
            return "AK/SK signature (environment)", HuaweiKey(ak, sk, token)
        return None

    def endpoint_text(self) -> str:
        return f"{redact_url(self.base_url())} project={self.project()}"

    def identity(self) -> dict[str, object]:
        return {
            "endpoint": redact_url(self.base_url()),
            "project": self.project(),
            "filters": self.filters.model_dump(),
        }

    def auth_text(self) -> str:
        found = self.auth()
        if found and isinstance(found[1], Path):
            return f"{found[0]} {found[1]}"
        return found[0] if found else "none"


def simulator(name: str, *, secret: str | None = None, **settings: Any) -> ModelArtsLiteSimulator:
    """A simulator of this API (tests, ``--demo``), imported only when one is wanted."""
    from exporter.simulators.modelarts_lite import ModelArtsLiteSimulator

    keys = {"secret_key": secret} if secret is not None else {}
    return ModelArtsLiteSimulator(**keys, **settings)


DECLARATION = register(
    BackendDeclaration(
        target=ModelArtsLiteTarget,
        client=ModelArtsLiteBackend,
        known_pairs=KNOWN_PAIRS,
        simulator=simulator,
        attribution_fields=ATTRIBUTION_FIELDS,
        failure_reasons=FAILURE_REASONS,
        # job names are open-ended (a random suffix): past 10 values they go to "other"
        demo_attribution={"labels": {"kind": "type", "workload": "name"}, "max_values": 10},
    )
)
