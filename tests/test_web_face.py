"""The exporter's HTTP face at exporter-toolkit parity, over real sockets and real TLS clients:
cached basic auth, the lifecycle flag, strict request framing, content negotiation, TLS files
re-read per connection, and bounded connections."""

from __future__ import annotations

import base64
import contextlib
import gzip
import os
import select
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import bcrypt
import httpx
import pytest
import yaml

from exporter.app import process_block
from exporter.exposition.store import PROCESS_BLOCK, Exposition
from exporter.polling.health import StatusSnapshot
from exporter.polling.sharding import Shard
from exporter.simulators.ray import RaySimulator
from exporter.web.basic_auth import bcrypt_check
from exporter.web.negotiation import choose_encoding
from exporter.web.server import MetricsServer, WebOptions
from exporter.web.web_config import WebSecurity

from .helpers import ROOT, eventually, exporter_process, exporter_series
from .pki import make_ca, make_cert, need_openssl

# a target nobody answers for: the exporter runs, its readiness does not depend on it answering
RAY_UNREACHABLE = {"name": "t", "backend": "ray", "url": "http://127.0.0.1:9"}


class Calls:
    """A thread-safe count of calls, with what each was given."""

    def __init__(self) -> None:
        self.args: list[tuple] = []
        self._lock = threading.Lock()

    def record(self, *args: object) -> None:
        with self._lock:
            self.args.append(args)

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.args)


@contextlib.contextmanager
def served(
    options: WebOptions = WebOptions(),  # noqa: B008 - immutable
    reload: Callable[[], tuple[bool, str]] | None = None,
) -> Iterator[tuple[int, Calls]]:
    """A MetricsServer on a free loopback port; yields (port, calls of its status source):
    the landing page and /readyz read the status, so a request for them leaves a trace."""
    exposition = Exposition()
    exposition.update({PROCESS_BLOCK: process_block(True, time.time(), Shard())})
    reads = Calls()

    def no_targets() -> StatusSnapshot:
        reads.record()
        return StatusSnapshot()

    server = MetricsServer("127.0.0.1", 0, exposition, no_targets, reload, options)
    server.start()
    try:
        yield server.port, reads
    finally:
        server.stop()


def read_response(stream) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response from a socket file: status, headers (lower-case names), body."""
    status_line = stream.readline()
    assert status_line, "the server closed the connection without answering"
    status = int(status_line.split()[1])
    headers = {}
    while (line := stream.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = stream.read(int(headers.get("content-length", 0)))
    return status, headers, body


@contextlib.contextmanager
def raw(port: int, timeout: float = 5) -> Iterator[tuple[socket.socket, object]]:
    with (
        socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock,
        sock.makefile("rb") as stream,
    ):
        yield sock, stream


def closed_by_server(sock: socket.socket, stream) -> bool:
    """True when the server has closed: EOF (or a reset) before any further byte."""
    try:
        return stream.read(1) == b""
    except ConnectionResetError:
        return True


# --- strict framing ------------------------------------------------------------------------


@pytest.mark.parametrize("length", ["-1", "abc", "1, 2", "+5", "0x10", "99999999999999999999"])
def test_an_invalid_content_length_gets_400_and_the_connection_closes(length: str) -> None:
    with served(WebOptions(enable_lifecycle=True)) as (port, _), raw(port) as (sock, stream):
        started = time.monotonic()
        sock.sendall(
            f"POST /-/reload HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n".encode()
        )
        status, headers, _ = read_response(stream)
        assert status == 400 and headers["connection"] == "close"
        assert closed_by_server(sock, stream)
        assert time.monotonic() - started < 4  # not held until a timeout


def test_a_body_over_the_cap_gets_413_and_its_content_is_never_run_as_a_request() -> None:
    embedded = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    body = b"x" * 65_536 + embedded * 100
    with served(WebOptions(enable_lifecycle=True)) as (port, reads), raw(port) as (sock, stream):
        head = f"POST /-/reload HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
        sock.sendall(head.encode() + body)
        status, headers, _ = read_response(stream)
        assert status == 413 and headers["connection"] == "close"
        assert closed_by_server(sock, stream)
    assert reads.count == 0  # the landing page, which reads the status, never ran


def test_a_chunked_body_is_refused_and_never_run_as_a_request() -> None:
    chunk = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(chunk), chunk)
    with served(WebOptions(enable_lifecycle=True)) as (port, reads), raw(port) as (sock, stream):
        sock.sendall(
            b"POST /-/reload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + body
        )
        status, headers, _ = read_response(stream)
        assert status == 411 and headers["connection"] == "close"
        assert closed_by_server(sock, stream)
    assert reads.count == 0


def test_a_body_on_get_is_consumed_not_parsed_and_the_connection_stays_usable() -> None:
    embedded = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    with served() as (port, reads), raw(port) as (sock, stream):
        sock.sendall(
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
            % (len(embedded), embedded)
            + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        assert read_response(stream)[::2] == (200, b"ok\n")
        assert read_response(stream)[::2] == (200, b"ok\n")
    assert reads.count == 0


def test_expect_continue_with_a_body_over_the_cap_gets_413_without_100() -> None:
    with served(WebOptions(enable_lifecycle=True)) as (port, _), raw(port) as (sock, stream):
        sock.sendall(
            b"POST /-/reload HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
            b"Content-Length: 1000000\r\n\r\n"
        )
        assert read_response(stream)[0] == 413
        assert closed_by_server(sock, stream)


# --- content negotiation -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (None, "identity"),
        ("", "identity"),
        ("gzip", "gzip"),
        ("GZIP", "gzip"),
        ("x-gzip", "gzip"),
        ("gzip;q=0", "identity"),
        ("gzip; q=0.000", "identity"),
        ("gzip;q=0.5, identity;q=1", "identity"),
        ("gzip;q=1, identity;q=0.5", "gzip"),
        ("gzip;q=0.001", "gzip"),
        ("br, deflate", "identity"),
        ("*", "gzip"),
        ("*;q=0", None),
        ("identity;q=0", None),
        ("gzip, identity;q=0", "gzip"),
        ("*;q=0, identity", "identity"),
        ("gzip;q=2", "identity"),  # a malformed weight: the element is ignored
        ("gzip;q=0, *", "identity"),
    ],
)
def test_accept_encoding_q_values(accept: str | None, chosen: str | None) -> None:
    assert choose_encoding(accept) == chosen


def test_metrics_honour_q_values_and_vary_on_accept_encoding() -> None:
    with served() as (port, _), httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        plain = client.get("/metrics", headers={"Accept-Encoding": "gzip;q=0"})
        assert plain.status_code == 200 and "content-encoding" not in plain.headers
        assert b"jobfleet_build_info" in plain.content
        assert plain.headers["vary"] == "Accept, Accept-Encoding"

        zipped = client.send(
            client.build_request("GET", "/metrics", headers={"Accept-Encoding": "gzip"}),
            stream=True,
        )
        raw_body = b"".join(zipped.iter_raw())
        assert zipped.headers["content-encoding"] == "gzip"
        assert zipped.headers["vary"] == "Accept, Accept-Encoding"
        unzipped = gzip.decompress(raw_body)
        assert exporter_series(unzipped) == exporter_series(plain.content)
        assert b"\nprocess_cpu_seconds_total " in unzipped

        refused = client.get("/metrics", headers={"Accept-Encoding": "identity;q=0"})
        assert refused.status_code == 406
        assert refused.headers["vary"] == "Accept, Accept-Encoding"


# --- lifecycle -----------------------------------------------------------------------------


def test_post_reload_needs_the_lifecycle_flag() -> None:
    reloads = Calls()

    def reload() -> tuple[bool, str]:
        reloads.record()
        return True, "reloaded"

    with served(WebOptions(), reload) as (port, _):
        refused = httpx.post(f"http://127.0.0.1:{port}/-/reload", timeout=10)
        assert refused.status_code == 403
        assert refused.text == "Lifecycle API is not enabled.\n"
        assert reloads.count == 0
    with served(WebOptions(enable_lifecycle=True), reload) as (port, _):
        accepted = httpx.post(f"http://127.0.0.1:{port}/-/reload", timeout=10)
        assert accepted.status_code == 200 and accepted.text == "reloaded\n"
        assert reloads.count == 1
        assert httpx.get(f"http://127.0.0.1:{port}/-/reload", timeout=10).status_code == 405


@pytest.mark.slow
def test_without_the_flag_http_reload_changes_nothing_and_sighup_still_reloads(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config.yaml"

    def write(*targets: dict) -> None:
        config.write_text(yaml.safe_dump({"targets": list(targets)}))

    with RaySimulator() as one, RaySimulator() as two:
        one.add_job("a", status="RUNNING")
        two.add_job("b", status="RUNNING")
        write(one.target_config("one"))
        with exporter_process("--config.file", str(config)) as (process, base):
            write(one.target_config("one"), two.target_config("two"))
            refused = httpx.post(f"{base}/-/reload", timeout=10)
            assert refused.status_code == 403 and "Lifecycle API" in refused.text
            assert b'target="two"' not in httpx.get(f"{base}/metrics", timeout=10).content
            os.kill(process.pid, signal.SIGHUP)
            assert eventually(
                lambda: b'target="two"' in httpx.get(f"{base}/metrics", timeout=10).content
            )


# --- basic auth ----------------------------------------------------------------------------


def counting_check(calls: Calls) -> Callable[[bytes, bytes], bool]:
    def check(password: bytes, hashed: bytes) -> bool:
        calls.record(password, hashed)
        return bcrypt_check(password, hashed)

    return check


def users_file(path: Path, **users: tuple[str, int]) -> Path:
    hashes = {
        user: bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=cost)).decode()
        for user, (password, cost) in users.items()
    }
    path.write_text(yaml.safe_dump({"basic_auth_users": hashes}))
    return path


def median_latency(client: httpx.Client, url: str, n: int, **kwargs: object) -> float:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        assert client.get(url, **kwargs).status_code == 200
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def test_bcrypt_runs_once_per_distinct_credential(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    calls = Calls()
    web = users_file(tmp_path / "web.yml", prometheus=("s3cret", 10))
    security = WebSecurity(web, check=counting_check(calls))
    with served(WebOptions(security=security)) as (port, _), httpx.Client(timeout=10) as client:
        url = f"http://127.0.0.1:{port}/metrics"
        authed = median_latency(client, url, 50, auth=("prometheus", "s3cret"))
        assert calls.count == 1
        for _ in range(5):
            assert client.get(url, auth=("prometheus", "wrong")).status_code == 401
        assert calls.count == 2
    with served() as (port, _), httpx.Client(timeout=10) as client:
        unauthenticated = median_latency(client, f"http://127.0.0.1:{port}/metrics", 50)
    with capsys.disabled():
        print(
            f"\nscrape median over 50: open {unauthenticated * 1e3:.2f} ms, basic auth (bcrypt "
            f"cost 10) {authed * 1e3:.2f} ms, ratio {authed / unauthenticated:.2f}"
        )


def test_concurrent_first_requests_with_the_same_credentials_run_bcrypt_once(
    tmp_path: Path,
) -> None:
    calls = Calls()
    web = users_file(tmp_path / "web.yml", prometheus=("s3cret", 10))
    security = WebSecurity(web, check=counting_check(calls))
    with served(WebOptions(security=security)) as (port, _):
        start = threading.Barrier(10)
        statuses: list[int] = []

        def scrape() -> None:
            start.wait(timeout=10)
            url = f"http://127.0.0.1:{port}/metrics"
            statuses.append(httpx.get(url, auth=("prometheus", "s3cret"), timeout=30).status_code)

        threads = [threading.Thread(target=scrape) for _ in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert statuses == [200] * 10
    assert calls.count == 1


def test_unknown_users_are_checked_against_a_hash_of_a_configured_cost(tmp_path: Path) -> None:
    calls = Calls()
    web = users_file(tmp_path / "web.yml", cheap=("a", 4), dear=("b", 11))
    security = WebSecurity(web, check=counting_check(calls))
    with served(WebOptions(security=security)) as (port, _):
        response = httpx.get(f"http://127.0.0.1:{port}/metrics", auth=("nobody", "x"), timeout=10)
        assert response.status_code == 401
    ((password, hashed),) = calls.args
    assert password == b"x" and hashed[:7] in (b"$2b$04$", b"$2b$11$")
    assert not bcrypt.checkpw(b"x", hashed)


def test_long_passwords_case_insensitive_scheme_and_a_changed_users_file(tmp_path: Path) -> None:
    calls = Calls()
    web = users_file(tmp_path / "web.yml", prometheus=("s3cret", 4))
    security = WebSecurity(web, check=counting_check(calls))
    with served(WebOptions(security=security)) as (port, _), raw(port) as (sock, stream):

        def get(authorization: str) -> int:
            request = f"GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: {authorization}\r\n\r\n"
            sock.sendall(request.encode())
            return read_response(stream)[0]

        def basic(user: str, password: str) -> str:
            return base64.b64encode(f"{user}:{password}".encode()).decode()

        assert get("Basic " + basic("prometheus", "x" * 73)) == 401  # and the connection lives on
        assert calls.count == 0
        for scheme in ("Basic", "basic", "BASIC", "bAsIc"):
            assert get(f"{scheme} {basic('prometheus', 's3cret')}") == 200
        assert get("Bearer " + basic("prometheus", "s3cret")) == 401
        assert get("Basic !!not-base64!!") == 401
        assert calls.count == 1

        users_file(web, prometheus=("n3w", 4))
        os.utime(web, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
        assert get("Basic " + basic("prometheus", "s3cret")) == 401  # not the cached verdict
        assert get("Basic " + basic("prometheus", "n3w")) == 200


# --- TLS files re-read per connection ------------------------------------------------------


@pytest.fixture(scope="module")
def two_cas(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need_openssl()
    d = tmp_path_factory.mktemp("rotation")
    for ca in ("server-ca", "old-ca", "new-ca"):
        make_ca(d, ca)
    make_cert(d, "server-ca", "server", "127.0.0.1", server=True)
    make_cert(d, "server-ca", "server2", "127.0.0.1", server=True)
    make_cert(d, "old-ca", "old-client", "prometheus")
    make_cert(d, "new-ca", "new-client", "prometheus")
    return d


def replace(target: Path, source: Path) -> None:
    """Swap a file's content in one step, as a Secret volume update does."""
    staging = target.with_suffix(".new")
    staging.write_bytes(source.read_bytes())
    os.replace(staging, target)


def tls_get(port: int, pki: Path, client: str) -> bytes:
    """GET /healthz on a new TLS connection presenting ``client``'s certificate; the server's
    certificate (DER). Raises when the handshake or the request fails."""
    context = ssl.create_default_context(cafile=str(pki / "server-ca.crt"))
    context.load_cert_chain(pki / f"{client}.crt", pki / f"{client}.key")
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as sock,
        context.wrap_socket(sock, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        with tls.makefile("rb") as stream:
            status, _, _ = read_response(stream)
        assert status == 200
        return tls.getpeercert(binary_form=True)


@pytest.mark.slow
def test_a_rotated_client_ca_replaces_the_old_one_at_the_next_connection(
    two_cas: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for name in ("server.crt", "server.key", "old-ca.crt"):
        (tmp_path / name).write_bytes((two_cas / name).read_bytes())
    (tmp_path / "client-ca.crt").write_bytes((two_cas / "old-ca.crt").read_bytes())
    web = tmp_path / "web.yml"
    web.write_text(
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
        "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: client-ca.crt\n"
    )
    with served(WebOptions(security=WebSecurity(web))) as (port, _):
        first_cert = tls_get(port, two_cas, "old-client")
        with pytest.raises((ssl.SSLError, ConnectionError, AssertionError)):
            tls_get(port, two_cas, "new-client")

        replace(tmp_path / "client-ca.crt", two_cas / "new-ca.crt")
        with pytest.raises((ssl.SSLError, ConnectionError, AssertionError)):
            tls_get(port, two_cas, "old-client")
        assert tls_get(port, two_cas, "new-client") == first_cert

        # half-way through a rotation the key does not match the certificate: the context in
        # force stays, and the next change is tried again
        replace(tmp_path / "server.key", two_cas / "server2.key")
        assert tls_get(port, two_cas, "new-client") == first_cert
        assert "web config not reloaded: TLS: cannot load certificates" in caplog.text
        replace(tmp_path / "server.crt", two_cas / "server2.crt")
        rotated = ssl.PEM_cert_to_DER_cert((two_cas / "server2.crt").read_text())
        assert rotated != first_cert
        assert tls_get(port, two_cas, "new-client") == rotated


def client_hello() -> bytes:
    """The first flight of a real TLS client: a ClientHello, valid to its last byte."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    outgoing = ssl.MemoryBIO()
    client = context.wrap_bio(ssl.MemoryBIO(), outgoing)
    with contextlib.suppress(ssl.SSLWantReadError):
        client.do_handshake()
    return outgoing.read()


@pytest.mark.slow
def test_a_trickled_tls_handshake_is_cut_at_the_header_deadline(two_cas: Path) -> None:
    web = two_cas / "web-plain-tls.yml"
    web.write_text("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n")
    options = WebOptions(security=WebSecurity(web), header_timeout=0.5)
    with served(options) as (port, _), raw(port, timeout=10) as (sock, stream):
        started = time.monotonic()
        hello = client_hello()
        assert len(hello) > 100
        with contextlib.suppress(OSError):
            for byte in hello:  # a byte every 0.1 s: a minute in all, unless cut
                sock.sendall(bytes([byte]))
                if select.select([sock], [], [], 0.1)[0]:
                    break  # the server answered or closed
        assert closed_by_server(sock, stream)
        assert time.monotonic() - started < 3


# --- bounded connections -------------------------------------------------------------------


def handler_threads(port: int) -> int:
    return sum(t.name == f"http-connection-{port}" for t in threading.enumerate())


@pytest.mark.slow
def test_a_header_trickle_is_cut_at_the_header_deadline_and_idle_connections_close() -> None:
    options = WebOptions(header_timeout=0.5, idle_timeout=0.5)
    with served(options) as (port, reads), raw(port, timeout=10) as (sock, stream):
        started = time.monotonic()
        sock.sendall(b"GET / HTTP/1.1\r\n")
        with contextlib.suppress(OSError):
            for i in range(100):  # a header line every 0.1 s: 10 s in all, unless cut
                sock.sendall(b"X-Trickle-%d: y\r\n" % i)
                if select.select([sock], [], [], 0.1)[0]:
                    break  # the server answered or closed
        assert closed_by_server(sock, stream)
        assert time.monotonic() - started < 3
        assert reads.count == 0

    with served(options) as (port, _), raw(port, timeout=10) as (sock, stream):
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(stream)[0] == 200
        started = time.monotonic()
        assert closed_by_server(sock, stream)  # kept alive, then closed once idle
        assert 0.3 < time.monotonic() - started < 3


@pytest.mark.slow
def test_connections_over_the_cap_wait_and_threads_stay_bounded() -> None:
    options = WebOptions(max_connections=5, header_timeout=1.0)
    with served(options) as (port, _), contextlib.ExitStack() as stack:
        for _ in range(20):
            stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=10))
        assert eventually(lambda: handler_threads(port) == 5, timeout=5, step=0.05)
        peak = 0
        answered = []

        def scrape() -> None:
            answered.append(httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30).status_code)

        thread = threading.Thread(target=scrape)
        thread.start()
        deadline = time.monotonic() + 30
        while thread.is_alive() and time.monotonic() < deadline:
            peak = max(peak, handler_threads(port))
            thread.join(timeout=0.05)
        # the 21st connection waited in the backlog while the idle ones, five at a time, were
        # dropped at their header deadline
        assert answered == [200]
        assert peak <= 5


def samples_of(read: Callable[[], int], count: int) -> list[int]:
    """``count`` readings, 50 ms apart."""
    seen: list[int] = []
    eventually(lambda: seen.append(read()) or len(seen) >= count, timeout=10, step=0.05)
    return seen


def process_threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError("no Threads line")


@pytest.mark.slow
def test_metrics_answer_with_500_idle_connections_open(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with RaySimulator() as sim:
        sim.add_job("j", status="RUNNING")
        config = tmp_path / "config.yaml"
        config.write_text(yaml.safe_dump({"targets": [sim.target_config("t")]}))
        with exporter_process("--config.file", str(config)) as (process, base):
            port = int(base.rsplit(":", 1)[1])
            threads_before = process_threads(process.pid)
            with contextlib.ExitStack() as stack:
                for _ in range(500):
                    stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=10))
                assert eventually(
                    lambda: process_threads(process.pid) >= threads_before + 450,
                    timeout=10,
                    step=0.1,
                )
                started = time.monotonic()
                response = httpx.get(f"{base}/metrics", timeout=10)
                took = time.monotonic() - started
                threads = process_threads(process.pid)
                assert response.status_code == 200 and b"jobfleet_jobs" in response.content
                assert threads <= threads_before + 512 + 1
    with capsys.disabled():
        print(
            f"\n500 idle connections: /metrics answered in {took * 1e3:.1f} ms; "
            f"exporter threads {threads_before} -> {threads}"
        )


@pytest.mark.slow
def test_the_max_connections_flag_caps_the_threads(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"targets": [RAY_UNREACHABLE]}))
    with exporter_process("--config.file", str(config), "--web.max-connections", "3") as (
        process,
        base,
    ):
        port = int(base.rsplit(":", 1)[1])
        # the baseline varies by a thread or two (pollers, the readiness check's connection)
        baseline = samples_of(lambda: process_threads(process.pid), 10)
        with contextlib.ExitStack() as stack:
            for _ in range(10):
                stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=10))
            assert eventually(
                lambda: process_threads(process.pid) >= min(baseline) + 3, timeout=5, step=0.05
            )
            held = samples_of(lambda: process_threads(process.pid), 10)
        assert max(held) <= max(baseline) + 3  # not + 10: seven wait in the backlog


def test_max_connections_must_be_positive(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "exporter", "--web.max-connections", "0", "--check-config"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 2 and "must be 1 or more" in result.stderr
