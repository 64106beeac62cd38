"""A request's head (request line and header lines) held to RFC 9112's grammar, over real
sockets: a line that breaks it gets 400 and the connection closes, so nothing after it (a body
the server did not see as one) is ever run as a request."""

from __future__ import annotations

import socket

import pytest

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
