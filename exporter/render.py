"""Prometheus text exposition: escaping, sample lines, and the store that serves them.

Each (target, resource) renders its samples into one block per poll. The store joins blocks
family by family (a family's samples must be contiguous) when a scrape follows a change, and
keeps the plain and gzip bodies until the next change, so other scrapes only hand out bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import re
import threading
from collections.abc import Iterable

from .families import FAMILIES
from .histogram import Histogram

MAX_LABEL_VALUE_LENGTH = 256
DIGEST_LENGTH = 8  # hex digits of sha256 appended to a value that had to change
_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n"})
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")  # NUL, and surrogates no UTF-8 can carry

Labels = tuple[tuple[str, str], ...]


def storable(value: str) -> str:
    """``value`` as a label value Prometheus stores, still distinct from every other value.

    Values of at most ``MAX_LABEL_VALUE_LENGTH`` characters with nothing unstorable are kept as
    they are. Otherwise NUL is dropped, a lone surrogate becomes U+FFFD, the result is cut to
    fit, and ``~`` and the first 8 hex digits of the original's sha256 are appended (after ``…``
    when cut): two ids that share their first 255 characters, or differ only by a character
    dropped here, stay two series.
    """
    if len(value) <= MAX_LABEL_VALUE_LENGTH:  # the common case, checked cheaply: every job's
        if value.isascii():  # labels pass here at every poll
            if "\x00" not in value:
                return value
        elif not _UNSTORABLE.search(value):
            return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:DIGEST_LENGTH]
    cleaned = _UNSTORABLE.sub(lambda m: "" if m.group() == "\x00" else "\ufffd", value)
    room = MAX_LABEL_VALUE_LENGTH - len(digest) - 1
    if len(cleaned) > room:
        return f"{cleaned[: room - 1]}…~{digest}"
    return f"{cleaned}~{digest}"


def escape(value: str) -> str:
    """A label value, made storable and distinct (``storable``), escaped for the text format.

    This runs for every label of every per-job series at every poll: plain ASCII values within
    the cap skip both the cleaning and the translation, with only a few C-speed scans.
    """
    if len(value) > MAX_LABEL_VALUE_LENGTH or not value.isascii() or "\x00" in value:
        value = storable(value)
    if "\\" in value or '"' in value or "\n" in value:
        return value.translate(_ESCAPES)
    return value


def label_text(pairs: Iterable[tuple[str, str]]) -> str:
    """Render ``name="value",...`` (without braces) from label pairs."""
    return ",".join(f'{name}="{escape(value)}"' for name, value in pairs)


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


class Block:
    """The samples of one (target, resource), grouped by family."""

    def __init__(self, base: Labels) -> None:
        self._base = label_text(base)
        self._lines: dict[str, list[str]] = {}

    def _labels(self, labels: Labels) -> str:
        if not labels:
            return self._base
        extra = label_text(labels)
        return f"{self._base},{extra}" if self._base else extra

    def series(self, family: str, labels: Labels) -> tuple[list[str], str]:
        """The line list of ``family`` and the rendered label text for ``labels``, for
        collectors that write many samples sharing labels (per-job series) without
        re-rendering them each time."""
        return self._lines.setdefault(family, []), self._labels(labels)

    def lines(self, family: str) -> list[str]:
        return self._lines.setdefault(family, [])

    def add(self, family: str, value: float, labels: Labels = ()) -> None:
        text = self._labels(labels)
        series = f"{family}{{{text}}}" if text else family
        self._lines.setdefault(family, []).append(f"{series} {format_value(value)}\n")

    def add_histogram(self, family: str, histogram: Histogram, labels: Labels = ()) -> None:
        text = self._labels(labels)
        lines = self._lines.setdefault(family, [])
        for bound, count in histogram.cumulative():
            le = format_value(bound if math.isinf(bound) else float(bound))
            lines.append(f'{family}_bucket{{{text},le="{le}"}} {count}\n')
        lines.append(f"{family}_sum{{{text}}} {format_value(histogram.total)}\n")
        lines.append(f"{family}_count{{{text}}} {histogram.count}\n")

    def encode(self) -> dict[str, bytes]:
        return {
            family: "".join(lines).encode("utf-8", "replace")
            for family, lines in self._lines.items()
        }


class Exposition:
    """Thread-safe store of rendered blocks, keyed by (target name, resource).

    Publishing stores a block and costs its own size: the body is joined, and gzipped, only
    when a scrape asks for it after a change, once however many blocks changed.

    A target's blocks are published by the one owner that claimed its name (its poller): a
    poller retired by a reload loses its claim, so a poll it had in flight cannot bring its
    series back (the check and the store are one step under the lock).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._blocks: dict[tuple[str, str], dict[str, bytes]] = {}
        self._resources: dict[str, set[str]] = {}  # target name -> resources with a block
        self._owners: dict[str, object] = {}
        self._order: list[tuple[str, str]] | None = []
        self._version = 0
        self._body: bytes | None = b""
        self._gzipped: tuple[int, bytes] = (0, gzip.compress(b""))

    def claim(self, name: str, owner: object, keep: Iterable[str] = ()) -> None:
        """Make ``owner`` the only publisher of ``name``'s blocks; drop those of its blocks
        whose resource is not in ``keep`` (what the previous owner published and the new one
        will not)."""
        keep = set(keep)
        with self._lock:
            self._owners[name] = owner
            self._drop([(name, r) for r in self._resources.get(name, ()) if r not in keep])

    def release(self, name: str, owner: object) -> None:
        """``owner`` publishes no more: drop ``name``'s blocks unless another owner claimed it."""
        with self._lock:
            if self._owners.get(name) is owner:
                del self._owners[name]
                self._drop([(name, r) for r in self._resources.get(name, ())])

    def update(self, blocks: dict[tuple[str, str], dict[str, bytes]], owner: object = None) -> bool:
        """Store the given blocks; False (nothing stored) when ``owner`` lost its claim on
        their target. Blocks without an owner (the exporter's own) are always stored."""
        with self._lock:
            if owner is not None and any(self._owners.get(name) is not owner for name, _ in blocks):
                return False
            if not blocks.keys() <= self._blocks.keys():
                self._order = None
                for name, resource in blocks:
                    self._resources.setdefault(name, set()).add(resource)
            self._blocks.update(blocks)
            self._changed()
            return True

    def _drop(self, keys: list[tuple[str, str]]) -> None:
        for key in keys:
            del self._blocks[key]
            resources = self._resources[key[0]]
            resources.discard(key[1])
            if not resources:
                del self._resources[key[0]]
        if keys:
            self._order = None
            self._changed()

    def _changed(self) -> None:
        self._version += 1
        self._body = None

    def _joined(self) -> bytes:
        """The body, joined family by family (a family's samples must be contiguous)."""
        if self._body is None:
            if self._order is None:
                self._order = sorted(self._blocks)
            by_family: dict[str, list[bytes]] = {}
            for key in self._order:
                for name, samples in self._blocks[key].items():
                    by_family.setdefault(name, []).append(samples)
            parts: list[bytes] = []
            for name, family in FAMILIES.items():
                samples = by_family.get(name)
                if samples:
                    parts.append(family.header())
                    parts.extend(samples)
            self._body = b"".join(parts)
        return self._body

    def body(self) -> bytes:
        with self._lock:
            return self._joined()

    def gzipped(self) -> bytes:
        """The body gzipped, compressed outside the lock so publishing does not wait for it."""
        with self._lock:
            version, cached = self._gzipped
            if version == self._version:
                return cached
            version, body = self._version, self._joined()
        compressed = gzip.compress(body, compresslevel=1)
        with self._lock:
            if version > self._gzipped[0]:
                self._gzipped = (version, compressed)
        return compressed
