"""What every ModelArts answer shares: Huawei's error, request ids, the faults tests queue for
the next requests, request bodies read as JSON, and the API's time forms."""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any

BAD_REQUEST = "ModelArts.0101"  # the simulator's code for a malformed parameter or body
NOT_FOUND = "ModelArts.0104"  # and for a resource it does not know


class ApiError(Exception):
    """An error answer: its HTTP status and Huawei's ``error_code`` and ``error_msg``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def request_id() -> str:
    return uuid.uuid4().hex


def throttled() -> ApiError:
    """The gateway's throttling answer."""
    return ApiError(429, "APIG.0308", "The request is throttled")


def json_body(raw: bytes) -> dict[str, Any]:
    """A request body as a JSON object; an empty body (what the official SDK sends for a
    request without one) is ``{}``."""
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise ApiError(400, BAD_REQUEST, "The request body is not JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, BAD_REQUEST, "The request body is not a JSON object")
    return body


def rfc3339(seconds: float) -> str:
    """A time as the resource-pool answers write it: ``2025-11-01T03:49:41Z``."""
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Faults:
    """Failures queued for the next requests of one operation, or of any (the gateway's);
    thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[str | None, deque[ApiError]] = {}

    def add(self, n: int, error: ApiError, operation: str | None = None) -> None:
        """The next ``n`` requests of ``operation`` (of any, when None) fail with ``error``."""
        with self._lock:
            self._queues.setdefault(operation, deque()).extend([error] * n)

    def take(self, operation: str) -> ApiError | None:
        """The failure the next request of ``operation`` gets, if any: the gateway's first."""
        with self._lock:
            for queue in (self._queues.get(None), self._queues.get(operation)):
                if queue:
                    return queue.popleft()
        return None


@dataclass(frozen=True, slots=True)
class RequestHead:
    """A request as it came: the operation its route names ("" for none), its method, its
    target (path and query, as sent), its header lines in order (names as sent) and its
    body."""

    operation: str
    method: str
    target: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
