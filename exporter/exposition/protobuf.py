"""The Prometheus protobuf exposition format: ``io.prometheus.client.MetricFamily`` messages,
each prefixed by its length as a varint (``encoding=delimited``), as client_model's
``metrics.proto`` defines them.

A small encoder of the few messages the exporter writes, not the ``protobuf`` package: a
sample is a handful of bytes joined once at poll time (docs/performance.md measures both).
``metric`` (field 4 of MetricFamily) is a repeated message field, and such fields concatenate,
so a block keeps each family's samples as encoded ``metric`` entries and the store writes a
family as its header, then every block's entries, behind the length of the whole.

Label values here are not escaped (protobuf needs no escaping) but are made storable as in the
text formats (``text.storable``), so every format gives a series the same label values.
"""

from __future__ import annotations

import functools
import math
import struct
from collections.abc import Iterable, Sequence

from exporter.exposition.histogram import Exemplar
from exporter.exposition.text import MAX_EXEMPLAR_JOB_ID_LENGTH, storable

PROTOBUF = "protobuf"  # the format's name beside text.TEXT and text.OPENMETRICS
# MetricFamily.type (MetricType) of each family type
METRIC_TYPES = {"counter": 0, "gauge": 1, "summary": 2, "untyped": 3, "histogram": 4}
# The Metric field holding a sample's value, by family type: gauge 2, counter 3, untyped 5
_VALUE_FIELD = {"gauge": b"\x12\x09\x09", "counter": b"\x1a\x09\x09", "untyped": b"\x2a\x09\x09"}
_DOUBLE = struct.Struct("<d").pack
_SMALL = [bytes((n,)) for n in range(128)]
_UINT64 = (1 << 64) - 1


def varint(n: int) -> bytes:
    """``n`` as a base-128 varint; a negative ``n`` as int64 does (ten bytes)."""
    if 0 <= n < 128:
        return _SMALL[n]
    n &= _UINT64
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def zigzag(n: int) -> int:
    """``n`` as sint32/sint64 store it: small magnitudes, of either sign, in few bytes."""
    return n << 1 if n >= 0 else ((-n) << 1) - 1


def field(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field (a message, string or packed list) under its ``tag``."""
    return tag + varint(len(payload)) + payload


@functools.cache
def _name_field(name: str) -> bytes:
    """A LabelPair's name field: label names are few, so each is encoded once."""
    return field(b"\x0a", name.encode())


def label_pair(name: str, value: str) -> bytes:
    """One ``label`` entry (field 1 of Metric and of Exemplar) of a stored label value (one
    that is not would be sent as the text formats send it: invalid UTF-8 replaced)."""
    encoded = value.encode("utf-8", "replace")
    pair = _name_field(name) + b"\x12" + varint(len(encoded)) + encoded
    return b"\x0a" + varint(len(pair)) + pair


def labels(pairs: Iterable[tuple[str, str]]) -> bytes:
    """``label`` entries of ``pairs``, their values made storable (``text.storable``)."""
    return b"".join(label_pair(name, storable(value)) for name, value in pairs)


def stored_labels(pairs: Iterable[tuple[str, str]]) -> bytes:
    """``label`` entries of pairs whose values already are label values (attribution slots)."""
    return b"".join(label_pair(name, value) for name, value in pairs)


def sample(kind: str, encoded_labels: bytes, value: float) -> bytes:
    """A ``metric`` entry (field 4 of MetricFamily) of a gauge, counter or untyped sample."""
    size = len(encoded_labels) + 11  # the value: a 2-byte key and length, a 9-byte double
    return b"\x22" + varint(size) + encoded_labels + _VALUE_FIELD[kind] + _DOUBLE(value)


def timestamp(at: float) -> bytes:
    """A google.protobuf.Timestamp message: seconds (1) and nanoseconds (2)."""
    seconds = math.floor(at)
    nanos = min(round((at - seconds) * 1e9), 999_999_999)
    return b"\x08" + varint(seconds) + (b"\x10" + varint(nanos) if nanos else b"")


def exemplar(job_id: str, value: float, at: float) -> bytes:
    """An Exemplar message: the job's id as ``job_id`` (capped as OpenMetrics caps it), the
    observed value, when it was made."""
    name_value = label_pair("job_id", storable(job_id, MAX_EXEMPLAR_JOB_ID_LENGTH))
    return name_value + b"\x11" + _DOUBLE(value) + field(b"\x1a", timestamp(at))


def _bucket(bound: float, count: int, example: Exemplar | None) -> bytes:
    """A classic Bucket entry (field 3 of Histogram): cumulative count, upper bound, exemplar."""
    body = b"\x08" + varint(count) + b"\x11" + _DOUBLE(bound)
    if example is not None:
        body += field(b"\x1a", exemplar(*example))
    return field(b"\x1a", body)


def classic_buckets(
    cumulative: Sequence[tuple[float, int]], exemplars: Sequence[Exemplar | None] | None
) -> bytes:
    """The Bucket entries of (upper bound, cumulative count) pairs, +Inf last. The +Inf
    bucket is left out unless it has an exemplar, as client_golang does: Prometheus reads
    ``sample_count`` as its count."""
    out = []
    for index, (bound, count) in enumerate(cumulative):
        example = exemplars[index] if exemplars is not None else None
        if math.isinf(bound) and example is None:
            continue
        out.append(_bucket(bound, count, example))
    return b"".join(out)


def histogram(
    encoded_labels: bytes,
    count: int,
    total: float,
    cumulative: Sequence[tuple[float, int]],
    exemplars: Sequence[Exemplar | None] | None = None,
) -> bytes:
    """A ``metric`` entry of a classic histogram: sample_count (1), sample_sum (2), buckets."""
    body = b"\x08" + varint(count) + b"\x11" + _DOUBLE(total)
    body += classic_buckets(cumulative, exemplars)
    return field(b"\x22", encoded_labels + field(b"\x3a", body))


Spans = Sequence[tuple[int, int]]  # (offset, length) of each run of native buckets


def _native_side(span_tag: bytes, delta_tag: bytes, spans: Spans, deltas: Sequence[int]) -> bytes:
    out = [
        field(span_tag, b"\x08" + varint(zigzag(offset)) + b"\x10" + varint(length))
        for offset, length in spans
    ]
    if deltas:  # packed: parsers read a repeated scalar packed or not alike
        out.append(field(delta_tag, b"".join(varint(zigzag(d)) for d in deltas)))
    return b"".join(out)


def native_histogram(
    count: int,
    total: float,
    schema: int,
    zero_threshold: float,
    zero_count: int,
    positive: tuple[Spans, Sequence[int]] = ((), ()),
    negative: tuple[Spans, Sequence[int]] = ((), ()),
    exemplars: Sequence[Exemplar] = (),
    buckets: bytes = b"",
) -> bytes:
    """A Histogram message with the native fields: schema (5, sint32), zero_threshold (6),
    zero_count (7), negative_span (9) and negative_delta (10, sint64), positive_span (12) and
    positive_delta (13), exemplars (16); each side as (spans, deltas), a delta being a bucket's
    count less the previous bucket's. ``buckets`` are classic Bucket entries to send beside
    them (``classic_buckets``). An empty histogram with no zero bucket gets a no-op positive
    span, which tells it from a classic one, as metrics.proto asks."""
    body = [b"\x08" + varint(count) + b"\x11" + _DOUBLE(total), buckets]
    body.append(b"\x28" + varint(zigzag(schema)) + b"\x31" + _DOUBLE(zero_threshold))
    body.append(b"\x38" + varint(zero_count))
    body.append(_native_side(b"\x4a", b"\x52", *negative))
    spans, deltas = positive
    if not spans and not negative[0] and zero_threshold == 0:
        spans = ((0, 0),)
    body.append(_native_side(b"\x62", b"\x6a", spans, deltas))
    body.extend(field(b"\x82\x01", exemplar(*example)) for example in exemplars)
    return b"".join(body)


def native_sample(encoded_labels: bytes, native: bytes) -> bytes:
    """A ``metric`` entry of a histogram given as a whole Histogram message."""
    return field(b"\x22", encoded_labels + field(b"\x3a", native))


def family_header(name: str, help_text: str, kind: str) -> bytes:
    """A MetricFamily's name (1), help (2) and type (3): its ``metric`` entries follow."""
    return (
        field(b"\x0a", name.encode())
        + field(b"\x12", help_text.encode("utf-8", "replace"))
        + b"\x18"
        + varint(METRIC_TYPES[kind])
    )


def delimited(header: bytes, metrics: Sequence[bytes]) -> list[bytes]:
    """A MetricFamily of ``header`` and encoded ``metric`` entries, behind its length."""
    return [varint(len(header) + sum(map(len, metrics))), header, *metrics]
