"""Load: while polls run, 20 concurrent clients scrape /metrics for 10 s over loopback."""

from __future__ import annotations

import statistics
import threading
import time

import httpx
import pytest

from exporter.app import Exporter
from exporter.config.parse import parse_config
from exporter.simulators.emr_serverless import EmrServerlessSimulator
from exporter.simulators.ray import RaySimulator

from .helpers import serving

CLIENTS = 20
SECONDS = 10.0
MAX_SCRAPES_PER_CLIENT = 5_000


@pytest.mark.slow
def test_twenty_clients_scrape_for_ten_seconds_without_errors(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with RaySimulator(seed=5) as ray, EmrServerlessSimulator(seed=6) as emr:
        ray.start_workload(60)
        emr.start_workload(60)
        for i in range(2_000):
            ray.add_job(f"history-{i}", status="SUCCEEDED", start_time=time.time() - 600)
        exporter = Exporter(
            parse_config(
                {
                    "defaults": {"poll_interval": "1s", "per_job_series": "all"},
                    "targets": [ray.target_config("ray"), emr.target_config("emr")],
                }
            )
        )
        latencies: list[float] = []
        errors: list[str] = []
        lock = threading.Lock()
        with serving(exporter) as base:
            deadline = time.monotonic() + SECONDS

            def scrape() -> None:
                mine, failed = [], []
                with httpx.Client(timeout=10) as client:
                    for _ in range(MAX_SCRAPES_PER_CLIENT):
                        if time.monotonic() > deadline:
                            break
                        started = time.perf_counter()
                        try:
                            response = client.get(f"{base}/metrics")
                            if (
                                response.status_code != 200
                                or b"jobfleet_build_info" not in response.content
                            ):
                                failed.append(f"HTTP {response.status_code}")
                        except httpx.HTTPError as err:
                            failed.append(type(err).__name__)
                        mine.append(time.perf_counter() - started)
                with lock:
                    latencies.extend(mine)
                    errors.extend(failed)

            threads = [threading.Thread(target=scrape) for _ in range(CLIENTS)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=SECONDS + 30)
            polls = exporter.pollers[0].health["jobs"].durations.count
    latencies.sort()
    p99 = latencies[max(0, round(len(latencies) * 0.99) - 1)]
    with capsys.disabled():
        print(
            f"\nload: {CLIENTS} clients x {SECONDS:.0f} s: {len(latencies)} scrapes, "
            f"{len(errors)} errors, median {statistics.median(latencies) * 1e3:.1f} ms, "
            f"p99 {p99 * 1e3:.1f} ms, {polls} polls of ray/jobs meanwhile"
        )
    assert errors == []
    assert len(latencies) > CLIENTS * 10
    assert polls >= 5  # polling went on under load
