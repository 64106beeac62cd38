"""The simulator's HTTP face: STS's AssumeRoleWithOIDC (POST), and the workspace operations
(GET), each checked as the gateway checks it, then routed by path and ``x-acs-action``."""

from __future__ import annotations

import re
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from exporter.simulators.base import JsonHandler, request_query
from exporter.simulators.emr_serverless.common import ApiError, request_id

if TYPE_CHECKING:
    from exporter.simulators.emr_serverless.simulator import EmrServerlessSimulator

_PATH = re.compile(r"^/api/v1/workspaces/([^/]+)/([A-Za-z]+)$")


def operations(sim: EmrServerlessSimulator) -> dict[str, tuple[str, Callable[..., Any]]]:
    """Path collection -> (action, answer to a query) of every workspace operation."""
    return {
        "rayJob": ("ListRayJob", sim.list_jobs),
        "rayCluster": ("ListRayCluster", sim.list_clusters),
        "jobRuns": ("ListJobRuns", sim.spark_runs.list_runs),
        "queues": ("ListWorkspaceQueues", sim.queues.list_queues),
    }


def handler(sim: EmrServerlessSimulator) -> type[BaseHTTPRequestHandler]:
    routes = operations(sim)

    class Handler(JsonHandler):
        server_clock = staticmethod(sim.now)

        def error(self, err: ApiError, headers: dict[str, str] | None = None) -> None:
            body = {
                "RequestId": request_id(),
                "HostId": self.headers.get("host", ""),
                "Code": err.code,
                "Message": err.message,
            }
            self.reply(err.status, body, headers=headers)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            query = dict(request_query(self.path))
            action = query.get("Action", "")
            sim.log_request(action, query, self.command, self.path, self.headers.items())
            if query.get("Action") != "AssumeRoleWithOIDC":
                self.error(ApiError(404, "InvalidAction.NotFound", "Unknown action."))
                return
            try:
                form = dict(parse_qsl(body))
                self.reply(200, sim.assume_role_with_oidc(form))
            except ApiError as err:
                self.error(err)

        def do_GET(self) -> None:
            headers = {name.lower(): value for name, value in self.headers.items()}
            query = dict(request_query(self.path))
            action = headers.get("x-acs-action", "")
            sim.log_request(action, query, self.command, self.path, self.headers.items())
            try:
                sim.verify("GET", self.path, headers)
                throttle = sim.take_throttle()
                if throttle:
                    status, code, retry_ms = throttle
                    extra = {"x-acs-retry-after": str(retry_ms)} if retry_ms is not None else {}
                    self.error(
                        ApiError(status, code, "Request was denied due to flow control."), extra
                    )
                    return
                self.reply(200, self.answer(action, query))
            except ApiError as err:
                self.error(err)

        def answer(self, action: str, query: dict[str, str]) -> Any:
            match = _PATH.match(self.path.partition("?")[0])
            if not match or match.group(1) != sim.workspace_id or match.group(2) not in routes:
                raise ApiError(404, "InvalidWorkspace.NotFound", "The workspace does not exist.")
            expected, answer = routes[match.group(2)]
            if action != expected:
                raise ApiError(400, "InvalidAction", f"x-acs-action must be {expected}.")
            return answer(query)

    return Handler
