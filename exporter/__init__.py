"""jobfleet-exporter: Prometheus metrics for Ray and AI jobs across compute platforms."""

__version__ = "0.1.0"
