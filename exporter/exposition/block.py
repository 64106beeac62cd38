"""A block: the samples of one (target, resource), rendered family by family and encoded
once, as the store keeps them (``store``)."""

from __future__ import annotations

import math

from exporter.exposition import protobuf as _protobuf
from exporter.exposition.contract import declared, refusal, refuse
from exporter.exposition.family import Family
from exporter.exposition.histogram import Histogram
from exporter.exposition.text import (
    Labels,
    exemplar_text,
    format_value,
    label_text,
    stored_label_text,
)


class Encoded(dict[str, bytes]):
    """A block's samples in the text format, by family; ``openmetrics`` holds the samples of
    the families whose OpenMetrics form differs (buckets with exemplars), ``protobuf`` every
    family's samples as encoded ``metric`` entries (``protobuf``), or None when the block was
    rendered without them. The entries of per-job series are the very objects the job lines
    keep (``renderers.jobs.JobLines``): a block holds a reference per job series, not a copy."""

    __slots__ = ("openmetrics", "protobuf")

    def __init__(
        self,
        text: dict[str, bytes],
        openmetrics: dict[str, bytes],
        protobuf: dict[str, list[bytes]] | None = None,
    ) -> None:
        super().__init__(text)
        self.openmetrics = openmetrics
        self.protobuf = protobuf

    def merged(self, other: Encoded) -> Encoded:
        """This block's samples followed by ``other``'s, family by family."""
        text = {f: self.get(f, b"") + other.get(f, b"") for f in self.keys() | other.keys()}
        openmetrics = {
            f: self.openmetrics.get(f, self.get(f, b""))
            + other.openmetrics.get(f, other.get(f, b""))
            for f in self.openmetrics.keys() | other.openmetrics.keys()
        }
        mine, theirs = self.protobuf, other.protobuf
        if mine is None or theirs is None:
            return Encoded(text, openmetrics)
        entries = {f: mine.get(f, []) + theirs.get(f, []) for f in mine.keys() | theirs.keys()}
        return Encoded(text, openmetrics, entries)


def _histogram_entry(
    family: Family,
    histogram: Histogram,
    encoded_labels: bytes,
    cumulative: list[tuple[float, int]],
) -> bytes:
    """The ``metric`` entry of a histogram: classic, or, where the family declares ``native``
    and ``histogram.native`` holds every observation, the native fields and exemplars beside
    the classic buckets in the same message (a Prometheus reading only the classic ones loses
    nothing), under the classic count and sum, which the text formats send."""
    native = histogram.native if family.native else None
    if native is None:
        return _protobuf.histogram(
            encoded_labels, histogram.count, histogram.total, cumulative, histogram.exemplars
        )
    b = native.buckets()
    message = _protobuf.native_histogram(
        histogram.count,
        histogram.total,
        b.schema,
        b.zero_threshold,
        b.zero_count,
        positive=(b.spans, b.deltas),
        exemplars=b.exemplars,
        buckets=_protobuf.classic_buckets(cumulative, histogram.exemplars),
    )
    return _protobuf.native_sample(encoded_labels, message)


class Block:
    """The samples of one (target, resource), grouped by family.

    A sample's labels are ``labels``, whose values are made label values here, then ``stored``,
    whose values already are (attribution values, ``storable``'s since a job was admitted).
    Without ``protobuf``, the samples are rendered in the text formats only."""

    def __init__(self, base: Labels, protobuf: bool = True) -> None:
        self._base = label_text(base)
        self._base_protobuf = _protobuf.labels(base)
        self._base_names = tuple(name for name, _ in base)
        self._lines: dict[str, list[str]] = {}
        self._openmetrics: dict[str, list[str]] = {}  # families with exemplars only
        # encoded ``metric`` entries, when rendered; those of ``_kept`` families are
        # referenced by their writers too (``protobuf_entries``), the others are joined
        self._protobuf: dict[str, list[bytes]] | None = {} if protobuf else None
        self._kept: set[str] = set()
        self.refused: list[str] = []  # samples the contract refused (``contract``), why

    def _labels(self, labels: Labels, stored: Labels = ()) -> str:
        if not labels and not stored:
            return self._base
        extra = label_text(labels)
        if stored:
            kept = stored_label_text(stored)
            extra = f"{extra},{kept}" if extra else kept
        return f"{self._base},{extra}" if self._base else extra

    def _protobuf_labels(self, labels: Labels, stored: Labels = ()) -> bytes:
        encoded = self._base_protobuf
        if labels:
            encoded += _protobuf.labels(labels)
        if stored:
            encoded += _protobuf.stored_labels(stored)
        return encoded

    def _keeps_contract(self, family: Family, labels: Labels, stored: Labels) -> bool:
        problem = refusal(family, self._base_names, labels, bool(stored))
        if problem is not None:
            refuse(problem, self.refused)
        return problem is None

    def series(self, family: Family, labels: Labels) -> tuple[list[str], str]:
        """The line list of ``family`` and the rendered label text for ``labels``, for
        renderers that write many samples sharing labels (per-job series) without
        re-rendering them each time: what they add to them is theirs to keep declared."""
        return self.lines(family), self._labels(labels)

    def lines(self, family: Family) -> list[str]:
        if not declared(family):
            refuse(f"{family.name} is not a declared family", self.refused)
        return self._lines.setdefault(family.name, [])

    def protobuf_series(self, family: Family, labels: Labels) -> tuple[list[bytes], bytes]:
        """``series`` in protobuf: the family's encoded ``metric`` entries and the encoded
        ``label`` entries of ``labels`` (the block's base labels first)."""
        return self.protobuf_entries(family), self._protobuf_labels(labels)

    @property
    def renders_protobuf(self) -> bool:
        return self._protobuf is not None

    def protobuf_entries(self, family: Family) -> list[bytes]:
        """The family's encoded ``metric`` entries, to which ``lines``' writers add theirs
        (only when ``renders_protobuf``), each an object they keep: the block refers to them."""
        if not declared(family):
            refuse(f"{family.name} is not a declared family", self.refused)
        assert self._protobuf is not None, "a block rendered without protobuf"
        self._kept.add(family.name)
        return self._protobuf.setdefault(family.name, [])

    def add(self, family: Family, value: float, labels: Labels = (), stored: Labels = ()) -> None:
        if not self._keeps_contract(family, labels, stored):
            return
        text = self._labels(labels, stored)
        name = family.name
        series = f"{name}{{{text}}}" if text else name
        self._lines.setdefault(name, []).append(f"{series} {format_value(value)}\n")
        if self._protobuf is not None:
            encoded = _protobuf.sample(family.type, self._protobuf_labels(labels, stored), value)
            self._protobuf.setdefault(name, []).append(encoded)

    def add_histogram(
        self, family: Family, histogram: Histogram, labels: Labels = (), stored: Labels = ()
    ) -> None:
        """Buckets, sum and count; in OpenMetrics, each bucket with its exemplar if it has one
        (the family's lines written so far in this block are shared up to here). In protobuf,
        a family that declares ``native`` sends its native histogram beside the classic
        buckets, in the same message, while ``histogram.native`` holds every observation."""
        if not self._keeps_contract(family, labels, stored):
            return
        name = family.name
        text = self._labels(labels, stored)
        lines = self._lines.setdefault(name, [])
        exemplars = histogram.exemplars
        om = self._openmetrics.get(name)
        if om is None and exemplars is not None:
            om = self._openmetrics[name] = list(lines)
        cumulative = histogram.cumulative()
        for index, (bound, count) in enumerate(cumulative):
            le = format_value(bound if math.isinf(bound) else float(bound))
            line = f'{name}_bucket{{{text},le="{le}"}} {count}'
            lines.append(f"{line}\n")
            if om is not None:
                exemplar = exemplars[index] if exemplars is not None else None
                om.append(f"{line}{exemplar_text(exemplar)}\n")
        tail = (
            f"{name}_sum{{{text}}} {format_value(histogram.total)}\n",
            f"{name}_count{{{text}}} {histogram.count}\n",
        )
        lines.extend(tail)
        if om is not None:
            om.extend(tail)
        if self._protobuf is not None:
            encoded = _histogram_entry(
                family, histogram, self._protobuf_labels(labels, stored), cumulative
            )
            self._protobuf.setdefault(name, []).append(encoded)

    def encode(self) -> Encoded:
        """The block's samples in every format; the block is complete: none is added after."""

        def joined(by_family: dict[str, list[str]]) -> dict[str, bytes]:
            return {
                family: "".join(lines).encode("utf-8", "replace")
                for family, lines in by_family.items()
            }

        entries = self._protobuf
        if entries is not None:
            entries = {
                family: parts if family in self._kept else [b"".join(parts)]
                for family, parts in entries.items()
            }
        return Encoded(joined(self._lines), joined(self._openmetrics), entries)
