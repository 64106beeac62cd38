"""A response body read and decoded against a size cap and a deadline.

The raw bytes are read here, not by httpx, and each ``Content-Encoding`` is undone by a
decompressor that never yields more than ``PIECE`` bytes from one call: a nested gzip bomb costs
at most the cap in memory, never its expanded size.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Iterable, Iterator

import httpx

from exporter.errors import PollError

PIECE = 64 * 1024
MAX_ENCODINGS = 2  # e.g. "deflate, gzip"; deeper chains are refused
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
ACCEPT_ENCODING = "gzip, deflate"


def check_media_type(response: httpx.Response, expected: str | None, operation: str) -> None:
    """PollError ``parse`` unless the answer's ``Content-Type`` is ``expected`` (when given),
    whatever its parameters (``application/json; charset=utf-8``)."""
    if expected is None:
        return
    media = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != expected:
        shown = ascii(media[:64]) if media else "none"
        raise PollError("parse", f"{operation}: Content-Type {shown}, not {expected}")


def encodings(response: httpx.Response, operation: str) -> list[str]:
    """The response's content codings, innermost first; PollError for ones not undone here."""
    header = ",".join(response.headers.get_list("content-encoding"))
    chain = [part.strip().lower() for part in header.split(",") if part.strip()]
    chain = [coding for coding in chain if coding != "identity"]
    if len(chain) > MAX_ENCODINGS:
        raise PollError("parse", f"{operation}: {len(chain)} nested content encodings refused")
    unknown = [coding for coding in chain if coding not in _WBITS]
    if unknown:
        raise PollError("parse", f"{operation}: unsupported content encoding {unknown[0][:32]!r}")
    return chain


def _inflate(coding: str, pieces: Iterable[bytes]) -> Iterator[bytes]:
    """Decompress ``pieces``, yielding at most ``PIECE`` bytes at a time; gzip members follow
    one another; ``deflate`` is zlib-wrapped, or raw as some servers send it."""
    decoder = zlib.decompressobj(_WBITS[coding])
    started = False
    for data in pieces:
        while data:
            try:
                out = decoder.decompress(data, PIECE)
            except zlib.error:
                if coding != "deflate" or started:
                    raise
                decoder = zlib.decompressobj(-zlib.MAX_WBITS)
                out = decoder.decompress(data, PIECE)
            started = True
            if out:
                yield out
            data = decoder.unconsumed_tail
            if decoder.eof and decoder.unused_data:
                data = decoder.unused_data
                decoder = zlib.decompressobj(_WBITS[coding])
    tail = decoder.flush(PIECE)
    if tail:
        yield tail


def _capped(pieces: Iterable[bytes], limit: int, error: Callable[[], PollError]) -> Iterator[bytes]:
    total = 0
    for piece in pieces:
        total += len(piece)
        if total > limit:
            raise error()
        yield piece


def read_body(
    response: httpx.Response, operation: str, limit: int, deadline: float
) -> bytes | bytearray:
    """The decoded body: at most ``limit`` bytes, raw and decoded, read before ``deadline``.

    A body sent as is with a ``Content-Length`` is received into one buffer of that size (the
    HTTP/1.1 parser ends the body there): no list of pieces lives beside the whole body, which
    halves what a large answer costs at the peak of a poll. Other bodies are joined."""
    declared = response.headers.get("content-length", "")
    sent_as_is = not encodings(response, operation)
    body = _Collected(int(declared) if declared.isdigit() and sent_as_is else None)
    for piece in body_pieces(response, operation, limit, deadline):
        body.add(piece)
    return body.whole()


def body_pieces(
    response: httpx.Response, operation: str, limit: int, deadline: float
) -> Iterator[bytes]:
    """The decoded body piece by piece, as it arrives: at most ``limit`` bytes, raw and
    decoded, all before ``deadline`` (PollError otherwise)."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PollError("too_large", f"{operation}: response of {declared} bytes over {limit}")
    chain = encodings(response, operation)
    pieces: Iterable[bytes] = _capped(
        response.iter_raw(),  # as received: cutting them into pieces would copy them again
        limit,
        lambda: PollError("too_large", f"{operation}: response over {limit} bytes"),
    )
    for coding in reversed(chain):
        pieces = _inflate(coding, pieces)
    size = 0
    try:
        for piece in pieces:
            size += len(piece)
            if size > limit:
                raise PollError("too_large", f"{operation}: decoded response over {limit} bytes")
            if time.monotonic() > deadline:
                raise PollError("timeout", f"{operation}: response not complete by the deadline")
            yield piece
    except zlib.error as err:
        raise PollError(
            "parse", f"{operation}: undecodable {'/'.join(chain)} body: {err}"
        ) from None


class _Collected:
    """A body's pieces: copied into one buffer of the ``expected`` size as they come, or
    kept and joined at the end when the size is not known."""

    def __init__(self, expected: int | None) -> None:
        self.size = 0
        self._buffer = bytearray(expected) if expected else None  # zero pages: not yet touched
        self._pieces: list[bytes] = []

    def add(self, piece: bytes) -> None:
        end = self.size + len(piece)
        if self._buffer is not None:
            self._buffer[self.size : end] = piece  # past the expected size, the buffer grows
        else:
            self._pieces.append(piece)
        self.size = end

    def whole(self) -> bytes | bytearray:
        if self._buffer is not None:
            del self._buffer[self.size :]  # nothing, unless the body ended short
            return self._buffer
        return b"".join(self._pieces)
