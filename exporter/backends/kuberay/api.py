"""The Kubernetes API client of one KubeRay target or ``kuberay`` discovery source: a bearer
token re-read when its file changes (the kubelet rotates a projected service-account token
every hour or so), TLS as configured, error answers named by their ``Status`` reason and
message, and the lists of a ``ray.io`` resource, one per namespace, paged by
``limit``/``continue`` and begun again when a ``continue`` expires (410 Gone)."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Generator
from typing import Any

import httpx

from exporter.backends.kit.token_list import TokenEnvelope, TokenList
from exporter.backends.kit.token_walk import CONTINUE
from exporter.backends.kuberay.access import KubernetesAccess
from exporter.config.files import FileProblem, read_secret_file
from exporter.config.types import FileSecret
from exporter.errors import NotFound, PollError
from exporter.http.client import ApiClient, default_error, json_object
from exporter.http.scrub import Scrubber, model_secrets
from exporter.polling.health import ApiStats

log = logging.getLogger(__package__)

GROUP_VERSION = "ray.io/v1"
ENVELOPE = TokenEnvelope(
    items="items", next_token="metadata.continue", version="metadata.resourceVersion"
)


class FileToken(httpx.Auth):
    """``Authorization: Bearer`` from a token file, read again when the file changes (its
    size, mtime or inode); a file that cannot be read then keeps the last good token, and
    says so once in the log."""

    def __init__(self, token: FileSecret) -> None:
        self.path = token.path
        self._token = token.get_secret_value()
        self._seen = self._stamp()
        self._lock = threading.Lock()
        self._warned = False

    def _stamp(self) -> tuple[int, int, int] | None:
        try:
            found = os.stat(self.path)
        except OSError:
            return None
        return (found.st_ino, found.st_size, found.st_mtime_ns)

    def token(self) -> str:
        with self._lock:
            stamp = self._stamp()
            if stamp != self._seen and stamp is not None:
                try:
                    self._token = read_secret_file(self.path)
                    self._seen, self._warned = stamp, False
                except FileProblem as err:
                    if not self._warned:
                        log.warning("token file: %s; keeping the token read before", err)
                        self._warned = True
            return self._token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.token()}"
        yield request


def classify_error(
    operation: str, response: httpx.Response, body: bytes, scrub: Scrubber
) -> PollError:
    """An error answer by its status code, its text the ``Status`` reason and message."""
    error = default_error(operation, response, body, scrub)
    payload = json_object(body)
    if payload is None or payload.get("kind") != "Status":
        return error
    reason, message = str(payload.get("reason", "")), str(payload.get("message", ""))
    detail = scrub(f"{operation}: HTTP {response.status_code} {reason}: {message}", 200)
    if isinstance(error, NotFound):
        return NotFound(detail)
    return PollError(error.reason, detail, status=error.status, retry_after=error.retry_after)


def open_client(access: KubernetesAccess, stats: ApiStats, max_response_bytes: int) -> ApiClient:
    """A client of ``access``'s API server, its bearer token re-read as its file rotates."""
    token = access.credentials.token_file or access.credentials.token
    auth: httpx.Auth | None = None
    headers: dict[str, str] = {}
    if isinstance(token, FileSecret):
        auth = FileToken(token)
    elif token is not None:
        headers["Authorization"] = f"Bearer {token.get_secret_value()}"
    return ApiClient(
        access.url or "",
        stats,
        max_response_bytes=max_response_bytes,
        auth=auth,
        headers=headers,
        classify_error=classify_error,
        tls=access.tls_settings(),
        scrub=Scrubber(model_secrets(access)),
    )


def namespaced_lists(
    api: ApiClient,
    access: KubernetesAccess,
    plural: str,
    operation: str,
    parse: Callable[[Any], Any],
    who: str,
) -> list[TokenList]:
    """One token list of ``plural`` per namespace of ``access`` (one for all when it names
    none), with its label selector; ``who`` names the lister in log lines."""
    params = {"labelSelector": access.label_selector} if access.label_selector else {}
    scopes = [f"namespaces/{ns}/" for ns in access.namespaces] or [""]
    return [
        TokenList(
            api,
            f"/apis/{GROUP_VERSION}/{scope}{plural}",
            operation,
            parse,
            ENVELOPE,
            name=f"{who}: {operation}",
            form=CONTINUE,
            page_size=access.page_size,
            max_pages=access.max_pages,
            params=params,
        )
        for scope in scopes
    ]
