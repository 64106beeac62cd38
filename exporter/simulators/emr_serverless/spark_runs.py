"""ListJobRuns: the Spark job runs of the workspace, newest first, token-paged
(``spark_run_query``), each with every field the List operation returns (``spark_run``); and
the job contract over them (``sim.spark_runs``), with a record of its answers of its own."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from random import Random
from typing import Any, ClassVar

from exporter.simulators.base import JobResource, Outcome
from exporter.simulators.emr_serverless.common import ApiError, request_id
from exporter.simulators.emr_serverless.spark_run import HOLDING, WAITING, SparkRun
from exporter.simulators.emr_serverless.spark_run_query import (
    PageTokens,
    RunQuery,
    filters_of,
    max_results,
)

ENDS: dict[Outcome, str] = {"succeeded": "Success", "failed": "Failed", "cancelled": "Cancelled"}
TOKEN_LIFETIME = 600.0  # seconds on the API's clock a nextToken stays good


class SparkRuns(JobResource):
    """The Spark job runs of one workspace; thread-safe. ``now`` is the API's clock and
    ``jittered_ms`` passes each time an answer gives (the simulator's ``jitter``)."""

    JOB_LIST_KEY: ClassVar[str | None] = "jobRuns"
    JOB_ID_FIELD: ClassVar[str] = "jobRunId"
    JOB_SUBMIT_FIELD: ClassVar[str] = "submitTime"
    RUNNING = "Running"
    ENDS = ENDS

    def __init__(
        self,
        workspace_id: str,
        now: Callable[[], float],
        jittered_ms: Callable[[int | None], int | None],
        seed: int,
    ) -> None:
        super().__init__()
        self.workspace_id = workspace_id
        self.now = now
        self.jittered_ms = jittered_ms
        self.tokens = PageTokens(TOKEN_LIFETIME)
        self._rng = Random(seed)
        self._lock = threading.Lock()
        self._runs: dict[str, SparkRun] = {}
        self._ids: set[str] = set()  # every id ever used: the API makes up new ones
        self._failures: list[tuple[int, str]] = []  # (status, code) of the next lists to fail
        self._empty_answers = 0
        self._delete_queue: list[str] = []
        self._refused_tokens = 0

    def now_ms(self) -> int:
        return int(self.now() * 1000)

    # --- the job contract ---------------------------------------------------------------

    def submit_job(
        self, key: str | None = None, *, running: bool = False, name: str | None = None
    ) -> str:
        named = {} if name is None else {"name": name}
        return self.add_run(key, state="Running" if running else "Submitted", **named)

    def move(self, key: str, status: str) -> None:
        self.set_run(key, status)

    def ran(self, key: str) -> bool:
        with self._lock:
            return self._runs[key].state not in WAITING

    def remove_job(self, key: str) -> None:
        with self._lock:
            self._runs.pop(key, None)

    def fail_job_lists(self, n: int) -> None:
        """The next ``n`` ListJobRuns requests are throttled (429 ``Throttling.User``)."""
        self.fail_lists(n)

    # --- runs ---------------------------------------------------------------------------

    def add_run(
        self,
        job_run_id: str | None = None,
        *,
        name: str = "spark-job",
        state: str = "Running",
        submit_time: float | None = None,
        visible_delay: float = 0.0,
        **fields: Any,
    ) -> str:
        """Add a run, in ``state`` from now on (submitted at ``submit_time``, epoch seconds on
        the API's clock, else now; listed from ``visible_delay`` seconds after that), with any
        other ``SparkRun`` field given (``queue``, ``creator``, ``tags``, ``vcores``, ...);
        ValueError when ``job_run_id`` was ever used: the API never gives an id twice."""
        with self._lock:
            key = job_run_id or f"jr-{self._rng.getrandbits(64):016x}"
            if key in self._ids:
                raise ValueError(f"jobRunId {key} is taken")
            now_ms = self.now_ms()
            submit_ms = now_ms if submit_time is None else int(submit_time * 1000)
            run = SparkRun(key, self.workspace_id, name, "Submitted", submit_ms, **fields)
            run.visible_ms = submit_ms + int(visible_delay * 1000)
            run.ui_token = secrets.token_hex(16)
            run.move(state, now_ms)
            self._ids.add(key)
            self._runs[key] = run
            return key

    def set_run(self, key: str, state: str) -> None:
        """Run ``key`` enters ``state`` now (its usage and end time follow)."""
        with self._lock:
            self._runs[key].move(state, self.now_ms())

    def runs(self) -> list[dict[str, Any]]:
        """Every run as an answer would give it now, without jitter."""
        with self._lock:
            now_ms = self.now_ms()
            return [run.render(now_ms, lambda millis: millis) for run in self._runs.values()]

    def queue_load(self, queue: str) -> tuple[int, int, int]:
        """(vcores, memory MB) the runs of ``queue`` hold now, and how many of its runs wait."""
        with self._lock:
            held = [run for run in self._runs.values() if run.queue == queue]
            holding = [run for run in held if run.state in HOLDING]
            return (
                sum(run.vcores for run in holding),
                sum(run.memory_mb for run in holding),
                sum(run.state in WAITING for run in held),
            )

    # --- faults -------------------------------------------------------------------------

    def fail_lists(self, n: int, status: int = 429, code: str = "Throttling.User") -> None:
        """The next ``n`` ListJobRuns requests fail with ``status`` and ``code``."""
        with self._lock:
            self._failures.extend([(status, code)] * n)

    def empty_answers(self, n: int) -> None:
        """The next ``n`` ListJobRuns requests succeed with no runs and ``totalCount`` 0."""
        with self._lock:
            self._empty_answers += n

    def delete_between_pages(self, keys: list[str]) -> None:
        """Before each of the next ``len(keys)`` requests for a page after the first (one with a
        ``nextToken``), delete the next of these runs (a user deleting runs during a walk)."""
        with self._lock:
            self._delete_queue.extend(keys)

    def expire_between_pages(self, n: int) -> None:
        """The next ``n`` requests for a page after the first (one with a ``nextToken``) find
        their token expired (a walk slower than a token's lifetime)."""
        with self._lock:
            self._refused_tokens += n

    def expire_tokens(self) -> None:
        """Every ``nextToken`` handed out so far is refused from now on."""
        with self._lock:
            self.tokens.expire_all()

    # --- the answer ---------------------------------------------------------------------

    def list_runs(self, query: dict[str, str]) -> dict[str, Any]:
        """The ListJobRuns answer to ``query``; ApiError for a bad parameter or an injected
        failure."""
        wanted, size, filters = RunQuery.parse(query), max_results(query), filters_of(query)
        with self._lock:
            if self._failures:
                status, code = self._failures.pop(0)
                raise ApiError(status, code, "Request was denied due to flow control.")
            now, now_ms = self.now(), self.now_ms()
            after = None
            if "nextToken" in query:
                if self._refused_tokens:
                    self._refused_tokens -= 1
                    self.tokens.expire_all()
                after = self.tokens.resolve(query["nextToken"], filters, now)
            if self._empty_answers:
                self._empty_answers -= 1
                self.record_answer(now, ())
                return _answer([], "", size, 0)
            if after is not None and self._delete_queue:
                self._runs.pop(self._delete_queue.pop(0), None)
            runs = self._listed(wanted, now_ms)
            rest = runs if after is None else [run for run in runs if _position(run) < after]
            page = rest[:size]
            token = self.tokens.issue(filters, _position(page[-1]), now) if len(rest) > size else ""
            self.record_answer(now, [(run.job_run_id, run.state) for run in page])
            shown = [run.render(now_ms, self.jittered_ms) for run in page]
        return _answer(shown, token, size, len(runs))

    def _listed(self, wanted: RunQuery, now_ms: int) -> list[SparkRun]:
        """The runs listed by ``now_ms`` that ``wanted`` keeps, newest first (lock held)."""
        listed = [run for run in self._runs.values() if run.visible_ms <= now_ms]
        return sorted(
            (run for run in listed if wanted.matches(run, now_ms)), key=_position, reverse=True
        )


def _position(run: SparkRun) -> tuple[int, str]:
    return run.submit_ms, run.job_run_id


def _answer(runs: list[dict[str, Any]], token: str, size: int, total: int) -> dict[str, Any]:
    return {
        "requestId": request_id(),
        "jobRuns": runs,
        "nextToken": token,
        "maxResults": size,
        "totalCount": total,
    }
