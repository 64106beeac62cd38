"""Training jobs: the search (``POST /v2/{project_id}/training-job-searches``), each job's
stages, and the job contract over them (``sim.training_jobs``), with a record of its answers
of its own: each job shown as (id, ``status.phase``).

A search answers the page its body asks for (``training_search``) with ``count`` (the jobs that
match), ``total`` (every job of the project), the search's parameters, and the jobs as
``training_render`` has them. Offset paging shifts when jobs come or go between two pages, as
on the real API; tests make that happen on purpose between the pages of a walk
(``submit_between_pages``, ``delete_between_pages``). A job on a pool of the project's own
holds slots of its nodes while it runs (``pools``): a job that waits for room is ``Pending``.
"""

from __future__ import annotations

import threading
import uuid
from collections import deque
from collections.abc import Callable
from random import Random
from typing import Any, ClassVar

from exporter.simulators.base import JobResource, Outcome
from exporter.simulators.modelarts_lite.common import NOT_FOUND, ApiError
from exporter.simulators.modelarts_lite.flavors import PUBLIC_FLAVOR, cards_of, whole_nodes
from exporter.simulators.modelarts_lite.pools import Pools
from exporter.simulators.modelarts_lite.stages import stage_records
from exporter.simulators.modelarts_lite.training_job import HOLDING, TrainingJob
from exporter.simulators.modelarts_lite.training_render import rendered
from exporter.simulators.modelarts_lite.training_search import Search

ENDS: dict[Outcome, str] = {"succeeded": "Completed", "failed": "Failed", "cancelled": "Terminated"}


class TrainingJobs(JobResource):
    """The training jobs of one project; thread-safe. ``now`` is the API's clock and
    ``jittered_ms`` passes each time an answer gives (the simulator's ``jitter``)."""

    JOB_LIST_KEY: ClassVar[str | None] = "items"
    JOB_ID_FIELD: ClassVar[str] = "metadata.id"
    JOB_SUBMIT_FIELD: ClassVar[str] = "metadata.create_time"
    RUNNING = "Running"
    ENDS = ENDS
    UNTIMED_UNLESS_RAN = True  # an end is a start plus ``status.duration``

    def __init__(
        self,
        pools: Pools,
        now: Callable[[], float],
        jittered_ms: Callable[[int | None], int | None],
        seed: int,
    ) -> None:
        super().__init__()
        self.pools = pools
        self.now = now
        self.jittered_ms = jittered_ms
        self._rng = Random(seed)
        self._lock = threading.Lock()
        self._jobs: dict[str, TrainingJob] = {}
        self._ids: set[str] = set()  # every id ever used: the API makes up new ones
        self._failures: deque[ApiError] = deque()
        self._stage_failures: deque[ApiError] = deque()
        self._empty_answers = 0
        self._between_pages: deque[Callable[[], object]] = deque()

    def now_ms(self) -> int:
        return int(self.now() * 1000)

    # --- the job contract ---------------------------------------------------------------

    def submit_job(
        self, key: str | None = None, *, running: bool = False, name: str | None = None
    ) -> str:
        named = {} if name is None else {"name": name}
        return self.add_job(key, phase="Running" if running else "Pending", **named)

    def move(self, key: str, status: str) -> None:
        self.set_phase(key, status)

    def ran(self, key: str) -> bool:
        with self._lock:
            return self._jobs[key].start_ms is not None

    def remove_job(self, key: str) -> None:
        with self._lock:
            self._jobs.pop(key, None)
        self.pools.release(key)

    def fail_job_lists(self, n: int) -> None:
        """The next ``n`` searches are throttled (429 ``APIG.0308``)."""
        self.fail_lists(n)

    # --- jobs ---------------------------------------------------------------------------

    def add_job(
        self,
        job_id: str | None = None,
        *,
        name: str = "train-job",
        phase: str = "Pending",
        secondary: str | None = None,
        pool_id: str = "",
        flavor_id: str | None = None,
        create_time: float | None = None,
        **fields: Any,
    ) -> str:
        """Add a job in ``phase`` (and ``secondary``) now, created at ``create_time`` (epoch
        seconds on the API's clock, else now), on pool ``pool_id`` ("": the public pool) in
        ``flavor_id`` (by default whole nodes), with any other ``TrainingJob`` field
        (``node_count``, ``user_name``, ``tags``...); ValueError when ``job_id`` was ever
        used."""
        node, pool_name = PUBLIC_FLAVOR, ""
        if pool_id:
            pool_name, node = self.pools.node_flavor(pool_id)
        flavor_id = flavor_id or whole_nodes(node)
        with self._lock:
            key = job_id or str(uuid.UUID(int=self._rng.getrandbits(128)))
            if key in self._ids:
                raise ValueError(f"training job id {key} is taken")
            created = self.now_ms() if create_time is None else int(create_time * 1000)
            job = TrainingJob(
                key, name, created, flavor_id, node, cards_of(flavor_id, node), **fields
            )
            job.pool_id, job.pool_name = pool_id, pool_name
            self._ids.add(key)
            self._jobs[key] = job
        self.set_phase(key, phase, secondary)
        return key

    def set_phase(self, key: str, phase: str, secondary: str | None = None) -> None:
        """Job ``key`` enters ``phase`` now: a job on a pool of its own takes room on its
        nodes as it starts running, and gives it back as it stops."""
        with self._lock:
            job = self._jobs[key]
            held = job.phase in HOLDING
            job.move(phase, secondary, self.now_ms())
            holds = job.phase in HOLDING
        if job.pool_id and holds and not held:
            job.hosts = self.pools.place(key, job.pool_id, job.cards, job.node_count)
        elif job.pool_id and held and not holds:
            self.pools.release(key)

    def jobs(self) -> list[dict[str, Any]]:
        """Every job as an answer gives it now, without jitter."""
        with self._lock:
            now_ms = self.now_ms()
            return [rendered(job, now_ms, lambda ms: ms, set()) for job in self._jobs.values()]

    def fill_pool(self, pool_id: str, *, queued: int = 0) -> list[str]:
        """Saturate a pool: running jobs take every slot free on its nodes (whole nodes where
        they can, one card each where not), then ``queued`` more jobs of whole nodes wait
        ``Pending`` (``Queuing``) for room; the ids of those waiting."""
        _, node = self.pools.node_flavor(pool_id)
        flavors = (whole_nodes(node), "modelarts.pool.visual.xlarge") if node.cards else (node.id,)
        for flavor in flavors:
            while self.pools.room(pool_id, cards_of(flavor, node), 1):
                self.add_job(name="filler", phase="Running", pool_id=pool_id, flavor_id=flavor)
        return [
            self.add_job(name=f"queued-{i}", pool_id=pool_id, flavor_id=flavors[0])
            for i in range(queued)
        ]

    # --- faults -------------------------------------------------------------------------

    def fail_lists(self, n: int, status: int = 429, code: str = "APIG.0308") -> None:
        """The next ``n`` searches fail with ``status`` and ``code`` (5xx: a server error)."""
        message = "The request is throttled" if code == "APIG.0308" else "Internal server error"
        with self._lock:
            self._failures.extend([ApiError(status, code, message)] * n)

    def fail_stages(self, n: int, status: int = 500, code: str = "ModelArts.0001") -> None:
        """The next ``n`` stage requests fail with ``status`` and ``code``."""
        with self._lock:
            self._stage_failures.extend([ApiError(status, code, "Internal server error")] * n)

    def empty_answers(self, n: int) -> None:
        """The next ``n`` searches succeed with no jobs and ``count`` 0."""
        with self._lock:
            self._empty_answers += n

    def between_pages(self, action: Callable[[], object]) -> None:
        """Run ``action`` (a change of the jobs) before the next search for a page after the
        first: the pages of a walk then shift under it."""
        with self._lock:
            self._between_pages.append(action)

    def settle_pages(self) -> None:
        """Drop the changes still waiting for a walk's second page: the pages stay put."""
        with self._lock:
            self._between_pages.clear()

    def submit_between_pages(self, n: int = 1) -> None:
        """Before each of the next ``n`` searches for a page after the first, a job is
        submitted (the newest: by the default order it lands on the first page, pushing every
        later job one place on)."""
        for _ in range(n):
            self.between_pages(self.submit_job)

    def delete_between_pages(self, keys: list[str]) -> None:
        """Before each of the next ``len(keys)`` searches for a page after the first, the next
        of these jobs is deleted (pulling every later job one place back)."""
        for key in keys:
            self.between_pages(lambda key=key: self.remove_job(key))

    # --- the answers --------------------------------------------------------------------

    def search(self, body: dict[str, Any]) -> dict[str, Any]:
        """The answer to a search with ``body``; ApiError for a bad body or a fault."""
        wanted = Search.parse(body)
        with self._lock:
            if self._failures:
                raise self._failures.popleft()
            shift = self._between_pages.popleft() if wanted.offset and self._between_pages else None
        if shift is not None:
            shift()
        with self._lock:
            now, now_ms = self.now(), self.now_ms()
            if self._empty_answers:
                self._empty_answers -= 1
                self.record_answer(now, ())
                return {"total": 0, "count": 0, **wanted.echoed(), "items": []}
            matched = wanted.ordered([job for job in self._jobs.values() if wanted.matches(job)])
            page = wanted.page(matched)
            self.record_answer(now, [(job.id, job.phase) for job in page])
            items = [rendered(job, now_ms, self.jittered_ms, wanted.host_ips) for job in page]
            total = len(self._jobs)
        return {"total": total, "count": len(matched), **wanted.echoed(), "items": items}

    def stages(self, key: str) -> dict[str, Any]:
        with self._lock:
            if self._stage_failures:
                raise self._stage_failures.popleft()
            job = self._jobs.get(key)
            if job is None:
                raise ApiError(404, NOT_FOUND, f"training job {key} does not exist")
            return stage_records(job, self.now_ms())
