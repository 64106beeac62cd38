"""--demo: the simulated workload makes every metric move within a minute, and the demo serves."""

import httpx

from exporter.app import Exporter
from exporter.config import parse_config
from exporter.families import FAMILIES
from exporter.simulators.ray import RaySimulator

from .helpers import exporter_process, samples, stop_with_sigterm, value

# Families that cannot move for a Ray target: constant by nature, or never sent by Ray's API.
STATIC = {
    "jobfleet_build_info",
    "jobfleet_cluster_info",
    "jobfleet_cluster_state",
    "jobfleet_clusters",
    "jobfleet_cluster_created_timestamp_seconds",
    "jobfleet_cluster_started_timestamp_seconds",
    "jobfleet_list_incomplete",
    "jobfleet_list_items_skipped_total",
    "jobfleet_job_start_timestamp_seconds",
    "jobfleet_cu_seconds_total",
}


def family_of(sample_name: str) -> str:
    return max((f for f in FAMILIES if sample_name.startswith(f)), key=len)


def test_workload_moves_every_metric_within_a_minute() -> None:
    now = [1_900_000_000.0]
    with RaySimulator(seed=1, clock=lambda: now[0]) as sim:
        exporter = Exporter(
            parse_config(
                {
                    "targets": [
                        {"name": "demo", "backend": "ray", "url": sim.url, "per_job_series": "all"}
                    ]
                }
            )
        )
        poller = exporter.pollers[0]
        poller.clock = lambda: now[0]
        snapshots = []
        for _ in range(13):  # 60 simulated seconds, a poll every 5
            sim.step(now[0])
            poller.poll("jobs")
            poller.poll("clusters")
            snapshots.append(samples(exporter.exposition.body()))
            now[0] += 5
        exporter.close()
    first = snapshots[1]  # the first poll after the baseline
    moved = {
        family_of(name)
        for later in snapshots[2:]
        for (name, labels), v in later.items()
        if first.get((name, labels)) != v
    }
    assert set(FAMILIES) - STATIC - moved == set()


def test_demo_serves_metrics_and_stops_on_sigterm() -> None:
    with exporter_process("--demo") as (process, base):
        body = httpx.get(f"{base}/metrics", timeout=5).content
        for target in ("demo-ray", "demo-openyuanrong"):
            assert value(body, "jobfleet_poll_duration_seconds_count", target=target) >= 1
        stop_with_sigterm(process)
