"""An ``http`` source at run time: Prometheus' http_sd. Every ``refresh_interval`` (and at
each reload) the URL is asked, through the HTTP client every backend uses (its deadline, size
cap, TLS settings, User-Agent and scrubbing), for a JSON list of target groups; an HTTP 200
answer of type ``application/json`` is read as a file_sd file is (``file_sd.parse_groups``).

An answer that cannot be used (no answer, an error status, another type, not target groups,
a refused label or address) keeps the targets of the last good one: each such refresh is
counted by reason, and the problem is logged when it changes, not at every refresh. An answer
the same, byte for byte, as the last good one is not read again.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx

from exporter.config.discovery import REFRESH_HEADER, DiscoverySource
from exporter.config.types import Defaults
from exporter.discovery.file_sd import SdProblem, parse_groups
from exporter.discovery.source import RemoteSource
from exporter.errors import PollError
from exporter.http.client import ApiClient
from exporter.http.decode import decode_json
from exporter.http.scrub import Scrubber, model_secrets
from exporter.http.tls import TlsSettings
from exporter.polling.health import ApiStats

log = logging.getLogger(__name__)

OPERATION = "DiscoverTargets"
CONTENT_TYPE = "application/json"
REASONS = (
    "http",
    "auth",
    "timeout",
    "connection",
    "tls",
    "too_large",
    "format",
    "labels",
    "target",
    "duplicate",
    "limit",
)
_AS_THEY_ARE = frozenset({"auth", "timeout", "connection", "tls", "too_large"})
_SAME = object()  # an answer the same as the last good one


def refresh_seconds(seconds: float) -> str:
    """The refresh interval as Prometheus sends it: ``60``, ``0.5``."""
    return f"{seconds:f}".rstrip("0").rstrip(".")


def reason_of(error: PollError) -> str:
    """The discovery reason of a failed request: a body that is no JSON or of another type is
    ``format``; an error status (a 404, throttling) is ``http``."""
    if error.reason in _AS_THEY_ARE:
        return error.reason
    return "format" if error.reason == "parse" else "http"


class HttpSource(RemoteSource):
    """One ``http`` source; ``refresh`` asks the URL again."""

    reasons = REASONS

    def __init__(
        self,
        settings: DiscoverySource,
        defaults: Defaults,
        errors: dict[str, int] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(settings, defaults, errors, clock)
        assert settings.http is not None
        self.http = settings.http
        self.where = self.http.url_text()  # never the user info or the query
        self.scrub = Scrubber([*model_secrets(self.http), *self.http.url_values()])
        self._digest = b""  # of the last good answer

    def _read(self, force: bool) -> bool:
        """Ask the URL; publish the targets of an answer other than the last good one."""
        digest, document = self._fetch()
        if document is not _SAME:
            found = self._targets(parse_groups(document, self.where), self.where)
            self._publish(self._merge([(self.where, found)]), self.where)
            self._digest = digest
        return True

    def _decode(self, body: bytes) -> tuple[bytes, Any]:
        digest = hashlib.sha256(body).digest()
        return digest, (_SAME if digest == self._digest else decode_json(body))

    def _fetch(self) -> tuple[bytes, Any]:
        """The digest of the answer and its JSON (``_SAME`` as the last good one); SdProblem."""
        http = self.http
        headers = {name: value.get_secret_value() for name, value in http.headers.items()}
        token = http.credentials.bearer_token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        headers[REFRESH_HEADER] = refresh_seconds(http.refresh_interval)
        client = ApiClient(
            "",
            ApiStats(),  # not shown: jobfleet_api_requests_total is per target
            max_response_bytes=http.max_response_bytes,
            headers=headers,
            tls=http.tls.settings() if http.tls is not None else TlsSettings(),
            scrub=self.scrub,
            content_type=CONTENT_TYPE,
        )
        try:  # the URL whole, as given: user info in it is sent as basic auth
            deadline = time.monotonic() + http.timeout
            answer, _ = client.get_json_dated(
                http.url, OPERATION, deadline=deadline, decode=self._decode
            )
        except PollError as err:
            reason = reason_of(err)
            key = f"{err.reason} {err.status}"  # not the message: it quotes the answer
            raise SdProblem(reason, f"{self.where}: {err}", key) from None
        except httpx.HTTPError as err:  # none expected past the client: never the serve loop's
            name = type(err).__name__
            raise SdProblem("http", f"{self.where}: {OPERATION}: {name}", name) from None
        finally:
            client.close()
        return answer
