"""A request's way through the simulator: logged, its token checked (401 without one, 403 with a
wrong one), held while hung, answered by a queued fault, else routed to its endpoint."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from email.message import Message
from typing import Any
from urllib.parse import unquote, urlsplit

from exporter.simulators.base import request_query
from exporter.simulators.ray.common import Reply

MAX_HANG_SECONDS = 120.0
MAX_LOGGED_REQUESTS = 10_000
DEFAULT_NODE_LIMIT = 100
GARBAGE = b'{"truncated": ['


class ServingMixin:
    """The request handling of ``RaySimulator``: it supplies the lock, the token, the faults and
    the endpoints."""

    _lock: threading.Lock
    auth_token: str | None
    jobs_path: str
    requests: list[tuple[str, str, dict[str, str]]]
    _unhang: threading.Event
    _failures: deque[tuple[int, str]]
    _garbage: bool
    _job_list: Callable[[], Reply]
    _job_info: Callable[[str], Reply]
    _submit: Callable[[bytes], Reply]
    _stop: Callable[[str], Reply]
    _nodes_payload: Callable[[int], dict[str, Any]]
    _cluster_status: Callable[[], dict[str, Any]]
    _version: Callable[[], dict[str, Any]]

    def answer(self, method: str, target: str, headers: Message, body: bytes) -> Reply:
        """The reply to one HTTP request (called by the handler thread; may block on hang)."""
        url = urlsplit(target)
        self._log(method, url.path, dict(headers.items()))
        if method == "GET" and url.path == "/api/authentication_mode":
            return 200, {"authentication_mode": "token" if self.auth_token else "disabled"}
        denied = self._check_auth(headers)
        if denied:
            return denied
        self._unhang.wait(MAX_HANG_SECONDS)
        fault = self._take_fault()
        if fault:
            return fault
        return self._route(method, url.path, dict(request_query(target)), body)

    def _log(self, method: str, path: str, headers: dict[str, str]) -> None:
        with self._lock:
            if len(self.requests) < MAX_LOGGED_REQUESTS:
                self.requests.append((method, path, headers))

    def _check_auth(self, headers: Message) -> Reply | None:
        if self.auth_token is None:
            return None
        sent = [headers.get("Authorization"), headers.get("X-Ray-Authorization")]
        if not any(sent):
            return 401, "Unauthorized: Missing authentication token"
        if f"Bearer {self.auth_token}" not in sent:
            return 403, "Forbidden: Invalid authentication token"
        return None

    def _take_fault(self) -> Reply | None:
        with self._lock:
            if self._failures:
                return self._failures.popleft()
            return (200, GARBAGE) if self._garbage else None

    def _route(self, method: str, path: str, params: dict[str, str], body: bytes) -> Reply:
        parts = path.split("/")
        on_job = len(parts) in (4, 5) and parts[1:3] == ["api", "jobs"] and parts[3] != ""
        if method == "GET":
            if path == self.jobs_path:
                return self._job_list()
            if on_job and len(parts) == 4:
                return self._job_info(unquote(parts[3]))
            if path == "/api/v0/nodes":
                return 200, self._nodes_payload(_limit(params))
            if path == "/api/cluster_status":
                return 200, self._cluster_status()
            if path == "/api/version":
                return 200, self._version()
        elif method == "POST":
            if path == self.jobs_path:
                return self._submit(body)
            if on_job and len(parts) == 5 and parts[4] == "stop":
                return self._stop(unquote(parts[3]))
        return 404, "404: Not Found"


def _limit(params: dict[str, str]) -> int:
    value = params.get("limit", "")
    return int(value) if value.isdigit() and int(value) > 0 else DEFAULT_NODE_LIMIT
