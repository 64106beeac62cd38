"""The Lite Server jobs of one target, kept between polls, from
``GET /v1/{project_id}/dev-servers/jobs``.

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

from collections.abc import Callable, Iterable

from exporter.auth.sdk_hmac import query_value
from exporter.backends.base import Listing
from exporter.backends.modelarts_lite.server_jobs import decode_job_page, parse_page
from exporter.backends.modelarts_lite.target import ModelArtsLiteTarget
from exporter.exposition.labels import LabelCap
from exporter.http.client import ApiClient
from exporter.model import Job, Phase

ACTIVE = "PROCESSING"
ENDED = ("FINISHED", "DELETED")  # listed by status when jobs leave PROCESSING
MAX_FETCHES_BY_ID = 20  # per poll: 21 requests take ~4 s at the default 5 requests/s
UNKNOWN_RECHECKS = 3  # fetches by id of a job that went from active to an unknown status


class ServerJobList:
    """Every Lite Server job of one target, as of the last poll: ``list_jobs`` brings it up
    to date."""

    def __init__(
        self,
        api: ApiClient,
        target: ModelArtsLiteTarget,
        sources: tuple[str, ...],
        clock: Callable[[], float],
    ) -> None:
        self.api = api
        self.target = target
        self.sources = sources  # the target's attribution source fields
        self.clock = clock
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
        """The lists of the ended statuses, read until they hold every job ``wanted``: each job
        they show (also one never seen PROCESSING, submitted and ended since the last poll,
        counted now rather than at the next full list); and the items they skipped."""
        found: dict[str, Job | None] = {}
        skipped = 0
        for status in ENDED:
            if not wanted - found.keys():
                break
            jobs, _, more, _ = self._get({**self._filters, "status": status}, deadline)
            skipped += more
            found.update((job.key, job) for job in jobs)
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
