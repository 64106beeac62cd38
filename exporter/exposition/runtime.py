"""The exporter process's standard metrics (``process_*``, ``python_*``) from client_python.

Its ProcessCollector, PlatformCollector and GCCollector, in a registry of their own, rendered
at each scrape: a dozen series that change between scrapes, appended to the stored body. In
protobuf they are encoded here (client_python writes only the text formats).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics import exposition as openmetrics

from exporter.exposition import protobuf
from exporter.exposition.protobuf import PROTOBUF
from exporter.exposition.text import OPENMETRICS


class RuntimeMetrics:
    """The process and Python series, as the tail of a scrape in either format."""

    def __init__(self) -> None:
        self._registry = CollectorRegistry(auto_describe=False)
        ProcessCollector(registry=self._registry)
        PlatformCollector(registry=self._registry)
        GCCollector(registry=self._registry)

    def tail(self, fmt: str, shown: frozenset[str] | None = None) -> bytes:
        """The series rendered now, of the families in ``shown`` (None: all); in OpenMetrics,
        followed by the body's ``# EOF``."""
        source = self._registry if shown is None else _Shown(self._registry, shown)
        if fmt == OPENMETRICS:
            return openmetrics.generate_latest(source)  # ends with its own # EOF
        if fmt == PROTOBUF:
            return protobuf_families(source.collect())
        return generate_latest(source)


def protobuf_families(metrics: Iterator[Metric]) -> bytes:
    """client_python's gauge, counter and untyped families as delimited MetricFamily messages
    (the collectors above make no others). A counter is named as its samples are, with
    ``_total``, as in the text format; its ``_created`` samples are left out, as there."""
    parts: list[bytes] = []
    for metric in metrics:
        kind = "untyped" if metric.type == "unknown" else metric.type
        if kind not in ("gauge", "counter", "untyped"):
            continue
        name = f"{metric.name}_total" if kind == "counter" else metric.name
        entries = [
            protobuf.sample(kind, protobuf.labels(s.labels.items()), s.value)
            for s in metric.samples
            if s.name == name
        ]
        if entries:
            header = protobuf.family_header(name, metric.documentation, kind)
            parts.extend(protobuf.delimited(header, entries))
    return b"".join(parts)


class _Shown:
    """The families of ``registry`` named in ``shown``, as a registry the writers take."""

    def __init__(self, registry: CollectorRegistry, shown: frozenset[str]) -> None:
        self._registry, self._shown = registry, shown

    def collect(self) -> Iterator[Metric]:
        for metric in self._registry.collect():  # a counter is named without its _total
            if metric.name in self._shown or f"{metric.name}_total" in self._shown:
                yield metric
