"""Scrape cost: /metrics latency over loopback at 10k and 100k per-job series.

Each server runs in its own process; this process is the only client, scraping one request at a
time. Ours is compared with a naive client_python exporter holding the same series, and with a
static-bytes server (the floor).
"""

from __future__ import annotations

from .common import latencies, start_server, table

SERIES_PER_RUNNING_JOB = 3  # jobfleet_job_info, jobfleet_job_status, submit timestamp (Ray)


def run(sizes: tuple[int, ...] = (10_000, 100_000)) -> str:
    rows = []
    for series in sizes:
        jobs = series // SERIES_PER_RUNNING_JOB
        results = {}
        for kind, scrapes in (("ours", 200), ("static", 200), ("naive", 20)):
            process, url = start_server(kind, jobs, jobs)
            try:
                results[kind] = latencies(url, scrapes)
            finally:
                process.kill()
                process.wait(timeout=10)
        ours, static, naive = results["ours"], results["static"], results["naive"]
        rows.append(
            [
                f"{series:,}",
                f"{ours[3] / 2**20:.1f} MiB",
                f"{ours[0] * 1e3:.2f} / {ours[1] * 1e3:.2f}",
                f"{static[0] * 1e3:.2f} / {static[1] * 1e3:.2f}",
                f"{naive[0] * 1e3:.1f} / {naive[1] * 1e3:.1f}",
                f"{naive[0] / ours[0]:.0f}x",
                f"{ours[0] / static[0]:.2f}x",
                f"{ours[2]}/{static[2]}/{naive[2]}",
            ]
        )
    return table(
        "Scrape latency, median / p99 ms (targets: >= 50x faster than naive, <= 2x static)",
        [
            "series",
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
