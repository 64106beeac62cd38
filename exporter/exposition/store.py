"""The store that serves the exposition: every block, by where it comes from, joined into
the body of each format (sample lines are written by ``text``, blocks by ``block``).

Each (target, resource) renders its samples into one block per poll. The two text formats
share every sample line but a histogram bucket's exemplar (OpenMetrics only), so a block holds
the text lines, the OpenMetrics lines only of the families that carry exemplars, and every
family's samples as protobuf ``metric`` entries. The store joins blocks family by family (a
family's samples must be contiguous; in protobuf, a family is its header and its entries
behind their length), for each format when a scrape of it follows a change, and keeps the
plain and gzip bodies until the next change, so other scrapes only hand out bytes.
"""

from __future__ import annotations

import re
import threading
import zlib
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from exporter.exposition import protobuf
from exporter.exposition.block import Encoded
from exporter.exposition.declared import families
from exporter.exposition.family import Family
from exporter.exposition.protobuf import PROTOBUF
from exporter.exposition.text import OPENMETRICS, TEXT


class BlockKey(NamedTuple):
    """Where a block is stored: its target's name and the part of the target it renders (a
    resource, or the target's API requests); the exporter's own block has no target.

    Blocks are joined in key order: the exporter's own first, then each target's resources,
    then its API requests (the parts that are not resources sort after every resource name).
    """

    target: str
    part: str

    @classmethod
    def api(cls, target: str) -> BlockKey:
        """The block of ``target``'s API request counts, shared by its resources."""
        return cls(target, API_PART)


API_PART = "~api"  # '~' sorts after any resource name
PROCESS_BLOCK = BlockKey("", "~build")  # the exporter's own series: build, shard, reload


def _renamed(samples: list[bytes] | None, old: str, new: str) -> list[bytes] | None:
    """``samples`` of family ``old`` as samples of ``new``: each line's name, never a value."""
    if not samples:
        return None
    start = re.compile(b"^" + re.escape(old.encode()), re.MULTILINE)
    return [start.sub(new.encode(), chunk) for chunk in samples]


class NotRendered(Exception):
    """A block of the exposition has no protobuf entries yet (``Exposition.wants_protobuf``)."""


def _protobuf_header(family: Family) -> bytes:
    """A family's MetricFamily header: a counter keeps its ``_total``, which Prometheus reads
    as the name of its series (model/textparse/protobufparse.go)."""
    return protobuf.family_header(family.name, family.help_text, family.type)


class Exposition:
    """Thread-safe store of rendered blocks, by ``BlockKey``.

    Publishing stores a block and costs its own size: the body of a format is joined, and
    gzipped, only when a scrape asks for it after a change, once however many blocks changed.
    A scrape may add a few series rendered for it alone (``response``'s ``tail``): the gzip
    stream of the stored body is kept open at a flush point, and each scrape compresses only
    its tail into a copy of it.

    A target's blocks are published by the one owner that claimed its name (its poller): a
    poller retired by a reload loses its claim, so a poll it had in flight cannot bring its
    series back (the check and the store are one step under the lock).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._blocks: dict[BlockKey, Encoded] = {}
        self._parts: dict[str, set[str]] = {}  # target name -> parts with a block
        self._owners: dict[str, object] = {}
        self._order: list[BlockKey] | None = []
        self._version = 0
        self._bodies: dict[str, bytes] = {}  # by format, until the next change
        # by format: (version, gzip stream of the body up to a flush point, its compressor)
        self._streams: dict[str, tuple[int, bytes, zlib._Compress]] = {}
        self._gzipped: dict[str, tuple[int, bytes]] = {}
        self.shown: frozenset[str] | None = None  # the families scrapes show (None: all)
        # Whether a scrape asked for protobuf: until one does, pollers render their blocks in
        # the text formats only, so a process no one scrapes in protobuf never holds it.
        self.wants_protobuf = False

    def select(self, shown: frozenset[str] | None) -> None:
        """Show only the families named in ``shown`` (``selection.selected_families``)."""
        with self._lock:
            if shown != self.shown:
                self.shown = shown
                self._changed()

    def claim(self, name: str, owner: object, keep: Iterable[str] = ()) -> None:
        """Make ``owner`` the only publisher of ``name``'s blocks; drop those of its blocks
        whose part is not in ``keep`` (what the previous owner published and the new one
        will not)."""
        keep = set(keep)
        with self._lock:
            self._owners[name] = owner
            self._drop([BlockKey(name, p) for p in self._parts.get(name, ()) if p not in keep])

    def release(self, name: str, owner: object) -> None:
        """``owner`` publishes no more: drop ``name``'s blocks unless another owner claimed it."""
        with self._lock:
            if self._owners.get(name) is owner:
                del self._owners[name]
                self._drop([BlockKey(name, p) for p in self._parts.get(name, ())])

    def update(self, blocks: dict[BlockKey, Encoded], owner: object = None) -> bool:
        """Store the given blocks; False (nothing stored) when ``owner`` lost its claim on
        their target. Blocks without an owner (the exporter's own) are always stored."""
        with self._lock:
            if owner is not None and any(self._owners.get(name) is not owner for name, _ in blocks):
                return False
            if not blocks.keys() <= self._blocks.keys():
                self._order = None
                for name, part in blocks:
                    self._parts.setdefault(name, set()).add(part)
            self._blocks.update(blocks)
            self._changed()
            return True

    def _drop(self, keys: list[BlockKey]) -> None:
        for key in keys:
            del self._blocks[key]
            parts = self._parts[key.target]
            parts.discard(key.part)
            if not parts:
                del self._parts[key.target]
        if keys:
            self._order = None
            self._changed()

    def _changed(self) -> None:
        self._version += 1
        self._bodies = {}

    def _joined(self, fmt: str) -> bytes:
        """The body of ``fmt``, joined family by family (a family's samples must be
        contiguous)."""
        body = self._bodies.get(fmt)
        if body is None:
            if self._order is None:
                self._order = sorted(self._blocks)
            if fmt == PROTOBUF:
                body = self._bodies[fmt] = self._joined_protobuf()
                return body
            openmetrics = fmt == OPENMETRICS
            by_family: dict[str, list[bytes]] = {}
            for key in self._order:
                block = self._blocks[key]
                differing = block.openmetrics if openmetrics else {}
                for name, samples in block.items():
                    by_family.setdefault(name, []).append(differing.get(name, samples))
            parts: list[bytes] = []
            shown = self.shown
            for name, family in families().items():
                samples = by_family.get(name)
                if family.replaced_by is not None:  # deprecated: the new family's, renamed
                    samples = _renamed(by_family.get(family.replaced_by), family.replaced_by, name)
                if samples and (shown is None or name in shown):
                    parts.append(family.openmetrics_header() if openmetrics else family.header())
                    parts.extend(samples)
            body = self._bodies[fmt] = b"".join(parts)
        return body

    def _joined_protobuf(self) -> bytes:
        """The protobuf body: each shown family with samples, as a delimited MetricFamily.
        NotRendered while a block has none (rendered before a scrape asked for protobuf)."""
        self.wants_protobuf = True
        by_family: dict[str, list[bytes]] = {}
        for key in self._order or ():
            encoded = self._blocks[key].protobuf
            if encoded is None:
                raise NotRendered(f"{key.target} {key.part}")
            for name, entries in encoded.items():
                by_family.setdefault(name, []).extend(entries)
        parts: list[bytes] = []
        shown = self.shown
        for name, family in families().items():
            # deprecated: the new family's samples, which carry no name, under the old name
            entries = by_family.get(family.replaced_by or name)
            if entries and (shown is None or name in shown):
                parts.extend(protobuf.delimited(_protobuf_header(family), entries))
        return b"".join(parts)

    def body(self, fmt: str = TEXT) -> bytes:
        """The stored series in ``fmt`` (OpenMetrics without its ``# EOF``)."""
        with self._lock:
            return self._joined(fmt)

    def _stream(self, fmt: str) -> tuple[bytes, zlib._Compress]:
        """The body's gzip stream up to a flush point, and the compressor to continue it; the
        compression runs outside the lock so publishing does not wait for it."""
        with self._lock:
            cached = self._streams.get(fmt)
            if cached is not None and cached[0] == self._version:
                return cached[1], cached[2]
            version, body = self._version, self._joined(fmt)
        compressor = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # gzip framing
        head = compressor.compress(body) + compressor.flush(zlib.Z_SYNC_FLUSH)
        with self._lock:
            cached = self._streams.get(fmt)
            if cached is None or version > cached[0]:
                self._streams[fmt] = (version, head, compressor)
        return head, compressor

    def gzipped(self, fmt: str = TEXT) -> bytes:
        """The body gzipped whole, kept until the next change."""
        with self._lock:
            version = self._version
            cached = self._gzipped.get(fmt)
            if cached is not None and cached[0] == version:
                return cached[1]
        compressed = b"".join(self.response(fmt, compress=True))
        with self._lock:
            cached = self._gzipped.get(fmt)
            if cached is None or version > cached[0]:
                self._gzipped[fmt] = (version, compressed)
        return compressed

    def response(self, fmt: str, compress: bool, tail: bytes = b"") -> Sequence[bytes]:
        """The parts of a scrape's body: the stored series in ``fmt`` followed by ``tail``,
        as one gzip stream when ``compress``."""
        if not compress:
            return (self.body(fmt), tail)
        head, compressor = self._stream(fmt)
        finish = compressor.copy()
        return (head, finish.compress(tail) + finish.flush())
