"""The HTTP handler of ``RaySimulator`` and ``RayHeads``: each GET and POST is answered by
the simulator's ``answer``; a text reply is sent as plain text, any other as JSON."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING

from exporter.simulators.base import JsonHandler

if TYPE_CHECKING:
    from exporter.simulators.ray.heads import RayHeads
    from exporter.simulators.ray.simulator import RaySimulator


def handler(sim: RaySimulator | RayHeads) -> type[BaseHTTPRequestHandler]:
    class Handler(JsonHandler):
        server_clock = staticmethod(sim.clock)

        def do_GET(self) -> None:
            self._serve(b"")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self._serve(self.rfile.read(length) if length else b"")

        def _serve(self, body: bytes) -> None:
            status, payload = sim.answer(self.command, self.path, self.headers, body)
            if isinstance(payload, str):
                self.text(status, payload)
            else:
                self.reply(status, payload)

    return Handler
