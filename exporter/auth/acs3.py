"""ACS3-HMAC-SHA256, the Alibaba Cloud OpenAPI signature (docs/backends/emr-serverless.md)."""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from collections.abc import Callable, Generator, Mapping
from hashlib import sha256

import httpx

from exporter.auth.alibaba_credentials import AccessKey, CredentialProvider
from exporter.auth.canonical import (
    EMPTY_SHA256,
    canonical_headers,
    canonical_query,
    canonicalize_query,
    sha256_hex,
)

ALGORITHM = "ACS3-HMAC-SHA256"


def string_to_sign(
    method: str, path: str, query: str, headers: Mapping[str, str], payload_hash: str
) -> tuple[str, str]:
    """(string to sign, signed header list) for one request."""
    lines, signed = canonical_headers(headers)
    request = f"{method}\n{path}\n{query}\n{lines}\n{signed}\n{payload_hash}"
    return f"{ALGORITHM}\n{sha256_hex(request.encode())}", signed


def authorization(
    method: str,
    path: str,
    pairs: list[tuple[str, str]],
    headers: Mapping[str, str],
    key_id: str,
    secret: str,
) -> str:
    """The ``Authorization`` header value for a request whose signed headers are ``headers``."""
    payload = headers.get("x-acs-content-sha256", EMPTY_SHA256)
    text, signed = string_to_sign(method, path, canonical_query(pairs), headers, payload)
    signature = hmac.new(secret.encode(), text.encode(), sha256).hexdigest()
    return f"{ALGORITHM} Credential={key_id},SignedHeaders={signed},Signature={signature}"


def acs_date(now: dt.datetime) -> str:
    return now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Acs3Auth(httpx.Auth):
    """Signs every request: host, the ``x-acs-*`` headers, and a fresh nonce each time.

    The query is rewritten to its canonical form, so what is sent is exactly what was signed.
    The action comes from the request's ``x-acs-action`` header, set by the caller.
    """

    def __init__(
        self,
        credentials: CredentialProvider,
        version: str,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.credentials = credentials
        self.version = version
        self.clock = clock

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        key: AccessKey = self.credentials.get()
        pairs = canonicalize_query(request)
        body = request.content or b""
        signed = {
            "host": request.url.netloc.decode(),
            "x-acs-action": request.headers["x-acs-action"],
            "x-acs-version": self.version,
            "x-acs-date": acs_date(self.clock()),
            "x-acs-signature-nonce": secrets.token_hex(16),
            "x-acs-content-sha256": sha256_hex(body),
        }
        if key.security_token:
            signed["x-acs-accesskey-id"] = key.access_key_id
            signed["x-acs-security-token"] = key.security_token
        for name, value in signed.items():
            request.headers[name] = value
        request.headers["Authorization"] = authorization(
            request.method,
            request.url.path,
            pairs,
            signed,
            key.access_key_id,
            key.access_key_secret,
        )
        yield request
