"""The socket server: frames requests for the application and writes its responses.

Hardened like exporter-toolkit's server: strict request framing (a request's head is held to
RFC 9112's grammar as it is read, and a body is read whole or the connection closed, so neither
a malformed header nor a body is ever parsed as a request), a cap on concurrent connections,
time limits on idle connections and on reading a request's headers, and TLS contexts taken
fresh for each connection (see web_config). What is answered is the application's (app.py),
behind the security layer (security.py) when a web config is given.
"""

from __future__ import annotations

import logging
import re
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from exporter import __version__
from exporter.exposition.store import Exposition
from exporter.polling.health import StatusSnapshot
from exporter.web.app import App, Application, Request, Response
from exporter.web.framing import DeadlineReader, MalformedHead, RequestReader, SocketWriter
from exporter.web.security import Secured
from exporter.web.web_config import WebSecurity

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024  # no endpoint takes a body; POST /-/reload may carry a small one
LINGER_SECONDS = 2.0  # after refusing a request whose body is left unread (see _Handler.finish)
LINGER_BYTES = 1 << 20
ACCEPT_WAIT = 0.2  # how often the accept loop, at the connection cap, looks for a shutdown
_DIGITS = re.compile(r"[0-9]{1,18}")


@dataclass(frozen=True)
class WebOptions:
    """How the HTTP server behaves: security, lifecycle API, and its limits."""

    security: WebSecurity | None = None
    enable_lifecycle: bool = False  # POST /-/reload, as Prometheus' --web.enable-lifecycle
    max_connections: int = 512  # more wait in the listen backlog until one closes
    header_timeout: float = 10.0  # to read a request's headers (and body), and a TLS handshake
    idle_timeout: float = 30.0  # a keep-alive connection waiting for its next request
    write_timeout: float = 60.0  # to send one response


def _no_headers() -> Mapping[str, str]:
    return {}


class MetricsServer:
    """A threaded HTTP server on ``host:port``; ``port`` 0 picks a free one."""

    def __init__(
        self,
        host: str,
        port: int,
        exposition: Exposition,
        status: Callable[[], StatusSnapshot],
        reload: Callable[[], tuple[bool, str]] | None = None,
        options: WebOptions = WebOptions(),
    ) -> None:
        """``status`` gives the polling as it stands, for the landing page and ``/readyz``."""
        app: App = Application(exposition, status, reload, options.enable_lifecycle)
        refusal_headers: Callable[[], Mapping[str, str]] = _no_headers
        if options.security is not None:
            secured = Secured(app, options.security)
            app, refusal_headers = secured, secured.headers
        server_class = type(
            "Server",
            (_BoundedServer,),
            {"address_family": socket.AF_INET6 if ":" in host else socket.AF_INET},
        )
        self._httpd = server_class((host, port), app, refusal_headers, options)
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


class _BoundedServer(ThreadingHTTPServer):
    """One thread per connection, at most ``max_connections`` at a time: the accept loop waits
    for a free slot, and new clients wait in the listen backlog meanwhile.

    A TLS connection is wrapped with the context current when it is accepted (its handshake
    runs in its own thread, in the handler's setup), so rotated certificates and client CAs
    apply from the next connection on.
    """

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024

    def __init__(
        self,
        address: tuple[str, int],
        app: App,
        refusal_headers: Callable[[], Mapping[str, str]],
        options: WebOptions,
    ) -> None:
        """``refusal_headers`` go on the responses the server makes itself."""
        self.app = app
        self.refusal_headers = refusal_headers
        self.options = options
        self._slots = threading.BoundedSemaphore(options.max_connections)
        security = options.security
        self._tls = security.tls_context if security is not None and security.tls else None
        super().__init__(address, _Handler)

    def get_request(self) -> tuple[socket.socket, tuple]:
        """A connection accepted when a slot is free; a TLS one wrapped, not yet shaken."""
        if not self._slots.acquire(timeout=ACCEPT_WAIT):
            raise OSError("at the connection limit")  # serve_forever tries again
        try:
            sock, address = self.socket.accept()
        except BaseException:
            self._slots.release()
            raise
        try:
            context = self._tls() if self._tls is not None else None
            if context is not None:
                sock = context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        except BaseException:
            sock.close()
            self._slots.release()
            raise
        return sock, address

    def process_request(self, request: socket.socket, client_address: tuple) -> None:  # type: ignore[override]
        """A daemon thread per connection, named after the port it was accepted on."""
        threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name=f"http-connection-{self.server_address[1]}",
            daemon=True,
        ).start()

    def shutdown_request(self, request: socket.socket) -> None:  # type: ignore[override]
        """Called once for every accepted connection, whatever happened to it."""
        try:
            super().shutdown_request(request)
        finally:
            self._slots.release()

    def handle_error(self, request: object, client_address: object) -> None:
        """A failed handshake or a client gone mid-request: worth a debug line, no traceback."""
        log.debug("http connection from %s failed: %s", client_address, sys.exc_info()[1])


class _Handler(BaseHTTPRequestHandler):
    """Frames requests off a connection into Requests for the server's application, and
    writes its Responses; refuses what HTTP/1.1 framing does not allow (400, 411, 413) and
    methods other than GET, HEAD and POST (http.server's 501)."""

    server: _BoundedServer
    server_version = f"jobfleet-exporter/{__version__}"
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        self.connection = self.request
        self.connection.settimeout(self.server.options.header_timeout)
        # Headers and body go out in separate writes: without TCP_NODELAY, Nagle's
        # algorithm and the client's delayed ACK stall every keep-alive response by ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.do_handshake()  # the timeout bounds the handshake as a whole
        self._reader = DeadlineReader(self.connection)
        self._head = RequestReader(self._reader)
        self.rfile = self._head
        self.wfile = SocketWriter(self.connection)
        self._linger = False

    def handle(self) -> None:
        """Requests one after the other: the first within header_timeout of the connection,
        the next ones after at most idle_timeout of silence; each request's headers and body
        within header_timeout of its first byte."""
        self.close_connection = False
        wait = self.server.options.header_timeout
        while not self.close_connection:
            self._reader.deadline = time.monotonic() + wait
            try:
                if not self.rfile.peek(1):
                    return  # the client closed
            except OSError:
                return  # silent too long (TimeoutError), or gone
            self._reader.deadline = time.monotonic() + self.server.options.header_timeout
            self.handle_one_request()
            wait = self.server.options.idle_timeout

    def handle_one_request(self) -> None:
        """One request; a malformed head gets 400 and ends the connection, since where
        the request ends, and so where the next one starts, is then unknown."""
        # http.server sets these as it parses the request line; a refusal of that line
        # must not answer as the previous request would (after a HEAD, without a body)
        self.command = self.requestline = self.request_version = ""
        self._head.begin()
        try:
            super().handle_one_request()
        except MalformedHead as err:
            self._refuse(HTTPStatus.BAD_REQUEST, str(err))

    def finish(self) -> None:
        super().finish()
        if self._linger:
            self._drain()

    def _drain(self) -> None:
        """Before closing on a body left unread: stop sending, then read and discard what
        the client still sends (bounded), so the close does not reset the connection and
        destroy the response before the client has read it."""
        try:
            socket.socket.shutdown(self.connection, socket.SHUT_WR)
            deadline = time.monotonic() + LINGER_SECONDS
            left = LINGER_BYTES
            while left > 0 and (remaining := deadline - time.monotonic()) > 0:
                self.connection.settimeout(remaining)
                data = self.connection.recv(65536)
                if not data:
                    return
                left -= len(data)
        except OSError:
            return

    def _refuse(self, status: HTTPStatus, message: str) -> None:
        """An error that ends the connection: the rest of the request stays unread."""
        self._linger = True
        self.send_error(status, message)  # sends Connection: close

    def _body_length(self) -> int | None:
        """The body's length from Content-Length; None once a refusal is sent."""
        if "Transfer-Encoding" in self.headers:
            self._refuse(HTTPStatus.LENGTH_REQUIRED, "a body needs a Content-Length")
            return None
        values = [
            value.strip()
            for header in self.headers.get_all("Content-Length", [])
            for value in header.split(",")
        ]
        if not values:
            return 0
        if len(set(values)) != 1 or not _DIGITS.fullmatch(values[0]):
            self._refuse(HTTPStatus.BAD_REQUEST, "invalid Content-Length")
            return None
        length = int(values[0])
        if length > MAX_BODY_BYTES:
            self._refuse(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "request body too large")
            return None
        return length

    def handle_expect_100(self) -> bool:
        """Refuse a body we will not take before the client sends it."""
        return self._body_length() is not None and super().handle_expect_100()

    def parse_request(self) -> bool:
        """The request line and headers, then the body, read whole whatever the method."""
        if not super().parse_request():
            return False
        length = self._body_length()
        if length is None:
            return False
        self.body = self.rfile.read(length) if length else b""
        if len(self.body) < length:
            self.close_connection = True  # the client went away mid-body
            return False
        self.connection.settimeout(self.server.options.write_timeout)
        return True

    def end_headers(self) -> None:
        """Reached by http.server's own refusals (send_error), which carry the headers
        the security layer puts on the application's responses."""
        for name, value in self.server.refusal_headers().items():
            self.send_header(name, value)
        super().end_headers()

    def _serve(self) -> None:
        request = Request.of(self.command, self.path, tuple(self.headers.items()))
        self._write(self.server.app(request))

    do_GET = do_HEAD = do_POST = _serve

    def _write(self, response: Response) -> None:
        """Send a response as it is; its body goes out part by part, uncopied (none for
        HEAD)."""
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        BaseHTTPRequestHandler.end_headers(self)
        if self.command != "HEAD":
            for part in response.body:
                if part:
                    self.wfile.write(part)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("http %s %s", self.address_string(), format % args)
