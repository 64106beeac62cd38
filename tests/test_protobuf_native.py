"""Native histograms in the protobuf body, read back with client_model's reference
``metrics.proto`` (``tests/reference_proto.py``): a family declaring ``native`` sends its
native fields and exemplars beside the classic buckets in one Histogram message; a family
without, or a histogram whose native part misses observations, sends the classic buckets
alone; the text formats are the same with or without a native part. The encoder alone:
``test_protobuf.py``; what a real Prometheus makes of it: ``e2e/test_native_histograms_e2e.py``."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest

from exporter.app import Exporter
from exporter.config.parse import parse_config
from exporter.exposition import families, store
from exporter.exposition.block import Block
from exporter.exposition.histogram import (
    JOB_DURATION_BUCKETS,
    REQUEST_BUCKETS,
    Histogram,
    Layout,
)
from exporter.exposition.native_histogram import NativeSettings
from exporter.exposition.protobuf import PROTOBUF
from exporter.exposition.store import BlockKey, Exposition
from exporter.exposition.text import OPENMETRICS, TEXT
from exporter.simulators.ray import RaySimulator

from .helpers import simulated_fleet
from .reference_proto import parse_delimited, protobuf_samples, text_samples

BASE = (("target", "t1"), ("backend", "ray"))
SUCCEEDED = (("phase", "succeeded"),)
# (value, job id or None): a zero, values sharing a bucket, a gap, one past every classic bound
OBSERVED = [
    (0.0, "raysubmit_zero"),
    (5.0, "raysubmit_a"),
    (5.2, None),
    (5.9, "raysubmit_b"),
    (61.0, None),
    (700.0, "raysubmit_c"),
    (100_000.0, "raysubmit_late"),
]


SCHEMA_3 = NativeSettings(schema=3)
NATIVE_FAMILIES = {f.name for f in store.families().values() if f.native}


def _layout(settings: NativeSettings | None) -> Layout:
    return Layout.of(families.JOB_DURATION_SECONDS, JOB_DURATION_BUCKETS, settings)


def _duration(settings: NativeSettings | None = SCHEMA_3) -> Histogram:
    histogram = _layout(settings).new()
    for n, (value, job_id) in enumerate(OBSERVED):
        histogram.observe(value, job_id, 1_700_000_000 + n)
    return histogram


def _exposition(block: Block) -> Exposition:
    exposition = Exposition()
    exposition.update({BlockKey("t1", "jobs"): block.encode()})
    return exposition


def _served(family: Any, histogram: Histogram, labels: Any = SUCCEEDED) -> tuple[Exposition, Any]:
    """The exposition of a block holding ``histogram`` in ``family``, and its Histogram
    message as the reference parses it."""
    block = Block(BASE)
    block.add_histogram(family, histogram, labels)
    exposition = _exposition(block)
    (parsed,) = [f for f in parse_delimited(exposition.body(PROTOBUF)) if f.name == family.name]
    (metric,) = parsed.metric
    return exposition, metric.histogram


def _positive(h: Any) -> dict[int, int]:
    """The populated buckets of a Histogram message, spans and deltas walked as Prometheus
    walks them: bucket index -> count."""
    counts: dict[int, int] = {}
    index = count = 0
    deltas = iter(h.positive_delta)
    for span in h.positive_span:
        index += span.offset
        for _ in range(span.length):
            count += next(deltas)
            if count:
                counts[index] = count
            index += 1
    assert next(deltas, None) is None, "more deltas than the spans' buckets"
    return counts


def test_a_native_family_sends_its_native_histogram_beside_the_classic_buckets() -> None:
    histogram = _duration()
    native = histogram.native
    assert native is not None
    exposition, h = _served(families.JOB_DURATION_SECONDS, histogram)
    state = native.buckets()
    assert h.HasField("schema")
    assert (h.schema, h.zero_threshold, h.zero_count) == (3, state.zero_threshold, 1)
    assert [(s.offset, s.length) for s in h.positive_span] == list(state.spans)
    assert list(h.positive_delta) == list(state.deltas)
    assert _positive(h) == native.positive
    assert sum(native.positive.values()) + h.zero_count == h.sample_count == len(OBSERVED)
    assert h.sample_sum == sum(value for value, _ in OBSERVED)
    assert not h.negative_span and not h.negative_delta
    # the classic buckets are all there, as a Prometheus without native histograms reads them
    bounds = [b.upper_bound for b in h.bucket]
    assert bounds == [*map(float, JOB_DURATION_BUCKETS), math.inf]  # +Inf: it has an exemplar
    assert [b.cumulative_count for b in h.bucket] == [4, 4, 4, 5, 5, 5, 6, 6, 6, 6, 6, 6, 7]
    assert protobuf_samples(exposition.body(PROTOBUF)) == text_samples(exposition.body(TEXT))


def test_the_native_exemplars_are_the_native_parts_and_the_buckets_keep_theirs() -> None:
    histogram = _duration()
    _, h = _served(families.JOB_DURATION_SECONDS, histogram)
    native = [(e.label[0].value, e.value, e.timestamp.seconds) for e in h.exemplars]
    assert native == [(job, value, at) for job, value, at in histogram.native.buckets().exemplars]
    assert [job for job, _, _ in native] == [
        "raysubmit_zero",
        "raysubmit_a",
        "raysubmit_b",
        "raysubmit_c",
        "raysubmit_late",
    ]
    assert all(e.label[0].name == "job_id" for e in h.exemplars)
    classic = {b.upper_bound: b.exemplar.label[0].value for b in h.bucket if b.HasField("exemplar")}
    assert classic == {10.0: "raysubmit_b", 1800.0: "raysubmit_c", math.inf: "raysubmit_late"}


def test_a_family_without_native_sends_the_classic_buckets_alone() -> None:
    histogram = Layout.of(families.POLL_DURATION_SECONDS, REQUEST_BUCKETS, NativeSettings()).new()
    for value in (0.01, 0.3, 40):
        histogram.observe(value)
    labels = (("resource", "jobs"),)
    exposition, h = _served(families.POLL_DURATION_SECONDS, histogram, labels)
    assert not h.HasField("schema") and not h.HasField("zero_threshold")
    assert not h.positive_span and not h.positive_delta and not h.exemplars
    assert [b.cumulative_count for b in h.bucket] == [1, 1, 1, 2, 2, 2, 2, 2, 2]
    assert protobuf_samples(exposition.body(PROTOBUF)) == text_samples(exposition.body(TEXT))


def test_a_histogram_kept_without_its_native_part_is_sent_classic() -> None:
    without = _duration(settings=None)  # a ledger keeping no native part
    _, h = _served(families.JOB_DURATION_SECONDS, without)
    assert not h.HasField("schema") and not h.positive_span
    assert h.sample_count == len(OBSERVED)


def test_a_native_part_missing_saved_observations_is_left_out() -> None:
    """Counts saved before native histograms were kept: the message has one count for both,
    so the classic buckets go alone until the native part holds every observation."""
    saved = _duration(settings=None).to_state()
    assert "native" not in saved
    histogram = _layout(SCHEMA_3).new()
    histogram.restore(saved["buckets"], saved["count"], saved["total"], None)
    histogram.observe(30.0, "raysubmit_after")
    assert histogram.native is None
    _, h = _served(families.JOB_DURATION_SECONDS, histogram)
    assert not h.HasField("schema") and not h.exemplars
    assert h.sample_count == saved["count"] + 1


@pytest.mark.parametrize("fmt", [TEXT, OPENMETRICS])
def test_the_text_formats_are_the_same_with_a_native_part(fmt: str) -> None:
    bodies = []
    for settings in (SCHEMA_3, None):
        block = Block(BASE)
        block.add_histogram(families.JOB_DURATION_SECONDS, _duration(settings), SUCCEEDED)
        bodies.append(_exposition(block).body(fmt))
    assert bodies[0] == bodies[1]
    assert b"raysubmit_late" in bodies[0] or fmt == TEXT


@pytest.mark.slow
def test_every_native_family_of_a_simulated_fleet_is_native_in_protobuf() -> None:
    declared = {f.name for f in store.families().values() if f.native}
    with simulated_fleet() as (exporter, advance):
        exporter.exposition.wants_protobuf = True  # as a scrape asking for it sets it
        for _ in range(3):
            advance()
        seen: dict[str, set[bool]] = {}
        for family in parse_delimited(exporter.exposition.body(PROTOBUF)):
            for metric in family.metric:
                if metric.HasField("histogram"):
                    h = metric.histogram
                    seen.setdefault(family.name, set()).add(h.HasField("schema"))
                    if h.HasField("schema"):
                        assert sum(_positive(h).values()) + h.zero_count == h.sample_count
    assert {name for name, natives in seen.items() if natives == {True}} == declared & set(seen)
    assert {name for name, natives in seen.items() if natives == {False}} == set(seen) - declared
    assert "jobfleet_job_duration_seconds" in seen


def test_a_target_with_native_histograms_off_sends_its_histograms_classic() -> None:
    """``native_histograms.enabled: false`` on one target: its histograms have no native field
    in protobuf, while those of a target left on have them, both from the same jobs."""
    with RaySimulator() as head:
        on = head.target_config("on", resources=["jobs"])
        off = {**on, "name": "off", "native_histograms": {"enabled": False}}
        exporter = Exporter(parse_config({"targets": [on, off]}))
        try:
            exporter.exposition.wants_protobuf = True  # as a scrape asking for it sets it
            assert all(poller.poll("jobs") for poller in exporter.pollers)  # the baseline
            start = time.time()  # the simulator's clock
            for n, (value, _) in enumerate(OBSERVED):
                head.add_job(f"j{n}", status="SUCCEEDED", start_time=start, end_time=start + value)
            assert all(poller.poll("jobs") for poller in exporter.pollers)
            body = exporter.exposition.body(PROTOBUF)
        finally:
            exporter.close()
    native: dict[str, list[bool]] = {"on": [], "off": []}
    for family in parse_delimited(body):
        for metric in family.metric:
            if family.name in NATIVE_FAMILIES and metric.histogram.sample_count:
                target = {label.name: label.value for label in metric.label}["target"]
                h = metric.histogram
                native[target].append(h.HasField("schema") or bool(h.positive_span))
                assert h.sample_count == len(OBSERVED) and len(h.bucket) > 1
    assert native == {"on": [True], "off": [False]}
