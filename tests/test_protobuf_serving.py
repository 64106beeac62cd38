"""The protobuf format as served: negotiated only with clients that ask for it (Prometheus
2.42's Accept headers), over HTTP plain and gzip, and rendered by pollers once a scrape asked
for it, the client's next choice served until then."""

from __future__ import annotations

import gzip

import httpx
import pytest

from exporter.app import Exporter, process_block
from exporter.config.parse import parse_config
from exporter.exposition import families
from exporter.exposition.block import Block
from exporter.exposition.protobuf import PROTOBUF
from exporter.exposition.store import PROCESS_BLOCK, BlockKey, Exposition, NotRendered
from exporter.exposition.text import OPENMETRICS, TEXT
from exporter.polling.health import StatusSnapshot
from exporter.polling.sharding import Shard
from exporter.simulators.ray import RaySimulator
from exporter.web.app import Application, Request
from exporter.web.negotiation import (
    OPENMETRICS_1_0_0,
    PROTOBUF_DELIMITED,
    TEXT_0_0_4,
    choose_format,
)
from exporter.web.server import MetricsServer

from .reference_proto import parse_delimited, protobuf_samples, text_samples

PROMETHEUS_2_42_NATIVE_ACCEPT = (  # scrape/scrape.go, scrapeAcceptHeaderWithProtobuf, v2.42.0
    "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,"
    "application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;"
    "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
PROMETHEUS_2_42_ACCEPT = (  # scrapeAcceptHeader: without --enable-feature=native-histograms
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
DELIMITED = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;" + (
    "encoding=delimited"
)
BASE = (("target", "t1"), ("backend", "ray"))


def _block(protobuf: bool = True) -> Block:
    block = Block(BASE, protobuf)
    block.add(families.TARGET_UP, 1, (("resource", "jobs"),))
    block.add(families.JOBS, 3, (("phase", "running"), ("status", "RUNNING")))
    return block


def _exposition(*blocks: Block) -> Exposition:
    exposition = Exposition()
    exposition.update({BlockKey(f"t{n}", "jobs"): b.encode() for n, b in enumerate(blocks)})
    return exposition


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (PROMETHEUS_2_42_NATIVE_ACCEPT, PROTOBUF),
        (PROMETHEUS_2_42_ACCEPT, OPENMETRICS),
        (DELIMITED, PROTOBUF),
        (f"text/plain;version=0.0.4;q=0.3,{DELIMITED};q=0.7,*/*;q=0.2", PROTOBUF),
        (
            'application/vnd.google.protobuf; proto="io.prometheus.client.MetricFamily"; '
            'encoding="delimited"',
            PROTOBUF,
        ),
        (f"{DELIMITED};q=0.5,application/openmetrics-text;version=1.0.0", OPENMETRICS),
        (f"{DELIMITED};q=0,text/plain", TEXT),
        # what the exporter does not write is passed over: other encodings and messages
        ("application/vnd.google.protobuf", TEXT),
        (DELIMITED.replace("delimited", "text") + ",application/openmetrics-text", OPENMETRICS),
        (DELIMITED.replace("MetricFamily", "Metric"), TEXT),
        # clients that did not ask never get it
        (None, TEXT),
        ("*/*", TEXT),
        ("application/*", TEXT),
        ("text/plain;version=0.0.4", TEXT),
    ],
)
def test_protobuf_only_for_those_who_ask_for_it(accept: str | None, chosen: str) -> None:
    fmt, content_type = choose_format(accept)
    assert fmt == chosen
    if chosen == PROTOBUF:
        assert content_type == PROTOBUF_DELIMITED
    else:
        assert content_type.startswith((OPENMETRICS_1_0_0, TEXT_0_0_4))


def test_prometheus_with_native_histograms_gets_protobuf_plain_and_gzip() -> None:
    exposition = _exposition(_block())
    exposition.update({PROCESS_BLOCK: process_block(True, 1e9, Shard())})
    server = MetricsServer("127.0.0.1", 0, exposition, StatusSnapshot)
    server.start()
    try:
        bodies = {}
        for coding in ("identity", "gzip"):
            headers = {"Accept": PROMETHEUS_2_42_NATIVE_ACCEPT, "Accept-Encoding": coding}
            with httpx.stream(
                "GET", f"http://127.0.0.1:{server.port}/metrics", headers=headers
            ) as r:
                assert r.headers["content-type"] == PROTOBUF_DELIMITED
                assert r.headers.get("content-encoding", "identity") == coding
                raw = b"".join(r.iter_raw())
            bodies[coding] = gzip.decompress(raw) if coding == "gzip" else raw
    finally:
        server.stop()
    names = [f.name for f in parse_delimited(bodies["gzip"])]
    assert names == [f.name for f in parse_delimited(bodies["identity"])]
    assert {"jobfleet_build_info", "jobfleet_jobs", "process_open_fds"} <= set(names)
    assert bodies["identity"].startswith(exposition.body(PROTOBUF))


def test_a_block_rendered_without_protobuf_keeps_protobuf_scrapes_on_the_text_formats() -> None:
    block = _block(protobuf=False)
    assert not block.renders_protobuf and block.encode().protobuf is None
    exposition = _exposition(_block(), block)
    assert not exposition.wants_protobuf
    with pytest.raises(NotRendered):
        exposition.body(PROTOBUF)
    with pytest.raises(NotRendered):
        exposition.response(PROTOBUF, compress=True)
    assert exposition.wants_protobuf  # what pollers read to render it from then on
    assert b"jobfleet_target_up" in exposition.body(TEXT)


def _scrape(app: Application) -> tuple[str, bytes]:
    headers = (("Accept", PROMETHEUS_2_42_NATIVE_ACCEPT),)
    response = app(Request.of("GET", "/metrics", headers))
    return dict(response.headers)["Content-Type"], b"".join(response.body)


def test_targets_render_protobuf_from_the_first_poll_after_a_scrape_asked_for_it() -> None:
    """Until a scrape asks, polls render the text formats only (per-job protobuf entries
    cost memory); that scrape gets the client's next choice, OpenMetrics for Prometheus, and
    from the next poll on protobuf, with the jobs listed unchanged encoded then too."""
    with RaySimulator(seed=3) as ray:
        for n in range(5):
            ray.add_job(f"raysubmit_{n}", status="RUNNING", start_time=1.7e9 + n)
        config = {"targets": [ray.target_config("ray", resources=["jobs"])]}
        exporter = Exporter(parse_config(config))
        try:
            app = Application(exporter.exposition, exporter.status)
            assert exporter.poll_all_once()
            content_type, _ = _scrape(app)
            assert content_type.startswith(OPENMETRICS_1_0_0)
            assert exporter.poll_all_once()  # the jobs unchanged: their text lines are kept
            content_type, body = _scrape(app)
            text = exporter.exposition.body(TEXT)
        finally:
            exporter.close()
    assert content_type == PROTOBUF_DELIMITED
    families_ = {f.name: f for f in parse_delimited(body)}
    assert len(families_["jobfleet_job_info"].metric) == 5
    assert "process_open_fds" in families_
    assert protobuf_samples(exporter.exposition.body(PROTOBUF)) == text_samples(text)
