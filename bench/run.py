"""Scrape and poll cost of the exporter at N jobs, each beside a baseline measured in the same run.

    python bench/run.py [--jobs 10000] [--scrapes 200]

- ingest: CPU seconds to parse a Ray listing of N jobs, reconcile it and render the exposition;
  baseline: json.loads alone (the floor for any exporter reading the same answer).
- scrape: median and p99 latency of GET /metrics over loopback with N per-job series; baseline: a
  server of the same kind answering the same bytes from a constant (the floor).
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from exporter.app import Exporter
from exporter.backends.ray import parse_jobs
from exporter.config import parse_config
from exporter.server import MetricsServer


def ray_listing(n: int, now: float) -> bytes:
    statuses = ("RUNNING", "PENDING", "SUCCEEDED", "FAILED", "STOPPED")
    jobs = []
    for i in range(n):
        status = statuses[i % len(statuses)]
        jobs.append(
            {
                "type": "SUBMISSION",
                "job_id": f"{i:08x}",
                "submission_id": f"raysubmit_{i:012d}",
                "status": status,
                "entrypoint": "python train.py --epochs 10",
                "message": "",
                "error_type": None,
                "start_time": int((now - 600) * 1000),
                "end_time": None if status in ("RUNNING", "PENDING") else int(now * 1000),
                "metadata": {"job_name": f"train-{i}"},
                "runtime_env": {},
            }
        )
    return json.dumps(jobs).encode()


def measure_ingest(n: int) -> tuple[float, float, Exporter]:
    now = time.time()
    raw = ray_listing(n, now)
    exporter = Exporter(
        parse_config(
            {
                "targets": [
                    {
                        "name": "bench",
                        "backend": "ray",
                        "url": "http://127.0.0.1:9",
                        "per_job_series": "all",
                    }
                ]
            }
        )
    )
    poller = exporter.pollers[0]
    started = time.process_time()
    json.loads(raw)
    baseline = time.process_time() - started
    started = time.process_time()
    listing = parse_jobs(json.loads(raw))
    poller.ledger.apply(listing.items, now)
    poller.publish("jobs")
    ours = time.process_time() - started
    return ours, baseline, exporter


def static_server(body: bytes) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def latencies(url: str, scrapes: int) -> tuple[float, float]:
    samples = []
    with httpx.Client(timeout=30) as client:
        for _ in range(scrapes):
            started = time.perf_counter()
            client.get(url).raise_for_status()
            samples.append(time.perf_counter() - started)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--scrapes", type=int, default=200)
    args = parser.parse_args()

    ours, floor, exporter = measure_ingest(args.jobs)
    body = exporter.exposition.body()
    server = MetricsServer("127.0.0.1", 0, exporter.exposition, lambda: exporter.pollers)
    server.start()
    ours_median, ours_p99 = latencies(f"http://127.0.0.1:{server.port}/metrics", args.scrapes)
    server.stop()
    static = static_server(body)
    floor_median, floor_p99 = latencies(f"http://127.0.0.1:{static.server_port}/", args.scrapes)
    static.shutdown()

    print(f"jobs: {args.jobs}, exposition: {len(body) / 1024:.0f} KiB, scrapes: {args.scrapes}")
    print(f"{'measure':<34}{'exporter':>12}{'baseline':>12}{'ratio':>8}")
    rows = [
        ("ingest CPU s (parse+reconcile+render)", ours, floor, "json.loads only"),
        ("scrape median ms", ours_median * 1e3, floor_median * 1e3, "static bytes"),
        ("scrape p99 ms", ours_p99 * 1e3, floor_p99 * 1e3, "static bytes"),
    ]
    for name, a, b, what in rows:
        print(f"{name:<34}{a:>12.3f}{b:>12.3f}{a / b:>8.2f}  (baseline: {what})")


if __name__ == "__main__":
    main()
