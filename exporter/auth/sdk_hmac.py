"""SDK-HMAC-SHA256, Huawei Cloud's API signature, and the IAM-token alternative.

What is signed and how: docs/backends/modelarts-lite.md, "Permissions and credentials".
"""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path

import httpx

from exporter.auth.canonical import (
    EMPTY_SHA256,
    canonical_headers,
    canonical_query,
    canonicalize_query,
    percent_encode,
    sha256_hex,
)
from exporter.config.files import FileProblem, read_secret_file
from exporter.errors import PollError

ALGORITHM = "SDK-HMAC-SHA256"


def canonical_uri(path: str) -> str:
    """Each segment percent-encoded, and a trailing ``/`` (signed only: the path sent has none)."""
    uri = "/".join(percent_encode(segment) for segment in path.split("/"))
    return uri if uri.endswith("/") else uri + "/"


def query_value(value: object) -> str:
    """Booleans as ``true``/``false``, everything else as its text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def authorization(
    method: str,
    path: str,
    pairs: list[tuple[str, object]],
    headers: Mapping[str, str],
    access_key: str,
    secret_key: str,
    payload_hash: str = EMPTY_SHA256,
) -> str:
    """The ``Authorization`` value for a request whose signed headers are ``headers``."""
    query = canonical_query((key, query_value(value)) for key, value in pairs)
    lines, signed = canonical_headers(headers)
    request = f"{method}\n{canonical_uri(path)}\n{query}\n{lines}\n{signed}\n{payload_hash}"
    date = next(value for name, value in headers.items() if name.lower() == "x-sdk-date")
    text = f"{ALGORITHM}\n{date}\n{sha256_hex(request.encode())}"
    signature = hmac.new(secret_key.encode(), text.encode(), sha256).hexdigest()
    return f"{ALGORITHM} Access={access_key}, SignedHeaders={signed}, Signature={signature}"


def sdk_date(now: dt.datetime) -> str:
    return now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


@dataclass(frozen=True)
class HuaweiKey:
    access_key: str
    secret_key: str = field(repr=False)
    security_token: str | None = field(default=None, repr=False)


class SdkHmacAuth(httpx.Auth):
    """Signs every request: Content-Type, Host, X-Project-Id, X-Sdk-Date (and X-Security-Token).

    The query is rewritten to its canonical form, so what is sent is exactly what was signed.
    """

    def __init__(
        self,
        key: HuaweiKey,
        project_id: str,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.key = key
        self.project_id = project_id
        self.clock = clock

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        pairs = canonicalize_query(request)
        signed = {
            "Content-Type": "application/json",
            "Host": request.url.netloc.decode(),
            "X-Project-Id": self.project_id,
            "X-Sdk-Date": sdk_date(self.clock()),
        }
        if self.key.security_token:
            signed["X-Security-Token"] = self.key.security_token
        for name, value in signed.items():
            request.headers[name] = value
        request.headers["Authorization"] = authorization(
            request.method,
            request.url.path,
            pairs,
            signed,
            self.key.access_key,
            self.key.secret_key,
            sha256_hex(request.content or b""),
        )
        yield request


class IamTokenAuth(httpx.Auth):
    """An IAM token in ``X-Auth-Token``; from a file, re-read when the file changes."""

    def __init__(self, token: str | None = None, token_file: str | None = None) -> None:
        self._token = token
        self._file = Path(token_file) if token_file else None
        self._mtime = -1.0

    def token(self) -> str:
        """The token; from the file when it changed (PollError ``auth`` when it is unusable)."""
        if self._file is not None:
            try:
                mtime = self._file.stat().st_mtime
                if mtime != self._mtime:
                    self._token, self._mtime = read_secret_file(self._file), mtime
            except (OSError, FileProblem) as err:
                why = err if isinstance(err, FileProblem) else err.strerror
                raise PollError("auth", f"auth_token_file: {why}") from None
        return self._token or ""

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["X-Auth-Token"] = self.token()
        yield request
