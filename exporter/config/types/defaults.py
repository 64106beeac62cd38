"""Settings every target has, and the ``defaults`` section they are inherited from:
poll timing, retention, per-job series, response caps, attribution and native histograms."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from exporter.config.types.errors import one_line
from exporter.config.types.values import Count, Duration, EmptyIfNone, Strict, one_of
from exporter.exposition.native_histogram import (
    DEFAULT_SCHEMA,
    DEFAULT_ZERO_THRESHOLD,
    SCHEMA_MAX,
    SCHEMA_MIN,
    NativeSettings,
)
from exporter.ledger.attribution import label_name_problem
from exporter.model import RESOURCE_NAME

PerJobSeries = Literal["none", "active", "all"]
MAX_LABEL_NAME_SHOWN = 64  # of a refused attribution label name, in a problem line
MAX_SOURCE_LENGTH = 256  # of an attribution source field: a metadata key is a short name
AttributionSource = Annotated[
    str | dict[str, str],
    one_of("must be a source field, or a mapping of list of jobs to source field"),
]


def _check_source(where: str, source: str) -> None:
    if not source:
        raise ValueError(f"{where}: must name a source field")
    if len(source) > MAX_SOURCE_LENGTH or not source.isprintable():
        raise ValueError(
            f"{where}: a source field is at most {MAX_SOURCE_LENGTH} printable characters"
        )


class AttributionSettings(Strict):
    """Labels that say who ran a job: label name -> a source field of the job, chosen from its
    backend's fields (docs/metrics.md, "Attribution"), or, when a target's lists of jobs name
    it by different fields, -> {list: source field} (a list not named leaves the label empty
    on its series); at most ``max_values`` values per label and target, later ones become
    ``other``; ``histograms`` names the labels the duration and queue-wait histograms carry
    too."""

    labels: dict[str, AttributionSource] = Field(default_factory=dict)
    max_values: Count = Field(default=50, gt=0, le=10_000)
    histograms: tuple[str, ...] = ()

    @field_validator("labels")
    @classmethod
    def _check_labels(
        cls, labels: dict[str, str | dict[str, str]]
    ) -> dict[str, str | dict[str, str]]:
        for name, given in labels.items():
            problem = label_name_problem(name)
            if problem is not None:
                raise ValueError(f"{one_line(name, MAX_LABEL_NAME_SHOWN)}: {problem}")
            if isinstance(given, str):
                _check_source(name, given)
                continue
            if not given:
                raise ValueError(f"{name}: must name a source field, or one per list of jobs")
            for resource, source in given.items():
                if not RESOURCE_NAME.fullmatch(resource):
                    shown = one_line(resource, MAX_LABEL_NAME_SHOWN)
                    raise ValueError(f"{name}.{shown}: is not the name of a list of jobs")
                _check_source(f"{name}.{resource}", source)
        return labels

    def sources(self, resource: str) -> tuple[str, ...]:
        """The source field of each label (in their order) on the jobs of list ``resource``;
        "" where a label names no field of that list."""
        return tuple(
            given if isinstance(given, str) else given.get(resource, "")
            for given in self.labels.values()
        )

    @model_validator(mode="after")
    def _histogram_labels(self) -> AttributionSettings:
        for index, name in enumerate(self.histograms):
            shown = one_line(name, MAX_LABEL_NAME_SHOWN)
            if name not in self.labels:
                raise ValueError(f"histograms: {shown} is not in labels")
            if name in self.histograms[:index]:  # twice would write the label twice
                raise ValueError(f"histograms: {shown} is named twice")
        return self


class NativeHistogramSettings(Strict):
    """The native histograms kept beside the classic buckets of the histograms that declare
    them (docs/metrics.md, "Native histograms"): ``enabled`` (false: none kept, so a Prometheus
    2.42-2.44 with native histograms on stores the classic series), ``schema`` (-4 to 8; bucket
    width factor ``2^(2^-schema)``) and ``zero_threshold`` (observations at most it count in
    the zero bucket)."""

    enabled: bool = True
    # ``schema`` in the file: the name pydantic's BaseModel keeps for a method of its own
    schema_: Count = Field(default=DEFAULT_SCHEMA, alias="schema")
    zero_threshold: float = DEFAULT_ZERO_THRESHOLD

    @field_validator("enabled", mode="before")
    @classmethod
    def _check_enabled(cls, given: object) -> object:
        # true or false, also as the text ``${NAME}`` gives; not 1, "yes" or "on", which
        # pydantic would read as true. The problem never quotes the value.
        if isinstance(given, str) and given.strip().lower() in ("true", "false"):
            return given.strip().lower() == "true"
        if not isinstance(given, bool):
            raise ValueError("must be true or false")
        return given

    @field_validator("schema_")
    @classmethod
    def _check_schema(cls, schema: int) -> int:
        if not SCHEMA_MIN <= schema <= SCHEMA_MAX:
            raise ValueError(f"must be a whole number from {SCHEMA_MIN} to {SCHEMA_MAX}")
        return schema

    @field_validator("zero_threshold", mode="before")
    @classmethod
    def _check_zero_threshold(cls, given: object) -> object:
        try:  # a text from ``${NAME}`` too; the problem never quotes it
            number = math.nan if isinstance(given, bool) else float(given)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            number = math.nan
        if not math.isfinite(number) or number < 0:
            raise ValueError("must be a number of at least 0")
        return number

    def settings(self) -> NativeSettings | None:
        """The settings a target's ledgers make native parts with; None when not enabled."""
        return NativeSettings(self.schema_, self.zero_threshold) if self.enabled else None


class Defaults(Strict):
    poll_interval: Duration = 30.0
    timeout: Duration = 10.0
    retention: Duration = 86400.0
    per_job_series: PerJobSeries = "active"
    max_response_bytes: Count = Field(default=128 * 2**20, gt=0)
    max_retry_after: Duration = 600.0
    max_departed_jobs: Count = Field(default=1_000_000, gt=0)
    attribution: Annotated[AttributionSettings, EmptyIfNone] = AttributionSettings()
    native_histograms: Annotated[NativeHistogramSettings, EmptyIfNone] = NativeHistogramSettings()
