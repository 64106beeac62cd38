"""A connection's input and output for the server: reads bounded by a deadline for the whole
request, each request's head held to RFC 9112's grammar as it is read, and whole writes.
"""

from __future__ import annotations

import io
import re
import socket
import time

_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"  # RFC 9110 5.6.2: a method, a field name
# RFC 9112 3 and 5, with none of the leniency they allow: one SP between the parts, an ASCII
# target (str.split, which http.server uses, also splits on NBSP and other non-ASCII spaces),
# no whitespace before a field's colon, no obs-fold, no control character but HTAB in a value,
# every line ended by CRLF. The version is left to http.server (400 or 505).
_REQUEST_LINE = re.compile(rb"%s [\x21-\x7e]+(?: [\x21-\x7e]+)?\r\n" % _TOKEN)
_FIELD_LINE = re.compile(rb"%s:[\t\x20-\x7e\x80-\xff]*\r\n" % _TOKEN)


class DeadlineReader(io.RawIOBase):
    """Reads from a socket until ``deadline`` (time.monotonic) as a whole, not per recv: a
    client trickling one byte at a time cannot stretch it."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.deadline = 0.0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("read deadline passed")
        self._sock.settimeout(remaining)
        return self._sock.recv_into(buffer)


class MalformedHead(Exception):
    """A request line or header line that breaks HTTP/1.1's grammar."""


def _head_problem(line: bytes, request_line: bool) -> str:
    if not line.endswith(b"\n"):
        return "the request's head ends early"
    if not line.endswith(b"\r\n"):
        return "a line of the request's head ends in a bare LF, not CRLF"
    if request_line:
        return "malformed request line"
    if line[:1] in (b" ", b"\t"):
        return "a folded header line (obs-fold)"
    return "malformed header line"


class RequestReader(io.BufferedReader):
    """A connection's input, which checks each request's head as it is read.

    From ``begin()`` on, the lines read (the request line, then the header lines up to the
    empty one) must match RFC 9112's grammar, else ``MalformedHead`` is raised. http.server
    reads the head a line at a time through ``readline``, so this is the one place every
    byte of it passes, before anything parses it; the body is read with ``read``, unchecked.
    """

    def __init__(self, raw: io.RawIOBase) -> None:
        super().__init__(raw)
        self._expected: re.Pattern[bytes] | None = None

    def begin(self) -> None:
        """The next line read is a request's first."""
        self._expected = _REQUEST_LINE

    def readline(self, size: int | None = -1, /) -> bytes:
        line = super().readline(size)
        expected = self._expected
        if expected is None or (len(line) == size and not line.endswith(b"\n")):
            return line  # not in a head, or cut at the caller's limit: the caller refuses it
        if expected is _FIELD_LINE and line == b"\r\n":
            self._expected = None  # the head is whole
        elif expected.fullmatch(line):
            self._expected = _FIELD_LINE
        else:
            self._expected = None
            raise MalformedHead(_head_problem(line, expected is _REQUEST_LINE))
        return line


class SocketWriter(io.BufferedIOBase):
    """Every write goes out whole (sendall), at once."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self._sock.sendall(data)
        return len(data)
