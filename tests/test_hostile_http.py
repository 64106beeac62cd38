"""Hostile backends over real sockets: every poll ends by its deadline, memory stays bounded,
server-given waits are capped, and backend text reaches no log, page or metric unscrubbed.

Each hostile server here is a few lines on 127.0.0.1 inside the test; a well-behaved Ray
simulator runs beside it, to show the other targets are still exported.
"""

from __future__ import annotations

import gzip
import json
import logging
import re
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path

import httpx
import pytest
import yaml

from exporter.app import Exporter
from exporter.config.parse import parse_config
from exporter.exposition.store import Exposition
from exporter.http.transport import WATCHDOG_MARGIN, deadline_scope
from exporter.logs import JsonFormatter, LogfmtFormatter
from exporter.polling.poller import TargetPoller
from exporter.simulators.ray import RaySimulator

from .helpers import exporter_process, peak_rss_kib, value

TIMEOUT_S = 1.0
MARGIN_S = 1.0  # the watchdog's margin, thread scheduling, and a loaded CI machine

Handler = Callable[[socket.socket], None]


class RawServer:
    """Accepts connections on 127.0.0.1 and hands each socket to ``handler`` in a thread."""

    def __init__(self, handler: Handler, wrap: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.wrap = wrap
        self.stop = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.requests = 0
        self._threads: list[threading.Thread] = []
        self._accept = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"{'https' if self.wrap else 'http'}://127.0.0.1:{self.port}"

    def __enter__(self) -> RawServer:
        self._accept.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self._accept.join(timeout=5)
        for thread in self._threads:
            thread.join(timeout=5)
        self.listener.close()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            self.requests += 1
            thread = threading.Thread(target=self._handle, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            with suppress(OSError):
                if self.wrap is not None:
                    conn = self.wrap.wrap_socket(conn, server_side=True)
                self.handler(conn)

    def trickle(self, conn: socket.socket, byte: bytes = b"a", every: float = 0.05) -> None:
        """One byte every ``every`` seconds until the client leaves or the test ends."""
        while not self.stop.wait(every):
            conn.sendall(byte)


def read_request(conn: socket.socket) -> dict[str, str]:
    """The request head's headers (lower-cased names)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    lines = data.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")[1:]
    return {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines if line)}


def answer(conn: socket.socket, status: str, body: bytes, **headers: str) -> None:
    head = f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n"
    head += "".join(f"{name.replace('_', '-')}: {value}\r\n" for name, value in headers.items())
    conn.sendall(head.encode("latin-1") + b"\r\n" + body)


def ray_target(name: str, url: str, **settings: object) -> dict:
    return {"name": name, "backend": "ray", "url": url, "resources": ["jobs"], **settings}


@contextmanager
def exporter_with(*targets: dict, **defaults: object) -> Iterator[Exporter]:
    exporter = Exporter(
        parse_config({"defaults": {"timeout": TIMEOUT_S, **defaults}, "targets": list(targets)})
    )
    try:
        yield exporter
    finally:
        exporter.close()


@contextmanager
def good_ray() -> Iterator[dict]:
    """A well-behaved Ray target beside the hostile one."""
    with RaySimulator(seed=1) as sim:
        sim.add_job("good job")
        yield ray_target("good", sim.url)


def metrics_and_peak_rss(workdir: Path, defaults: dict, *targets: dict) -> tuple[bytes, int]:
    """One exporter process polling ``targets``: its ``/metrics`` once every target was tried,
    and its peak RSS (KiB) by then."""
    config = workdir / "config.yaml"
    config.write_text(yaml.safe_dump({"defaults": defaults, "targets": list(targets)}))
    with exporter_process("--config.file", str(config)) as (process, base):
        metrics = httpx.get(f"{base}/metrics", timeout=5).content
        peak_kib = peak_rss_kib(process.pid)
        process.kill()
        process.wait(timeout=10)
    return metrics, peak_kib


def assert_good_exported(body: bytes) -> None:
    assert value(body, "jobfleet_target_up", target="good") == 1
    assert value(body, "jobfleet_jobs", target="good") > 0


# --- deadline ---------------------------------------------------------------------------------


def trickled_headers(server: RawServer) -> Handler:
    def handle(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        server.trickle(conn)

    return handle


def trickled_body(server: RawServer) -> Handler:
    def handle(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n[")
        server.trickle(conn, b" ")

    return handle


def trickled_tls_handshake(server: RawServer) -> Handler:
    """Reads the ClientHello, then sends a TLS record header announcing 16 KB, byte by byte."""

    def handle(conn: socket.socket) -> None:
        conn.recv(65536)
        conn.sendall(b"\x16\x03\x03\x40\x00")
        server.trickle(conn, b"\x00")

    return handle


@pytest.mark.slow
@pytest.mark.parametrize(
    ("make_handler", "scheme"),
    [(trickled_headers, "http"), (trickled_body, "http"), (trickled_tls_handshake, "https")],
)
def test_a_trickling_peer_cannot_hold_a_poll_past_its_timeout(make_handler, scheme) -> None:
    server = RawServer(lambda conn: None)
    server.handler = make_handler(server)
    with server, good_ray() as good:
        url = f"{scheme}://127.0.0.1:{server.port}"
        with exporter_with(ray_target("slow", url), good) as exporter:
            started = time.monotonic()
            exporter.poll_all_once()
            took = time.monotonic() - started
            body = exporter.exposition.body()
            health = exporter.pollers[0].health["jobs"]
    assert server.requests >= 1
    assert took < TIMEOUT_S + MARGIN_S, f"the poll took {took:.2f}s"
    assert health.last_reason == "timeout", health.last_error
    assert value(body, "jobfleet_target_up", target="slow") == 0
    assert value(body, "jobfleet_poll_errors_total", target="slow", reason="timeout") == 1
    assert value(body, "jobfleet_api_requests_total", target="slow", code="timeout") >= 1
    assert_good_exported(body)


def test_the_watchdog_unblocks_a_read_that_ignores_the_deadline() -> None:
    """The backstop: a socket read with no timeout at all is still ended by the watchdog."""
    ours, theirs = socket.socketpair()
    fallback = threading.Timer(5, theirs.shutdown, args=(socket.SHUT_RDWR,))  # a failing test
    with ours, theirs:  # ends instead of hanging
        ours.settimeout(None)
        fallback.start()
        started = time.monotonic()
        with deadline_scope(started + 0.2) as exchange:
            exchange.attach(ours)
            data = ours.recv(1)  # nothing is ever sent: only the watchdog can end this
        took = time.monotonic() - started
        fallback.cancel()
        fallback.join()
    assert data == b""
    assert 0.2 <= took < 0.2 + WATCHDOG_MARGIN + MARGIN_S


# --- size -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def nested_gzip_bomb() -> bytes:
    """512 MiB of zeros, gzipped twice: a few KB on the wire."""
    inner = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # fast; still ~6 KB
    block = bytes(2**20)
    once = b"".join(inner.compress(block) for _ in range(512)) + inner.flush()
    return gzip.compress(once, 9)


@pytest.mark.slow
def test_a_nested_gzip_bomb_is_too_large_and_memory_stays_bounded(
    nested_gzip_bomb: bytes, tmp_path: Path
) -> None:
    assert len(nested_gzip_bomb) < 64 * 1024

    def bomb(conn: socket.socket) -> None:
        read_request(conn)
        answer(
            conn,
            "200 OK",
            nested_gzip_bomb,
            Content_Type="application/json",
            Content_Encoding="gzip, gzip",
        )

    with RawServer(bomb) as server, good_ray() as good:
        defaults = {"timeout": "5s", "max_response_bytes": 2**20}
        metrics, peak_kib = metrics_and_peak_rss(
            tmp_path, defaults, ray_target("bomb", server.url), good
        )
    assert peak_kib < 200 * 1024, f"peak RSS {peak_kib} KiB"
    assert value(metrics, "jobfleet_poll_errors_total", target="bomb", reason="too_large") == 1
    assert value(metrics, "jobfleet_target_up", target="bomb") == 0
    assert_good_exported(metrics)


def gzipped(data: bytes, times: int = 1) -> bytes:
    """``data`` gzipped ``times`` over, the same bytes in every process (no time stamp): a
    parallel run collects the tests of each worker by these values."""
    for _ in range(times):
        data = gzip.compress(data, mtime=0)
    return data


@pytest.mark.parametrize(
    ("encoding", "body", "reason"),
    [
        ("gzip", gzipped(b"[]"), None),
        ("deflate", zlib.compress(b"[]"), None),
        ("gzip, gzip", gzipped(b"[]", 2), None),
        ("br", b"[]", "parse"),
        ("gzip, gzip, gzip", gzipped(b"[]", 3), "parse"),
        ("gzip", b"not gzip at all", "parse"),
    ],
)
def test_content_encodings_decoded_or_refused(encoding: str, body: bytes, reason) -> None:
    def serve(conn: socket.socket) -> None:
        read_request(conn)
        answer(conn, "200 OK", body, Content_Encoding=encoding)

    with RawServer(serve) as server, exporter_with(ray_target("t", server.url)) as exporter:
        ok = exporter.poll_all_once()
        health = exporter.pollers[0].health["jobs"]
    assert ok is (reason is None)
    assert health.last_reason == (reason or ""), health.last_error


# --- server-given waits -----------------------------------------------------------------------


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def throttling_server(header: str, wait: str, success: bytes) -> Handler:
    """429 with ``header: wait`` on the first request, then ``success``."""
    served = []

    def handle(conn: socket.socket) -> None:
        read_request(conn)
        served.append(1)
        if len(served) == 1:
            answer(conn, "429 Too Many Requests", b"{}", **{header.replace("-", "_"): wait})
        else:
            answer(conn, "200 OK", success, Content_Type="application/json")

    return handle


FAR_FUTURE = "Wed, 14 Aug 2058 01:30:59 GMT"  # fixed: test ids must not change with the clock


@pytest.mark.parametrize(
    ("backend", "header", "wait"),
    [
        ("modelarts_lite", "Retry-After", "1000000000"),
        ("modelarts_lite", "Retry-After", FAR_FUTURE),
        ("ray", "Retry-After", "1000000000"),
        ("emr_serverless", "x-acs-retry-after", "1000000000000"),  # milliseconds
    ],
)
def test_a_huge_retry_after_is_capped_by_max_retry_after(
    backend: str, header: str, wait: str, caplog: pytest.LogCaptureFixture
) -> None:
    cap = 60.0
    if backend == "modelarts_lite":
        success = b'{"data": [], "total": 0}'
        extra = {"project_id": "p1", "credentials": {"auth_token": "iam-token-value"}}
    elif backend == "ray":
        success = b"[]"
        extra = {}
    else:
        success = b'{"rayJobs": [], "totalCount": 0}'
        extra = {
            "workspace_id": "w-1",
            "credentials": {"access_key_id": "LTAIexample", "access_key_secret": "secret-value"},
        }
    with RawServer(lambda conn: None) as server:
        server.handler = throttling_server(header, wait, success)
        config = parse_config(
            {
                "defaults": {"max_retry_after": f"{cap:g}s", "timeout": "5s"},
                "targets": [
                    {
                        "name": "t",
                        "backend": backend,
                        "resources": ["jobs"],
                        ("url" if backend == "ray" else "endpoint"): server.url,
                        **extra,
                    }
                ],
            }
        )
        clock = FakeMonotonic()
        poller = TargetPoller(config.targets[0], Exposition(), monotonic=clock)
        try:
            with caplog.at_level(logging.WARNING):
                assert not poller.poll("jobs")
            assert poller.health["jobs"].last_reason == "throttled"
            clock.now += cap - 1
            assert not poller.poll("jobs")  # still waiting: no request
            assert server.requests == 1
            clock.now += 1
            assert poller.poll("jobs"), poller.health["jobs"].last_error
            assert server.requests == 2
        finally:
            poller.close()
    capped = [r for r in caplog.records if "max_retry_after" in r.getMessage()]
    assert len(capped) == 1


# --- scrubbing --------------------------------------------------------------------------------

SECRETS = {
    "token": "ray-bearer-token-0123456789",
    "header": "x-api-key-value-0123456789",
    "url_password": "url-password-0123456789",
    "access_key_id": "LTAI5tExampleKeyId0123",
    "access_key_secret": "alibaba-secret-0123456789",
    "security_token": "alibaba-sts-token-0123456789",
    "ak": "HUAWEIAK0123456789",
    "sk": "huawei-secret-key-0123456789",
    "hw_security_token": "huawei-security-token-0123456789",
    "iam": "huawei-iam-token-0123456789",
}


def echoing_server(sent: list[dict[str, str]]) -> Handler:
    """Answers every request with an error that echoes the request's headers, as a vendor
    error message, request id and plain text, plus a forged log line after a newline."""

    def handle(conn: socket.socket) -> None:
        headers = read_request(conn)
        sent.append(headers)
        plain = ("host", "accept", "accept-encoding", "connection", "user-agent", "content-type")
        echo = json.dumps(sorted(headers.items(), key=lambda item: item[0] in plain))
        body = json.dumps(
            {
                "Code": "Echo",
                "Message": f"you sent {echo}\nts=forged level=ERROR msg=forged",
                "RequestId": echo,
                "error_code": "Echo",
                "error_msg": f"you sent {echo}",
            }
        ).encode()
        answer(conn, "500 Internal Server Error", body, X_Request_Id=echo[:4000])

    return handle


def echo_targets(url: str) -> list[dict]:
    host = url.removeprefix("http://")
    return [
        {
            **ray_target("ray-token", url, credentials={"token": SECRETS["token"]}),
            "headers": {"X-Api-Key": SECRETS["header"]},
        },
        ray_target("ray-userinfo", f"http://exporter:{SECRETS['url_password']}@{host}"),
        {
            "name": "emr",
            "backend": "emr_serverless",
            "endpoint": url,
            "workspace_id": "w-1",
            "resources": ["jobs"],
            "credentials": {
                "access_key_id": SECRETS["access_key_id"],
                "access_key_secret": SECRETS["access_key_secret"],
                "security_token": SECRETS["security_token"],
            },
        },
        {
            "name": "modelarts-aksk",
            "backend": "modelarts_lite",
            "endpoint": url,
            "project_id": "p1",
            "credentials": {
                "access_key": SECRETS["ak"],
                "secret_key": SECRETS["sk"],
                "security_token": SECRETS["hw_security_token"],
            },
        },
        {
            "name": "modelarts-iam",
            "backend": "modelarts_lite",
            "endpoint": url,
            "project_id": "p1",
            "credentials": {"auth_token": SECRETS["iam"]},
        },
    ]


def sent_credentials(sent: list[dict[str, str]]) -> set[str]:
    """What the exporter sent that must stay secret: credential headers and their parts."""
    names = ("authorization", "x-api-key", "x-auth-token", "x-security-token")
    found = set()
    for headers in sent:
        for name, header in headers.items():
            if name in names or name in ("x-acs-security-token", "x-acs-accesskey-id"):
                found.add(header)
                found.update(re.findall(r"(?:Credential|Access|Signature)=([^,\s]+)", header))
    return found


@pytest.mark.slow
@pytest.mark.parametrize("log_format", ["text", "json"])
def test_an_echoing_backend_puts_no_secret_in_logs_page_or_metrics(
    log_format: str, tmp_path: Path
) -> None:
    sent: list[dict[str, str]] = []
    with RawServer(echoing_server(sent)) as server, good_ray() as good:
        config = tmp_path / "config.yaml"
        config.write_text(
            yaml.safe_dump(
                {"defaults": {"timeout": "5s"}, "targets": [*echo_targets(server.url), good]}
            )
        )
        args = ("--config.file", str(config), "--log.level", "debug", "--log.format", log_format)
        with exporter_process(*args) as (process, base):
            page = httpx.get(f"{base}/", timeout=5).text
            metrics = httpx.get(f"{base}/metrics", timeout=5).text
            process.kill()
            process.wait(timeout=10)
            logs = process.stderr.read().decode()
    assert len(sent) >= 5
    secrets = set(SECRETS.values()) | sent_credentials(sent)
    for secret in secrets:
        for where, text in (("log", logs), ("landing page", page), ("metrics", metrics)):
            assert secret not in text, f"{secret[:12]}… in the {where}"
    assert page.count("HTTP 500") >= 5 and "***" in page  # the errors are shown, masked
    lines = logs.splitlines()
    assert not [line for line in lines if line.startswith("ts=forged")]
    if log_format == "json":
        assert all(json.loads(line) for line in lines)
    else:
        assert all(line.startswith("ts=") for line in lines)
    assert_good_exported(metrics.encode())


def test_a_huge_request_id_makes_a_bounded_log_line_and_error() -> None:
    huge = "R" * 2**20

    def serve(conn: socket.socket) -> None:
        read_request(conn)
        body = json.dumps({"Code": "InternalError", "Message": "m" * 2**20, "RequestId": huge})
        answer(conn, "500 Internal Server Error", body.encode())

    target = {
        "name": "emr",
        "backend": "emr_serverless",
        "workspace_id": "w-1",
        "resources": ["jobs"],
        "credentials": {"access_key_id": "LTAIexample", "access_key_secret": "secret-value"},
    }
    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(LogfmtFormatter().format(record))  # type: ignore[method-assign]
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with (
            RawServer(serve) as server,
            good_ray() as good,
            exporter_with({**target, "endpoint": server.url}, good) as exporter,
        ):
            exporter.poll_all_once()
            body = exporter.exposition.body()
            error = exporter.pollers[0].health["jobs"].last_error
    finally:
        root.removeHandler(handler)
    failed = [line for line in lines if "poll failed" in line]
    assert failed and max(len(line) for line in lines) < 1000
    assert error.startswith("ListRayJob: HTTP 500 InternalError: mmm") and len(error) <= 500
    assert value(body, "jobfleet_poll_errors_total", target="emr", reason="http") == 1
    assert_good_exported(body)


@pytest.mark.parametrize("formatter", [LogfmtFormatter(), JsonFormatter()])
def test_a_newline_in_a_logged_value_cannot_forge_a_line(formatter: logging.Formatter) -> None:
    record = logging.LogRecord(
        "exporter", logging.INFO, __file__, 1, "job %s", ('x"\nts=forged level=ERROR',), None
    )
    line = formatter.format(record)
    assert "\n" not in line
    huge = logging.LogRecord("exporter", logging.INFO, __file__, 1, "job %s", ("j" * 2**20,), None)
    assert len(formatter.format(huge)) < 5000
    if isinstance(formatter, LogfmtFormatter):
        assert line.endswith(r'msg="job x\"\nts=forged level=ERROR"')
    else:
        assert json.loads(line)["msg"] == 'job x"\nts=forged level=ERROR'


# --- backend TLS ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def private_ca(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A private CA and a server certificate from it for ``backend.internal`` and 127.0.0.1."""
    x509 = pytest.importorskip("cryptography.x509")
    import datetime as dt
    import ipaddress

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory = tmp_path_factory.mktemp("pki")
    now = dt.datetime.now(dt.UTC)

    def build(subject: str, key, issuer: str, issuer_key, ca: bool, names=()):
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(list(names)), False)
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = build("test CA", ca_key, "test CA", ca_key, True)
    key = ec.generate_private_key(ec.SECP256R1())
    names = [
        x509.DNSName("backend.internal"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ]
    cert = build("backend.internal", key, "test CA", ca_key, False, names)
    files = {
        "ca": directory / "ca.pem",
        "cert": directory / "cert.pem",
        "key": directory / "key.pem",
    }
    files["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files["key"].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


def tls_ray(conn: socket.socket) -> None:
    read_request(conn)
    answer(conn, "200 OK", b'[{"submission_id": "s-1", "status": "RUNNING"}]')


@pytest.fixture
def tls_server(private_ca: dict[str, Path]) -> Iterator[RawServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(private_ca["cert"], private_ca["key"])
    with RawServer(tls_ray, wrap=context) as server:
        yield server


def test_a_private_ca_backend_fails_with_reason_tls_then_polls_with_ca_file(
    tls_server: RawServer, private_ca: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    ca_file = str(private_ca["ca"])
    with ExitStack() as stack:
        good = stack.enter_context(good_ray())
        exporter = stack.enter_context(
            exporter_with(
                ray_target("no-ca", tls_server.url),
                ray_target("ca", tls_server.url, tls={"ca_file": ca_file}),
                ray_target(
                    "by-name",
                    tls_server.url,
                    tls={"ca_file": ca_file, "server_name": "backend.internal"},
                ),
                ray_target(
                    "wrong-name", tls_server.url, tls={"ca_file": ca_file, "server_name": "x.y"}
                ),
                ray_target("skip", tls_server.url, tls={"insecure_skip_verify": True}),
                good,
            )
        )
        with caplog.at_level(logging.WARNING):
            exporter.poll_all_once()
        body = exporter.exposition.body()
        health = {p.target.name: p.health["jobs"] for p in exporter.pollers}
    for name in ("no-ca", "wrong-name"):
        assert health[name].last_reason == "tls", health[name].last_error
        assert value(body, "jobfleet_poll_errors_total", target=name, reason="tls") == 1
        assert value(body, "jobfleet_target_up", target=name) == 0
    assert "unable to get local issuer certificate" in health["no-ca"].last_error
    assert "Hostname mismatch" in health["wrong-name"].last_error
    assert any("unable to get local issuer" in r.getMessage() for r in caplog.records)
    for name in ("ca", "by-name", "skip"):
        assert value(body, "jobfleet_target_up", target=name) == 1, health[name].last_error
        assert value(body, "jobfleet_jobs", target=name) == 1
    assert_good_exported(body)


def test_tls_settings_are_checked_when_the_config_is_read(
    private_ca: dict[str, Path], tmp_path: Path
) -> None:
    from exporter.config.types import ConfigError

    def problems(tls: dict) -> str:
        with pytest.raises(ConfigError) as caught:
            parse_config({"targets": [ray_target("t", "https://h", tls=tls)]})
        return str(caught.value)

    assert "cert_file and key_file go together" in problems({"cert_file": str(private_ca["cert"])})
    assert "not a regular file" in problems({"ca_file": str(tmp_path)})
    assert "cannot read" in problems({"ca_file": str(tmp_path / "missing.pem")})
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    assert "unusable TLS files" in problems({"ca_file": str(garbage)})


def test_check_config_shows_tls_paths_not_contents(private_ca: dict[str, Path]) -> None:
    from exporter.cli import describe

    tls = {"ca_file": str(private_ca["ca"]), "server_name": "backend.internal"}
    text = describe(parse_config({"targets": [ray_target("t", "https://h", tls=tls)]}))
    assert f"tls=ca_file={private_ca['ca']},server_name=backend.internal" in text
    assert "BEGIN CERTIFICATE" not in text
