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

A list held by a key of a top-level object (``envelope``: Kubernetes' ``items``, EMR's
``jobRuns``) is read alike, its array found in the answer's head as it arrives and its end at
the end (``listed_envelope``); the answer's other members come back decoded, on the
``EnvelopeListing`` returned. ``read_whole`` then reads such an answer (the envelope) whole;
a run or an item it is given is wrapped in an envelope of the key alone.

With a version marker (``version``: the paths of an item's identity and version), an item
whose bytes changed but whose marker is one the last answer listed keeps that item's record,
its marker alone decoded (``listed_version``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import msgspec

from exporter.backends.base import Listing
from exporter.backends.kit.fields import read_item
from exporter.backends.kit.listed_envelope import (
    NOT_FOUND,
    HeadScan,
    enveloped,
    rest_of,
    sentinel_name,
    split_final,
)
from exporter.backends.kit.listed_version import Mark, Marks, VersionMarker
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

    ``envelope`` names the member of a top-level object that holds the items (None: the
    answer is a bare array); the listings are then ``EnvelopeListing``. ``version`` gives the
    dotted paths of an item's (identity, version), as ``("metadata.uid",
    "metadata.resourceVersion")``: an item whose marker is unchanged keeps its record.
    """

    def __init__(
        self,
        item_type: type,
        parse_item: Callable[[Any], T | None],
        read_whole: Callable[[bytes], Listing],
        run: int = RUN,
        *,
        envelope: str | None = None,
        version: tuple[str, str] | None = None,
    ) -> None:
        self.items = msgspec.json.Decoder(list[msgspec.Raw])
        self.item = msgspec.json.Decoder(item_type)
        self.parse_item = parse_item
        self.read_whole = read_whole
        self.run = run
        self.envelope = envelope
        self.sentinel = sentinel_name()
        # around a run of items (a JSON array), what makes it an answer read_whole takes
        self.wrap = (b"{" + json.dumps(envelope).encode() + b":", b"}") if envelope else (b"", b"")
        self.marker = VersionMarker(*version) if version else None
        self.last: dict[int, T | None] = {}
        # the records of the last answer left unfinished (its poll failed part-way), kept for
        # the next poll: only the latest one's, so failed polls hold one answer's, not each's
        self.partial: dict[int, T | None] = {}
        self.last_marks: Marks[T] = Marks()
        self.partial_marks: Marks[T] = Marks()

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
        self._marks: Marks[T] = Marks()
        self._records: list[T] = []
        self._skipped = 0
        self._scan = None
        if items.envelope is not None:
            self._scan = HeadScan(items.envelope, json.dumps(items.sentinel).encode())
        self._head: tuple[bytes, bytes] | None = None  # as received, and its key renamed

    def feed(self, piece: bytes) -> None:
        if len(self.start) < START:
            self.start += piece[: START - len(self.start)]
        self._pending += piece
        if self._array is None:
            self._begin()
        if self._array and self._cuts and len(self._pending) >= self._items.run:
            self._cut()

    def finish(self) -> Listing:
        """Everything read (``UndecodableJson`` when the answer is no JSON even leniently)."""
        if self._array is None and self._scan is not None:
            self._begin(final=True)
        if not self._array:
            self._check(self._pending)
            self._remember({}, Marks())
            return self._whole(bytes(self._pending))
        envelope = None
        if self._head is None:
            with memoryview(self._pending) as view:
                run = b"".join((self._prefix(), view))
            del self._pending[:]  # the run holds it now
            self._read_run(run, final=True)
        else:
            envelope = self._finish_envelope(*self._head)
        self._remember(self._kept, self._marks)
        listing = Listing(items=self._records, skipped=self._skipped)
        return listing if envelope is None else enveloped(listing, envelope)

    def abandon(self) -> None:
        """The answer will not be finished (its poll failed part-way): the records of the
        items read so far are kept beside the last answer's, in place of those an earlier
        unfinished answer left, so that the next poll decodes only what this one did not
        reach. A list too large to read within one poll's deadline is thus read over several
        polls instead of never, and polls that keep failing hold one answer's records more."""
        self._items.partial, self._items.partial_marks = self._kept, self._marks
        self._kept, self._marks = {}, Marks()

    def _begin(self, final: bool = False) -> None:
        """The answer's shape, from its first bytes: a bare array (its first byte), or the
        envelope's array found in its head, which is then set apart."""
        if self._scan is None:
            first = self._pending.lstrip(_SPACE)[:1]
            if first:
                self._array = first == b"["
            return
        found = self._scan.find(self._pending, final)
        if found is None:
            return
        self._array = found != NOT_FOUND
        if self._array:
            self._head = self._scan.head(self._pending, found)
            del self._pending[:found]

    def _remember(self, kept: dict[int, T | None], marks: Marks[T]) -> None:
        """The records of a finished answer replace the last ones; none is left unfinished."""
        items = self._items
        items.last, items.partial = kept, {}
        items.last_marks, items.partial_marks = marks, Marks()

    def _whole(self, body: bytes) -> Listing:
        """The answer read whole the lenient way, with the envelope's other members."""
        items = self._items
        listing = items.read_whole(body)
        if items.envelope is None:
            return listing
        return enveloped(listing, rest_of(body, items.envelope)[0])

    def _finish_envelope(self, head: bytes, renamed: bytes) -> dict[str, Any]:
        """Read the last run with the envelope's head; the envelope's other members. Where
        the typed reader cannot (a changed item it refuses, the key again after the array),
        the rest of the answer from its head is read the lenient way; when the key came again,
        the items read before are not the answer's (its last array is), and are dropped."""
        items = self._items
        key, sentinel = items.envelope, items.sentinel
        assert key is not None
        with memoryview(self._pending) as view:
            doc = b"".join((renamed, self._prefix(), view))
        split = split_final(doc, key, sentinel)
        if split is not None:
            del self._pending[:]
            array, envelope = split
            self._read_run(array, final=True)
            return envelope
        envelope, again = rest_of(doc, key, sentinel)
        del doc
        if again:
            self._records, self._skipped, self._count = [], 0, 0
        with memoryview(self._pending) as view:
            doc = b"".join((head, self._prefix(), view))
        del self._pending[:]
        self._check(doc)
        self._take(items.read_whole(doc))
        return envelope

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

    def _read_run(self, run: bytes | msgspec.Raw, final: bool) -> bool:
        """Take the items of ``run`` (a JSON array); False when it does not read as one and
        is not the final run (the cut was not between two items)."""
        items = self._items
        try:
            raws = items.items.decode(run)
        except (msgspec.MsgspecError, RecursionError):
            if not final:
                return False
            if items.envelope is not None:
                run = b"".join((items.wrap[0], run, items.wrap[1]))
            self._check(run)
            self._take(items.read_whole(run))  # UndecodableJson: no JSON, even leniently
            return True
        self._count += len(raws)
        if self._limit is not None and self._count > self._limit:
            self._refuse(TooManyItems(self._count, self._limit, at_least=True))
        if items.marker is not None:
            self._take_marked(raws)
            return True
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

    def _take_marked(self, raws: list[msgspec.Raw]) -> None:
        """Take items that carry version markers: by their bytes as ``_read_run`` does, then
        by their marker, decoded where their bytes are new."""
        items, kept, marks = self._items, self._kept, self._marks
        records: list[T] = []
        for raw in raws:
            digest = hash(bytes(raw)) & DIGEST_MASK
            record, mark = self._known(digest)
            if record is _ABSENT:
                mark = items.marker.read(raw) if items.marker else None
                record = self._marked(mark) if mark is not None else _ABSENT
                if record is _ABSENT:
                    record = self._record(raw)
            kept[digest] = record
            if mark is not None:
                marks.of[digest], marks.records[mark] = mark, record
            if record is not None:
                records.append(record)
        self._records += records
        self._skipped += len(raws) - len(records)

    def _known(self, digest: int) -> tuple[Any, Mark | None]:
        """(the record kept for an item of these bytes or ``_ABSENT``, its marker)."""
        items = self._items
        record = items.last.pop(digest, _ABSENT)
        if record is not _ABSENT:
            return record, items.last_marks.of.pop(digest, None)
        record = items.partial.pop(digest, _ABSENT)
        if record is not _ABSENT:
            return record, items.partial_marks.of.pop(digest, None)
        return self._kept.get(digest, _ABSENT), self._marks.of.get(digest)

    def _marked(self, mark: Mark) -> Any:
        """The record kept for an item of marker ``mark``, or ``_ABSENT``."""
        items = self._items
        for table in (items.last_marks.records, items.partial_marks.records):
            record = table.pop(mark, _ABSENT)
            if record is not _ABSENT:
                return record
        return self._marks.records.get(mark, _ABSENT)

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
                listing = items.read_whole(
                    b"".join((items.wrap[0], b"[", raw, b"]", items.wrap[1]))
                )
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
        self._marks, self._items.partial, self._items.partial_marks = Marks(), {}, Marks()
        raise err
