"""--demo: the simulated workload makes every metric move within a minute, and the demo serves."""

from pathlib import Path

import httpx
import pytest

from exporter.backends import registry
from exporter.demo import demo_target_name
from exporter.exposition.declared import families

from .helpers import exporter_process, samples, simulated_fleet, stop_with_sigterm, value

SUBMITTED = "jobfleet_jobs_submitted_total"
# Families that cannot move in the demo: constant by nature, or never sent by its backends.
STATIC = {
    "jobfleet_build_info",
    "jobfleet_shard_ordinal",
    "jobfleet_total_shards",
    "jobfleet_config_last_reload_successful",
    "jobfleet_config_last_reload_success_timestamp_seconds",
    "jobfleet_cluster_info",
    "jobfleet_cluster_group_info",
    "jobfleet_cluster_group_replicas_min",
    "jobfleet_cluster_group_replicas_max",
    "jobfleet_cluster_created_timestamp_seconds",
    "jobfleet_cluster_started_timestamp_seconds",
    "jobfleet_list_incomplete",
    "jobfleet_list_items_skipped_total",
    "jobfleet_state_save_failures_total",  # saves do not fail in the demo
    "jobfleet_jobs_departed",  # the demo's lists drop finished jobs past 500, after a minute
    "jobfleet_jobs_departed_evicted_total",  # far below max_departed_jobs
    "jobfleet_series_refused_total",  # 0 in a correct build
    "jobfleet_queue_info",  # EMR queues: their settings do not change in the demo
    "jobfleet_queue_status",
    "jobfleet_queue_resource_max",
    "jobfleet_queue_resource_min",
    "jobfleet_pool_info",  # ModelArts pools: their settings, nodes and capacity stay put too
    "jobfleet_pool_status",
    "jobfleet_pool_nodes",
    "jobfleet_pool_resource_capacity",
    "jobfleet_pools",
    "jobfleet_target_info",  # where each target comes from: the fleet's targets stay
    "jobfleet_discovery_targets",  # discovery: the fleet has no source
    "jobfleet_discovery_refresh_successful",
    "jobfleet_discovery_last_success_timestamp_seconds",
    "jobfleet_discovery_errors_total",
}


def family_of(sample_name: str) -> str:
    return max((f for f in families() if sample_name.startswith(f)), key=len)


@pytest.mark.slow
def test_workload_moves_every_metric_within_a_minute(tmp_path: Path) -> None:
    with simulated_fleet(state_file=tmp_path / "state.db") as (exporter, advance):
        snapshots = []
        for _ in range(13):  # 60 simulated seconds, a poll every 5
            advance()
            snapshots.append(samples(exporter.exposition.body()))
    first = snapshots[1]  # the first poll after the baseline
    moved = {
        family_of(name)
        for later in snapshots[2:]
        for (name, labels), v in later.items()
        if first.get((name, labels)) != v
    }
    assert set(families()) - STATIC - moved == set()
    # every demo target's attribution labels take real values, not only the empty one
    submitted = [(dict(labels), v) for (n, labels), v in snapshots[-1].items() if n == SUBMITTED]
    for backend in registry.names():
        for label in registry.declaration(backend).demo_attribution.get("labels", {}):
            valued = {
                labels[label]
                for labels, v in submitted
                if labels["backend"] == backend and v > 0 and labels[label] not in ("", "other")
            }
            assert valued, (backend, label)


@pytest.mark.slow
def test_demo_serves_metrics_and_stops_on_sigterm() -> None:
    with exporter_process("--demo") as (process, base):
        body = httpx.get(f"{base}/metrics", timeout=5).content
        for target in map(demo_target_name, registry.names()):
            assert value(body, "jobfleet_poll_duration_seconds_count", target=target) >= 1
        stop_with_sigterm(process)
