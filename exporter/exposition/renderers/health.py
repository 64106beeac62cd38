"""The exporter's own view of each target, rendered: poll outcomes and API requests."""

from __future__ import annotations

from exporter.exposition import families
from exporter.exposition.block import Block
from exporter.polling.health import ApiStats, ResourceHealth, SaveHealth


def render_health(block: Block, resource: str, health: ResourceHealth) -> None:
    labels = (("resource", resource),)
    block.add(families.TARGET_UP, int(health.up), labels)
    if health.last_success is not None:
        block.add(families.POLL_LAST_SUCCESS_TIMESTAMP_SECONDS, health.last_success, labels)
    block.add_histogram(families.POLL_DURATION_SECONDS, health.durations, labels)
    for reason, count in health.errors.items():
        block.add(families.POLL_ERRORS_TOTAL, count, (*labels, ("reason", reason)))
    block.add(families.LIST_INCOMPLETE, int(health.incomplete), labels)
    block.add(families.LIST_ITEMS_SKIPPED_TOTAL, health.skipped_items, labels)


def render_api(block: Block, stats: ApiStats, refused: int = 0) -> None:
    """The target's API requests, and the series the metrics contract refused (a bug)."""
    block.add(families.SERIES_REFUSED_TOTAL, refused)
    with stats.lock:
        for (operation, code), count in sorted(stats.requests.items()):
            block.add(
                families.API_REQUESTS_TOTAL, count, (("operation", operation), ("code", code))
            )
        for operation, histogram in sorted(stats.durations.items()):
            block.add_histogram(
                families.API_REQUEST_DURATION_SECONDS, histogram, (("operation", operation),)
            )


def render_saves(block: Block, saves: SaveHealth) -> None:
    """The state file's saves of the target's counts (with ``state_file`` only)."""
    block.add(families.STATE_SAVE_FAILURES_TOTAL, saves.failed)
    if saves.last_success is not None:
        block.add(families.STATE_LAST_SAVE_TIMESTAMP_SECONDS, saves.last_success)
