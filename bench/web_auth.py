"""Basic auth cost: /metrics latency with bcrypt-hashed users, beside an open scrape.

The server runs in this process; one client scrapes sequentially over a kept-alive connection.
"bcrypt per request" is the previous design (no verdict cache), measured in the same run.
"""

from __future__ import annotations

import contextlib
import statistics
import tempfile
import time
from pathlib import Path

import bcrypt
import httpx

from exporter.web.server import MetricsServer, WebOptions
from exporter.web.web_config import WebSecurity

from .common import loaded_exporter, table

COST = 10
USER, PASSWORD = "prometheus", "bench-password"


def medians(urls: dict[str, str], scrapes: int) -> dict[str, float]:
    """Median latency per server, scraping them in turn so that they share the conditions."""
    clients = {
        name: httpx.Client(timeout=30, auth=None if name == "open" else (USER, PASSWORD))
        for name in urls
    }
    samples: dict[str, list[float]] = {name: [] for name in urls}
    with contextlib.ExitStack() as stack:
        for client in clients.values():
            stack.enter_context(client)
        for name, url in urls.items():
            clients[name].get(url).raise_for_status()  # the connection, and a first bcrypt check
        for _ in range(scrapes):
            for name, url in urls.items():
                started = time.perf_counter()
                clients[name].get(url).raise_for_status()
                samples[name].append(time.perf_counter() - started)
    return {name: statistics.median(times) for name, times in samples.items()}


def run(jobs: int = 3_333, scrapes: int = 50) -> str:
    exporter = loaded_exporter(jobs, jobs)
    with tempfile.TemporaryDirectory() as directory, contextlib.ExitStack() as servers:
        web = Path(directory) / "web.yml"
        hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=COST)).decode()
        web.write_text(f"basic_auth_users:\n  {USER}: {hashed}\n")
        urls = {}
        for name, security in (
            ("open", None),
            ("cached", WebSecurity(web)),
            ("uncached", WebSecurity(web, cache_size=0)),  # the previous design
        ):
            server = MetricsServer(
                "127.0.0.1", 0, exporter.exposition, exporter.status, None,
                WebOptions(security),
            )  # fmt: skip
            server.start()
            servers.callback(server.stop)
            urls[name] = f"http://127.0.0.1:{server.port}/metrics"
        result = medians(urls, scrapes)
    exporter.close()
    open_, cached, uncached = result["open"], result["cached"], result["uncached"]
    rows = [
        ["open", f"{open_ * 1e3:.2f}", "1.00x"],
        ["basic auth, verdict cached", f"{cached * 1e3:.2f}", f"{cached / open_:.2f}x"],
        [
            "basic auth, bcrypt per request (before)",
            f"{uncached * 1e3:.2f}",
            f"{uncached / open_:.1f}x",
        ],
    ]
    return table(
        f"Basic auth (bcrypt cost {COST}), /metrics at {jobs * 3:,} series: median ms over "
        f"{scrapes} scrapes each, in turn (target: cached <= 2x open)",
        ["scrape", "median ms", "vs open"],
        rows,
    )


if __name__ == "__main__":
    print(run())
