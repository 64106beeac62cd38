"""The fault matrix: every backend, through a fault-injecting proxy in front of its simulator.

For each fault: the poll ends by its deadline, /metrics keeps the last good data with
``target_up 0`` and the right ``reason``, and after recovery the counters are exact (a job that
finished during the fault is counted once).
"""

from __future__ import annotations

import http.client
import json
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from exporter.app import Exporter
from exporter.backends import registry
from exporter.config.parse import parse_config
from exporter.simulators.base import Simulator

from .helpers import SteppedClock, free_port, value

TIMEOUT_S = 1.5
MAX_HOLD_S = 30.0


class FaultProxy:
    """Forwards GETs to ``upstream`` unchanged, or answers with the current fault instead."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.removeprefix("http://")
        self.fault: str | None = None
        self.transform: Callable[[object], object] | None = None
        self.released = threading.Event()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                fault = proxy.fault
                if fault is None:
                    return self.forward()
                return FAULTS[fault](self, proxy)

            def forward(self) -> None:
                connection = http.client.HTTPConnection(proxy.upstream, timeout=10)
                connection.request("GET", self.path, headers=dict(self.headers.items()))
                answer = connection.getresponse()
                body = answer.read()
                if proxy.transform is not None and answer.status == 200:
                    body = _transformed(body, proxy.transform, "watch=true" in self.path)
                self.send_response(answer.status)
                for name, text in answer.getheaders():
                    if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(name, text)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                connection.close()

            def answer(self, status: int, body: bytes, content_type: str, **headers: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, text in headers.items():
                    self.send_header(name.replace("_", "-"), text)
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


def _transformed(body: bytes, transform: Callable[[object], object], watch: bool) -> bytes:
    """A JSON answer transformed; a Kubernetes watch's (one event a line), each event's object
    transformed as the item of a list, each item it becomes an event of its own."""
    if not watch:
        return json.dumps(transform(json.loads(body))).encode()
    events = []
    for line in body.splitlines():
        event = json.loads(line)
        if event.get("type") in ("ADDED", "MODIFIED", "DELETED"):
            items = _job_items(transform({"items": [event["object"]]}))
            events.extend({**event, "object": item} for item in items)
        else:
            events.append(event)
    return b"".join(json.dumps(event).encode() + b"\n" for event in events)


def _hang(handler, proxy: FaultProxy) -> None:
    proxy.released.wait(MAX_HOLD_S)


def _drip(handler, proxy: FaultProxy) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", "1000000")
    handler.end_headers()
    deadline = time.monotonic() + MAX_HOLD_S
    while not proxy.released.is_set() and time.monotonic() < deadline:
        try:
            handler.wfile.write(b" ")
        except OSError:
            return
        time.sleep(0.1)


def _truncated(handler, proxy: FaultProxy) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", "5000")
    handler.end_headers()
    handler.wfile.write(b'[{"submission_id": "x", "sta')
    handler.close_connection = True


def _huge(handler, proxy: FaultProxy) -> None:
    size = 50 * 2**20
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Transfer-Encoding", "chunked")  # no length: refused while reading
    handler.end_headers()
    chunk = b" " * 65536
    try:
        for _ in range(size // len(chunk)):
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        handler.wfile.write(b"0\r\n\r\n")
    except OSError:
        pass
    handler.close_connection = True


FAULTS: dict[str, Callable] = {
    "hang": _hang,
    "drip": _drip,
    "truncated": _truncated,
    "huge": _huge,
    "500": lambda h, p: h.answer(500, b'{"error": "internal"}', "application/json"),
    "502 html": lambda h, p: h.answer(502, b"<html><body>Bad Gateway</body></html>", "text/html"),
    "503": lambda h, p: h.answer(503, b"Service Unavailable", "text/plain"),
    "429 retry-after": lambda h, p: h.answer(
        429,
        b'{"Code":"Throttling.User"}',
        "application/json",
        Retry_After="0",
        x_acs_retry_after="100",
    ),
    "429 no retry-after": lambda h, p: h.answer(429, b"Too Many Requests", "text/plain"),
    "malformed json": lambda h, p: h.answer(200, b'{"rayJobs": [,,]', "application/json"),
    "html 200": lambda h, p: h.answer(200, b"<!doctype html><p>login</p>", "text/html"),
}
EXPECTED_REASON = {
    "hang": "timeout",
    "drip": "timeout",
    "truncated": "connection",
    "huge": "too_large",
    "500": "http",
    "502 html": "http",
    "503": "http",
    "429 retry-after": "throttled",
    "429 no retry-after": "throttled",
    "malformed json": "parse",
    "html 200": "parse",
}


@contextmanager
def backend(kind: str) -> Iterator[tuple[Simulator, Callable[[], str]]]:
    """(simulator, finish the job: the status counted) for each backend, one job running."""
    with registry.declaration(kind).simulator(kind) as sim:
        sim.add_running_job("j-1")
        yield sim, lambda: sim.finish_job("j-1")


BACKENDS = registry.names()


@pytest.mark.slow
@pytest.mark.parametrize("fault", sorted(FAULTS))
@pytest.mark.parametrize("kind", BACKENDS)
def test_fault_is_survived_and_counted_exactly_after_recovery(kind: str, fault: str) -> None:
    with backend(kind) as (sim, finish):
        proxy = FaultProxy(sim.url)
        try:
            target = sim.target_config(
                "t",
                resources=["jobs"],
                timeout=f"{TIMEOUT_S}s",
                poll_interval="100ms",
                max_response_bytes=2**20,
            )
            target = {**target, ("endpoint" if "endpoint" in target else "url"): proxy.url}
            exporter = Exporter(parse_config({"targets": [target]}))
            poller = exporter.pollers[0]
            poller.monotonic = clock = SteppedClock()
            assert poller.poll("jobs"), poller.health["jobs"].last_error
            good = exporter.exposition.body()

            proxy.fault = fault
            status = finish()
            started = time.monotonic()
            assert not poller.poll("jobs")
            assert time.monotonic() - started < TIMEOUT_S + 1.0, "the poll overran its deadline"
            body = exporter.exposition.body()
            assert value(body, "jobfleet_target_up", resource="jobs") == 0
            assert poller.health["jobs"].last_reason == EXPECTED_REASON[fault], poller.health[
                "jobs"
            ].last_error
            assert value(body, "jobfleet_poll_errors_total", reason=EXPECTED_REASON[fault]) == 1
            assert value(body, "jobfleet_jobs") == value(good, "jobfleet_jobs")  # last good data

            proxy.fault = None
            proxy.released.set()
            clock.advance(3600)  # past any backoff: a throttled target waits up to 10 min
            assert poller.poll("jobs"), poller.health["jobs"].last_error
            body = exporter.exposition.body()
            assert value(body, "jobfleet_target_up", resource="jobs") == 1
            assert value(body, "jobfleet_jobs_finished_total", status=status) == 1
            assert value(body, "jobfleet_jobs_finished_total") == 1
            exporter.close()
        finally:
            proxy.close()


@pytest.mark.parametrize("kind", BACKENDS)
def test_connection_refused(kind: str) -> None:
    with backend(kind) as (sim, _):
        target = sim.target_config("t", resources=["jobs"], timeout="2s")
        closed = f"http://127.0.0.1:{free_port()}"
        target = {**target, ("endpoint" if "endpoint" in target else "url"): closed}
        exporter = Exporter(parse_config({"targets": [target]}))
        assert not exporter.poll_all_once()
        exporter.close()
    assert exporter.pollers[0].health["jobs"].last_reason == "connection"
    assert value(exporter.exposition.body(), "jobfleet_target_up", resource="jobs") == 0


def _job_items(payload: object) -> list:
    """The job records of any backend's answer: Ray's bare array, EMR's rayJobs, ModelArts' data,
    a Kubernetes list's items."""
    if isinstance(payload, list):
        return payload
    if isinstance(payload, dict):
        for key in ("rayJobs", "data", "items"):
            if isinstance(payload.get(key), list):
                return payload[key]
    return []


def _wrong_types(payload: object) -> object:
    for item in _job_items(payload):
        for key in ("status", "name", "type", "start_time", "submitTime", "create_at", "metadata"):
            if key in item:
                item[key] = [1, {"x": None}] if key != "status" else 123
    return payload


def _unknown_status(payload: object) -> object:
    for item in _job_items(payload):
        if isinstance(item.get("status"), dict):  # KubeRay: the operator's and Ray's statuses
            item["status"].update(jobDeploymentStatus="MYSTERY_STATE", jobStatus="MYSTERY_STATE")
        else:
            item["status"] = "MYSTERY_STATE"
    return payload


def _missing_fields(payload: object) -> object:
    for item in _job_items(payload):
        for key in list(item):
            if key not in ("submission_id", "job_id", "submissionId", "id", "metadata"):
                del item[key]
        if isinstance(item.get("metadata"), dict):  # Kubernetes: the uid alone
            item["metadata"] = {"uid": item["metadata"].get("uid")}
    return payload


def _duplicated(payload: object) -> object:
    items = _job_items(payload)
    items.extend([dict(item) for item in items] * 2)
    return payload


TRANSFORMS = {
    "wrong types": _wrong_types,
    "unknown status": _unknown_status,
    "missing fields": _missing_fields,
    "duplicated items": _duplicated,
}


@pytest.mark.slow
@pytest.mark.parametrize("transform", sorted(TRANSFORMS))
@pytest.mark.parametrize("kind", BACKENDS)
def test_odd_answers_are_tolerated_and_counts_stay_exact(kind: str, transform: str) -> None:
    with backend(kind) as (sim, finish):
        proxy = FaultProxy(sim.url)
        try:
            target = sim.target_config("t", resources=["jobs"], timeout="3s", per_job_series="all")
            target = {**target, ("endpoint" if "endpoint" in target else "url"): proxy.url}
            exporter = Exporter(parse_config({"targets": [target]}))
            poller = exporter.pollers[0]
            assert poller.poll("jobs")
            proxy.transform = TRANSFORMS[transform]
            status = finish()
            assert poller.poll("jobs"), poller.health["jobs"].last_error  # no failure, no crash
            odd = exporter.exposition.body()
            assert value(odd, "jobfleet_target_up", resource="jobs") == 1
            proxy.transform = None
            assert poller.poll("jobs") and poller.poll("jobs")
            body = exporter.exposition.body()
            exporter.close()
        finally:
            proxy.close()
    assert value(body, "jobfleet_jobs_finished_total") == 1  # once, whatever came between
    assert value(body, "jobfleet_jobs_finished_total", status=status) == 1
    if transform == "unknown status":
        assert value(odd, "jobfleet_jobs", status="MYSTERY_STATE") == 1


@contextmanager
def black_hole() -> Iterator[str]:
    """A port whose accept queue is full: connecting hangs until the client's timeout."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        with suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    # the first filler's handshake completes into the full accept queue; the others wait
    assert select.select([], fillers, [], 10)[1], "the accept queue never filled"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        for sock in (*fillers, listener):
            sock.close()


@pytest.mark.slow
@pytest.mark.parametrize("kind", BACKENDS)
def test_connect_timeout(kind: str) -> None:
    with backend(kind) as (sim, _), black_hole() as url:
        target = sim.target_config("t", resources=["jobs"], timeout="1s")
        target = {**target, ("endpoint" if "endpoint" in target else "url"): url}
        exporter = Exporter(parse_config({"targets": [target]}))
        started = time.monotonic()
        assert not exporter.poll_all_once()
        assert time.monotonic() - started < 2.5
        exporter.close()
    assert exporter.pollers[0].health["jobs"].last_reason == "timeout"


VENDOR_THROTTLING = {
    name: answer
    for name in BACKENDS
    if (answer := registry.declaration(name).simulator(name).THROTTLED_ANSWER) is not None
}


@pytest.mark.parametrize("kind", sorted(VENDOR_THROTTLING))
def test_vendor_throttling_codes_without_retry_after(kind: str) -> None:
    """A vendor's throttling code in a 400 answer is throttling too, and is backed off."""
    with backend(kind) as (sim, _):
        proxy = FaultProxy(sim.url)
        try:
            FAULTS["vendor throttling"] = lambda h, p: h.answer(
                400, VENDOR_THROTTLING[kind], "application/json"
            )
            target = sim.target_config("t", resources=["jobs"], poll_interval="1s", timeout="2s")
            target = {**target, ("endpoint" if "endpoint" in target else "url"): proxy.url}
            exporter = Exporter(parse_config({"targets": [target]}))
            poller = exporter.pollers[0]
            poller.monotonic = clock = SteppedClock()
            proxy.fault = "vendor throttling"
            assert not poller.poll("jobs")
            assert poller.health["jobs"].last_reason == "throttled"
            proxy.fault = None
            assert not poller.poll("jobs")  # still backing off (1 s interval x 2)
            clock.advance(1.9)
            assert not poller.poll("jobs")
            clock.advance(0.2)
            assert poller.poll("jobs")
            exporter.close()
        finally:
            FAULTS.pop("vendor throttling", None)
            proxy.close()
    assert value(exporter.exposition.body(), "jobfleet_poll_errors_total", reason="throttled") == 1
