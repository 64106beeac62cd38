"""What the cloud backends' settings share: credentials whose secrets may each come from a
file, and targets found by region or by an explicit endpoint."""

from __future__ import annotations

from typing import ClassVar, Self

from pydantic import Field, field_validator, model_validator

from exporter.config.types.target import Target
from exporter.config.types.urls import SignedHttpUrl
from exporter.config.types.values import REGION_ID, Strict


class PairedSecrets(Strict):
    """Cloud credentials: each secret of ``FILED`` set inline or as ``<name>_file``, not both;
    the key id and its secret (``KEY_PAIR``) given together or not at all."""

    FILED: ClassVar[tuple[str, ...]] = ()
    KEY_PAIR: ClassVar[tuple[str, str]] = ("", "")

    @model_validator(mode="after")
    def _pairs(self) -> Self:
        for name in self.FILED:
            if getattr(self, name) is not None and getattr(self, f"{name}_file") is not None:
                raise ValueError(f"set {name} or {name}_file, not both")
        key, secret = self.KEY_PAIR
        if bool(self.value(key)) != bool(self.value(secret)):
            raise ValueError(f"{key} and {secret} go together")
        return self

    def value(self, name: str) -> str | None:
        """The secret ``name``, from the config or its file; None when neither is set."""
        secret = getattr(self, name) or getattr(self, f"{name}_file", None)
        return secret.get_secret_value() if secret else None

    def source(self, name: str) -> str:
        """Where the secret ``name`` was set: ``file`` or ``config``."""
        return "file" if getattr(self, f"{name}_file") is not None else "config"


class RegionalTarget(Target):
    """A cloud API reached by its ``region`` (the public endpoint of that region) or at an
    ``endpoint`` given outright; ``REGION_EXAMPLE`` is a region id the error message shows."""

    REGION_EXAMPLE: ClassVar[str] = ""

    region: str | None = None
    endpoint: SignedHttpUrl | None = None
    requests_per_second: float = Field(default=5.0, gt=0)

    @field_validator("region")
    @classmethod
    def _check_region(cls, region: str | None) -> str | None:
        if region is not None and not REGION_ID.fullmatch(region):
            raise ValueError(f"must be a region id such as {cls.REGION_EXAMPLE}")
        return region

    @model_validator(mode="after")
    def _region_or_endpoint(self) -> Self:
        if self.region is None and self.endpoint is None:
            raise ValueError("set region (or endpoint)")
        return self
