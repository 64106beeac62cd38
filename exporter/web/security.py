"""The security layer around the application, as the web config asks: basic auth (but for
``auth_excluded_paths``) before a request reaches it, and ``http_server_config.headers`` on
every response, the refusals included."""

from __future__ import annotations

from collections.abc import Mapping

from exporter.web.app import TEXT, App, Request, Response
from exporter.web.web_config import WebSecurity

UNAUTHORIZED = Response(
    401,
    (
        ("WWW-Authenticate", 'Basic realm="jobfleet-exporter"'),
        ("Content-Type", TEXT),
        ("Content-Length", "13"),
    ),
    (b"unauthorized\n",),
)


class Secured:
    """``app`` behind the live web config's checks; ``headers`` is for the responses the
    server makes itself (a malformed request's refusal), which must carry them too."""

    def __init__(self, app: App, security: WebSecurity) -> None:
        self._app = app
        self._security = security

    def __call__(self, request: Request) -> Response:
        # the auth check looks at the web config's files first, so the headers added after
        # are those of the settings now in force
        if self._security.authorized(request.header("Authorization"), request.path):
            response = self._app(request)
        else:
            response = UNAUTHORIZED
        return response.with_headers(self._security.headers())

    def headers(self) -> Mapping[str, str]:
        """The headers the web config adds to every response."""
        return self._security.headers()
