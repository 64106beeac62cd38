"""A job list read item by item, where an item listed with the same bytes as at the last poll
costs a hash: the record made from those bytes then is used again, without decoding them.

A large job list (Ray: one JSON array of every job, no filter, no change marker) is mostly the
same from one poll to the next. Its items are first cut out as raw byte slices (msgspec
``Raw``: no objects are built for their content); each slice is hashed, and only the items
whose hash was not among the last answer's are decoded into typed records and parsed. The
parse of an item depends on its bytes alone, so the record kept for those bytes is the one a
new parse would make; records are shared (never changed after parsing), so the reconciler can
tell an unchanged job by identity.

The digest is Python's ``hash`` of the bytes (SipHash, keyed at random per process) cut to
60 bits, which an int holds in 32 bytes where 64 bits take 48: a changed item taken for an
unchanged one needs a collision among 60-bit keyed digests (about one chance in 10^13 per
changed item against 100,000 listed ones), and cannot be forced by a backend that does not
know the key. What is kept per listed item is the digest and the record.

An answer that is not an array, or any changed item the typed reader refuses, is read whole by
the backend's lenient path instead (``decode.typed_decoder`` and the backend's parser), so
every tolerance of that path holds; the memory of the last answer is then dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import msgspec

from .base import Listing
from .fields import read_item

T = TypeVar("T")
DIGEST_MASK = (1 << 60) - 1
_ABSENT = object()  # no record kept for a digest (None is kept for an item that was skipped)


class ListedItems(Generic[T]):
    """One target's job list: the record made from each item of the last answer, by digest.

    ``item_type`` is the typed record an item is decoded into; ``parse_item`` makes the shared
    record from it (None: the item is skipped); ``read_whole`` reads an answer the typed reader
    does not take, the lenient way.
    """

    def __init__(
        self,
        item_type: type,
        parse_item: Callable[[Any], T | None],
        read_whole: Callable[[bytes], Listing],
    ) -> None:
        self._items = msgspec.json.Decoder(list[msgspec.Raw])
        self._item = msgspec.json.Decoder(item_type)
        self._parse_item = parse_item
        self._read_whole = read_whole
        self._last: dict[int, T | None] = {}

    def listing(self, body: bytes) -> Listing:
        """The records of the answer ``body``, in its order; items without a record skipped."""
        records = self._records(body)
        if records is None:
            self._last = {}
            return self._read_whole(body)
        return Listing(items=records[0], skipped=records[1])

    def _records(self, body: bytes) -> tuple[list[T], int] | None:
        try:
            raws = self._items.decode(body)
        except (msgspec.MsgspecError, RecursionError):
            return None
        last, kept = self._last, {}
        records: list[T] = []
        for raw in raws:
            digest = hash(bytes(raw)) & DIGEST_MASK
            record = kept.get(digest, _ABSENT)
            if record is _ABSENT:
                record = last.pop(digest, _ABSENT)  # its old digest freed for the new one
                if record is _ABSENT:
                    try:
                        item = self._item.decode(raw)
                    except (msgspec.MsgspecError, RecursionError):
                        return None
                    record = read_item(self._parse_item, item)
                kept[digest] = record
            if record is not None:
                records.append(record)
        self._last = kept
        return records, len(raws) - len(records)
