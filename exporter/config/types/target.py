"""``Target``: what every target has, which each backend's target model extends."""

from __future__ import annotations

import re
from typing import Literal, get_args, get_origin

from pydantic import Field, field_validator

from exporter.config.types.defaults import (
    AttributionSettings,
    Defaults,
    NativeHistogramSettings,
    PerJobSeries,
)
from exporter.config.types.tls import TlsConfig
from exporter.config.types.values import Count, Duration, Strict
from exporter.http.tls import TlsSettings

_TARGET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")


class Target(Strict):
    """What every target has; each backend's target model extends it with a ``backend``
    field (a ``Literal`` of its names) and its own settings, and names the resources it
    lists in ``resources`` (a tuple of a ``Literal`` of them, and its default)."""

    backend: str
    name: str
    poll_interval: Duration | None = None
    timeout: Duration | None = None
    retention: Duration | None = None
    per_job_series: PerJobSeries | None = None
    max_response_bytes: Count | None = Field(default=None, gt=0)
    max_retry_after: Duration | None = None
    max_departed_jobs: Count | None = Field(default=None, gt=0)
    attribution: AttributionSettings | None = None
    native_histograms: NativeHistogramSettings | None = None
    tls: TlsConfig | None = None
    resources: tuple[Literal["jobs", "clusters"], ...] = ("jobs", "clusters")

    @field_validator("name")
    @classmethod
    def _check_name(cls, name: str) -> str:
        if not _TARGET_NAME.fullmatch(name):
            raise ValueError(
                "must be 1-64 characters: letters, digits and _ . : -, starting with a "
                "letter or digit"
            )
        return name

    @field_validator("resources")
    @classmethod
    def _check_resources(cls, resources: tuple[str, ...]) -> tuple[str, ...]:
        if not resources:
            raise ValueError(f"must name at least one of: {', '.join(cls.resource_names())}")
        return tuple(dict.fromkeys(resources))

    @classmethod
    def resource_names(cls) -> tuple[str, ...]:
        """The resources a target of this model may name; TypeError when ``resources`` is not
        declared as a tuple of a ``Literal`` of names."""
        annotation = cls.model_fields["resources"].annotation
        args = get_args(annotation)
        if not (
            get_origin(annotation) is tuple
            and len(args) == 2
            and args[1] is Ellipsis
            and get_origin(args[0]) is Literal
        ):
            raise TypeError(f"{cls.__name__}.resources must be a tuple of a Literal of names")
        return get_args(args[0])

    def endpoint_text(self) -> str:
        """Where this target is polled, safe to print."""
        return ""

    def identity(self) -> dict[str, object]:
        """The settings that decide which jobs this target sees (besides its backend): its
        counts go on while they stay the same. Never a secret."""
        return {}

    def resource_identity(self, resource: str) -> dict[str, object]:
        """The settings that decide which jobs of its job resource ``resource`` (one beside
        ``jobs``) this target sees: ``identity()``, unless the resource has filters of its own.
        Never a secret."""
        return self.identity()

    def tls_settings(self) -> TlsSettings:
        return self.tls.settings() if self.tls is not None else TlsSettings()

    def auth_text(self) -> str:
        """How this target authenticates, safe to print: never a secret value."""
        return "none"

    def with_defaults(self, defaults: Defaults) -> Target:
        """This target with every unset setting taken from ``defaults``."""
        inherited = {
            key: getattr(defaults, key)
            for key in Defaults.model_fields
            if getattr(self, key) is None
        }
        return self.model_copy(update=inherited)
