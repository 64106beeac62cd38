"""The native histogram: buckets as client_golang finds them and Prometheus bounds them, the
spans and deltas of the protobuf message, the bucket limit, exemplars, its saved form, the
quantile Prometheus 2.42 would compute and its documented error, and the classic histogram it
rides beside."""

from __future__ import annotations

import json
import math
import random

import pytest

from exporter.exposition.histogram import JOB_DURATION_BUCKETS, Histogram
from exporter.exposition.native_histogram import (
    MAX_BUCKETS,
    MAX_EXEMPLARS,
    SCHEMA_MAX,
    SCHEMA_MIN,
    NativeHistogram,
    NativeSettings,
    NativeState,
    bucket_index,
    relative_error,
    upper_bound,
)

SCHEMAS = range(SCHEMA_MIN, SCHEMA_MAX + 1)


def native(schema: int, zero_threshold: float = 0.0, values: list[float] = ()) -> NativeHistogram:
    histogram = NativeHistogram(NativeSettings(schema, zero_threshold))
    for value in values:
        histogram.observe(value)
    return histogram


def spread(seed: int, n: int, low: float = 0.1, high: float = 4e5) -> list[float]:
    """``n`` job-like durations, log-uniform from ``low`` to ``high`` seconds, and a tenth as
    many exact powers of two (bucket bounds at every schema) among them."""
    rng = random.Random(seed)
    values = [math.exp(rng.uniform(math.log(low), math.log(high))) for _ in range(n)]
    exponents = range(math.ceil(math.log2(low)), math.floor(math.log2(high)) + 1)
    return values + [2.0 ** rng.choice(exponents) for _ in range(n // 10)]


@pytest.mark.parametrize(
    ("value", "schema", "index"),
    [
        (1.0, 0, 0),  # (0.5, 1]: an upper bound is in its bucket
        (1.5, 0, 1),
        (2.0, 0, 1),
        (1.0, 3, 0),
        (1.0905077326652577, 3, 1),  # 2^(1/8): the first bound above 1 at schema 3
        (4.0, -1, 1),  # (1, 4]
        (5.0, -1, 2),
        (65536.0, -4, 1),  # (1, 2^16]
        (0.25, 2, -8),
        # sqrt(1/2) correctly rounded is one unit in the last place above Go's table bound
        # 0.7071067811865475 for schema 1, so client_golang puts it in bucket 0, not -1
        (math.sqrt(0.5), 1, 0),
        (0.7071067811865475, 1, -1),
        (math.inf, 0, 1025),  # the bucket above that of the largest float
    ],
)
def test_a_value_falls_in_the_bucket_client_golang_finds(
    value: float, schema: int, index: int
) -> None:
    assert bucket_index(value, schema) == index


def test_the_bounds_are_go_s_table_bit_for_bit() -> None:
    """Entries of client_golang's (and Prometheus') table that the correctly rounded powers
    of two miss by a unit in the last place."""
    assert upper_bound(-1, 1) == 0.7071067811865475
    assert upper_bound(-1, 2) == 0.8408964152537144
    assert upper_bound(-1, 3) == 0.9170040432046711
    assert upper_bound(0, 8) == 1.0 and upper_bound(256, 8) == 2.0
    assert upper_bound(1023, 0) == 2.0**1023 and upper_bound(1024, 0) == 1.7976931348623157e308
    assert upper_bound(1025, 0) == math.inf


@pytest.mark.parametrize("schema", SCHEMAS)
def test_every_value_lies_within_the_bounds_of_its_bucket(schema: int) -> None:
    rng = random.Random(schema)
    values = [*spread(schema, 2000, 1e-300, 1e300), *(rng.uniform(1e-9, 1e9) for _ in range(2000))]
    for value in values:
        index = bucket_index(value, schema)
        assert upper_bound(index - 1, schema) < value <= upper_bound(index, schema), value


def test_spans_and_deltas_are_those_of_client_golang_s_make_buckets() -> None:
    """Buckets 0, 1, 2, 7 and 10: a gap of four opens a span, a gap of two is filled with
    empty buckets; deltas run across the filled ones."""
    histogram = native(0, 0.0, [0.0, 1.0, 1.5, 2.0, 3.0, 100.0, 1000.0])
    buckets = histogram.buckets()
    assert histogram.positive == {0: 1, 1: 2, 2: 1, 7: 1, 10: 1}
    assert buckets.spans == ((0, 3), (4, 4))
    assert buckets.deltas == (1, 1, -1, 0, -1, 0, 1)
    assert (buckets.zero_count, buckets.count, buckets.sum) == (1, 7, 1107.5)
    assert native(2, 0.0, [0.1]).buckets().spans == ((-13, 1),)  # a first offset is absolute
    assert native(3).buckets().spans == () and native(3).buckets().deltas == ()


def test_values_up_to_the_zero_threshold_count_in_the_zero_bucket() -> None:
    histogram = native(3, 0.5, [0.0, 0.25, 0.5, 0.5000001])
    assert histogram.zero_count == 3 and sum(histogram.positive.values()) == 1


@pytest.mark.parametrize(
    ("schema", "low", "high"),
    [(-2, 1e-3, 1e9), (0, 0.1, 1e6), (3, 1.0, 86400.0), (5, 20.0, 300.0), (8, 100.0, 150.0)],
)
def test_the_quantile_s_error_is_within_a_bucket_s_relative_width(
    schema: int, low: float, high: float
) -> None:
    """The documented bound: the estimate and the exact quantile (the k-th smallest value,
    k = ceil(q n)) share a bucket, so they differ by less than 2^(2^-schema) - 1 of it."""
    values = spread(schema + 10, 5000, low, high)
    histogram = native(schema, 2.0**-128, values)
    assert histogram.schema == schema  # within the bucket limit
    ordered = sorted(values)
    for q in (0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1.0):
        exact = ordered[max(1, math.ceil(q * len(values))) - 1]
        estimate = histogram.quantile(q)
        assert abs(estimate - exact) <= relative_error(schema) * exact, (q, exact, estimate)


def test_the_quantile_interpolates_as_prometheus_2_42() -> None:
    """Linear within a bucket; the zero bucket from 0 when only positive buckets exist; the
    special cases of histogram_quantile."""
    histogram = native(0, 0.0, [0.0, 1.0, 1.5, 2.0, 3.0, 100.0, 1000.0])
    assert histogram.quantile(0.25) == 0.5 + 0.5 * 0.75  # rank 1.75: the second in (0.5, 1]
    assert histogram.quantile(1.0) == 1024.0
    assert histogram.quantile(0.0) == 0.0
    zero_heavy = native(0, 0.5, [0.1, 0.2, 3.0])
    assert zero_heavy.quantile(0.5) == 0.5 * (1.5 / 2)  # zero bucket taken as [0, 0.5]
    assert native(0, 0.5, [0.1]).quantile(0.5) == 0.0  # zero bucket alone: [-0.5, 0.5]
    assert math.isnan(native(0).quantile(0.5)) and math.isnan(histogram.quantile(math.nan))
    assert histogram.quantile(-0.1) == -math.inf and histogram.quantile(1.1) == math.inf


def test_a_hostile_spread_of_values_stays_within_the_bucket_limit() -> None:
    """Values from 2^-900 to 2^900 would populate over 14,000 buckets at schema 3: the
    resolution halves until they fit, and nothing observed is lost."""
    histogram = native(3)
    values = [2.0 ** (e / 8) for e in range(-7200, 7200, 1)]
    for value in values:
        histogram.observe(value)
        assert len(histogram.positive) <= MAX_BUCKETS
    assert histogram.schema == -4
    assert sum(histogram.positive.values()) == histogram.count == len(values)
    assert histogram.positive == native(-4, 0.0, values).positive


@pytest.mark.parametrize("target", [-4, -1, 0, 2])
def test_reducing_the_resolution_equals_observing_at_the_lower_one(target: int) -> None:
    """Bucket i of schema s is bucket ceil(i/2) of schema s - 1: merged counts are exact."""
    values = spread(target + 20, 3000, 10.0, 60.0)
    reduced = native(6, 0.0, values)
    reduced.reduce(target)
    direct = native(target, 0.0, values)
    assert reduced.schema == target
    assert reduced.positive == direct.positive and reduced.zero_count == direct.zero_count


def test_each_bucket_keeps_its_last_exemplar_of_the_most_recent_few() -> None:
    histogram = native(0)
    for i in range(40):
        histogram.observe(2.0 ** (i % 20), (f"job-{i}", 2.0 ** (i % 20), float(i)))
    exemplars = histogram.buckets().exemplars
    assert len(exemplars) == MAX_EXEMPLARS
    assert [e[0] for e in exemplars] == [f"job-{i}" for i in range(30, 40)]  # by value
    histogram.observe(2.0**19, ("job-last", 2.0**19, 40.0))  # its bucket's exemplar replaced
    assert [e[0] for e in histogram.buckets().exemplars][-1] == "job-last"
    assert len(histogram.buckets().exemplars) == MAX_EXEMPLARS
    histogram.reduce(-2)  # merged buckets keep the later of their exemplars
    assert [e[0] for e in histogram.buckets().exemplars] == [
        "job-32",
        "job-36",
        "job-last",
    ]


def test_its_saved_form_is_read_back_to_the_same_bytes() -> None:
    histogram = native(3, 2.0**-128, spread(7, 2000, 1.0, 86400.0))
    saved = json.loads(json.dumps(histogram.to_state()))
    again = NativeHistogram(NativeSettings(3, 2.0**-128))
    again.restore(state_of(saved))
    assert json.dumps(again.to_state()) == json.dumps(histogram.to_state())
    assert again.buckets() == histogram.buckets()._replace(exemplars=())


def test_a_restore_lowers_to_a_lower_configured_schema_and_keeps_a_lower_saved_one() -> None:
    values = spread(8, 1000, 20.0, 300.0)
    saved = state_of(native(5, 0.0, values).to_state())
    lowered = NativeHistogram(NativeSettings(2, 0.0))
    lowered.restore(saved)
    assert lowered.positive == native(2, 0.0, values).positive
    kept = NativeHistogram(NativeSettings(8, 1.0))  # cannot split: the saved schema stays
    kept.restore(saved)
    assert (kept.schema, kept.zero_threshold, kept.positive) == (
        5,
        0.0,
        native(5, 0.0, values).positive,
    )


def state_of(saved: dict) -> NativeState:
    return NativeState(
        saved["schema"],
        saved["zero_threshold"],
        saved["zero_count"],
        saved["count"],
        saved["sum"],
        tuple((i, n) for i, n in saved["buckets"]),
    )


def test_a_classic_histogram_observes_its_native_part_from_the_same_value_and_exemplar() -> None:
    histogram = Histogram(JOB_DURATION_BUCKETS, NativeSettings())
    plain = Histogram(JOB_DURATION_BUCKETS)
    made = []
    for i, value in enumerate([-5.0, *spread(9, 500, 1.0, 86400.0)]):  # negative: counts as 0
        histogram.observe(value, f"job-{i}", 1000.0 + i)
        plain.observe(value, f"job-{i}", 1000.0 + i)
        made.append((f"job-{i}", max(0.0, value), 1000.0 + i))
    part = histogram.native
    assert part is not None and part.count == histogram.count == 551
    assert part.sum == histogram.total and part.zero_count == 1
    assert histogram.cumulative() == plain.cumulative() and histogram.exemplars == plain.exemplars
    exemplars = part.buckets().exemplars
    assert made[-1] in exemplars and set(exemplars) <= set(made)
    assert "native" not in plain.to_state() and plain.native is None


def test_a_native_part_that_misses_observations_is_not_offered() -> None:
    """Restored from counts saved without a native part, it counts from then on: the message
    has one count for both, so only the classic buckets are offered."""
    histogram = Histogram(JOB_DURATION_BUCKETS, NativeSettings())
    histogram.restore([1] * len(JOB_DURATION_BUCKETS), 20, 5000.0)
    histogram.observe(30.0)
    assert histogram.native is None and histogram.to_state()["native"]["count"] == 1
