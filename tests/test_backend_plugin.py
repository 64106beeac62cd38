"""A backend is one declaration: one defined here, outside the package, with its own HTTP
server, is registered and polled through a YAML configuration to a real exporter's /metrics,
with no other file changed. A second one, built on the backend kit (``flows_backend``: a token
walk, a field map with nested paths, RFC 3339 times and two status fields), passes the
conformance suite."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
import yaml

from exporter.app import Exporter
from exporter.backends import Backend, Listing, registry
from exporter.config.parse import load_config, parse_config
from exporter.config.types import ConfigError, HttpUrl, Target, redact_url
from exporter.http.client import ApiClient
from exporter.model import Job, Phase
from exporter.polling.health import ApiStats
from exporter.simulators.base import JsonHandler, Simulator

from .conformance import run_conformance
from .flows_backend import FLOWS
from .helpers import eventually, samples, serving, value

# --- the backend: an API that lists {"tasks": [{"id", "state", "queued_at"}]} at /tasks ------

STATES = {"waiting": Phase.PENDING, "busy": Phase.RUNNING, "done": Phase.SUCCEEDED}


class TaskQueueTarget(Target):
    """A task queue polled at ``url``."""

    backend: Literal["taskqueue"]
    url: HttpUrl
    resources: tuple[Literal["jobs"], ...] = ("jobs",)

    def endpoint_text(self) -> str:
        return redact_url(self.url)

    def identity(self) -> dict[str, object]:
        return {"url": redact_url(self.url)}


class TaskQueueBackend(Backend):
    def __init__(self, target: TaskQueueTarget, stats: ApiStats) -> None:
        super().__init__(target.backend)
        self.api = ApiClient(
            target.url, stats, max_response_bytes=target.max_response_bytes, scrub=self.scrub
        )

    def list_jobs(self, deadline: float) -> Listing:
        payload = self.api.get_json("/tasks", "ListTasks", deadline=deadline)
        jobs = [
            Job(
                key=task["id"],
                name=task["id"],
                status=task["state"],
                phase=STATES.get(task["state"], Phase.UNKNOWN),
                submit_time=task["queued_at"],
            )
            for task in payload["tasks"]
        ]
        return Listing(items=jobs)

    def close(self) -> None:
        self.api.close()


class TaskQueueServer(Simulator):
    """The API, served on loopback by the test."""

    def __init__(self, clock: Callable[[], float] = time.time, **_: object) -> None:
        super().__init__()
        self.clock = clock
        self.lock = threading.Lock()
        self.tasks: dict[str, dict[str, Any]] = {}
        self.requests = 0

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(JsonHandler):
            def do_GET(self) -> None:
                with server.lock:
                    server.requests += 1
                    tasks = [dict(task) for task in server.tasks.values()]
                if self.path == "/tasks":
                    self.reply(200, {"tasks": tasks})
                else:
                    self.reply(404, {"error": "not found"})

        return Handler

    def target_config(self, name: str, **settings: Any) -> dict[str, Any]:
        return {"name": name, "backend": "taskqueue", "url": self.url, **settings}

    def add_running_job(self, key: str) -> None:
        with self.lock:
            self.tasks[key] = {"id": key, "state": "busy", "queued_at": self.clock()}

    def finish_job(self, key: str) -> str:
        with self.lock:
            self.tasks[key]["state"] = "done"
        return "done"


DECLARATION = registry.BackendDeclaration(
    target=TaskQueueTarget,
    client=TaskQueueBackend,
    known_pairs=tuple((phase, status) for status, phase in STATES.items()),
    simulator=lambda name, secret=None, **settings: TaskQueueServer(**settings),
)


@pytest.fixture
def taskqueue() -> Iterator[registry.BackendDeclaration]:
    registry.register(DECLARATION)
    try:
        yield DECLARATION
    finally:
        registry.unregister(DECLARATION)
    assert "taskqueue" not in registry.names()


def scraped(url: str, name: str, **labels: str) -> float | None:
    """The sum of the samples of ``name`` with ``labels`` at ``url``; None while there is none."""
    wanted = set(labels.items())
    found = [
        v for (n, ls), v in samples(httpx.get(url).content).items() if n == name and wanted <= ls
    ]
    return sum(found) if found else None


# --- the proof -------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_backend_declared_outside_the_package_is_polled_to_metrics(
    taskqueue: registry.BackendDeclaration, tmp_path: Path
) -> None:
    with TaskQueueServer() as api:
        api.add_running_job("t-1")
        api.add_running_job("t-2")
        config = tmp_path / "config.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "defaults": {"per_job_series": "all", "poll_interval": "200ms"},
                    "targets": [{"name": "queue", "backend": "taskqueue", "url": api.url}],
                }
            )
        )
        exporter = Exporter(load_config(config))
        with serving(exporter) as base:
            metrics = f"{base}/metrics"
            assert eventually(lambda: scraped(metrics, "jobfleet_jobs", phase="running") == 2)
            api.finish_job("t-1")
            assert eventually(
                lambda: scraped(metrics, "jobfleet_jobs_finished_total", status="done") == 1
            )
            body = httpx.get(metrics).content
            landing = httpx.get(f"{base}/").text

    series = {"target": "queue", "backend": "taskqueue"}
    assert value(body, "jobfleet_target_up", resource="jobs", **series) == 1
    assert value(body, "jobfleet_job_status", job_id="t-1", phase="succeeded", status="done") == 1
    assert value(body, "jobfleet_job_status", job_id="t-2", phase="running", status="busy") == 1
    # every declared status is counted from 0, as the table declares
    assert value(body, "jobfleet_jobs", phase="pending", status="waiting", **series) == 0
    assert value(body, "jobfleet_api_requests_total", operation="ListTasks", code="200") >= 2
    assert "queue" in landing and "taskqueue" in landing


def test_the_registered_backend_is_one_of_the_names_config_accepts(
    taskqueue: registry.BackendDeclaration,
) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_config({"targets": [{"name": "t", "backend": "nosuch"}]})
    assert refused.value.problems == [
        f"targets[0].backend: must be one of: {', '.join(registry.names())}"
    ]
    assert "taskqueue" in registry.names()
    with pytest.raises(ConfigError) as refused:
        parse_config({"targets": [{"name": "t", "backend": "taskqueue"}]})
    assert refused.value.problems == ["targets[0].url: required"]


# --- a second backend, on the backend kit: the flows API (tests/flows_backend.py) -----------


@pytest.fixture
def flows() -> Iterator[registry.BackendDeclaration]:
    registry.register(FLOWS)
    try:
        yield FLOWS
    finally:
        registry.unregister(FLOWS)


@pytest.mark.slow
@pytest.mark.parametrize("jitter", [False, True], ids=["exact-times", "jittered-times"])
def test_a_kit_backend_paging_by_token_passes_the_conformance_suite(
    flows: registry.BackendDeclaration, tmp_path: Path, jitter: bool
) -> None:
    run_conformance("flows", tmp_path, jitter=jitter)
