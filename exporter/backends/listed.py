"""A job list read item by item as it arrives, where an item listed with the same bytes as at
the last poll costs a hash: the record made from those bytes then is used again, undecoded.

A large job list (Ray: one JSON array of every job, no filter, no change marker) is mostly the
same from one poll to the next. The answer is cut, as it is received, into runs of whole items
(about ``RUN`` bytes each), so it is never held whole; each run is cut into raw byte slices
(msgspec ``Raw``: no objects are built for their content), each slice is hashed, and only the
items whose hash was not among the last answer's are decoded into typed records and parsed.
The parse of an item depends on its bytes alone, so the record kept for those bytes is the one
a new parse would make; records are shared (never changed after parsing), so the reconciler can
tell an unchanged job by identity.

A run ends after an item's closing ``}`` followed by a ``,``, and is taken only if the typed
reader reads it as a JSON array: a cut inside a string leaves that string open, a cut inside a
nested value leaves it unclosed, so neither reads. Where no cut is found within ``MAX_RUN``
bytes (an item that no typed reader takes, such as one holding ``NaN``), the rest of the answer
is read as one run at its end.

The digest is Python's ``hash`` of the bytes (SipHash, keyed at random per process) cut to
60 bits, which an int holds in 32 bytes where 64 bits take 48: a changed item taken for an
unchanged one needs a collision among 60-bit keyed digests (about one chance in 10^13 per
changed item against 100,000 listed ones), and cannot be forced by a backend that does not
know the key. What is kept per listed item is the digest and the record.

An answer that is not an array is read whole by the backend's lenient path
(``decode.typed_decoder`` and the backend's parser); an item the typed reader refuses is read
alone by that path (an item reads the same alone as among the others), and so is the last run
when it is no array of items the typed reader can cut, so every tolerance of that path holds.

A reader made with an item limit (``items.item_limit``) counts the items of each run before
reading them, and what is read whole before reading it (``items.check_items``): past the
limit it raises ``items.TooManyItems`` and keeps nothing of the answer, so that an answer of
many small items never costs more than the limit's records.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import msgspec

from exporter.backends.base import Listing
from exporter.backends.fields import read_item
from exporter.http.decode import UndecodableJson
from exporter.http.items import TooManyItems, check_items

T = TypeVar("T")
DIGEST_MASK = (1 << 60) - 1
RUN = 1024 * 1024  # bytes received before a run of whole items is cut off
MAX_RUN = 16 * RUN  # past this without a cut, the rest is read at the end as one run
CUT_TRIES = 8  # candidate cuts tried, from the end of what was received
START = 1024  # bytes of the answer kept for an error message
_ABSENT = object()  # no record kept for a digest (None is kept for an item that was skipped)
_SPACE = b" \t\r\n"


class ListedItems(Generic[T]):
    """One target's job list: the record made from each item of the last answer, by digest.

    ``item_type`` is the typed record an item is decoded into; ``parse_item`` makes the shared
    record from it (None: the item is skipped); ``read_whole`` reads, the lenient way, an
    answer (or a run of items, as a JSON array) that the typed reader does not take.
    """

    def __init__(
        self,
        item_type: type,
        parse_item: Callable[[Any], T | None],
        read_whole: Callable[[bytes], Listing],
        run: int = RUN,
    ) -> None:
        self.items = msgspec.json.Decoder(list[msgspec.Raw])
        self.item = msgspec.json.Decoder(item_type)
        self.parse_item = parse_item
        self.read_whole = read_whole
        self.run = run
        self.last: dict[int, T | None] = {}
        # the records of the last answer left unfinished (its poll failed part-way), kept for
        # the next poll: only the latest one's, so failed polls hold one answer's, not each's
        self.partial: dict[int, T | None] = {}

    def reader(self, max_items: int | None = None) -> AnswerReader[T]:
        """A reader of one answer, fed as it arrives (``http.BodyReader``), that takes at
        most ``max_items`` items (None: any number)."""
        return AnswerReader(self, max_items)

    def listing(self, body: bytes) -> Listing:
        """The records of the whole answer ``body``, in its order."""
        reader = self.reader()
        reader.feed(body)
        return reader.finish()


class AnswerReader(Generic[T]):
    """One answer of a ``ListedItems``: runs of whole items are read as they arrive; the
    records kept for the next answer replace the last ones when the answer is complete."""

    def __init__(self, items: ListedItems[T], max_items: int | None = None) -> None:
        self._items = items
        self._limit = max_items
        self._count = 0  # items of the runs read so far
        self.start = b""
        self._pending = bytearray()
        self._array: bool | None = None  # None: its first byte not seen yet
        self._opened = False  # the array's "[" is behind: the next run needs one of its own
        self._cuts = True  # False once MAX_RUN passed without a cut
        self._kept: dict[int, T | None] = {}
        self._records: list[T] = []
        self._skipped = 0

    def feed(self, piece: bytes) -> None:
        if len(self.start) < START:
            self.start += piece[: START - len(self.start)]
        self._pending += piece
        if self._array is None:
            first = self._pending.lstrip(_SPACE)[:1]
            if first:
                self._array = first == b"["
        if self._array and self._cuts and len(self._pending) >= self._items.run:
            self._cut()

    def finish(self) -> Listing:
        """Everything read (``UndecodableJson`` when the answer is no JSON even leniently)."""
        if not self._array:
            self._check(self._pending)
            self._items.last, self._items.partial = {}, {}
            return self._items.read_whole(bytes(self._pending))
        with memoryview(self._pending) as view:
            run = b"".join((self._prefix(), view))
        del self._pending[:]  # the run holds it now
        self._read_run(run, final=True)
        self._items.last, self._items.partial = self._kept, {}
        return Listing(items=self._records, skipped=self._skipped)

    def abandon(self) -> None:
        """The answer will not be finished (its poll failed part-way): the records of the
        items read so far are kept beside the last answer's, in place of those an earlier
        unfinished answer left, so that the next poll decodes only what this one did not
        reach. A list too large to read within one poll's deadline is thus read over several
        polls instead of never, and polls that keep failing hold one answer's records more."""
        self._items.partial = self._kept
        self._kept = {}

    def _cut(self) -> None:
        """Read the run of whole items received so far, if a cut is found."""
        pending, end = self._pending, len(self._pending)
        for _ in range(CUT_TRIES):
            close = pending.rfind(b"}", 0, end)
            if close < 0:
                break
            comma = close + 1
            while comma < len(pending) and pending[comma] in _SPACE:
                comma += 1
            if comma < len(pending) and pending[comma] == ord(","):
                with memoryview(pending) as view:  # one copy, not three
                    run = b"".join((self._prefix(), view[: close + 1], b"]"))
                if self._read_run(run, final=False):
                    del pending[: comma + 1]
                    self._opened = True
                    return
            end = close
        if len(pending) > MAX_RUN:
            self._cuts = False

    def _prefix(self) -> bytes:
        """What makes the pending items an array: their "[" when it was taken by a run."""
        return b"[" if self._opened else b""

    def _read_run(self, run: bytes, final: bool) -> bool:
        """Take the items of ``run`` (a JSON array); False when it does not read as one and
        is not the final run (the cut was not between two items)."""
        items = self._items
        try:
            raws = items.items.decode(run)
        except (msgspec.MsgspecError, RecursionError):
            if not final:
                return False
            self._check(run)
            self._take(items.read_whole(run))  # UndecodableJson: no JSON, even leniently
            return True
        self._count += len(raws)
        if self._limit is not None and self._count > self._limit:
            self._refuse(TooManyItems(self._count, self._limit, at_least=True))
        last, partial, kept = items.last, items.partial, self._kept
        records: list[T] = []
        for raw in raws:
            digest = hash(bytes(raw)) & DIGEST_MASK
            record = last.pop(digest, _ABSENT)  # its old digest freed for the new one
            if record is _ABSENT:
                record = partial.pop(digest, _ABSENT)  # read by an unfinished answer
            if record is _ABSENT:
                record = kept.get(digest, _ABSENT)  # listed twice in this answer
                if record is _ABSENT:
                    record = self._record(raw)
            kept[digest] = record
            if record is not None:
                records.append(record)
        self._records += records
        self._skipped += len(raws) - len(records)
        return True

    def _record(self, raw: msgspec.Raw) -> T | None:
        """The record of one changed item: typed, or read the lenient way when the typed
        reader refuses it (an item reads alike alone and among the others). An item too deep
        for every reader even alone, with nothing around it, is refused by the lenient reader
        as a whole answer would be (``decode``); cut out as an item, it is skipped."""
        items = self._items
        try:
            return read_item(items.parse_item, items.item.decode(raw))
        except (msgspec.MsgspecError, RecursionError):
            try:  # one copy, from the raw slice: the item may be most of the answer
                listing = items.read_whole(b"".join((b"[", raw, b"]")))
            except UndecodableJson:  # JSON (the raw reader cut it out), only too deep
                return None
            return listing.items[0] if listing.items else None

    def _take(self, listing: Listing) -> None:
        self._records += listing.items
        self._skipped += listing.skipped

    def _check(self, body: bytes | bytearray) -> None:
        """What is about to be read whole lists no more items than the limit allows."""
        if self._limit is not None:
            try:
                check_items(body, self._limit, self._count)
            except TooManyItems as err:
                self._refuse(err)

    def _refuse(self, err: TooManyItems) -> None:
        """Past the item limit: nothing of this answer is kept (an answer that large fails
        every poll alike, so its records would only hold memory), and ``err`` is raised."""
        self._kept, self._records, self._pending = {}, [], bytearray()
        self._items.partial = {}
        raise err
