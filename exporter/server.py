"""The HTTP face: /metrics hands out pre-built bytes; /, /healthz, /readyz describe the state."""

from __future__ import annotations

import html
import logging
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import __version__
from .poller import TargetPoller
from .render import Exposition
from .webconfig import WebSecurity

log = logging.getLogger(__name__)

METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch))


def landing_page(pollers: Sequence[TargetPoller]) -> bytes:
    """The human page: every target, its last poll, last error (never a secret)."""
    rows = []
    for poller in pollers:
        target = poller.target
        for resource, health in poller.health.items():
            state = "up" if health.up else ("pending" if not health.attempted else "down")
            rows.append(
                "<tr>"
                + "".join(
                    f"<td>{html.escape(str(cell))}</td>"
                    for cell in (
                        target.name,
                        target.backend,
                        target.endpoint_text(),
                        resource,
                        state,
                        _when(health.last_poll),
                        _when(health.last_success),
                        health.last_error or "-",
                    )
                )
                + "</tr>"
            )
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "target",
            "backend",
            "url",
            "resource",
            "state",
            "last poll",
            "last success",
            "last error",
        )
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>jobfleet-exporter</title>"
        "<style>body{font-family:sans-serif}td,th{padding:2px 8px;text-align:left}</style>"
        f"</head><body><h1>jobfleet-exporter {html.escape(__version__)}</h1>"
        "<p><a href='/metrics'>Metrics</a> · <a href='/healthz'>Health</a> · "
        "<a href='/readyz'>Readiness</a></p>"
        f"<table><tr>{head}</tr>{''.join(rows)}</table></body></html>"
    ).encode()


class MetricsServer:
    """A threaded HTTP server on ``host:port``; ``port`` 0 picks a free one."""

    def __init__(
        self,
        host: str,
        port: int,
        exposition: Exposition,
        pollers: Callable[[], Sequence[TargetPoller]],
        reload: Callable[[], tuple[bool, str]] | None = None,
        security: WebSecurity | None = None,
    ) -> None:
        handler = _handler(exposition, pollers, reload, security)
        server_class = type(
            "Server",
            (_QuietServer,),
            {"address_family": socket.AF_INET6 if ":" in host else socket.AF_INET},
        )
        self._httpd = server_class((host, port), handler)
        if security is not None and security.context is not None:
            # The handshake runs in the request's thread (Handler.setup), not in the accept loop.
            self._httpd.socket = security.context.wrap_socket(
                self._httpd.socket, server_side=True, do_handshake_on_connect=False
            )
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.1,), name="http", daemon=True
        )

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: object, client_address: object) -> None:
        """A failed handshake or a client gone mid-request: worth a debug line, no traceback."""
        log.debug("http connection from %s failed: %s", client_address, sys.exc_info()[1])


def _handler(
    exposition: Exposition,
    pollers: Callable[[], Sequence[TargetPoller]],
    reload: Callable[[], tuple[bool, str]] | None,
    security: WebSecurity | None,
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = f"jobfleet-exporter/{__version__}"
        protocol_version = "HTTP/1.1"
        # Headers and body go out in separate writes: without TCP_NODELAY, Nagle's algorithm
        # and the client's delayed ACK stall every keep-alive response by ~40 ms.
        disable_nagle_algorithm = True
        timeout = 30  # a client that stalls is dropped rather than holding a thread

        def setup(self) -> None:
            super().setup()
            if isinstance(self.request, ssl.SSLSocket):
                self.request.do_handshake()

        def _denied(self) -> bool:
            if security is None or security.authorized(self.headers.get("Authorization")):
                return False
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="jobfleet-exporter"')
            self.send_header("Content-Length", "13")
            self.end_headers()
            self.wfile.write(b"unauthorized\n")
            return True

        def do_GET(self) -> None:
            if self._denied():
                return
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                if "gzip" in self.headers.get("Accept-Encoding", ""):
                    self._send(200, exposition.gzipped(), METRICS_CONTENT_TYPE, gzip=True)
                else:
                    self._send(200, exposition.body(), METRICS_CONTENT_TYPE)
            elif path == "/":
                self._send(200, landing_page(pollers()), "text/html; charset=utf-8")
            elif path == "/healthz":
                self._send(200, b"ok\n", "text/plain; charset=utf-8")
            elif path == "/readyz":
                waiting = [
                    f"{p.target.name}/{resource}"
                    for p in pollers()
                    for resource, health in p.health.items()
                    if not health.attempted
                ]
                if waiting:
                    body = ("waiting for a first poll of: " + ", ".join(waiting) + "\n").encode()
                    self._send(503, body, "text/plain; charset=utf-8")
                else:
                    self._send(200, b"ready\n", "text/plain; charset=utf-8")
            else:
                self._send(404, b"not found\n", "text/plain; charset=utf-8")

        def do_HEAD(self) -> None:
            self.do_GET()

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(min(length, 65536))
            if self._denied():
                return
            if self.path.split("?", 1)[0] != "/-/reload":
                self._send(404, b"not found\n", "text/plain; charset=utf-8")
            elif reload is None:
                self._send(405, b"reload is not available\n", "text/plain; charset=utf-8")
            else:
                ok, message = reload()
                self._send(200 if ok else 500, f"{message}\n".encode(), "text/plain; charset=utf-8")

        def _send(self, status: int, body: bytes, content_type: str, gzip: bool = False) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            if gzip:
                self.send_header("Content-Encoding", "gzip")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            log.debug("http %s %s", self.address_string(), format % args)

    return Handler
