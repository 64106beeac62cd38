"""Response bodies over real HTTP: each framing reads to the same bytes, and a body that ends
before its Content-Length is an error, never a short answer."""

from __future__ import annotations

import gzip
import platform
import time
from http.server import BaseHTTPRequestHandler

import pytest

from exporter.errors import PollError
from exporter.http.client import ApiClient
from exporter.polling import heap
from exporter.polling.health import ApiStats

from .helpers import loopback_server

BODY = b'[{"submission_id": "a"}' + b', {"submission_id": "b"}' * 200_000 + b"]"  # ~5 MB


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for start in range(0, len(BODY), 300_000):
                piece = BODY[start : start + 300_000]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
            return
        body = gzip.compress(BODY) if self.path == "/gzip" else BODY
        self.send_response(200)
        self.send_header("Content-Length", str(len(body) + (self.path == "/short")))
        if self.path == "/gzip":
            self.send_header("Content-Encoding", "gzip")
        if self.path == "/short":
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        if self.path == "/short":
            self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


def _get(url: str, path: str) -> object:
    api = ApiClient(url, ApiStats(), max_response_bytes=64 * 1024 * 1024)
    try:
        body, _ = api.get_json_dated(path, "Get", deadline=time.monotonic() + 20, decode=bytes)
    finally:
        api.close()
    return body


@pytest.mark.parametrize("path", ["/length", "/chunked", "/gzip"])
def test_every_framing_reads_the_whole_body(path: str) -> None:
    with loopback_server(Handler) as url:
        assert _get(url, path) == BODY


def test_a_body_ending_before_its_content_length_is_an_error() -> None:
    with loopback_server(Handler) as url, pytest.raises(PollError) as err:
        _get(url, "/short")
    assert err.value.reason == "connection"


def test_the_c_heap_can_be_given_back_where_the_libc_allows() -> None:
    assert (heap._TRIM is not None) == (platform.libc_ver()[0] == "glibc")
    heap.release_free_heap()  # and is harmless to call at any time
