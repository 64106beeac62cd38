"""Prometheus' native histogram: sparse buckets on an exponential scale, kept beside a classic
histogram's buckets and sent in the protobuf format only.

A schema ``s`` (-4 to 8) cuts every power of two into ``2^s`` buckets (``s`` < 0: one bucket
spans ``2^-s`` powers of two): bucket ``i`` holds the values in ``(base^(i-1), base^i]``,
``base = 2^(2^-s)``. A value's bucket is found as client_golang finds it (its ``math.Frexp``
method, with its table of bounds, which ``_BOUNDS`` reproduces bit for bit), and a bucket's
bounds are those Prometheus computes. Values at most ``zero_threshold`` count in the zero
bucket. Only positive values are observed (durations, clamped at 0 by the classic histogram).

Bounds: at most ``MAX_BUCKETS`` buckets are populated; past that the schema is decremented and
neighbouring buckets merged (client_golang's ``NativeHistogramMaxBucketNumber`` strategy) until
they fit, so a hostile spread of values cannot grow memory. The resolution is never raised
again: the counts are cumulative forever, as every counter of the exporter. Each bucket keeps
its last observation as an exemplar, of the ``MAX_EXEMPLARS`` most recently used buckets.

Error: ``quantile`` interpolates linearly within a bucket, as ``histogram_quantile`` does on a
native histogram in Prometheus 2.42; the estimate lies in the bucket of the exact quantile, so
its error relative to it is below the bucket's relative width, ``2^(2^-s) - 1`` (9.05 % at
schema 3), and at most ``zero_threshold`` in the zero bucket.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

SCHEMA_MIN, SCHEMA_MAX = -4, 8
DEFAULT_SCHEMA = 3  # buckets 9.05 % wide: 1 s to 1 day in 132 of them
DEFAULT_ZERO_THRESHOLD = 2.0**-128  # client_golang's: a bucket bound at every schema
MAX_BUCKETS = 160  # populated buckets; more reduce the resolution
MAX_EXEMPLARS = 10  # client_golang's default NativeHistogramMaxExemplars
NATIVE_FORM = 1  # of the saved form (``to_state``)

Exemplar = tuple[str, float, float]  # (job id, observed value, epoch seconds)
Spans = tuple[tuple[int, int], ...]  # (offset, length) pairs, as the protobuf BucketSpan

# math.Exp2(2^-s) as Go's math library returns it, s = 0..8 (for s = 1 one unit in the last
# place below the correctly rounded square root of 2): client_golang's table of bounds is
# generated from these factors, and a value's bucket depends on that table bit for bit.
_GO_FACTORS = (
    "0x1.0000000000000p+1",
    "0x1.6a09e667f3bccp+0",
    "0x1.306fe0a31b715p+0",
    "0x1.172b83c7d517bp+0",
    "0x1.0b5586cf9890fp+0",
    "0x1.059b0d3158574p+0",
    "0x1.02c9a3e778061p+0",
    "0x1.0163da9fb3335p+0",
    "0x1.00b1afa5abcbfp+0",
)


def _bounds_table() -> tuple[tuple[float, ...], ...]:
    """The fractions in [0.5, 1) where the buckets of schema 0..8 start, as client_golang
    derives them: each schema's odd ones by its factor, its even ones from the schema below."""
    table: list[tuple[float, ...]] = []
    for schema, factor in enumerate(float.fromhex(f) for f in _GO_FACTORS):
        bounds = [0.5]
        for j in range((1 << schema) - 1):
            odd = (j + 1) % 2 == 1
            bounds.append(bounds[j] * factor if odd else table[schema - 1][j // 2 + 1])
        table.append(tuple(bounds))
    return tuple(table)


_BOUNDS = _bounds_table()
_MAX_FLOAT = 1.7976931348623157e308  # math.MaxFloat64


def bucket_index(value: float, schema: int) -> int:
    """The bucket of positive ``value`` at ``schema``, as client_golang computes it (+Inf: the
    bucket above that of the largest float)."""
    infinite = math.isinf(value)
    frac, exp = math.frexp(_MAX_FLOAT if infinite else value)
    if schema > 0:
        bounds = _BOUNDS[schema]
        key = bisect.bisect_left(bounds, frac) + (exp - 1) * len(bounds)
    else:
        key = exp - 1 if frac == 0.5 else exp
        key = (key + (1 << -schema) - 1) >> -schema
    return key + 1 if infinite else key


def upper_bound(index: int, schema: int) -> float:
    """The upper bound of bucket ``index`` at ``schema``, as Prometheus computes it."""
    if schema < 0:
        exp = index << -schema
        if exp == 1024:
            return _MAX_FLOAT  # the last bucket below that of +Inf
        return _ldexp(1.0, exp)
    frac = _BOUNDS[schema][index & ((1 << schema) - 1)]
    exp = (index >> schema) + 1
    if frac == 0.5 and exp == 1025:
        return _MAX_FLOAT
    return _ldexp(frac, exp)


def _ldexp(frac: float, exp: int) -> float:
    """Go's ``math.Ldexp``: +Inf where Python's raises."""
    try:
        return math.ldexp(frac, exp)
    except OverflowError:
        return math.inf


def relative_error(schema: int) -> float:
    """The relative width of a bucket at ``schema``: the bound of a quantile's relative error."""
    return 2.0 ** (2.0**-schema) - 1


@dataclass(frozen=True, slots=True)
class NativeSettings:
    """A native histogram's resolution and zero bucket as configured."""

    schema: int = DEFAULT_SCHEMA
    zero_threshold: float = DEFAULT_ZERO_THRESHOLD


class NativeState(NamedTuple):
    """A native histogram's counts as saved: its populated buckets as (index, count) pairs."""

    schema: int
    zero_threshold: float
    zero_count: int
    count: int
    sum: float
    buckets: tuple[tuple[int, int], ...]


class NativeBuckets(NamedTuple):
    """What the protobuf Histogram message carries of a native histogram: its positive spans
    and the deltas of their bucket counts as client_golang's ``makeBuckets`` makes them (gaps
    of one or two buckets filled with empty ones), and its exemplars by value."""

    schema: int
    zero_threshold: float
    zero_count: int
    count: int
    sum: float
    spans: Spans
    deltas: tuple[int, ...]
    exemplars: tuple[Exemplar, ...]


class NativeHistogram:
    """One native histogram of positive values (see the module's docstring)."""

    __slots__ = ("count", "exemplars", "positive", "schema", "sum", "zero_count", "zero_threshold")

    def __init__(self, settings: NativeSettings) -> None:
        self.schema = settings.schema
        self.zero_threshold = settings.zero_threshold
        self.zero_count = 0
        self.count = 0
        self.sum = 0.0
        self.positive: dict[int, int] = {}  # bucket index -> count, populated ones only
        # by bucket index (None: the zero bucket), least recently observed first
        self.exemplars: dict[int | None, Exemplar] | None = None

    def observe(self, value: float, exemplar: Exemplar | None = None) -> None:
        """Count ``value`` (>= 0); ``exemplar`` becomes its bucket's."""
        key = None
        if value > self.zero_threshold:
            key = bucket_index(value, self.schema)
            self.positive[key] = self.positive.get(key, 0) + 1
        else:
            self.zero_count += 1
        self.count += 1
        self.sum += value
        if exemplar is not None:
            self._keep_exemplar(key, exemplar)
        if len(self.positive) > MAX_BUCKETS:
            self._fit()

    def _keep_exemplar(self, key: int | None, exemplar: Exemplar) -> None:
        if self.exemplars is None:
            self.exemplars = {}
        self.exemplars.pop(key, None)
        self.exemplars[key] = exemplar
        if len(self.exemplars) > MAX_EXEMPLARS:
            del self.exemplars[next(iter(self.exemplars))]

    def _fit(self) -> None:
        """Halve the resolution until at most ``MAX_BUCKETS`` buckets are populated (or the
        schema is the lowest)."""
        while len(self.positive) > MAX_BUCKETS and self.schema > SCHEMA_MIN:
            self.reduce(self.schema - 1)

    def reduce(self, schema: int) -> None:
        """Lower the resolution to ``schema`` (at most the current one), merging buckets:
        bucket ``i`` goes into ``ceil(i / 2)`` at each step, exactly."""
        while self.schema > schema:
            merged: dict[int, int] = {}
            for key, n in self.positive.items():
                merged[(key + 1) // 2] = merged.get((key + 1) // 2, 0) + n
            self.positive = merged
            if self.exemplars is not None:
                kept: dict[int | None, Exemplar] = {}
                for key, exemplar in self.exemplars.items():  # the later one of a pair wins
                    wider = None if key is None else (key + 1) // 2
                    kept.pop(wider, None)
                    kept[wider] = exemplar
                self.exemplars = kept
            self.schema -= 1

    def buckets(self) -> NativeBuckets:
        """The spans, deltas and exemplars the protobuf encoder sends."""
        spans: list[list[int]] = []
        deltas: list[int] = []
        previous = following = 0

        def append(n: int) -> None:
            nonlocal previous
            spans[-1][1] += 1
            deltas.append(n - previous)
            previous = n

        for key in sorted(self.positive):
            gap = key - following
            if not spans or gap > 2:
                spans.append([gap, 0])
            else:
                for _ in range(gap):
                    append(0)
            append(self.positive[key])
            following = key + 1
        exemplars = sorted((self.exemplars or {}).values(), key=lambda e: e[1])
        return NativeBuckets(
            self.schema,
            self.zero_threshold,
            self.zero_count,
            self.count,
            self.sum,
            tuple((offset, length) for offset, length in spans),
            tuple(deltas),
            tuple(exemplars),
        )

    def to_state(self) -> dict:
        """The saved form: JSON-ready, read back by ``restore`` to the same state."""
        return {
            "form": NATIVE_FORM,
            "schema": self.schema,
            "zero_threshold": self.zero_threshold,
            "zero_count": self.zero_count,
            "count": self.count,
            "sum": self.sum,
            "buckets": [[key, self.positive[key]] for key in sorted(self.positive)],
        }

    def restore(self, saved: NativeState) -> None:
        """Carry on from ``saved`` (checked by the caller): at its schema and zero threshold,
        reduced to the configured schema when that is lower (a resolution is never raised: the
        saved counts cannot be split), and within ``MAX_BUCKETS``."""
        configured = self.schema
        self.schema, self.zero_threshold = saved.schema, saved.zero_threshold
        self.zero_count, self.count, self.sum = saved.zero_count, saved.count, saved.sum
        self.positive = dict(saved.buckets)
        self.exemplars = None
        self.reduce(configured)
        self._fit()

    def quantile(self, q: float) -> float:
        """``histogram_quantile(q, ...)`` of this histogram as Prometheus 2.42 computes it."""
        if q < 0:
            return -math.inf
        if q > 1:
            return math.inf
        if self.count == 0 or math.isnan(q):
            return math.nan
        rank, cumulative = q * self.count, 0
        bucket = (0.0, 0.0, 0)
        for bucket in self._all_buckets():
            cumulative += bucket[2]
            if cumulative >= rank:
                break
        lower, upper, n = bucket
        if lower < 0 < upper and self.positive:  # the zero bucket, no negative buckets
            lower = 0.0
        cumulative = min(cumulative, self.count)
        if cumulative < rank:
            return upper
        rank -= cumulative - n
        return lower + (upper - lower) * (rank / n)

    def _all_buckets(self) -> Iterable[tuple[float, float, int]]:
        """(lower, upper, count) of each bucket Prometheus iterates: the zero bucket when not
        empty, then every bucket of the spans (the empty ones filling small gaps included),
        each lower bound at least the zero threshold."""
        if self.zero_count:
            yield -self.zero_threshold, self.zero_threshold, self.zero_count
        schema, key = self.schema, None
        spans, deltas = self.buckets()[5:7]
        counts = iter(deltas)
        n = 0
        for offset, length in spans:
            key = offset if key is None else key + offset
            for _ in range(length):
                n += next(counts)
                lower = max(upper_bound(key - 1, schema), self.zero_threshold)
                yield lower, upper_bound(key, schema), n
                key += 1
