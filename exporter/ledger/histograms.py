"""How a ledger's histograms are made and restored: each family's classic bucket bounds, with a
native part where the family declares one (``Family.native``) and the ledger keeps them (its
``NativeSettings``; None: none, as in a ledger made without settings)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import NamedTuple, TypeVar

from exporter.exposition.families import JOB_DURATION_SECONDS, JOB_QUEUE_WAIT_SECONDS
from exporter.exposition.histogram import (
    JOB_DURATION_BUCKETS,
    QUEUE_WAIT_BUCKETS,
    Histogram,
    Layout,
)
from exporter.exposition.native_histogram import NativeSettings
from exporter.ledger.counts import HistogramState

Key = TypeVar("Key", bound=Hashable)


class Layouts(NamedTuple):
    """The layouts of the job duration and queue wait histograms."""

    duration: Layout
    queue_wait: Layout

    @classmethod
    def of(cls, native: NativeSettings | None) -> Layouts:
        return cls(
            Layout.of(JOB_DURATION_SECONDS, JOB_DURATION_BUCKETS, native),
            Layout.of(JOB_QUEUE_WAIT_SECONDS, QUEUE_WAIT_BUCKETS, native),
        )


def restore_into(
    series: dict[Key, Histogram], saved: Mapping[Key, HistogramState], layout: Layout
) -> None:
    """Carry each of ``series`` on from ``saved``: those kept with another bucket layout start
    at 0 (their buckets are None), and a native part saved without one starts empty."""
    for key, state in saved.items():
        if state.buckets is not None:
            histogram = series.setdefault(key, layout.new())
            histogram.restore(state.buckets, state.count, state.total, state.native)
