"""The exporter's own view of each target, rendered: poll outcomes and API requests."""

from __future__ import annotations

from exporter.exposition.store import Block
from exporter.polling.health import ApiStats, ResourceHealth, SaveHealth


def render_health(block: Block, resource: str, health: ResourceHealth) -> None:
    labels = (("resource", resource),)
    block.add("jobfleet_target_up", int(health.up), labels)
    if health.last_success is not None:
        block.add("jobfleet_poll_last_success_timestamp_seconds", health.last_success, labels)
    block.add_histogram("jobfleet_poll_duration_seconds", health.durations, labels)
    for reason, count in health.errors.items():
        block.add("jobfleet_poll_errors_total", count, (*labels, ("reason", reason)))
    block.add("jobfleet_list_incomplete", int(health.incomplete), labels)
    block.add("jobfleet_list_items_skipped_total", health.skipped_items, labels)


def render_api(block: Block, stats: ApiStats) -> None:
    with stats.lock:
        for (operation, code), count in sorted(stats.requests.items()):
            block.add(
                "jobfleet_api_requests_total", count, (("operation", operation), ("code", code))
            )
        for operation, histogram in sorted(stats.durations.items()):
            block.add_histogram(
                "jobfleet_api_request_duration_seconds", histogram, (("operation", operation),)
            )


def render_saves(block: Block, saves: SaveHealth) -> None:
    """The state file's saves of the target's counts (with ``state_file`` only)."""
    block.add("jobfleet_state_save_failures_total", saves.failed)
    if saves.last_success is not None:
        block.add("jobfleet_state_last_save_timestamp_seconds", saves.last_success)
