"""The simulator's HTTP face: each request logged, checked as the gateway checks it, failed
when a fault is queued for it, then routed by method and path to its operation.

Routes (``{pid}`` the project): ``GET /v1/{pid}/dev-servers/jobs`` (ListDevServerJobs),
``POST /v2/{pid}/training-job-searches`` (ListTrainingJobs), ``GET
/v2/{pid}/training-jobs/{id}/stages`` (ListTrainingJobStages), ``GET /v2/{pid}/pools``
(ListPools), ``GET /v2/{pid}/statistics/pools`` (ShowPoolStatistics), ``GET
/v2/{pid}/pools/{pool_name}/nodes`` (ListPoolNodes): the paths the official SDK sends, on the
one endpoint it sends them all to.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from exporter.simulators.base import JsonHandler, request_query
from exporter.simulators.modelarts_lite.common import ApiError, json_body, request_id

if TYPE_CHECKING:
    from exporter.simulators.modelarts_lite.simulator import ModelArtsLiteSimulator

Answer = Callable[[str, dict[str, str], bytes], Any]  # (path argument, query, body) -> answer


def routes(sim: ModelArtsLiteSimulator) -> list[tuple[str, re.Pattern[str], str, Answer]]:
    """(method, path pattern, operation, answer) of every operation."""
    return [
        ("GET", re.compile(r"/v1/([^/]+)/dev-servers/jobs()"), "ListDevServerJobs",
         lambda _, query, __: sim.list_jobs(query)),
        ("POST", re.compile(r"/v2/([^/]+)/training-job-searches()"), "ListTrainingJobs",
         lambda _, __, body: sim.training_jobs.search(json_body(body))),
        ("GET", re.compile(r"/v2/([^/]+)/training-jobs/([^/]+)/stages"), "ListTrainingJobStages",
         lambda key, _, __: sim.training_jobs.stages(key)),
        ("GET", re.compile(r"/v2/([^/]+)/pools()"), "ListPools",
         lambda _, query, __: sim.pools.list_pools(query)),
        ("GET", re.compile(r"/v2/([^/]+)/statistics/pools()"), "ShowPoolStatistics",
         lambda _, query, __: sim.pools.statistics(query)),
        ("GET", re.compile(r"/v2/([^/]+)/pools/([^/]+)/nodes"), "ListPoolNodes",
         lambda name, query, __: sim.pools.list_nodes(name, query)),
    ]  # fmt: skip


def handler(sim: ModelArtsLiteSimulator) -> type[BaseHTTPRequestHandler]:
    table = routes(sim)

    class Handler(JsonHandler):
        server_clock = staticmethod(lambda: sim.clock())

        def do_GET(self) -> None:
            self.handle_operation()

        def do_POST(self) -> None:
            self.handle_operation()

        def handle_operation(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            path = self.path.partition("?")[0]
            found = next(
                (
                    (operation, match, answer)
                    for method, pattern, operation, answer in table
                    if method == self.command and (match := pattern.fullmatch(path))
                ),
                None,
            )
            query = dict(request_query(self.path))
            sim.log_request(found[0] if found else "", self, query, body)
            headers = {name.lower(): value for name, value in self.headers.items()}
            reply_headers = {"X-Request-Id": request_id()}
            try:
                sim.verify(self.command, self.path, headers, body)
                if found is None or found[1].group(1) != sim.project_id:
                    raise ApiError(404, "ModelArts.0107", "The project does not exist")
                operation, match, answer = found
                fault = sim.faults.take(operation)
                if fault is not None:
                    raise fault
                if headers.get("x-project-id") not in (None, sim.project_id):
                    raise ApiError(400, "ModelArts.0108", "X-Project-Id does not match the path")
                self.reply(200, answer(match.group(2), query, body), headers=reply_headers)
            except ApiError as err:
                error = {"error_code": err.code, "error_msg": err.message}
                self.reply(err.status, error, headers=reply_headers)

    return Handler
