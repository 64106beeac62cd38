"""Scrape cost: /metrics latency over loopback at 10k and 100k per-job series, in the text
format, in OpenMetrics and in protobuf (as Prometheus asks for it with native histograms).

Each server runs in its own process; this process is the only client, scraping one request at a
time (httpx asks for gzip). Ours is compared with a naive client_python exporter holding the same
series (text only), and with a static-bytes server of the same format (the floor).
"""

from __future__ import annotations

from exporter.web.negotiation import PROTOBUF_DELIMITED

from .common import latencies, start_server, table

SERIES_PER_RUNNING_JOB = 3  # jobfleet_job_info, jobfleet_job_status, submit timestamp (Ray)


OPENMETRICS_ACCEPT = {"Accept": "application/openmetrics-text;version=1.0.0"}
PROTOBUF_ACCEPT = {"Accept": PROTOBUF_DELIMITED}
RUNS = (  # format, server kind, scrapes, request headers
    ("text", "ours", 200, None),
    ("text", "static", 200, None),
    ("text", "naive", 20, None),
    ("openmetrics", "ours", 200, OPENMETRICS_ACCEPT),
    ("openmetrics", "static-openmetrics", 200, None),
    ("protobuf", "ours", 200, PROTOBUF_ACCEPT),
    ("protobuf", "static-protobuf", 200, None),
)
STATIC = {"text": "static", "openmetrics": "static-openmetrics", "protobuf": "static-protobuf"}


def run(sizes: tuple[int, ...] = (10_000, 100_000)) -> str:
    rows = []
    for series in sizes:
        jobs = series // SERIES_PER_RUNNING_JOB
        results = {}
        for fmt, kind, scrapes, headers in RUNS:
            process, url = start_server(kind, jobs, jobs)
            try:
                results[fmt, kind] = latencies(url, scrapes, headers=headers)
            finally:
                process.kill()
                process.wait(timeout=10)
        for fmt, static_kind in STATIC.items():
            ours = results[fmt, "ours"]
            static = results[fmt, static_kind]
            naive = results.get((fmt, "naive"))
            rows.append(
                [
                    f"{series:,}",
                    fmt,
                    f"{ours[3] / 2**20:.1f} MiB",
                    f"{ours[0] * 1e3:.2f} / {ours[1] * 1e3:.2f}",
                    f"{static[0] * 1e3:.2f} / {static[1] * 1e3:.2f}",
                    f"{naive[0] * 1e3:.1f} / {naive[1] * 1e3:.1f}" if naive else "-",
                    f"{naive[0] / ours[0]:.0f}x" if naive else "-",
                    f"{ours[0] / static[0]:.2f}x",
                    f"{ours[2]}/{static[2]}/{naive[2] if naive else '-'}",
                ]
            )
    return table(
        "Scrape latency, median / p99 ms (targets: >= 50x faster than naive, <= 2x static)",
        [
            "series",
            "format",
            "body",
            "exporter",
            "static (floor)",
            "naive client_python",
            "vs naive",
            "vs static",
            "scrapes",
        ],
        rows,
    )


if __name__ == "__main__":
    print(run())
