"""What every simulator shares: a threaded loopback HTTP server, JSON replies, requests' queries
read as the clouds' gateways read them, and the job contract the shared tests drive every
simulated job list through (``JobResource``, which every ``Simulator`` is)."""

from __future__ import annotations

import json
import random
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Literal, Self
from urllib.parse import parse_qsl

Outcome = Literal["succeeded", "failed", "cancelled"]
OUTCOMES: tuple[Outcome, ...] = ("succeeded", "failed", "cancelled")
# Answers the record keeps (the demo runs for days): a test reads it after every poll
MAX_SHOWN_ANSWERS = 256


@dataclass(frozen=True, slots=True)
class ShownAnswer:
    """One answer to a job-list or job-lookup request, as it was sent: the API's clock then,
    and each job it held as (id, native status)."""

    at: float
    jobs: tuple[tuple[str, str], ...]


def read_path(item: Any, path: str) -> Any:
    """The value at the dotted ``path`` (``metadata.name``) of a JSON value; None where a step
    is missing or not an object."""
    for step in path.split("."):
        if not isinstance(item, dict):
            return None
        item = item.get(step)
    return item


def write_path(item: dict[str, Any], path: str, value: Any) -> None:
    """Set the value at the dotted ``path`` of a JSON object, making the objects on the way."""
    *parents, last = path.split(".")
    for step in parents:
        item = item.setdefault(step, {})
    item[last] = value


def request_query(target: str) -> list[tuple[str, str]]:
    """The query of a request target (``/path?a=1&b=x+y``) as (key, value) pairs, decoded as
    the clouds' gateways decode it: ``%XX`` escapes as UTF-8 and ``+`` as a space (the form
    encoding the official SDKs send), blank values kept."""
    return parse_qsl(target.partition("?")[2], keep_blank_values=True)


class JsonHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    # The server's own clock, which dates every answer (the ``Date`` header): a simulator sets
    # it to its (possibly fake, possibly skewed) clock, like a cloud whose clock is not ours.
    server_clock: Callable[[], float] = staticmethod(time.time)

    def date_time_string(self, timestamp: float | None = None) -> str:
        return super().date_time_string(self.server_clock() if timestamp is None else timestamp)

    def log_message(self, *args: object) -> None:
        pass

    def reply(
        self,
        status: int,
        body: Any,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def text(self, status: int, text: str) -> None:
        self.reply(status, text.encode(), "text/plain; charset=utf-8")


class SimulatorServer(ThreadingHTTPServer):
    """A threaded loopback server whose clients may give up mid-answer (a poll's deadline, a
    test's fault): that is the client's business, not a traceback on stderr."""

    daemon_threads = True
    # the listen backlog of aiohttp, which serves Ray's dashboard (socketserver's is 5: a burst
    # of connections beyond it waits for SYN retries, seconds, which no real API makes them do)
    request_queue_size = 128

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def serve_in_background(self, name: str) -> int:
        """Serve in a daemon thread called ``name``; the port."""
        threading.Thread(target=self.serve_forever, args=(0.05,), name=name, daemon=True).start()
        return int(self.server_address[1])

    def stop_serving(self) -> None:
        self.shutdown()
        self.server_close()


class JobResource:
    """The job contract of one job resource of an API, which the shared tests drive every
    simulated job list through: ``submit_job``, ``start_job``, ``end_job``, ``remove_job``
    (all at the simulator's clock), ``REUSES_IDS``, ``HAS_PENDING``, ``fail_job_lists``, and the
    record of what answers showed (``answers_shown``, ``shown_since``), which the simulator
    appends to through ``record_answer`` as it sends an answer. ``add_running_job`` and
    ``finish_job`` are built on it. A simulator is the contract of its main job resource; an
    API with a second one (EMR's Spark job runs) gives it an object of its own.
    """

    # Where a job list answer holds its items (None: the answer is the list), and where in an
    # item its id and its submission time are: dotted paths (``metadata.name``), which tests
    # rewrite answers by (``read_path``, ``write_path``)
    JOB_LIST_KEY: ClassVar[str | None] = None
    JOB_ID_FIELD: ClassVar[str] = "id"
    JOB_SUBMIT_FIELD: ClassVar[str] = "submit_time"
    # Whether the API hands an id to a new job once the old job of that id is gone
    REUSES_IDS: ClassVar[bool] = False
    # Whether a job may wait (a pending status) before it runs
    HAS_PENDING: ClassVar[bool] = True
    # Whether the answers give no end of a job that ended without having run (an API that
    # gives a start and a run's duration, no end: ModelArts training jobs)
    UNTIMED_UNLESS_RAN: ClassVar[bool] = False
    # Whether an answer after a client's first shows only the jobs changed since its last, a
    # deleted job once more in its last state (a Kubernetes watch), rather than every job
    ANSWERS_CHANGES: ClassVar[bool] = False

    def __init__(self) -> None:
        self._shown: deque[ShownAnswer] = deque(maxlen=MAX_SHOWN_ANSWERS)
        self._answers = 0
        self._shown_lock = threading.Lock()

    # --- the job contract -------------------------------------------------------------

    def submit_job(
        self, key: str | None = None, *, running: bool = False, name: str | None = None
    ) -> str:
        """Submit a job now, under ``key`` (else an id the API makes up), pending (running when
        ``running``, or when the API has no pending status) and named ``name`` when given;
        return its id. ValueError when ``key`` is taken: listed now, or ever used by an API
        that does not reuse ids."""
        raise NotImplementedError

    def start_job(self, key: str) -> None:
        """A pending job starts running now (only an API with ``HAS_PENDING`` has one)."""
        self.move(key, self.RUNNING)

    def end_job(self, key: str, outcome: Outcome) -> str:
        """A job ends now with ``outcome`` (a pending job that succeeds ran first); return the
        native status the API shows for it from now on."""
        if outcome == "succeeded" and not self.ran(key):
            self.move(key, self.RUNNING)
        self.move(key, self.ENDS[outcome])
        return self.ENDS[outcome]

    # What ``start_job`` and ``end_job`` are built on, for a job list whose records move from
    # status to status: the running status, the status each outcome ends in, ``move`` (a job
    # enters a status now) and ``ran`` (whether a job has run). A simulator that keeps its jobs
    # otherwise overrides the two instead.
    RUNNING: ClassVar[str] = ""
    ENDS: ClassVar[Mapping[Outcome, str]] = {}

    def move(self, key: str, status: str) -> None:
        """Job ``key`` enters ``status`` now."""
        raise NotImplementedError

    def ran(self, key: str) -> bool:
        """Whether job ``key`` has run (it needs no start before it succeeds)."""
        raise NotImplementedError

    def remove_job(self, key: str) -> None:
        """The API forgets a job (deleted, or lost); unknown ids are ignored."""
        raise NotImplementedError

    def fail_job_lists(self, n: int) -> None:
        """The next ``n`` job-list requests fail: 503, or the API's own throttling answer."""
        raise NotImplementedError

    def add_running_job(self, key: str, name: str | None = None) -> None:
        """Add a job, running, under ``key`` (named ``name``, when given)."""
        self.submit_job(key, running=True, name=name)

    def finish_job(self, key: str) -> str:
        """Let job ``key`` succeed; the status the API then reports."""
        return self.end_job(key, "succeeded")

    # --- the record of what answers showed ---------------------------------------------

    def record_answer(self, at: float, jobs: Iterable[tuple[str, str]]) -> None:
        """Record an answer being sent at ``at`` (the API's clock) with ``jobs``, each as
        (id, native status): called by the simulator for every job-list or job-lookup answer."""
        answer = ShownAnswer(at, tuple(jobs))
        with self._shown_lock:
            self._shown.append(answer)
            self._answers += 1

    def answers_shown(self) -> int:
        """How many answers have been recorded: a mark for ``shown_since``."""
        with self._shown_lock:
            return self._answers

    def shown_since(self, mark: int) -> list[ShownAnswer]:
        """The answers recorded since ``mark``, in the order sent; LookupError when older
        ones were dropped (only the last ``MAX_SHOWN_ANSWERS`` are kept)."""
        with self._shown_lock:
            first = self._answers - len(self._shown)
            if mark < first:
                raise LookupError(f"answers {mark} to {first} are no longer kept")
            return list(self._shown)[mark - first :]


class Simulator(JobResource):
    """Serves ``handler_class()`` on loopback in a daemon thread; a context manager.

    ``start_workload`` runs the simulator's evolving workload in the background (the demo);
    tests call ``step(now)`` to advance it on a clock of their own. The simulator itself is the
    job contract (``JobResource``) of its API's main job list.
    """

    DEFAULT_RATE_PER_MIN = 12.0
    # The body of a 400 answer by which the API says "throttled" with a code of its own, if any
    THROTTLED_ANSWER: ClassVar[bytes | None] = None

    def __init__(self) -> None:
        super().__init__()
        self.url = ""
        self._server: SimulatorServer | None = None
        self._workload: Workload | None = None
        # When set, every job time an answer carries passes through it (epoch seconds in and
        # out), afresh in each answer: a time rounded, or re-derived by a proxy or another
        # version of the API, while the simulator keeps, sorts and filters by its own times.
        self.jitter: Callable[[float], float] | None = None

    def jittered_ms(self, millis: int | None) -> int | None:
        """A time in epoch milliseconds as this answer gives it (``jitter``)."""
        if millis is None or self.jitter is None:
            return millis
        return round(self.jitter(millis / 1000) * 1000)

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    def new_workload(self, rate_per_min: float) -> Workload:
        raise NotImplementedError

    def target_config(self, name: str, **settings: Any) -> dict[str, Any]:
        """A config target that polls this simulator (``settings`` added to it)."""
        raise NotImplementedError

    def job_resource(self, resource: str) -> JobResource:
        """The job contract of the API's job resource ``resource`` (as its backend declares
        it): the simulator itself for ``jobs``; an API with another list of jobs gives that
        list's. KeyError for a list it does not simulate."""
        if resource == "jobs":
            return self
        raise KeyError(f"{type(self).__name__} simulates no job resource {resource!r}")

    def start_workload(self, rate_per_min: float | None = None) -> None:
        self._workload = self.new_workload(rate_per_min or self.DEFAULT_RATE_PER_MIN)
        self._workload.start()

    def workload_running(self) -> bool:
        """Whether the background workload thread is alive."""
        return self._workload is not None and self._workload.running()

    def step(self, now: float) -> None:
        if self._workload is None:
            self._workload = self.new_workload(self.DEFAULT_RATE_PER_MIN)
        self._workload.step(now)

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve in a daemon thread; return the base URL."""
        self._server = SimulatorServer((host, port), self.handler_class())
        self.url = f"http://{host}:{self._server.serve_in_background(type(self).__name__)}"
        return self.url

    def stop(self) -> None:
        if self._workload:
            self._workload.stop()
        if self._server:
            self._server.stop_serving()
            self._server = None

    def __enter__(self) -> Self:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Workload:
    """A seeded, evolving workload: ``step(now)`` advances it; ``start`` runs that every 0.5 s
    in a thread (the demo), while tests call ``step`` with a fake clock instead."""

    def __init__(self, clock: Callable[[], float], rate_per_min: float, seed: float) -> None:
        self.clock = clock
        self.rng = random.Random(seed)
        self.mean_gap = 60.0 / max(rate_per_min, 0.1)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def step(self, now: float) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=type(self).__name__, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.step(self.clock())
