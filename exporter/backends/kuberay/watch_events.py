"""The body of a Kubernetes watch: one JSON event a line (``{"type": ..., "object": ...}``),
read as it arrives and handed on event by event, so that a long answer is never held whole."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from exporter.http.decode import decode_json

START_BYTES = 200  # kept of the body's start, for an error message


class WatchEvents:
    """A ``BodyReader`` of a watch answer: each complete line decoded and given to ``take``
    (the decoder's ``UndecodableJson`` for a line that is no JSON, whatever ``take`` raises
    for an event it refuses)."""

    def __init__(self, take: Callable[[Any], None]) -> None:
        self.start = b""
        self._take = take
        self._pending = bytearray()

    def feed(self, piece: bytes) -> None:
        if len(self.start) < START_BYTES:
            self.start += piece[: START_BYTES - len(self.start)]
        self._pending += piece
        while (end := self._pending.find(b"\n")) >= 0:
            line = bytes(self._pending[:end])
            del self._pending[: end + 1]
            if line.strip():
                self._take(decode_json(line))

    def finish(self) -> None:
        """The last line, when the server closed the stream without ending it."""
        if self._pending.strip():
            self._take(decode_json(bytes(self._pending)))
        self._pending.clear()

    def abandon(self) -> None:
        self._pending.clear()
