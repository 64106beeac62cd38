"""client_model's reference ``metrics.proto`` (tests/data/client_model/), compiled at test time
by protoc from grpcio-tools into message classes of the ``protobuf`` package, and a reader of
delimited bodies with them: the other side of ``exporter/exposition/protobuf.py``; and the
samples a body holds as Prometheus reads them, to compare with the text format's."""

from __future__ import annotations

import functools
import math
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from grpc_tools import protoc
from prometheus_client.parser import text_string_to_metric_families

DATA = Path(__file__).parent / "data" / "client_model"
PACKAGE = "io.prometheus.client"
COUNTER, GAUGE, HISTOGRAM = 0, 1, 4  # MetricType


@functools.cache
def message_class(name: str) -> Any:
    """The class of message ``name`` (``MetricFamily``, ``Histogram``, ...) of metrics.proto."""
    return message_factory.GetMessageClass(_pool().FindMessageTypeByName(f"{PACKAGE}.{name}"))


@functools.cache
def _pool() -> descriptor_pool.DescriptorPool:
    include = resources.files("grpc_tools") / "_proto"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "metrics.pb"
        args = ["protoc", f"-I{DATA}", f"-I{include}", "--include_imports"]
        code = protoc.main([*args, f"--descriptor_set_out={out}", "metrics.proto"])
        assert code == 0, "protoc could not compile tests/data/client_model/metrics.proto"
        files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for file in files.file:  # google/protobuf/timestamp.proto first: --include_imports
        pool.Add(file)
    return pool


def read_varint(data: bytes, at: int) -> tuple[int, int]:
    """The varint at ``at`` and the offset after it (the delimiter of each message)."""
    value = shift = 0
    while True:
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at += 1
        if byte < 0x80:
            return value, at
        shift += 7


def parse_delimited(body: bytes) -> list[Any]:
    """Every MetricFamily of a delimited body, parsed by the reference classes."""
    family = message_class("MetricFamily")
    out, at = [], 0
    while at < len(body):
        size, at = read_varint(body, at)
        assert at + size <= len(body), "a MetricFamily runs past the end of the body"
        out.append(family.FromString(body[at : at + size]))
        at += size
    return out


Sample = tuple[str, tuple[tuple[str, str], ...], float]


def _le(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """Labels sorted, ``le`` as a number: text writes ``10``, Prometheus reads protobuf's 10.0."""
    if "le" in labels:
        labels = {**labels, "le": repr(float(labels["le"]))}
    return tuple(sorted(labels.items()))


def protobuf_samples(body: bytes) -> list[Sample]:
    """The samples Prometheus 2.42 reads from a protobuf body (model/textparse/protobufparse.go:
    a counter's series is named as its family, a classic histogram is its _bucket, _sum and
    _count series, its +Inf bucket the sample count when not sent)."""
    out: list[Sample] = []
    for family in parse_delimited(body):
        for metric in family.metric:
            labels = {pair.name: pair.value for pair in metric.label}
            if family.type == HISTOGRAM:
                h = metric.histogram
                out.append((f"{family.name}_count", _le(labels), h.sample_count))
                out.append((f"{family.name}_sum", _le(labels), h.sample_sum))
                bounds = [b.upper_bound for b in h.bucket]
                buckets = [(b.upper_bound, b.cumulative_count) for b in h.bucket]
                if not bounds or not math.isinf(bounds[-1]):
                    buckets.append((math.inf, h.sample_count))
                for bound, count in buckets:
                    out.append((f"{family.name}_bucket", _le({**labels, "le": bound}), count))
            else:
                kind = {COUNTER: "counter", GAUGE: "gauge"}[family.type]
                out.append((family.name, _le(labels), getattr(metric, kind).value))
    return sorted(out)


def text_samples(body: bytes) -> list[Sample]:
    out = []
    for family in text_string_to_metric_families(body.decode()):
        out.extend((s.name, _le(s.labels), s.value) for s in family.samples)
    return sorted(out)
