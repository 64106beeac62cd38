"""OpenMetrics and the process's own metrics on /metrics: format negotiation, the OpenMetrics
body of every simulated backend under client_python's strict parser, exemplars, and the text
body of the same fleet under promtool."""

from __future__ import annotations

import gzip
import time

import httpx
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from exporter.app import process_block
from exporter.backends import registry
from exporter.exposition import families
from exporter.exposition.block import Block
from exporter.exposition.histogram import JOB_DURATION_BUCKETS, Histogram
from exporter.exposition.store import PROCESS_BLOCK, BlockKey, Exposition
from exporter.exposition.text import MAX_EXEMPLAR_JOB_ID_LENGTH, OPENMETRICS, TEXT
from exporter.polling.health import StatusSnapshot
from exporter.polling.sharding import Shard
from exporter.web.negotiation import (
    OPENMETRICS_1_0_0,
    TEXT_0_0_4,
    choose_format,
)
from exporter.web.server import MetricsServer

from .helpers import promtool_check_metrics, simulated_fleet

PROMETHEUS_2_42_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
PROCESS_FAMILIES = (
    "process_cpu_seconds",
    "process_resident_memory_bytes",
    "process_open_fds",
    "process_start_time_seconds",
    "python_info",
    "python_gc_collections",
)


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (None, (TEXT, TEXT_0_0_4)),
        ("", (TEXT, TEXT_0_0_4)),
        ("*/*", (TEXT, TEXT_0_0_4)),
        (PROMETHEUS_2_42_ACCEPT, (OPENMETRICS, f"{OPENMETRICS_1_0_0}; escaping=underscores")),
        ("application/openmetrics-text", (OPENMETRICS, OPENMETRICS_1_0_0)),
        (
            "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8",
            (OPENMETRICS, f"{OPENMETRICS_1_0_0}; escaping=allow-utf-8"),
        ),
        ("application/openmetrics-text;version=0.0.1", (TEXT, TEXT_0_0_4)),  # too old
        ("text/plain;version=0.0.4", (TEXT, TEXT_0_0_4)),
        # q-values: the highest first, whatever the order; q=0 never
        (
            "text/plain;version=0.0.4;q=0.9,application/openmetrics-text;version=1.0.0;q=0.2",
            (TEXT, TEXT_0_0_4),
        ),
        (
            "text/plain;q=0.3,application/openmetrics-text;version=1.0.0;q=0.6",
            (OPENMETRICS, f"{OPENMETRICS_1_0_0}; escaping=underscores"),
        ),
        ("application/openmetrics-text;q=0", (TEXT, TEXT_0_0_4)),
        ("application/openmetrics-text;q=oops", (TEXT, TEXT_0_0_4)),
    ],
)
def test_format_negotiation(accept: str | None, chosen: tuple[str, str]) -> None:
    assert choose_format(accept) == chosen


def _server() -> MetricsServer:
    exposition = Exposition()
    exposition.update({PROCESS_BLOCK: process_block(True, time.time(), Shard())})
    return MetricsServer("127.0.0.1", 0, exposition, StatusSnapshot)


def test_metrics_serve_the_negotiated_format_and_the_process_metrics() -> None:
    server = _server()
    server.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}") as client:
            text = client.get("/metrics")
            assert text.headers["content-type"] == TEXT_0_0_4
            assert "Accept" in text.headers["vary"] and "Accept-Encoding" in text.headers["vary"]
            for name in (
                "process_cpu_seconds_total",
                "process_resident_memory_bytes",
                "process_open_fds",
                "process_start_time_seconds",
                "python_info",
                "python_gc_collections_total",
            ):
                assert f"\n{name}" in text.text, name
            assert "# EOF" not in text.text

            for encoding in ("identity", "gzip"):
                request = client.build_request(
                    "GET",
                    "/metrics",
                    headers={"Accept": PROMETHEUS_2_42_ACCEPT, "Accept-Encoding": encoding},
                )
                response = client.send(request, stream=True)
                raw = b"".join(response.iter_raw())
                assert response.headers["content-type"].startswith(OPENMETRICS_1_0_0)
                body = gzip.decompress(raw) if encoding == "gzip" else raw
                assert body.endswith(b"\n# EOF\n") and body.count(b"# EOF") == 1
                families = {f.name: f for f in text_string_to_metric_families(body.decode())}
                assert families["jobfleet_build"].type == "info"
                assert set(PROCESS_FAMILIES) <= families.keys()
                assert families["process_resident_memory_bytes"].samples[0].value > 1e6
    finally:
        server.stop()


def test_exemplar_job_ids_are_cut_to_the_openmetrics_limit_and_stay_distinct() -> None:
    histogram = Histogram(JOB_DURATION_BUCKETS)
    long_a, long_b = "a" * 300 + "1", "a" * 300 + "2"
    histogram.observe(5, long_a, 1e9)
    histogram.observe(45, long_b, 1e9 + 1)
    block = Block((("target", "t"), ("backend", "ray")))
    block.add_histogram(families.JOB_DURATION_SECONDS, histogram, (("phase", "succeeded"),))
    exposition = Exposition()
    exposition.update({BlockKey("t", "jobs"): block.encode()})
    body = exposition.body(OPENMETRICS).decode() + "# EOF\n"
    buckets = next(iter(text_string_to_metric_families(body))).samples
    ids = [s.exemplar.labels["job_id"] for s in buckets if s.exemplar is not None]
    assert len(ids) == 2 and ids[0] != ids[1]
    assert all(len(job_id) == MAX_EXEMPLAR_JOB_ID_LENGTH for job_id in ids)
    assert "# {" not in exposition.body(TEXT).decode()  # the text format carries none


@pytest.mark.slow
def test_every_simulated_backend_is_valid_openmetrics_with_exemplars_and_valid_text() -> None:
    with simulated_fleet() as (exporter, advance):
        for _ in range(13):  # jobs start and finish on the simulators
            advance()
        body = exporter.exposition.body(OPENMETRICS).decode() + "# EOF\n"
        text = exporter.exposition.body(TEXT)
    families = {f.name: f for f in text_string_to_metric_families(body)}
    assert families["jobfleet_jobs_submitted"].type == "counter"
    assert families["jobfleet_job_duration_seconds"].unit == "seconds"
    assert families["jobfleet_job"].type == "info"  # samples: jobfleet_job_info
    backends = {s.labels["backend"] for s in families["jobfleet_target_up"].samples}
    assert backends == set(registry.names())
    for name in ("jobfleet_job_duration_seconds", "jobfleet_job_queue_wait_seconds"):
        exemplars = [s.exemplar for s in families[name].samples if s.exemplar is not None]
        assert exemplars, name
        for exemplar in exemplars:
            assert exemplar.labels["job_id"] and exemplar.timestamp is not None
    result = promtool_check_metrics(text)
    assert result.returncode == 0, result.stdout + result.stderr
