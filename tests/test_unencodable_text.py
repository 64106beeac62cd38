"""Text no UTF-8 encoder accepts (a lone surrogate, which a backend's JSON can carry as an
escape) reaches the logs and the landing page as visible escapes, never as a failed write."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler

import httpx
import pytest

from exporter.app import Exporter
from exporter.config.parse import parse_config
from exporter.logs import JsonFormatter, LogfmtFormatter

from .helpers import loopback_server, serving

ERROR_BODY = b'{"Code": "InvalidParameter", "Message": "bad \\ud800 value", "RequestId": "r-1"}'


@pytest.mark.parametrize("formatter", [LogfmtFormatter(), JsonFormatter()], ids=["text", "json"])
def test_a_lone_surrogate_is_logged_as_an_escape(formatter: logging.Formatter) -> None:
    record = logging.LogRecord("t", logging.WARNING, __file__, 1, "job %s", ("a\ud800b",), None)
    line = formatter.format(record).encode("utf-8")  # strict: raised before
    assert b"\\ud800" in line


@contextmanager
def answering_400_with_a_surrogate() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(400)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(ERROR_BODY)))
            self.end_headers()
            self.wfile.write(ERROR_BODY)

        def log_message(self, *args: object) -> None:
            pass

    with loopback_server(Handler) as url:
        yield url


def test_the_landing_page_shows_a_backend_error_holding_a_lone_surrogate() -> None:
    with answering_400_with_a_surrogate() as url:
        target = {
            "name": "emr",
            "backend": "emr_serverless",
            "workspace_id": "w-1",
            "endpoint": url,
            "credentials": {"access_key_id": "AKID-test", "access_key_secret": "secret-test"},
            "resources": ["jobs"],
        }
        exporter = Exporter(parse_config({"targets": [target]}))
        assert not exporter.poll_all_once()
        assert "\ud800" in exporter.pollers[0].health["jobs"].last_error
        with serving(exporter) as base:
            page = httpx.get(f"{base}/", timeout=10)
    assert page.status_code == 200
    assert "bad \\ud800 value" in page.text
