"""Prometheus text and OpenMetrics exposition: escaping, sample lines, and the store that
serves them.

Each (target, resource) renders its samples into one block per poll. The two formats share
every sample line but a histogram bucket's exemplar (OpenMetrics only), so a block holds the
text lines, and the OpenMetrics lines only of the families that carry exemplars. The store
joins blocks family by family (a family's samples must be contiguous), for each format when a
scrape of it follows a change, and keeps the plain and gzip bodies until the next change, so
other scrapes only hand out bytes.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
import zlib
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from exporter.exposition.families import FAMILIES
from exporter.exposition.histogram import Histogram

MAX_LABEL_VALUE_LENGTH = 256
# OpenMetrics caps an exemplar's label names and values at 128 characters together
MAX_EXEMPLAR_JOB_ID_LENGTH = 128 - len("job_id")
TEXT, OPENMETRICS = "text", "openmetrics"  # the two exposition formats
# A changed label value ends in MARKER and DIGEST_LENGTH hex digits of the original's SHA-256
# (``storable``); a value kept as sent never holds MARKER. Not ASCII: a plain ASCII value, the
# common case, can never hold it, so escaping such a value needs no scan for it.
MARKER = "\u00a4"  # ¤
DIGEST_LENGTH = 32  # 128 bits: see ``storable`` for why this suffices
_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n"})
# What makes a value change: NUL and lone surrogates (Prometheus cannot store them: no UTF-8
# carries a surrogate), and MARKER (so that no kept value reads like a changed one)
_CHANGES = re.compile(f"[\x00\ud800-\udfff{MARKER}]")
_CHANGED = re.compile(f"[^\x00\ud800-\udfff{MARKER}]*{MARKER}[0-9a-f]{{{DIGEST_LENGTH}}}")

Labels = tuple[tuple[str, str], ...]


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


def storable(value: str, limit: int = MAX_LABEL_VALUE_LENGTH) -> str:
    """``value`` as a label value Prometheus stores, distinct from that of every other value.

    A value of at most ``limit`` characters without NUL, lone surrogates or ``MARKER`` is kept
    as it is. Any other is changed: NUL dropped, lone surrogates and ``MARKER`` made U+FFFD, cut
    to leave room, then ``MARKER`` and the first ``DIGEST_LENGTH`` hex digits of the SHA-256 of
    the original (UTF-8, surrogates as they came) appended; ``limit`` must leave room for them.

    Distinct values never give one label value: a kept value holds no ``MARKER`` and a changed
    one holds it exactly once, so a kept value is never a changed one; two kept values are
    themselves; two changed values end in their digests, so they are one only if 128 bits of
    SHA-256 collide. By chance: among n changed values of one label the odds are below
    n**2 / 2**129, under 1e-20 for a billion (a target sees far fewer: only values too long or
    holding NUL, surrogates or ``MARKER`` change). On purpose: a backend user crafting two values
    that collide must do about 2**64 SHA-256 evaluations (a birthday search), and 2**128 to match
    a given value: far more than merging two series of a label is worth. A secret key would
    stop crafting altogether, but label values would then differ between replicas and across
    restarts unless the key were shared and kept, and no one could check a digest by hand.
    """
    if len(value) <= limit:  # the common case, checked cheaply: every job's
        if value.isascii():  # labels pass here at every poll (MARKER is not ASCII)
            if "\x00" not in value:
                return value
        elif not _CHANGES.search(value):
            return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:DIGEST_LENGTH]
    cleaned = _CHANGES.sub(lambda m: "" if m.group() == "\x00" else "\ufffd", value)
    return f"{cleaned[: limit - DIGEST_LENGTH - 1]}{MARKER}{digest}"


def is_label_value(value: str, limit: int = MAX_LABEL_VALUE_LENGTH) -> bool:
    """Whether ``value`` is one ``storable`` can return: kept as sent, or a changed value."""
    if len(value) > limit:
        return False
    return storable(value, limit) == value or _CHANGED.fullmatch(value) is not None


def escape(value: str, limit: int = MAX_LABEL_VALUE_LENGTH) -> str:
    """A label value, made storable and distinct (``storable``), escaped for the text format
    and OpenMetrics (which escape label values alike).

    This runs for every label of every per-job series at every poll: plain ASCII values within
    the cap skip both the cleaning and the translation, with only a few C-speed scans.
    """
    if len(value) > limit or not value.isascii() or "\x00" in value:
        value = storable(value, limit)
    if "\\" in value or '"' in value or "\n" in value:
        return value.translate(_ESCAPES)
    return value


def escape_stored(value: str) -> str:
    """A value that is already a label value (``storable``'s, as attribution slots hold),
    escaped for the text format only: ``storable`` again would change a changed value again."""
    if "\\" in value or '"' in value or "\n" in value:
        return value.translate(_ESCAPES)
    return value


def label_text(pairs: Iterable[tuple[str, str]]) -> str:
    """Render ``name="value",...`` (without braces) from label pairs."""
    return ",".join(f'{name}="{escape(value)}"' for name, value in pairs)


def stored_label_text(pairs: Iterable[tuple[str, str]]) -> str:
    """``label_text`` of pairs whose values are already label values (``escape_stored``)."""
    return ",".join(f'{name}="{escape_stored(value)}"' for name, value in pairs)


def format_value(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def exemplar_text(exemplar: tuple[str, float, float] | None) -> str:
    """An OpenMetrics exemplar to append to a bucket's sample line, or nothing."""
    if exemplar is None:
        return ""
    job_id, value, at = exemplar
    return (
        f' # {{job_id="{escape(job_id, MAX_EXEMPLAR_JOB_ID_LENGTH)}"}} '
        f"{format_value(value)} {format_value(at)}"
    )


class Encoded(dict[str, bytes]):
    """A block's samples in the text format, by family; ``openmetrics`` holds the samples of
    the families whose OpenMetrics form differs (buckets with exemplars)."""

    __slots__ = ("openmetrics",)

    def __init__(self, text: dict[str, bytes], openmetrics: dict[str, bytes]) -> None:
        super().__init__(text)
        self.openmetrics = openmetrics

    def merged(self, other: Encoded) -> Encoded:
        """This block's samples followed by ``other``'s, family by family."""
        text = {f: self.get(f, b"") + other.get(f, b"") for f in self.keys() | other.keys()}
        openmetrics = {
            f: self.openmetrics.get(f, self.get(f, b""))
            + other.openmetrics.get(f, other.get(f, b""))
            for f in self.openmetrics.keys() | other.openmetrics.keys()
        }
        return Encoded(text, openmetrics)


class Block:
    """The samples of one (target, resource), grouped by family.

    A sample's labels are ``labels``, whose values are made label values here, then ``stored``,
    whose values already are (attribution values, ``storable``'s since a job was admitted)."""

    def __init__(self, base: Labels) -> None:
        self._base = label_text(base)
        self._lines: dict[str, list[str]] = {}
        self._openmetrics: dict[str, list[str]] = {}  # families with exemplars only

    def _labels(self, labels: Labels, stored: Labels = ()) -> str:
        if not labels and not stored:
            return self._base
        extra = label_text(labels)
        if stored:
            kept = stored_label_text(stored)
            extra = f"{extra},{kept}" if extra else kept
        return f"{self._base},{extra}" if self._base else extra

    def series(self, family: str, labels: Labels) -> tuple[list[str], str]:
        """The line list of ``family`` and the rendered label text for ``labels``, for
        renderers that write many samples sharing labels (per-job series) without
        re-rendering them each time."""
        return self._lines.setdefault(family, []), self._labels(labels)

    def lines(self, family: str) -> list[str]:
        return self._lines.setdefault(family, [])

    def add(self, family: str, value: float, labels: Labels = (), stored: Labels = ()) -> None:
        text = self._labels(labels, stored)
        series = f"{family}{{{text}}}" if text else family
        self._lines.setdefault(family, []).append(f"{series} {format_value(value)}\n")

    def add_histogram(
        self, family: str, histogram: Histogram, labels: Labels = (), stored: Labels = ()
    ) -> None:
        """Buckets, sum and count; in OpenMetrics, each bucket with its exemplar if it has one
        (the family's lines written so far in this block are shared up to here)."""
        text = self._labels(labels, stored)
        lines = self._lines.setdefault(family, [])
        exemplars = histogram.exemplars
        om = self._openmetrics.get(family)
        if om is None and exemplars is not None:
            om = self._openmetrics[family] = list(lines)
        for index, (bound, count) in enumerate(histogram.cumulative()):
            le = format_value(bound if math.isinf(bound) else float(bound))
            line = f'{family}_bucket{{{text},le="{le}"}} {count}'
            lines.append(f"{line}\n")
            if om is not None:
                exemplar = exemplars[index] if exemplars is not None else None
                om.append(f"{line}{exemplar_text(exemplar)}\n")
        tail = (
            f"{family}_sum{{{text}}} {format_value(histogram.total)}\n",
            f"{family}_count{{{text}}} {histogram.count}\n",
        )
        lines.extend(tail)
        if om is not None:
            om.extend(tail)

    def encode(self) -> Encoded:
        def joined(by_family: dict[str, list[str]]) -> dict[str, bytes]:
            return {
                family: "".join(lines).encode("utf-8", "replace")
                for family, lines in by_family.items()
            }

        return Encoded(joined(self._lines), joined(self._openmetrics))


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
            openmetrics = fmt == OPENMETRICS
            by_family: dict[str, list[bytes]] = {}
            for key in self._order:
                block = self._blocks[key]
                differing = block.openmetrics if openmetrics else {}
                for name, samples in block.items():
                    by_family.setdefault(name, []).append(differing.get(name, samples))
            parts: list[bytes] = []
            for name, family in FAMILIES.items():
                samples = by_family.get(name)
                if samples:
                    parts.append(family.openmetrics_header() if openmetrics else family.header())
                    parts.extend(samples)
            body = self._bodies[fmt] = b"".join(parts)
        return body

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
