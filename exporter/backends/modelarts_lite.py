"""Huawei Cloud ModelArts Lite Server jobs: ``GET /v1/{project_id}/dev-servers/jobs``.

The API takes filters but no page parameter, yet answers with ``current/pages/size/total``: when
those say the answer is partial, the listing is marked incomplete (and still used). Polls are
cheap: only the active jobs (``status=PROCESSING``) each interval, the full list every
``full_list_interval``, and a job that left PROCESSING is fetched by ``id`` so its final status
is counted at once (at most ``MAX_FETCHES_BY_ID`` a poll, the rest in the next polls). A partial
full list never drops a job still active: the PROCESSING list is read with it, and every active
job in neither answer is fetched by ``id``.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import httpx

from ..auth.sdk_hmac import HuaweiKey, IamTokenAuth, SdkHmacAuth, query_value
from ..config import ModelArtsLiteTarget
from ..errors import PollError
from ..labels import LabelCap
from ..model import Job, Phase
from ..scrub import NO_SECRETS, Scrubber, model_secrets
from ..status import ApiStats
from .base import Backend, Listing
from .decode import TypedRecord, typed_decoder
from .fields import number, parse_epoch, read_item, text, word
from .http import (
    ApiClient,
    default_error,
    first_text,
    json_object,
    retry_after_seconds,
    vendor_error,
)

log = logging.getLogger(__name__)

ACTIVE = "PROCESSING"
MAX_FETCHES_BY_ID = 20  # per poll: 21 requests take ~4 s at the default 5 requests/s
UNKNOWN_RECHECKS = 3  # fetches by id of a job that went from active to an unknown status
KNOWN_PAIRS = (
    (Phase.RUNNING, "PROCESSING"),
    (Phase.SUCCEEDED, "FINISHED"),
    (Phase.FAILED, "FINISHED"),
    (Phase.CANCELLED, "DELETED"),
)
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


def parse_job(item: Any, job_type: Callable[[str], str] = str) -> Job | None:
    """One element of ``data`` (a ``LiteJobItem`` or a decoded dict); None without an id.
    ``job_type`` bounds the open-ended type."""
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
    )


def parse_page(payload: Any, job_type: Callable[[str], str] = str) -> tuple[list[Job], bool, int]:
    """(jobs, partial, skipped): partial when ``pages > 1`` or ``total`` exceeds the data."""
    if not isinstance(payload, dict | LiteJobPage) or not isinstance(payload.get("data"), list):
        raise PollError("parse", "job list: answer has no data list")
    data = payload.get("data")
    parse = functools.partial(parse_job, job_type=job_type)
    jobs = [job for job in (read_item(parse, item) for item in data) if job is not None]
    pages, total = number(payload.get("pages")), number(payload.get("total"))
    partial = (pages is not None and pages > 1) or (total is not None and total > len(data))
    return jobs, partial, len(data) - len(jobs)


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
    known_pairs = KNOWN_PAIRS
    cluster_states = ()

    def __init__(
        self,
        target: ModelArtsLiteTarget,
        stats: ApiStats,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(target.backend)
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
        return (*parse_page(payload, self._job_type), date)

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
        """The PROCESSING jobs, and by id up to ``MAX_FETCHES_BY_ID`` of the jobs last seen
        active that the PROCESSING list no longer holds, those waiting longest first; the rest
        wait for the next polls.

        A job in a status this exporter does not know (phase unknown) is not active. One that
        came to it from an active status is asked for again in ``UNKNOWN_RECHECKS`` more polls
        (such a status is often a short step to the end), then waits for the next full list.
        """
        assert self._jobs is not None
        self._polls += 1
        active, partial, skipped, as_of = self._get({**self._filters, "status": ACTIVE}, deadline)
        fresh = {job.key: job for job in active}
        self._unconfirmed -= fresh.keys() | self._jobs.keys()
        due = [
            key
            for key, job in self._jobs.items()
            if key not in fresh and (job.phase.active or key in self._rechecks)
        ]
        due.extend(self._unconfirmed)
        due.sort(key=lambda key: self._checked.get(key, 0))
        for key in due[:MAX_FETCHES_BY_ID]:
            found, _, more, _ = self._get({"id": key}, deadline)
            skipped += more
            match = next((j for j in found if j.key == key), None)
            if key in self._unconfirmed:
                self._unconfirmed.discard(key)
                if match is not None:
                    fresh[key] = match
                continue
            self._count_recheck(key, self._jobs[key], match)
            if match is None:
                del self._jobs[key]  # gone from the API
                self._checked.pop(key, None)
            else:
                fresh[key] = match
        self._jobs.update(fresh)
        self._checked.update(dict.fromkeys(fresh, self._polls))
        return self._full_partial or partial, skipped, as_of

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
