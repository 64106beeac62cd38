"""``KubernetesApi``: the object store served on loopback, plain HTTP or TLS, with the bearer
tokens it accepts (replace them to rotate), the namespaces they may read (``None``: all, so a
cluster-wide list is allowed), and a record of the requests it answered."""

from __future__ import annotations

import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

from exporter.simulators.base import SimulatorServer
from exporter.simulators.kubernetes.handler import handler
from exporter.simulators.kubernetes.resources import ApiError
from exporter.simulators.kubernetes.store import ObjectStore

MAX_LOGGED_REQUESTS = 4096
SERVICE_ACCOUNT = "system:serviceaccount:monitoring:jobfleet-exporter"


class KubernetesApi:
    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        *,
        tokens: set[str] | None = None,
        namespaces: set[str] | None = None,
        bookmark_every: float = 60.0,
        longest_watch: float = 300.0,
    ) -> None:
        self.store = ObjectStore(clock)
        self.tokens = tokens if tokens is not None else {"token"}
        self.namespaces = namespaces
        self.bookmark_every = bookmark_every
        self.longest_watch = longest_watch
        self.requests: deque[tuple[str, dict[str, str]]] = deque(maxlen=MAX_LOGGED_REQUESTS)
        self.url = ""
        # list answers and watch events, as sent: (resource, items, deleted) -> None (a job
        # contract's record); ``deleted``: a watch's DELETED event, its object's last state
        self.on_answer: Callable[[str, list[dict[str, Any]], bool], None] | None = None
        self._throttled: dict[str, int] = {}
        self._fault_lock = threading.Lock()
        self._server: SimulatorServer | None = None
        self._stopping = threading.Event()

    def log_request(self, path: str, query: dict[str, str]) -> None:
        self.requests.append((path, query))

    def throttle_lists(self, plural: str, n: int) -> None:
        """The next ``n`` lists of ``plural`` are refused 429, as API Priority and Fairness
        refuses a client over its share."""
        with self._fault_lock:
            self._throttled[plural] = self._throttled.get(plural, 0) + n

    def take_fault(self, plural: str) -> None:
        with self._fault_lock:
            if self._throttled.get(plural, 0) <= 0:
                return
            self._throttled[plural] -= 1
        raise ApiError(
            429, "TooManyRequests", "Too many requests, please try again later.",
            headers={"Retry-After": "1"},
        )  # fmt: skip

    def answered(self, plural: str, items: list[dict[str, Any]], *, deleted: bool = False) -> None:
        if self.on_answer is not None:
            self.on_answer(plural, items, deleted)

    def check_scope(self, plural: str, namespace: str | None) -> None:
        """403, as RBAC answers, for a namespace (or the cluster scope) not granted."""
        if self.namespaces is None or namespace in self.namespaces:
            return
        where = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
        raise ApiError(
            403,
            "Forbidden",
            f'{plural}.ray.io is forbidden: User "{SERVICE_ACCOUNT}" cannot list resource '
            f'"{plural}" in API group "ray.io" {where}',
        )

    def watch_settings(self) -> dict[str, Any]:
        return {
            "bookmark_every": self.bookmark_every,
            "longest": self.longest_watch,
            "stopped": self._stopping.is_set,
        }

    def start(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: tuple[Path, Path] | None = None,
        client_ca: Path | None = None,
    ) -> str:
        """Serve in a daemon thread (TLS with ``tls``: certificate and key files; a client
        certificate that ``client_ca`` signed required too, when given); the URL."""
        self._stopping.clear()  # a server stopped may start again
        self._server = SimulatorServer((host, port), handler(self))
        scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            if client_ca is not None:
                context.load_verify_locations(str(client_ca))
                context.verify_mode = ssl.CERT_REQUIRED
            self._server.socket = context.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
            scheme = "https"
        self.url = f"{scheme}://{host}:{self._server.serve_in_background('KubernetesApi')}"
        return self.url

    def stop(self) -> None:
        self._stopping.set()
        self.store.wake()
        if self._server:
            self._server.stop_serving()
            self._server = None

    def __enter__(self) -> Self:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
