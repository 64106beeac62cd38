"""HTTP discovery without an exporter process: the configuration of an ``http`` source, and a
source asking a real endpoint on 127.0.0.1 (changes, failures keeping the last good answer,
the size cap, bad answers, credentials sent and never shown)."""

from __future__ import annotations

import contextlib
import json
import logging
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from exporter.cli import describe
from exporter.config.parse import parse_config
from exporter.config.types import ConfigError
from exporter.discovery import Discovery, HttpSource
from exporter.discovery.http_source import refresh_seconds

from .helpers import free_port, loopback_server
from .pki import server_pki

TOKEN = "planted-sd-bearer-token-5e1a"
PASSWORD = "planted-sd-url-password-77b0"
QUERY_TOKEN = "planted-sd-query-token-c3d9"


class Endpoint:
    """What the test endpoint answers, and the requests it was sent."""

    def __init__(self) -> None:
        self.status = 200
        self.content_type = "application/json"
        self.body = b"[]"
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.release = threading.Event()  # a hanging answer waits for it
        self.hang = False

    def answer(self, groups: Any) -> None:
        self.status, self.body = 200, json.dumps(groups).encode()


@contextlib.contextmanager
def serving(endpoint: Endpoint, tls: Path | None = None) -> Iterator[str]:
    """``endpoint`` on 127.0.0.1; over TLS with ``tls``'s server.crt and server.key."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            endpoint.requests.append((self.path, dict(self.headers)))
            if endpoint.hang:
                endpoint.release.wait(10)
            self.send_response(endpoint.status)
            self.send_header("Content-Type", endpoint.content_type)
            self.send_header("Content-Length", str(len(endpoint.body)))
            self.end_headers()
            self.wfile.write(endpoint.body)

        def log_message(self, *args: object) -> None:
            pass

    if tls is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(tls / "server.crt", tls / "server.key")
        Handler.setup = _wrapped(Handler.setup, context)  # type: ignore[method-assign]
    with loopback_server(Handler) as base:
        try:
            yield base.replace("http://", "https://") if tls is not None else base
        finally:
            endpoint.release.set()


def _wrapped(setup: Any, context: ssl.SSLContext) -> Any:
    """A handler's ``setup`` that first takes the TLS handshake on its connection."""

    def wrapped(handler: BaseHTTPRequestHandler) -> None:
        handler.request = context.wrap_socket(handler.request, server_side=True)
        setup(handler)

    return wrapped


def source_config(url: str, source: dict | None = None, **http: object) -> dict:
    given = {"name": "fleet", "http": {"url": url, **http}, "template": {"backend": "ray"}}
    return {"discovery": [{**given, **(source or {})}]}


def source_of(url: str, source: dict | None = None, **http: object) -> HttpSource:
    parsed = parse_config(source_config(url, source, **http))
    (source,) = Discovery(parsed.discovery, parsed.defaults).sources
    assert isinstance(source, HttpSource)
    return source


def names(source: HttpSource) -> list[str]:
    return [item.target.name for item in source.found]


def problems(data: dict) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    return caught.value.problems


# --- configuration ----------------------------------------------------------------------------


def test_an_http_source_has_prometheus_defaults() -> None:
    http = parse_config(source_config("http://sd.example:8080/targets")).discovery[0].http
    assert http is not None and http.url == "http://sd.example:8080/targets"
    assert (http.refresh_interval, http.timeout, http.max_response_bytes) == (60, 10, 16 << 20)
    assert http.auth_text() == "none"
    assert refresh_seconds(60.0) == "60" and refresh_seconds(0.25) == "0.25"


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ({}, "discovery[0]: a source has one of file, http or kuberay (none given)"),
        (
            {"file": {"paths": ["/x.json"]}, "http": {"url": "http://h/sd"}},
            "discovery[0]: a source has one of file, http or kuberay (file and http given)",
        ),
        ({"http": {"url": "ftp://h/sd"}}, "discovery[0].http.url: must be an http:// or https://"),
        ({"http": {}}, "discovery[0].http.url: required"),
        (
            {"http": {"url": "http://u:p@h/sd", "credentials": {"token": "abcdef"}}},
            "discovery[0].http: more than one credential source (user info in url, "
            "credentials.token): keep one",
        ),
        (
            {"http": {"url": "http://h/sd", "headers": {"User-Agent": "curl"}}},
            "discovery[0].http.headers: User-Agent is set by the exporter",
        ),
        ({"http": {"url": "http://h/sd", "timeout": "1h"}}, "discovery[0].http.timeout: "),
        ({"http": {"url": "http://h/sd", "refreh": "1m"}}, "http.refreh: unknown key"),
    ],
)
def test_an_http_source_is_checked_when_the_configuration_is_read(source: dict, problem: str):
    data = {"discovery": [{"name": "fleet", "template": {"backend": "ray"}, **source}]}
    (found,) = problems(data)
    assert found.startswith(problem) or problem in found, found


def test_the_url_and_token_never_show_in_a_repr_or_check_config() -> None:
    url = f"https://sd:{PASSWORD}@sd.example/v1/targets;s={QUERY_TOKEN}?token={QUERY_TOKEN}"
    config = parse_config(source_config(url))
    with_token = parse_config(
        source_config("https://sd.example/v1/targets", credentials={"token": TOKEN})
    )
    text = repr(config) + repr(with_token) + describe(config) + describe(with_token)
    assert "http url=https://sd.example/v1/targets " in describe(config)
    assert "auth=basic auth (user and password from the URL)" in describe(config)
    assert "auth=Authorization: Bearer token (from credentials.token)" in describe(with_token)
    for secret in (PASSWORD, QUERY_TOKEN, TOKEN):
        assert secret not in text
    http = config.discovery[0].http
    assert http is not None and http.url_values() == [QUERY_TOKEN, QUERY_TOKEN]


# --- a source asking an endpoint --------------------------------------------------------------


def test_changes_are_picked_up_at_the_next_refresh() -> None:
    endpoint = Endpoint()
    endpoint.answer([{"targets": ["h1:8265"], "labels": {"env": "prod", "__meta_x": "y"}}])
    with serving(endpoint) as base:
        source = source_of(f"{base}/sd", refresh_interval="200ms")
        assert source.refresh() and source.ok and source.last_success is not None
        assert [(d.target.name, d.labels) for d in source.found] == [
            ("fleet:h1:8265", (("env", "prod"),))
        ]
        assert not source.refresh()  # the same answer: no change

        endpoint.answer([{"targets": ["h1:8265", "https://h2/ray"]}, {"targets": ["h3"]}])
        assert source.refresh() and source.ok
        assert names(source)[0] == "fleet:h1:8265" and names(source)[-1] == "fleet:h3:80"
        assert source.found[0].labels == ()

        endpoint.answer([])  # an empty list is an answer: no targets
        assert source.refresh() and source.found == () and source.ok
    path, headers = endpoint.requests[-1]
    assert path == "/sd"
    assert headers["X-Prometheus-Refresh-Interval-Seconds"] == "0.2"
    assert headers["User-Agent"].startswith("jobfleet-exporter/")
    assert headers["Accept"] == "application/json"


def test_a_failure_keeps_the_last_good_targets_and_counts_each_refresh(caplog) -> None:
    caplog.set_level(logging.INFO, logger="exporter")
    endpoint = Endpoint()
    endpoint.answer([{"targets": ["h1:8265"]}])
    with serving(endpoint) as base:
        source = source_of(f"{base}/sd")
        source.refresh()
        endpoint.status, endpoint.body = 500, b'{"error": "backend down"}'
        assert not source.refresh() and not source.refresh()
        assert names(source) == ["fleet:h1:8265"] and not source.ok
        assert source.errors["http"] == 2
        endpoint.status = 403
        source.refresh()
        assert source.errors["auth"] == 1
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2, errors  # logged when the problem changes, not at each refresh
    assert 'DiscoverTargets: HTTP 500: {"error": "backend down"}' in errors[0]
    assert "keeping the 1 targets of its last good answer" in errors[0]

    port = free_port()  # nothing listens there
    refused = source_of(f"http://127.0.0.1:{port}/sd")
    assert not refused.refresh() and refused.errors["connection"] == 1 and not refused.ok


def test_recovery_is_logged_once_and_the_targets_follow(caplog) -> None:
    caplog.set_level(logging.INFO, logger="exporter")
    endpoint = Endpoint()
    with serving(endpoint) as base:
        source = source_of(f"{base}/sd")
        endpoint.status = 502
        source.refresh()
        endpoint.answer([{"targets": ["h1:8265"]}])
        assert source.refresh() and source.ok and names(source) == ["fleet:h1:8265"]
        source.refresh()
    again = [r for r in caplog.records if "is usable again" in r.getMessage()]
    assert len(again) == 1


def test_an_answer_over_max_response_bytes_is_refused() -> None:
    endpoint = Endpoint()
    endpoint.answer([{"targets": ["h1:8265"]}])
    with serving(endpoint) as base:
        source = source_of(f"{base}/sd", max_response_bytes=1000)
        source.refresh()
        endpoint.answer([{"targets": [f"h{n}:8265" for n in range(200)]}])
        assert not source.refresh()
        assert source.errors["too_large"] == 1 and names(source) == ["fleet:h1:8265"]


def test_an_answer_past_the_timeout_is_refused() -> None:
    endpoint = Endpoint()
    endpoint.hang = True
    with serving(endpoint) as base:
        source = source_of(f"{base}/sd", timeout="300ms")
        assert not source.refresh()
        assert source.errors["timeout"] == 1 and not source.ok


@pytest.mark.parametrize(
    ("content_type", "body", "reason"),
    [
        ("application/json", b"[{", "format"),
        ("application/json", b'{"targets": ["h2:8265"]}', "format"),  # not a list
        ("application/json", b'[{"targets": "h2:8265"}]', "format"),
        ("text/plain", b'[{"targets": ["h2:8265"]}]', "format"),
        ("application/json", b'[{"targets": ["h2:8265"], "labels": {"target": "x"}}]', "labels"),
        ("application/json", b'[{"targets": ["u:p@h2:8265"]}]', "target"),
    ],
)
def test_a_bad_answer_is_refused_and_the_last_good_one_kept(
    content_type: str, body: bytes, reason: str
) -> None:
    endpoint = Endpoint()
    endpoint.answer([{"targets": ["h1:8265"]}])
    with serving(endpoint) as base:
        source = source_of(f"{base}/sd")
        source.refresh()
        endpoint.content_type, endpoint.body = content_type, body
        assert not source.refresh()
    assert source.errors[reason] == 1 and sum(source.errors.values()) == 1
    assert names(source) == ["fleet:h1:8265"] and not source.ok


def test_a_charset_is_accepted_and_a_duplicate_kept_once() -> None:
    endpoint = Endpoint()
    endpoint.content_type = "application/json; charset=utf-8"
    endpoint.answer([{"targets": ["h1:8265"]}, {"targets": ["h1:8265", "h2:8265"]}])
    with serving(endpoint) as base:
        source = source_of(f"{base}/sd", {"max_targets": 1})
        source.refresh()
        assert names(source) == ["fleet:h1:8265"]
        assert source.errors["duplicate"] == 1 and source.errors["limit"] == 1
        assert not source.ok


def test_credentials_are_sent_and_never_logged(caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="exporter")
    endpoint = Endpoint()
    with serving(endpoint) as base:
        source = source_of(f"{base}/sd?token={QUERY_TOKEN}", credentials={"token": TOKEN})
        endpoint.status = 401  # the answer echoes what it was sent
        endpoint.body = f'{{"error": "bad token {TOKEN} for {QUERY_TOKEN}"}}'.encode()
        source.refresh()
        host = base.removeprefix("http://")
        endpoint.body = f'{{"error": "bad password {PASSWORD}"}}'.encode()
        with_password = source_of(f"http://sd:{PASSWORD}@{host}/basic")
        with_password.refresh()
    (path, headers), (_, basic) = endpoint.requests
    assert path == f"/sd?token={QUERY_TOKEN}"
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert basic["Authorization"].startswith("Basic ")
    assert source.errors["auth"] == 1
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "bad token *** for ***" in logged and "bad password ***" in logged
    for secret in (TOKEN, QUERY_TOKEN, PASSWORD):
        assert secret not in logged


def test_a_reload_keeps_an_unchanged_source_and_refreshes_it() -> None:
    endpoint = Endpoint()
    endpoint.answer([{"targets": ["h1:8265"]}])
    with serving(endpoint) as base:
        parsed = parse_config(source_config(f"{base}/sd"))
        first = Discovery(parsed.discovery, parsed.defaults)
        first.refresh()
        assert not first.due()  # next at refresh_interval
        endpoint.answer([{"targets": ["h2:8265"]}])
        again = Discovery(parsed.discovery, parsed.defaults, first)
        assert again.sources[0] is first.sources[0]
        again.refresh(force=True)  # as at SIGHUP: asked now
        assert [item.target.name for item in again.found()] == ["fleet:h2:8265"]


@pytest.mark.slow
def test_an_https_endpoint_is_verified_with_the_tls_settings(tmp_path: Path) -> None:
    pki = server_pki(tmp_path)
    endpoint = Endpoint()
    endpoint.answer([{"targets": ["h1:8265"]}])
    with serving(endpoint, tls=pki) as base:
        trusted = source_of(f"{base}/sd", tls={"ca_file": str(pki / "ca.crt")})
        assert trusted.refresh() and names(trusted) == ["fleet:h1:8265"]
        unknown = source_of(f"{base}/sd")  # the system's CAs do not know the test CA
        assert not unknown.refresh() and unknown.errors["tls"] == 1
