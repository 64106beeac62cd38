"""A request's head (request line and header lines) held to RFC 9112's grammar, over real
sockets: a line that breaks it gets 400 and the connection closes, so nothing after it (a body
the server did not see as one) is ever run as a request.

And the heads the exporter sends: every request of every backend names the exporter in its
``User-Agent``; the simulators read a query as the clouds' gateways do, ``+`` for a space."""

from __future__ import annotations

import datetime as dt
import http.client
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from exporter import __version__
from exporter.app import Exporter
from exporter.auth.acs3 import Acs3Auth
from exporter.auth.alibaba_credentials import AccessKey, StaticCredentials
from exporter.auth.sdk_hmac import HuaweiKey, SdkHmacAuth
from exporter.backends import registry
from exporter.config.parse import parse_config
from exporter.simulators.base import request_query
from exporter.simulators.emr_serverless import EmrServerlessSimulator
from exporter.simulators.modelarts_lite import ModelArtsLiteSimulator
from exporter.web.server import WebOptions

from .test_web_face import closed_by_server, raw, read_response, served

EMBEDDED = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"  # reads the status: the trace of a smuggled run

MALFORMED = {
    # RFC 9112 5.1: no whitespace between a field name and its colon; the body then ran
    "space before the colon": b"POST /-/reload HTTP/1.1\r\nHost: x\r\nContent-Length : %d\r\n\r\n"
    % len(EMBEDDED)
    + EMBEDDED,
    "tab before the colon": b"POST /-/reload HTTP/1.1\r\nHost: x\r\nContent-Length\t: %d\r\n\r\n"
    % len(EMBEDDED)
    + EMBEDDED,
    # lines end in CRLF, the request line and the empty line included
    "bare LF after a header": b"GET / HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n",
    "bare LF after the request line": b"GET / HTTP/1.1\nHost: x\r\n\r\n",
    "bare LF as the empty line": b"GET / HTTP/1.1\r\nHost: x\r\n\n",
    # control characters other than HTAB, in a name or a value
    "NUL in a value": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
    "NUL in a name": b"GET / HTTP/1.1\r\nHost: x\r\nX\x00A: b\r\n\r\n",
    "SOH in a value": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n",
    "VT in a value": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x0bb\r\n\r\n",
    "DEL in a value": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x7fb\r\n\r\n",
    "bare CR in a value": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n",
    # obs-fold (RFC 9112 5.2), and whitespace before the first header
    "a folded value": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n",
    "whitespace before the first header": b"GET / HTTP/1.1\r\n Host: x\r\n\r\n",
    # a field name is a token (RFC 9110 5.1)
    "a separator in a name": b"GET / HTTP/1.1\r\nHost: x\r\nX(A): b\r\n\r\n",
    "a non-ASCII name": b"GET / HTTP/1.1\r\nHost: x\r\nX\xe9: b\r\n\r\n",
    "an empty name": b"GET / HTTP/1.1\r\nHost: x\r\n: b\r\n\r\n",
    "a line without a colon": b"GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\nContent-Length: 3\r\n\r\n",
    # the request line: single spaces between its parts, no control character, ASCII target
    "bare CR in the request line": b"GET /\r HTTP/1.1\r\nHost: x\r\n\r\n",
    "a tab in the request line": b"GET\t/ HTTP/1.1\r\nHost: x\r\n\r\n",
    "two spaces in the request line": b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
    "NBSP in the request line": b"GET /\xa0HTTP/1.1\r\nHost: x\r\n\r\n",
    "NUL in the target": b"GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
}


@pytest.mark.slow
@pytest.mark.parametrize("request_bytes", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_head_gets_400_the_connection_closes_and_nothing_runs(
    request_bytes: bytes,
) -> None:
    with served(WebOptions(enable_lifecycle=True)) as (port, reads), raw(port) as (sock, stream):
        sock.sendall(request_bytes)
        status, headers, _ = read_response(stream)
        assert status == 400 and headers["connection"] == "close"
        assert closed_by_server(sock, stream)
    assert reads.count == 0  # neither the request nor anything after it reached the handler


def test_a_head_cut_short_by_the_client_gets_400() -> None:
    with served() as (port, reads), raw(port) as (sock, stream):
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # no empty line: the head never ends
        sock.shutdown(socket.SHUT_WR)
        status, headers, _ = read_response(stream)
        assert status == 400 and headers["connection"] == "close"
    assert reads.count == 0


def test_valid_heads_pass_and_a_malformed_one_later_on_the_connection_is_refused() -> None:
    """What the grammar allows still passes: HTAB and obs-text in values, no space after the
    colon, an empty value, every tchar in a name; a kept-alive connection's later request is
    checked like a first one, and refused with a full status line."""
    valid = (
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Tab: a\tb \t\r\nX-Latin: caf\xe9\r\n"
        b"X-Tight:v\r\nX-Empty:\r\n!#$%&'*+-.^_`|~09azAZ: t\r\n\r\n"
    )
    with served() as (port, reads), raw(port) as (sock, stream):
        sock.sendall(valid)
        assert read_response(stream)[::2] == (200, b"ok\n")
        sock.sendall(b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, _ = read_response(stream)
        assert status == 400 and headers["connection"] == "close"
        assert closed_by_server(sock, stream)
    assert reads.count == 0


# --- the heads the exporter sends -------------------------------------------------------------


@contextmanager
def recording_proxy(upstream: str) -> Iterator[tuple[str, list[tuple[str, str, dict[str, str]]]]]:
    """A loopback proxy that forwards every request to ``upstream`` as it came and keeps each
    one's (method, target, headers by lower-case name): its URL and that record."""
    seen: list[tuple[str, str, dict[str, str]]] = []

    class Forward(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def forward(self) -> None:
            seen.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            connection = http.client.HTTPConnection(upstream.removeprefix("http://"), timeout=10)
            connection.request(self.command, self.path, body, dict(self.headers.items()))
            answer = connection.getresponse()
            data = answer.read()
            self.send_response(answer.status)
            for name, value in answer.getheaders():
                if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            connection.close()

        do_GET = do_POST = forward

    server = ThreadingHTTPServer(("127.0.0.1", 0), Forward)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("backend", registry.names())
def test_every_request_of_every_backend_names_the_exporter_and_its_version(backend: str) -> None:
    declared = registry.declaration(backend)
    with declared.simulator(backend) as sim, recording_proxy(sim.url) as (url, seen):
        sim.submit_job("ua-1", running=True)
        target = {
            key: url if value == sim.url else value
            for key, value in sim.target_config(backend).items()
        }
        if "requests_per_second" in declared.target.model_fields:
            target["requests_per_second"] = 1000
        exporter = Exporter(parse_config({"targets": [target]}))
        try:
            assert exporter.poll_all_once()
        finally:
            exporter.close()
    assert seen, "the exporter sent nothing"
    assert {headers.get("user-agent") for _, _, headers in seen} == {
        f"jobfleet-exporter/{__version__}"
    }


# --- queries as the gateways read them ------------------------------------------------------


def test_a_query_is_read_with_plus_for_a_space_escapes_decoded_and_blanks_kept() -> None:
    assert request_query("/p?name=nightly+run&x=%2B1&sp=a%20b&e=&t=%E2%9C%93") == [
        ("name", "nightly run"),
        ("x", "+1"),
        ("sp", "a b"),
        ("e", ""),
        ("t", "\u2713"),
    ]


def form_encoded(request: httpx.Request) -> httpx.Request:
    """A signed request sent as the official SDKs send queries: ``+`` for a space."""
    query = request.url.query.decode().replace("%20", "+")
    request.url = request.url.copy_with(query=query.encode())
    return request


def test_the_signed_simulators_accept_a_query_sent_form_encoded_and_refuse_it_altered() -> None:
    now = dt.datetime.now(dt.UTC)
    with EmrServerlessSimulator() as emr, ModelArtsLiteSimulator() as lite:
        emr.add_job("rj-1", name="nightly run")
        lite.add_job("job-1", name="nightly run")
        emr_auth = Acs3Auth(
            StaticCredentials(AccessKey(emr.access_key_id, emr.access_key_secret), "t"),
            "2023-08-08",
            clock=lambda: now,
        )
        lite_auth = SdkHmacAuth(
            HuaweiKey(lite.access_key, lite.secret_key), lite.project_id, clock=lambda: now
        )
        requests = {
            "emr": (
                emr_auth,
                httpx.Request(
                    "GET",
                    f"{emr.url}/api/v1/workspaces/{emr.workspace_id}/rayJob",
                    params={"name": "nightly run"},
                    headers={"x-acs-action": "ListRayJob"},
                ),
            ),
            "lite": (
                lite_auth,
                httpx.Request(
                    "GET",
                    f"{lite.url}/v1/{lite.project_id}/dev-servers/jobs",
                    params={"name": "nightly run"},
                ),
            ),
        }
        answers, altered = {}, {}
        with httpx.Client() as client:
            for name, (auth, request) in requests.items():
                signed = form_encoded(next(auth.auth_flow(request)))
                assert b"name=nightly+run" in signed.url.query
                answers[name] = client.send(signed)
                resigned = next(
                    auth.auth_flow(httpx.Request("GET", request.url, headers=request.headers))
                )
                resigned.url = resigned.url.copy_with(
                    query=resigned.url.query.replace(b"%20", b"%2B")
                )
                altered[name] = client.send(resigned).status_code
    assert [job["submissionId"] for job in answers["emr"].json()["rayJobs"]] == ["rj-1"]
    assert [job["id"] for job in answers["lite"].json()["data"]] == ["job-1"]
    assert altered == {"emr": 400, "lite": 401}  # "+" on the wire is a space: %2B is not
