"""The configuration of a Ray dashboard or openYuanrong frontend target."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from exporter.config.types import (
    BearerCredentials,
    EmptyIfNone,
    FileSecret,
    HeaderName,
    HeaderValue,
    HttpUrl,
    Target,
    redact_url,
)


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
        token_field = "token_file" if self.credentials.token_file is not None else "token"
        sources = [
            text
            for text, present in (
                ("user info in url", self.userinfo()),
                (f"credentials.{token_field}", self.credentials.bearer_token()),
                (f"headers.{self._authorization_header()}", self._authorization_header()),
            )
            if present
        ]
        if len(sources) > 1:
            raise ValueError(f"more than one credential source ({', '.join(sources)}): keep one")
        return self

    def userinfo(self) -> bool:
        """Whether ``url`` carries user info, which the client sends as basic auth."""
        return "@" in urlsplit(self.url).netloc

    def _authorization_header(self) -> str | None:
        return next((name for name in self.headers if name.lower() == "authorization"), None)

    def endpoint_text(self) -> str:
        return redact_url(self.url)

    def identity(self) -> dict[str, object]:
        return {"url": redact_url(self.url)}

    def auth_text(self) -> str:
        token = self.credentials.token_file or self.credentials.token
        if self.userinfo():
            auth = "basic auth (user and password from the URL)"
        elif self.credentials.bearer_token():
            source = f"file {token.path}" if isinstance(token, FileSecret) else "credentials.token"
            auth = f"Authorization: Bearer token (from {source})"
        elif header := self._authorization_header():
            auth = f"{header} header (from headers)"
        else:
            auth = "none"
        others = sorted(name for name in self.headers if name.lower() != "authorization")
        if others:
            auth += f"; headers: {', '.join(others)}"
        return auth
