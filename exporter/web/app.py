"""The exporter's HTTP application: one function from a Request to a Response, no sockets.

/metrics hands out pre-built bytes in the negotiated format and coding; /, /healthz and
/readyz describe the polling; ``POST /-/reload`` reloads when the lifecycle API is enabled.
Framing (reading requests, writing responses, HEAD without a body) is the server's; basic
auth and the configured headers are the security layer's, wrapped around this.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from exporter import __version__
from exporter.exposition.runtime import RuntimeMetrics
from exporter.exposition.store import Exposition, NotRendered
from exporter.polling.health import ResourceStatus, StatusSnapshot
from exporter.web.negotiation import GZIP, choose_encoding, choose_format

TEXT = "text/plain; charset=utf-8"
HTML = "text/html; charset=utf-8"
MAX_LISTED_WAITING = 20
Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Request:
    """What the application sees of a request: ``path`` is the target up to ``?``, ``query``
    what follows it; ``headers`` in the order received, names as the client spelled them."""

    method: str
    path: str
    query: str = ""
    headers: Headers = ()

    @classmethod
    def of(cls, method: str, target: str, headers: Headers = ()) -> Request:
        path, _, query = target.partition("?")
        return cls(method, path, query, headers)

    def header(self, name: str) -> str | None:
        """The first value of the header ``name`` (any case), or None."""
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None


@dataclass(frozen=True, slots=True)
class Response:
    """Status, headers in the order they go out (Content-Length among them), and the body as
    parts written one after the other, uncopied."""

    status: int
    headers: Headers
    body: tuple[bytes, ...]

    @classmethod
    def of(
        cls,
        status: int,
        body: bytes | Sequence[bytes],
        content_type: str,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """A response with Content-Type and Content-Length first, then ``headers``."""
        parts = (body,) if isinstance(body, bytes) else tuple(body)
        length = str(sum(len(part) for part in parts))
        fields = (("Content-Type", content_type), ("Content-Length", length))
        return cls(status, fields + tuple((headers or {}).items()), parts)

    def with_headers(self, headers: Mapping[str, str]) -> Response:
        """The same response with ``headers`` added after its own."""
        if not headers:
            return self
        return Response(self.status, self.headers + tuple(headers.items()), self.body)


class App(Protocol):
    def __call__(self, request: Request) -> Response: ...


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch))


def landing_page(resources: Sequence[ResourceStatus]) -> bytes:
    """The human page: every target, its last poll, last error (never a secret)."""
    rows = []
    for row in resources:
        cells = (
            row.target,
            row.source,
            row.backend,
            row.endpoint,
            row.resource,
            row.state,
            _when(row.last_poll),
            _when(row.last_success),
            row.last_error or "-",
        )
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    titles = ("target", "source", "backend", "url", "resource", "state")
    titles += ("last poll", "last success", "last error")
    head = "".join(f"<th>{title}</th>" for title in titles)
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>jobfleet-exporter</title>"
        "<style>body{font-family:sans-serif}td,th{padding:2px 8px;text-align:left}</style>"
        f"</head><body><h1>jobfleet-exporter {html.escape(__version__)}</h1>"
        "<p><a href='/metrics'>Metrics</a> · <a href='/healthz'>Health</a> · "
        "<a href='/readyz'>Readiness</a></p>"
        f"<table><tr>{head}</tr>{''.join(rows)}</table></body></html>"
    ).encode("utf-8", "backslashreplace")  # a backend's text may hold a lone surrogate


NOT_FOUND = Response.of(404, b"not found\n", TEXT)
HEALTHY = Response.of(200, b"ok\n", TEXT)
READY = Response.of(200, b"ready\n", TEXT)
USE_POST = Response.of(405, b"use POST\n", TEXT, {"Allow": "POST"})
LIFECYCLE_DISABLED = Response.of(403, b"Lifecycle API is not enabled.\n", TEXT)
NO_RELOAD = Response.of(405, b"reload is not available\n", TEXT)
# http.server answers other methods itself (501) before the application is called
NOT_IMPLEMENTED = Response.of(501, b"not implemented\n", TEXT)
VARY = {"Vary": "Accept, Accept-Encoding"}
NOT_ACCEPTABLE = Response.of(406, b"neither gzip nor identity is acceptable\n", TEXT, VARY)


class Application:
    """The routes; HEAD is answered as GET (the server leaves the body out)."""

    def __init__(
        self,
        exposition: Exposition,
        status: Callable[[], StatusSnapshot],
        reload: Callable[[], tuple[bool, str]] | None = None,
        enable_lifecycle: bool = False,
    ) -> None:
        """``status`` gives the polling as it stands, for the landing page and ``/readyz``."""
        self._exposition = exposition
        self._status = status
        self._reload = reload
        self._enable_lifecycle = enable_lifecycle
        self._runtime = RuntimeMetrics()
        self._get: dict[str, Callable[[Request], Response]] = {
            "/metrics": self._metrics,
            "/": self._landing,
            "/healthz": lambda _: HEALTHY,
            "/readyz": self._readiness,
            "/-/reload": lambda _: USE_POST,
        }

    def __call__(self, request: Request) -> Response:
        if request.method in ("GET", "HEAD"):
            route = self._get.get(request.path)
            return NOT_FOUND if route is None else route(request)
        if request.method == "POST":
            return self._post(request)
        return NOT_IMPLEMENTED

    def _metrics(self, request: Request) -> Response:
        """The stored series in the negotiated format, then the process's own."""
        encoding = choose_encoding(request.header("Accept-Encoding"))
        if encoding is None:
            return NOT_ACCEPTABLE
        accept = request.header("Accept")
        fmt, content_type = choose_format(accept)
        compress = encoding == GZIP
        try:
            body = self._body(fmt, compress)
        except NotRendered:  # asked for the first time: from the targets' next polls on
            fmt, content_type = choose_format(accept, protobuf=False)
            body = self._body(fmt, compress)
        headers = VARY | ({"Content-Encoding": "gzip"} if compress else {})
        return Response.of(200, body, content_type, headers)

    def _body(self, fmt: str, compress: bool) -> Sequence[bytes]:
        exposition = self._exposition
        return exposition.response(fmt, compress, self._runtime.tail(fmt, exposition.shown))

    def _landing(self, _: Request) -> Response:
        return Response.of(200, landing_page(self._status().resources), HTML)

    def _readiness(self, _: Request) -> Response:
        waiting = self._status().waiting
        if not waiting:
            return READY
        listed = ", ".join(waiting[:MAX_LISTED_WAITING])
        more = len(waiting) - MAX_LISTED_WAITING
        listed += f" and {more} more" if more > 0 else ""
        return Response.of(503, f"waiting for a first poll of: {listed}\n".encode(), TEXT)

    def _post(self, request: Request) -> Response:
        if request.path != "/-/reload":
            return NOT_FOUND
        if not self._enable_lifecycle:
            return LIFECYCLE_DISABLED
        if self._reload is None:
            return NO_RELOAD
        ok, message = self._reload()
        return Response.of(200 if ok else 500, f"{message}\n".encode(), TEXT)
