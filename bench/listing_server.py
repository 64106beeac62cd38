"""Serves a Ray job list from a file, re-read at every request, so a benchmark can change it
between polls by renaming another file over it: ``python -m bench.listing_server FILE``.
Prints ``port N`` when ready, then serves until killed."""

from __future__ import annotations

import email.utils
import sys
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from exporter.simulators.base import SimulatorServer


def serve(path: Path) -> None:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            body = path.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Date", email.utils.formatdate(usegmt=True))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = SimulatorServer(("127.0.0.1", 0), Handler)
    print(f"port {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    serve(Path(sys.argv[1]))
