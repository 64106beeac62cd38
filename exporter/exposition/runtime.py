"""The exporter process's standard metrics (``process_*``, ``python_*``) from client_python.

Its ProcessCollector, PlatformCollector and GCCollector, in a registry of their own, rendered
at each scrape: a dozen series that change between scrapes, appended to the stored body.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.openmetrics import exposition as openmetrics

from exporter.exposition.store import OPENMETRICS


class RuntimeMetrics:
    """The process and Python series, as the tail of a scrape in either format."""

    def __init__(self) -> None:
        self._registry = CollectorRegistry(auto_describe=False)
        ProcessCollector(registry=self._registry)
        PlatformCollector(registry=self._registry)
        GCCollector(registry=self._registry)

    def tail(self, fmt: str) -> bytes:
        """The series rendered now; in OpenMetrics, followed by the body's ``# EOF``."""
        if fmt == OPENMETRICS:
            return openmetrics.generate_latest(self._registry)  # ends with its own # EOF
        return generate_latest(self._registry)
