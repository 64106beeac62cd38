"""Shared test helpers: paths, exposition parsing, promtool."""

from __future__ import annotations

import contextlib
import datetime as dt
import inspect
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from exporter.app import Exporter
from exporter.polling.poller import TargetPoller

ROOT = Path(__file__).resolve().parents[1]
# Data the tests read, each file's origin in tests/data/README.md.
TEST_DATA = ROOT / "tests" / "data"
RAY_TESTDATA = TEST_DATA / "ray"
REQUIRE_E2E = os.environ.get("JOBFLEET_REQUIRE_E2E") == "1"


def vendor_example(name: str) -> object:
    """A vendor's documented example response, from ``tests/data/vendor-examples/``."""
    return json.loads((TEST_DATA / "vendor-examples" / name).read_text())


def cache_dir() -> Path:
    """``${XDG_CACHE_HOME:-$HOME/.cache}/jobfleet``: heavy test tools, installed once, reused."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "jobfleet"


def need(condition: bool, reason: str) -> None:
    """Skip when a real component is missing, unless the e2e run requires it."""
    if condition:
        return
    if REQUIRE_E2E:
        pytest.fail(f"JOBFLEET_REQUIRE_E2E=1 but {reason}")
    pytest.skip(reason)


def samples(text: str | bytes) -> dict[tuple[str, frozenset], float]:
    """Every sample of an exposition as {(name, labels): value}, parsed by client_python."""
    if isinstance(text, bytes):
        text = text.decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(text: str | bytes, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    found = [v for (n, ls), v in samples(text).items() if n == name and wanted <= ls]
    assert found, f"no sample {name}{labels}"
    return sum(found)


def exporter_series(body: bytes) -> list[bytes]:
    """The lines of the exporter's own families: the process's own series (``process_*``,
    ``python_*``) change from one scrape to the next."""
    return [line for line in body.splitlines() if b"jobfleet_" in line]


def promtool_check_metrics(text: bytes) -> subprocess.CompletedProcess:
    promtool = shutil.which("promtool")
    need(promtool is not None, "promtool is not installed (apt-get install prometheus)")
    return subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, timeout=30, check=False
    )


@contextlib.contextmanager
def serving(exporter: Exporter) -> Iterator[str]:
    """Run ``exporter.serve`` on a free loopback port in a thread; yield its base URL."""
    stop = threading.Event()
    ports: queue.Queue[int] = queue.Queue()
    thread = threading.Thread(
        target=exporter.serve, args=("127.0.0.1", 0, stop), kwargs={"on_ready": ports.put}
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{ports.get(timeout=10)}"
    finally:
        stop.set()
        thread.join(timeout=20)
    assert not thread.is_alive(), "the exporter did not stop"


def wait_ready(base_url: str, process: subprocess.Popen | None = None, timeout: float = 30) -> None:
    """Poll /readyz until it answers 200; fail early if ``process`` dies."""
    deadline = time.monotonic() + timeout
    while True:
        assert time.monotonic() < deadline, f"{base_url} never became ready"
        if process is not None:
            assert process.poll() is None, process.stderr.read() if process.stderr else "exited"
        try:
            if httpx.get(f"{base_url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)


def eventually(
    check: Callable[[], object], timeout: float = 15.0, step: float = 0.2, what: str = ""
) -> object:
    """``check()``'s first truthy value, polled every ``step`` seconds; AssertionError naming
    ``what`` it waited for (else the check's source line) and its last value after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            waited_for = what or _source(check)
            raise AssertionError(
                f"waited {timeout:g} s for {waited_for}; last value: {value!r:.300}"
            )
        time.sleep(step)
    return value


def _source(check: Callable[[], object]) -> str:
    try:
        return inspect.getsource(check).strip()[:300]
    except (OSError, TypeError):
        return repr(check)


class SteppedClock:
    """A monotonic clock that moves only when told: inject it where a backoff would make a
    test wait, then ``advance`` past the backoff instead of sleeping."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.monotonic() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def peak_rss_kib(pid: int) -> int:
    """A running process's peak resident memory so far (VmHWM), in KiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def exporter_process(*args: str) -> Iterator[tuple[subprocess.Popen, str]]:
    """``python -m exporter ARGS`` listening on a free loopback port, ready; yield (process, URL).

    The process is killed by its PID on the way out if the test did not stop it.
    """
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "exporter", *args, "--web.listen-address", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, process)
        yield process, base
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def run_cli(
    *args: str,
    env: dict[str, str] | None = None,
    preexec: Callable[[], None] | None = None,
) -> subprocess.CompletedProcess:
    """``python -m exporter ARGS`` to its end (``--check-config``, ``--once``), with a bare
    environment plus ``env``, ``preexec`` run in the child before it starts."""
    return subprocess.run(
        [sys.executable, "-m", "exporter", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
        check=False,
        preexec_fn=preexec,
    )


def stop_with_sigterm(process: subprocess.Popen, timeout: float = 20) -> bytes:
    """SIGTERM, expect a clean exit 0 in time; return what it logged."""
    os.kill(process.pid, signal.SIGTERM)
    assert process.wait(timeout=timeout) == 0
    return process.stderr.read() if process.stderr else b""


def on_clock(poller: TargetPoller, clock: Callable[[], float]) -> None:
    """Run a poller, its backends' schedule and backoffs, and its request signing on ``clock``."""
    poller.clock = poller.monotonic = clock
    backend = poller.backend
    if hasattr(backend, "clock"):
        backend.clock = clock
    auth = backend.api._client.auth
    if hasattr(auth, "clock"):
        auth.clock = lambda: dt.datetime.fromtimestamp(clock(), dt.UTC)


@contextlib.contextmanager
def exporter_on_clock(config: dict, now: list[float]) -> Iterator[Exporter]:
    """An exporter of ``config`` (parsed) whose first target is polled on the clock ``now[0]``;
    closed on the way out."""
    from exporter.config.parse import parse_config

    exporter = Exporter(parse_config(config))
    on_clock(exporter.pollers[0], lambda: now[0])
    try:
        yield exporter
    finally:
        exporter.close()


def polled(exporter: Exporter, *resources: str) -> bytes:
    """Poll each of ``resources`` of the first target (each must succeed); the exposition then."""
    for resource in resources:
        assert exporter.pollers[0].poll(resource), resource
    return exporter.exposition.body()


@contextlib.contextmanager
def simulated_fleet(
    per_job_series: str = "all",
    state_file: Path | None = None,
    discovery_file: Path | None = None,
) -> Iterator[tuple[Exporter, Callable[[], None]]]:
    """An exporter polling a simulator of every declared backend (a target named after it,
    polling what the demo's does: ``demo.demo_target``) on a fake clock, saving to
    ``state_file`` if given, with a file discovery source reading ``discovery_file`` (written
    empty) if given; yield it and ``advance()``, which moves the workloads 5 simulated
    seconds on and polls every target once."""
    from exporter.backends import registry
    from exporter.config.parse import parse_config
    from exporter.demo import demo_target

    now = [time.time()]

    def clock() -> float:
        return now[0]

    simulators = {
        name: registry.declaration(name).simulator(name, seed=seed, clock=clock)
        for seed, name in enumerate(registry.names(), start=1)
    }
    discovery = []
    if discovery_file is not None:
        discovery_file.write_text("[]")
        template = {"backend": "ray", "resources": ["jobs"]}
        paths = {"paths": [str(discovery_file)]}
        discovery.append({"name": "fleet", "file": paths, "template": template})
    with contextlib.ExitStack() as stack:
        for simulator in simulators.values():
            stack.enter_context(simulator)
        exporter = Exporter(
            parse_config(
                {
                    "defaults": {"per_job_series": per_job_series},
                    "discovery": discovery,
                    **({"state_file": str(state_file)} if state_file else {}),
                    "targets": [demo_target(name, sim, name) for name, sim in simulators.items()],
                }
            )
        )
        stack.callback(exporter.close)
        for poller in exporter.pollers:
            poller.clock = clock

        def advance() -> None:
            for simulator in simulators.values():
                simulator.step(now[0])
            exporter.poll_all_once()
            now[0] += 5

        yield exporter, advance


@contextlib.contextmanager
def loopback_server(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve ``handler`` on 127.0.0.1 in a thread; yield the base URL; stop and join it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
