"""The HTTP application and its security layer as plain functions, without sockets: routing,
404/405, the lifecycle flag, /metrics negotiation; basic auth, excluded paths and the
configured headers."""

from __future__ import annotations

import base64
import gzip
from collections.abc import Callable
from pathlib import Path

import bcrypt
import pytest

from exporter.exposition import families
from exporter.exposition.block import Block
from exporter.exposition.store import PROCESS_BLOCK, Exposition
from exporter.polling.health import ResourceStatus, StatusSnapshot
from exporter.web.app import Application, Request, Response
from exporter.web.negotiation import OPENMETRICS_1_0_0, TEXT_0_0_4
from exporter.web.security import Secured
from exporter.web.web_config import WebSecurity

RESOURCE = ResourceStatus("t<1>", "ray", "http://ray:8265", "jobs", True, True, 0.0, 1.0, "")


def exposition() -> Exposition:
    build = Block(())
    build.add(
        families.BUILD_INFO, 1, (("version", "test"), ("revision", "r"), ("python_version", "3"))
    )
    served = Exposition()
    served.update({PROCESS_BLOCK: build.encode()})
    return served


def application(
    snapshot: StatusSnapshot = StatusSnapshot(),  # noqa: B008 - immutable
    reload: Callable[[], tuple[bool, str]] | None = None,
    enable_lifecycle: bool = False,
) -> Application:
    return Application(exposition(), lambda: snapshot, reload, enable_lifecycle)


def get(path: str, *headers: tuple[str, str], method: str = "GET") -> Request:
    return Request.of(method, path, headers)


def body(response: Response) -> bytes:
    return b"".join(response.body)


def header(response: Response, name: str) -> str | None:
    values = [value for key, value in response.headers if key.lower() == name.lower()]
    assert len(values) <= 1, f"{name} sent twice"
    return values[0] if values else None


# --- the values ----------------------------------------------------------------------------


def test_a_request_splits_its_target_and_finds_headers_in_any_case_first_one_first() -> None:
    request = Request.of("GET", "/metrics?a=1?b", (("accept", "x"), ("ACCEPT", "y")))
    assert (request.path, request.query) == ("/metrics", "a=1?b")
    assert request.header("Accept") == "x"
    assert request.header("Authorization") is None


def test_a_response_states_its_length_and_its_headers_in_order() -> None:
    response = Response.of(200, (b"ab", b"", b"cde"), "text/plain", {"Vary": "Accept"})
    assert response.headers == (
        ("Content-Type", "text/plain"),
        ("Content-Length", "5"),
        ("Vary", "Accept"),
    )
    assert response.with_headers({"X-Frame-Options": "deny"}).headers[-1] == (
        "X-Frame-Options",
        "deny",
    )


# --- routing -------------------------------------------------------------------------------


def test_health_and_an_unknown_path() -> None:
    app = application()
    assert (app(get("/healthz")).status, body(app(get("/healthz")))) == (200, b"ok\n")
    assert app(get("/healthz?verbose=1")).status == 200  # the query is not part of the route
    for path in ("/nope", "/metrics/", "//metrics", "/HEALTHZ"):
        response = app(get(path))
        assert (response.status, body(response)) == (404, b"not found\n"), path


def test_head_is_answered_as_get() -> None:
    app = application(StatusSnapshot((RESOURCE,)))
    assert app(get("/", method="HEAD")) == app(get("/"))
    assert app(get("/nope", method="HEAD")).status == 404


def test_readiness_lists_what_it_waits_for_at_most_twenty() -> None:
    waiting = tuple(f"t/r{i}" for i in range(25))
    response = application(StatusSnapshot(waiting=waiting))(get("/readyz"))
    assert response.status == 503
    assert body(response).startswith(b"waiting for a first poll of: t/r0, t/r1, ")
    assert body(response).endswith(b", t/r19 and 5 more\n")
    assert application()(get("/readyz")).status == 200


def test_the_landing_page_lists_the_targets_escaped() -> None:
    response = application(StatusSnapshot((RESOURCE,)))(get("/"))
    assert response.status == 200
    assert header(response, "Content-Type") == "text/html; charset=utf-8"
    assert b"<td>t&lt;1&gt;</td>" in body(response)
    assert b"http://ray:8265" in body(response)


def test_reload_answers_post_only_and_only_with_the_lifecycle_flag() -> None:
    calls: list[None] = []

    def reload() -> tuple[bool, str]:
        calls.append(None)
        return len(calls) == 1, f"reload {len(calls)}"

    refused = application(reload=reload)(get("/-/reload", method="POST"))
    assert (refused.status, body(refused)) == (403, b"Lifecycle API is not enabled.\n")
    assert calls == []

    app = application(reload=reload, enable_lifecycle=True)
    wrong_method = app(get("/-/reload"))
    assert (wrong_method.status, header(wrong_method, "Allow")) == (405, "POST")
    assert app(get("/metrics", method="POST")).status == 404
    assert calls == []
    ok, failed = app(get("/-/reload", method="POST")), app(get("/-/reload", method="POST"))
    assert (ok.status, body(ok)) == (200, b"reload 1\n")
    assert (failed.status, body(failed)) == (500, b"reload 2\n")

    unavailable = application(enable_lifecycle=True)(get("/-/reload", method="POST"))
    assert (unavailable.status, body(unavailable)) == (405, b"reload is not available\n")


def test_another_method_is_not_implemented() -> None:
    assert application()(get("/metrics", method="PUT")).status == 501


# --- /metrics ------------------------------------------------------------------------------


def test_metrics_plain_text_by_default() -> None:
    response = application()(get("/metrics"))
    assert response.status == 200
    assert header(response, "Content-Type") == TEXT_0_0_4
    assert header(response, "Content-Encoding") is None
    assert header(response, "Vary") == "Accept, Accept-Encoding"
    assert header(response, "Content-Length") == str(len(body(response)))
    assert b'\njobfleet_build_info{version="test",revision="r",python_version="3"} 1\n' in body(
        response
    )
    assert b"\nprocess_cpu_seconds_total " in body(response)


def test_metrics_negotiate_openmetrics_and_gzip() -> None:
    response = application()(
        get(
            "/metrics",
            ("Accept", "application/openmetrics-text;version=1.0.0"),
            ("Accept-Encoding", "gzip"),
        )
    )
    assert response.status == 200
    assert header(response, "Content-Type") == f"{OPENMETRICS_1_0_0}; escaping=underscores"
    assert header(response, "Content-Encoding") == "gzip"
    assert header(response, "Content-Length") == str(len(body(response)))
    assert gzip.decompress(body(response)).endswith(b"# EOF\n")


@pytest.mark.parametrize("accept_encoding", ["identity;q=0", "*;q=0"])
def test_metrics_refuse_a_client_accepting_no_coding_we_have(accept_encoding: str) -> None:
    response = application()(get("/metrics", ("Accept-Encoding", accept_encoding)))
    assert response.status == 406
    assert header(response, "Vary") == "Accept, Accept-Encoding"


# --- the security layer --------------------------------------------------------------------

HEADERS = {"X-Frame-Options": "deny", "Strict-Transport-Security": "max-age=31536000"}


class Recorder:
    """An application that records what reaches it."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    def __call__(self, request: Request) -> Response:
        self.paths.append(request.path)
        return Response.of(200, b"inner\n", "text/plain")


@pytest.fixture(scope="module")
def web_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    hashed = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4)).decode()
    path = tmp_path_factory.mktemp("web") / "web.yml"
    path.write_text(
        f"basic_auth_users:\n  prometheus: {hashed}\nauth_excluded_paths: [/healthz]\n"
        "http_server_config:\n  headers:\n"
        + "".join(f"    {name}: {value}\n" for name, value in HEADERS.items())
    )
    return path


def basic(user: str, password: str) -> tuple[str, str]:
    return ("authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())


def test_without_valid_credentials_the_application_is_never_reached(web_config: Path) -> None:
    inner = Recorder()
    secured = Secured(inner, WebSecurity(web_config))
    for request in (
        get("/metrics"),
        get("/metrics", basic("prometheus", "wrong")),
        get("/metrics", basic("nobody", "s3cret")),
        get("/-/reload", ("Authorization", "Bearer s3cret"), method="POST"),
        get("/healthz/", method="HEAD"),  # only the exact excluded path is open
    ):
        response = secured(request)
        assert response.status == 401, request
        assert header(response, "WWW-Authenticate") == 'Basic realm="jobfleet-exporter"'
        assert body(response) == b"unauthorized\n"
        assert header(response, "Content-Length") == "13"
        for name, value in HEADERS.items():
            assert header(response, name) == value
    assert inner.paths == []


def test_valid_credentials_reach_the_application_and_get_the_headers(web_config: Path) -> None:
    inner = Recorder()
    response = Secured(inner, WebSecurity(web_config))(
        get("/metrics?x=1", basic("prometheus", "s3cret"))
    )
    assert (response.status, body(response)) == (200, b"inner\n")
    assert inner.paths == ["/metrics"]
    assert response.headers[:2] == (("Content-Type", "text/plain"), ("Content-Length", "6"))
    assert response.headers[2:] == tuple(HEADERS.items())


def test_an_excluded_path_is_answered_without_credentials(web_config: Path) -> None:
    inner = Recorder()
    secured = Secured(inner, WebSecurity(web_config))
    response = secured(get("/healthz?verbose"))
    assert (response.status, body(response)) == (200, b"inner\n")
    assert inner.paths == ["/healthz"]
    assert header(response, "X-Frame-Options") == "deny"
    assert secured.headers() == HEADERS  # for the server's own refusals


def test_the_headers_alone_need_no_credentials(tmp_path: Path) -> None:
    web = tmp_path / "web.yml"
    web.write_text("http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n")
    secured = Secured(application(), WebSecurity(web))
    response = secured(get("/nope"))
    assert response.status == 404
    assert response.headers[-1] == ("X-Content-Type-Options", "nosniff")
