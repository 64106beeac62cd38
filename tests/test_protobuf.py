"""The protobuf exposition format, read back with client_model's reference ``metrics.proto``
(compiled by protoc at test time, ``tests/reference_proto.py``): every family kind, labels
escaped in text and raw here, exemplars, renamed families, the runtime tail, the native
histogram fields; and that a body says what the text body says, sample for sample. How it is
negotiated and served: ``test_protobuf_serving.py``."""

from __future__ import annotations

import math

import pytest

from exporter.exposition import families, protobuf
from exporter.exposition.block import Block
from exporter.exposition.family import Family, index_families
from exporter.exposition.histogram import JOB_DURATION_BUCKETS, Histogram
from exporter.exposition.native_histogram import NativeHistogram, NativeSettings
from exporter.exposition.protobuf import PROTOBUF
from exporter.exposition.runtime import RuntimeMetrics
from exporter.exposition.store import BlockKey, Exposition
from exporter.exposition.text import MAX_EXEMPLAR_JOB_ID_LENGTH, TEXT

from .helpers import simulated_fleet
from .reference_proto import (
    COUNTER,
    GAUGE,
    HISTOGRAM,
    message_class,
    parse_delimited,
    protobuf_samples,
    text_samples,
)

BASE = (("target", "t1"), ("backend", "ray"))
AWKWARD = {  # label value -> the value stored (text.storable): the same in every format
    'a "quoted" \\ back\\slash\nnew line': 'a "quoted" \\ back\\slash\nnew line',
    "日本語のジョブ": "日本語のジョブ",
}


def _histogram() -> Histogram:
    histogram = Histogram(JOB_DURATION_BUCKETS)
    histogram.observe(5, "raysubmit_1", 1_700_000_000.25)
    histogram.observe(45, None)
    histogram.observe(100_000, "raysubmit_late", 1_700_000_100)  # past every bound: +Inf
    return histogram


def _block() -> Block:
    block = Block(BASE)
    block.add(families.TARGET_UP, 1, (("resource", "jobs"),))
    block.add(families.JOBS_SUBMITTED_TOTAL, 12)
    for value in AWKWARD:
        block.add(families.JOBS_BY_TYPE, 2.5, (("job_type", value),))
    block.add(families.JOBS, 3, (("phase", "running"), ("status", "RUNNING")), (("team", "x"),))
    block.add_histogram(families.JOB_DURATION_SECONDS, _histogram(), (("phase", "succeeded"),))
    return block


def _exposition(*blocks: Block) -> Exposition:
    exposition = Exposition()
    exposition.update({BlockKey(f"t{n}", "jobs"): b.encode() for n, b in enumerate(blocks)})
    return exposition


def test_every_sample_of_the_text_body_is_in_the_protobuf_body() -> None:
    exposition = _exposition(_block(), _block())  # two blocks: one family, entries joined
    pb = exposition.body(PROTOBUF)
    assert protobuf_samples(pb) == text_samples(exposition.body(TEXT))
    by_name = {f.name: f for f in parse_delimited(pb)}
    assert len(by_name) == len(parse_delimited(pb))  # each family once
    assert len(by_name["jobfleet_target_up"].metric) == 2


def test_family_kinds_names_help_and_labels() -> None:
    by_name = {f.name: f for f in parse_delimited(_exposition(_block()).body(PROTOBUF))}
    submitted = by_name["jobfleet_jobs_submitted_total"]  # Prometheus names the series so
    assert (submitted.type, submitted.metric[0].counter.value) == (COUNTER, 12)
    assert submitted.help == families.JOBS_SUBMITTED_TOTAL.help
    assert by_name["jobfleet_target_up"].type == GAUGE
    assert by_name["jobfleet_job_duration_seconds"].type == HISTOGRAM
    types = by_name["jobfleet_jobs_by_type"].metric
    values = {pair.value for metric in types for pair in metric.label if pair.name == "job_type"}
    assert values == set(AWKWARD.values())  # raw UTF-8, quotes, backslashes, newlines
    jobs = by_name["jobfleet_jobs"].metric[0]
    assert [(p.name, p.value) for p in jobs.label] == [
        *BASE,
        ("phase", "running"),
        ("status", "RUNNING"),
        ("team", "x"),
    ]
    assert not any(m.timestamp_ms for f in by_name.values() for m in f.metric)


def test_values_a_label_cannot_hold_are_stored_as_in_the_text_format() -> None:
    block = Block(BASE)
    for value in ("nul\x00inside", "lone \ud800 surrogate", "x" * 300):
        block.add(families.JOBS_BY_TYPE, 1, (("job_type", value),))
    exposition = _exposition(block)
    assert protobuf_samples(exposition.body(PROTOBUF)) == text_samples(exposition.body(TEXT))


def test_histogram_buckets_carry_their_exemplars() -> None:
    (family,) = [
        f
        for f in parse_delimited(_exposition(_block()).body(PROTOBUF))
        if f.name == "jobfleet_job_duration_seconds"
    ]
    h = family.metric[0].histogram
    assert (h.sample_count, h.sample_sum) == (3, 100_050)
    assert [b.upper_bound for b in h.bucket] == [*map(float, JOB_DURATION_BUCKETS), math.inf]
    assert [b.cumulative_count for b in h.bucket][:3] == [1, 1, 2]
    exemplars = {b.upper_bound: b.exemplar for b in h.bucket if b.HasField("exemplar")}
    assert set(exemplars) == {10.0, math.inf}  # the observation of 45 named no job
    first = exemplars[10.0]
    assert [(p.name, p.value) for p in first.label] == [("job_id", "raysubmit_1")]
    assert first.value == 5
    assert (first.timestamp.seconds, first.timestamp.nanos) == (1_700_000_000, 250_000_000)
    assert exemplars[math.inf].label[0].value == "raysubmit_late"


def test_without_exemplars_the_inf_bucket_is_left_to_the_sample_count() -> None:
    histogram = Histogram((1, 2))
    histogram.observe(5)
    block = Block(BASE)
    block.add_histogram(families.JOB_DURATION_SECONDS, histogram, (("phase", "failed"),))
    exposition = _exposition(block)
    (family,) = parse_delimited(exposition.body(PROTOBUF))
    assert [b.upper_bound for b in family.metric[0].histogram.bucket] == [1.0, 2.0]
    assert protobuf_samples(exposition.body(PROTOBUF)) == text_samples(exposition.body(TEXT))


def test_a_long_exemplar_job_id_is_cut_as_in_openmetrics() -> None:
    histogram = Histogram(JOB_DURATION_BUCKETS)
    histogram.observe(5, "a" * 300, 1e9)
    block = Block(BASE)
    block.add_histogram(families.JOB_DURATION_SECONDS, histogram, (("phase", "succeeded"),))
    (family,) = parse_delimited(_exposition(block).body(PROTOBUF))
    job_id = family.metric[0].histogram.bucket[0].exemplar.label[0].value
    assert len(job_id) == MAX_EXEMPLAR_JOB_ID_LENGTH


def test_families_without_samples_are_left_out() -> None:
    block = Block(BASE)
    block.lines(families.JOB_INFO)  # what a render of no jobs leaves
    block.protobuf_entries(families.JOB_INFO)
    block.add(families.TARGET_UP, 1, (("resource", "jobs"),))
    names = [f.name for f in parse_delimited(_exposition(block).body(PROTOBUF))]
    assert names == ["jobfleet_target_up"]


def test_a_renamed_family_is_served_under_its_old_name_too(monkeypatch: pytest.MonkeyPatch) -> None:
    from exporter.exposition import store

    old = Family(
        "jobfleet_jobs_tracked",
        "gauge",
        "Jobs currently tracked.",
        families.JOBS.labels,
        attribution=True,
        stability="deprecated",
        replaced_by="jobfleet_jobs",
    )
    with_old = index_families([*store.families().values(), old])
    monkeypatch.setattr(store, "families", lambda: with_old)
    by_name = {f.name: f for f in parse_delimited(_exposition(_block()).body(PROTOBUF))}
    assert by_name["jobfleet_jobs_tracked"].metric == by_name["jobfleet_jobs"].metric
    assert by_name["jobfleet_jobs_tracked"].help.endswith("Deprecated: use jobfleet_jobs.")


def test_only_the_shown_families_are_served() -> None:
    exposition = _exposition(_block())
    exposition.select(frozenset({"jobfleet_jobs", "process_open_fds"}))
    assert [f.name for f in parse_delimited(exposition.body(PROTOBUF))] == ["jobfleet_jobs"]
    tail = RuntimeMetrics().tail(PROTOBUF, exposition.shown)
    assert [f.name for f in parse_delimited(tail)] == ["process_open_fds"]


def test_the_runtime_tail_has_the_families_of_the_text_format() -> None:
    runtime = RuntimeMetrics()
    tail = {f.name: f for f in parse_delimited(runtime.tail(PROTOBUF))}
    text = {s[0] for s in text_samples(runtime.tail(TEXT))}
    assert set(tail) == text  # counters named with _total, as their series are
    assert tail["process_cpu_seconds_total"].type == COUNTER
    assert tail["process_resident_memory_bytes"].metric[0].gauge.value > 1e6
    generations = [m.label[0].value for m in tail["python_gc_collections_total"].metric]
    assert generations == ["0", "1", "2"]


def _varint_edges() -> Histogram:
    histogram = Histogram((0.5, 2**20))
    for _ in range(200):  # counts over one varint byte
        histogram.observe(0.1)
    histogram.restore([2**40, 3], 2**40 + 3, 1e18)
    return histogram


def test_large_counts_and_values_round_trip() -> None:
    block = Block(BASE)
    block.add(families.JOBS_SUBMITTED_TOTAL, 2**53)
    block.add(families.TARGET_UP, -0.5, (("resource", "jobs"),))
    block.add_histogram(families.JOB_DURATION_SECONDS, _varint_edges(), (("phase", "failed"),))
    exposition = _exposition(block)
    assert protobuf_samples(exposition.body(PROTOBUF)) == text_samples(exposition.body(TEXT))


def test_the_native_histogram_fields_read_back_through_the_reference() -> None:
    encoded = protobuf.native_histogram(
        count=9,
        total=-3.5,
        schema=-2,
        zero_threshold=2**-128,
        zero_count=1,
        positive=(((-3, 2), (130, 1)), (2, -1, 300)),
        negative=(((0, 1),), (5,)),
        exemplars=(("raysubmit_7", 0.25, 1_700_000_000.5),),
        buckets=protobuf.classic_buckets([(1.0, 4), (math.inf, 9)], None),
    )
    h = message_class("Histogram").FromString(encoded)
    assert (h.sample_count, h.sample_sum, h.schema) == (9, -3.5, -2)
    assert (h.zero_threshold, h.zero_count) == (2**-128, 1)
    assert [(s.offset, s.length) for s in h.positive_span] == [(-3, 2), (130, 1)]
    assert list(h.positive_delta) == [2, -1, 300]
    assert [(s.offset, s.length) for s in h.negative_span] == [(0, 1)]
    assert list(h.negative_delta) == [5]
    assert [(b.upper_bound, b.cumulative_count) for b in h.bucket] == [(1.0, 4)]
    (example,) = h.exemplars
    assert (example.label[0].value, example.value) == ("raysubmit_7", 0.25)
    assert (example.timestamp.seconds, example.timestamp.nanos) == (1_700_000_000, 500_000_000)
    entry = protobuf.native_sample(protobuf.labels(BASE), encoded)
    header = protobuf.family_header("jobfleet_x_seconds", "x", "histogram")
    (family,) = parse_delimited(b"".join(protobuf.delimited(header, [entry])))
    assert family.metric[0].histogram == h


def test_the_exporters_native_histograms_encode_to_their_buckets() -> None:
    """What ``NativeHistogram.buckets()`` gives, through the encoder and the reference proto,
    decodes to the histogram's own populated buckets (spans and deltas walked as Prometheus
    walks them), its zero bucket and its exemplars."""
    native = NativeHistogram(NativeSettings(schema=3))
    for n, value in enumerate((0.0, 5.0, 5.2, 5.9, 7.0, 700.0, 86_000.0, 1e-3)):
        native.observe(value, (f"raysubmit_{n}", value, 1.7e9 + n) if n % 2 else None)
    got = native.buckets()
    encoded = protobuf.native_histogram(
        got.count,
        got.sum,
        got.schema,
        got.zero_threshold,
        got.zero_count,
        positive=(got.spans, got.deltas),
        exemplars=got.exemplars,
    )
    h = message_class("Histogram").FromString(encoded)
    counts, index, count = {}, 0, 0
    deltas = iter(h.positive_delta)
    for span in h.positive_span:
        index += span.offset
        for _ in range(span.length):
            count += next(deltas)
            counts[index] = count
            index += 1
    assert {i: c for i, c in counts.items() if c} == native.positive
    assert (h.schema, h.zero_count, h.sample_count, h.sample_sum) == (3, 1, 8, native.sum)
    assert h.zero_threshold == native.zero_threshold
    assert sorted(e.label[0].value for e in h.exemplars) == [f"raysubmit_{n}" for n in (1, 3, 5, 7)]


def test_an_empty_native_histogram_gets_the_no_op_span() -> None:
    """Else Prometheus could not tell it from a classic histogram (metrics.proto)."""
    h = message_class("Histogram").FromString(protobuf.native_histogram(0, 0.0, 3, 0.0, 0))
    assert [(s.offset, s.length) for s in h.positive_span] == [(0, 0)]
    assert h.HasField("schema") and h.schema == 3


@pytest.mark.slow
def test_every_simulated_backend_says_the_same_in_protobuf_and_text() -> None:
    with simulated_fleet() as (exporter, advance):
        exporter.exposition.wants_protobuf = True  # as a scrape asking for it sets it
        for _ in range(3):
            advance()
        exposition = exporter.exposition
        pb = exposition.body(PROTOBUF)
        assert protobuf_samples(pb) == text_samples(exposition.body(TEXT))
        kinds = {f.type for f in parse_delimited(pb)}
        assert kinds == {COUNTER, GAUGE, HISTOGRAM}
