"""The item array of a job list held by one key of a top-level JSON object (an envelope, as
``{"kind": "JobList", "metadata": {...}, "items": [...]}`` or ``{"jobRuns": [...],
"nextToken": "..."}``), found while the answer arrives, and the envelope's other members.

Where the array begins is found by ``HeadScan`` in the answer's first ``HEAD_BOUND`` bytes: a
tokenizer (strings whole, escapes respected) walks the top-level object and takes the key only
as a member name of that object, never inside a string or a nested value, and only when its
value is an array. Past the bound, or where the object ends first, or the key holds anything
else, the answer is read whole the lenient way.

Where the array ends is found at the end of the answer, by decoding the last run of items
together with the envelope's head (``split_final``): the key is renamed there to a name of
this process (random, so no answer can hold it), so that the same key found again after the
array, which the whole-answer readers would take in place of the first (the last of a JSON
object's duplicate members wins), shows; the answer is then read by the lenient path.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

import msgspec

from exporter.backends.base import Listing
from exporter.http.decode import decode_json

HEAD_BOUND = 64 * 1024  # bytes of an answer searched for the envelope's item array
NOT_FOUND = -1  # the head holds no array of the key: the answer is read whole
SCAN_FROM = 256  # bytes received before the head is first searched
# a string whole, or one structural byte, after whatever else (numbers, literals, blanks)
_TOKEN = re.compile(rb'[^"\[\]{},:]*+("(?:[^"\\]++|\\.)*+"|[\[\]{},:])', re.DOTALL)
_SPACE = re.compile(rb"[ \t\r\n]*+")
_MEMBERS = msgspec.json.Decoder(dict[str, msgspec.Raw])


@dataclass(slots=True)
class EnvelopeListing(Listing):
    """A listing read from an envelope: ``envelope`` holds the answer's other top-level
    members (a paging token, a total, list metadata), decoded as JSON values."""

    envelope: dict[str, Any] = field(default_factory=dict)


def enveloped(listing: Listing, envelope: dict[str, Any]) -> EnvelopeListing:
    return EnvelopeListing(
        items=listing.items,
        complete=listing.complete,
        skipped=listing.skipped,
        as_of=listing.as_of,
        envelope=envelope,
    )


class HeadScan:
    """The search of one answer's head for the array of the envelope's ``key``, resumed as
    the answer arrives (from the last whole token, so each byte is tokenized about once)."""

    def __init__(self, key: str, sentinel: bytes) -> None:
        self.key = key
        self.name = json.dumps(key).encode()  # the key as an answer most likely spells it
        self.sentinel = sentinel
        self._at = 0  # where the next token begins
        self._depth = 0
        self._member = False  # the next string at depth 1 names a member
        self._span: tuple[int, int] | None = None  # the key's token, once read as a member
        self._scan_at = SCAN_FROM

    def find(self, head: bytes | bytearray, final: bool = False) -> int | None:
        """The index of the array's ``[`` in ``head``; ``NOT_FOUND`` where it is not to be
        found there (read the answer whole); None until more of the answer has arrived."""
        if len(head) < self._scan_at and not final:
            return None
        self._scan_at = min(2 * len(head), HEAD_BOUND)
        end = min(len(head), HEAD_BOUND)
        found = self._walk(head, end)
        if found is None and (final or end == HEAD_BOUND):
            return NOT_FOUND
        return found

    def head(self, answer: bytes | bytearray, bracket: int) -> tuple[bytes, bytes]:
        """(the head as received, the head with the key renamed to the sentinel)."""
        assert self._span is not None
        start, end = self._span
        return bytes(answer[:bracket]), b"".join(
            (answer[:start], self.sentinel, answer[end:bracket])
        )

    def _walk(self, head: bytes | bytearray, end: int) -> int | None:
        while True:
            if self._span is not None:
                return self._value(head, end)
            token = _TOKEN.match(head, self._at, end)
            if token is None:
                return None  # a token is cut by what has arrived
            kind = token[1]
            if self._depth == 0 and kind != b"{":
                return NOT_FOUND  # the answer is no object
            self._at = token.end()
            if kind in (b"{", b"["):
                self._depth += 1
                self._member = kind == b"{" and self._depth == 1
            elif kind in (b"}", b"]"):
                self._depth -= 1
                if self._depth <= 0:
                    return NOT_FOUND  # the object ended without the array
            elif kind == b"," and self._depth == 1:
                self._member = True
            elif self._member and kind[:1] == b'"':
                self._member = False
                if self._names_key(kind):
                    self._span = token.span(1)

    def _value(self, head: bytes | bytearray, end: int) -> int | None:
        """After the key: its ``:``, then the ``[`` opening its value."""
        at = _SPACE.match(head, self._at, end).end()
        if at == end:
            return None
        if head[at] == ord(":"):
            at = _SPACE.match(head, at + 1, end).end()
            if at == end:
                return None
            return at if head[at] == ord("[") else NOT_FOUND
        return NOT_FOUND

    def _names_key(self, token: bytes) -> bool:
        if token == self.name:
            return True
        if b"\\" not in token:
            return token[1:-1] == self.key.encode()
        try:
            return json.loads(token) == self.key
        except ValueError:
            return False


def split_final(doc: bytes, key: str, sentinel: str) -> tuple[msgspec.Raw, dict[str, Any]] | None:
    """(the item array, the other members decoded) of ``doc``: the last run of items with the
    envelope's head, its key renamed to ``sentinel``; None when the typed reader cannot read
    it so, or the key is found again (the lenient path reads it)."""
    try:
        members = _MEMBERS.decode(doc)
    except (msgspec.MsgspecError, RecursionError):
        return None
    array = members.pop(sentinel, None)
    if array is None or key in members:
        return None
    return array, {name: _value(raw) for name, raw in members.items()}


def rest_of(doc: bytes, key: str, sentinel: str | None = None) -> tuple[dict[str, Any], bool]:
    """(the members of the answer ``doc`` but the items, read leniently; whether ``key`` was
    found there, with the items renamed to ``sentinel``). Empty when ``doc`` is no object."""
    if doc.lstrip(b" \t\r\n")[:1] != b"{":
        return {}, False
    try:
        members: dict[str, Any] = {name: _value(raw) for name, raw in _MEMBERS.decode(doc).items()}
    except (msgspec.MsgspecError, RecursionError):
        members = decode_json(doc)
    found = key in members
    members.pop(key, None)
    if sentinel is not None:
        members.pop(sentinel, None)
    return members, found


def _value(raw: msgspec.Raw) -> Any:
    try:
        return msgspec.json.decode(raw)
    except (msgspec.MsgspecError, RecursionError):
        return decode_json(bytes(raw))


def sentinel_name() -> str:
    """A member name no answer holds: random to this process."""
    return "\x00listed-" + secrets.token_hex(8)
