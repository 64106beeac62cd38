"""What every simulator shares: a threaded loopback HTTP server and JSON replies."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class JsonHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def reply(
        self,
        status: int,
        body: Any,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def text(self, status: int, text: str) -> None:
        self.reply(status, text.encode(), "text/plain; charset=utf-8")


class Simulator:
    """Serves ``handler_class()`` on loopback in a daemon thread; a context manager."""

    def __init__(self) -> None:
        self.url = ""
        self._server: ThreadingHTTPServer | None = None

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve in a daemon thread; return the base URL."""
        self._server = ThreadingHTTPServer((host, port), self.handler_class())
        self._server.daemon_threads = True
        name = type(self).__name__
        threading.Thread(target=self._server.serve_forever, name=name, daemon=True).start()
        self.url = f"http://{host}:{self._server.server_address[1]}"
        return self.url

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
