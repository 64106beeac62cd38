"""One /metrics server per process, for the scrape benchmark: ``python -m bench.servers KIND N M``.

- ours:   the exporter's MetricsServer over state holding the workload;
- naive:  the usual way, client_python Gauges with labels, generate_latest on every scrape,
          holding exactly the series our exposition holds;
- static: the same bytes from a constant, over the same kind of HTTP server (the floor);
- static-openmetrics: the same, for the OpenMetrics body;
- static-protobuf: the same, for the protobuf body;
- raysim: the Ray Jobs API simulator holding the workload's jobs (for the ingest benchmark).
Prints ``port N`` when ready, then serves until killed.
"""

from __future__ import annotations

import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry, Gauge, start_http_server
from prometheus_client.parser import text_string_to_metric_families

from exporter.exposition.protobuf import PROTOBUF
from exporter.exposition.text import OPENMETRICS
from exporter.simulators.ray import RaySimulator
from exporter.web.negotiation import OPENMETRICS_1_0_0, PROTOBUF_DELIMITED
from exporter.web.server import MetricsServer

from .common import STATUSES, loaded_exporter


def naive_registry(body: bytes) -> CollectorRegistry:
    registry = CollectorRegistry()
    for family in text_string_to_metric_families(body.decode()):
        if family.type != "gauge" or not family.samples:
            continue  # the per-job series the comparison is about are all gauges
        names = sorted(family.samples[0].labels)
        gauge = Gauge(family.name, family.documentation, names, registry=registry)
        for sample in family.samples:
            (gauge.labels(**sample.labels) if names else gauge).set(sample.value)
    return registry


def static_server(
    body: bytes, content_type: str = "text/plain; version=0.0.4; charset=utf-8"
) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # as the exporter's server does

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def ray_simulator(jobs: int, active: int) -> int:
    now = time.time()
    simulator = RaySimulator()
    for i in range(jobs):
        running = i < active
        simulator.add_job(
            f"raysubmit_{i:012d}",
            status="RUNNING" if running else STATUSES[i % 3],
            start_time=now - 3600 + i % 3000,
            end_time=None if running else now - 60,
            entrypoint="python train.py --epochs 10",
            metadata={"job_name": f"train-{i % 500}", "owner": "bench"},
        )
    simulator.start()
    return int(simulator.url.rsplit(":", 1)[1])


def main() -> None:
    kind, jobs, active = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    if kind == "raysim":
        print(f"port {ray_simulator(jobs, active)}", flush=True)
        threading.Event().wait()
    exporter = loaded_exporter(jobs, active, protobuf=True)  # every format ready to scrape
    body = exporter.exposition.body()
    if kind == "ours":
        server = MetricsServer("127.0.0.1", 0, exporter.exposition, exporter.status)
        server.start()
        port = server.port
    elif kind == "naive":
        httpd, _ = start_http_server(0, addr="127.0.0.1", registry=naive_registry(body))
        port = httpd.server_port
    elif kind == "static-openmetrics":
        om = exporter.exposition.body(OPENMETRICS) + b"# EOF\n"
        port = static_server(om, OPENMETRICS_1_0_0).server_port
    elif kind == "static-protobuf":
        port = static_server(exporter.exposition.body(PROTOBUF), PROTOBUF_DELIMITED).server_port
    else:
        port = static_server(body).server_port
    print(f"port {port}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
