"""The configuration of a Ray dashboard or openYuanrong frontend target."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from exporter.config.types import (
    BearerCredentials,
    EmptyIfNone,
    HeaderName,
    HeaderValue,
    HttpUrl,
    Target,
    redact_url,
)
from exporter.config.types.url_auth import auth_text, check_one_credential_source


class RayTarget(Target):
    """A Ray dashboard (``ray``) or openYuanrong frontend (``openyuanrong``).

    One credential source: user info in ``url`` (basic auth), ``credentials`` (a bearer token)
    or an ``Authorization`` entry in ``headers``; each would replace the other silently."""

    backend: Literal["ray", "openyuanrong"]
    url: HttpUrl
    credentials: Annotated[BearerCredentials, EmptyIfNone] = BearerCredentials()
    headers: dict[HeaderName, HeaderValue] = Field(default_factory=dict)

    @field_validator("headers")
    @classmethod
    def _distinct_headers(cls, headers: dict[str, SecretStr]) -> dict[str, SecretStr]:
        seen: set[str] = set()
        for name in headers:
            if name.lower() in seen:
                raise ValueError(f"{name} is given twice (header names ignore case)")
            seen.add(name.lower())
        return headers

    @model_validator(mode="after")
    def _one_credential_source(self) -> RayTarget:
        check_one_credential_source(self.url, self.credentials, self.headers)
        return self

    def endpoint_text(self) -> str:
        return redact_url(self.url)

    def identity(self) -> dict[str, object]:
        return {"url": redact_url(self.url)}

    def auth_text(self) -> str:
        return auth_text(self.url, self.credentials, self.headers)
