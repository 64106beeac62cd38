"""A backend built on the backend kit by tests: a "flows" API paged by token, its ids nested,
RFC 3339 times and two status fields ({"flows": [...], "nextPageToken", "total"} at /v1/flows),
and its simulator. Tests declare it (``FLOWS``), or build backends with more lists on its parts
(``flow_list``, ``FlowList``, ``FlowServer.routes``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

from exporter.backends import Backend, Listing, registry
from exporter.backends.kit.field_map import FieldMap, Status, Value
from exporter.backends.kit.field_parse import Parse
from exporter.backends.kit.fields import parse_time
from exporter.backends.kit.token_list import TokenEnvelope, TokenList
from exporter.backends.kit.token_walk import TokenParams
from exporter.config.types import HttpUrl, Target, redact_url
from exporter.http.client import ApiClient
from exporter.model import Phase
from exporter.polling.health import ApiStats
from exporter.simulators.base import JobResource, JsonHandler, Outcome, Simulator

FLOW_PHASES = {  # (state.result, state.stage) -> phase; the status is the first set of the two
    ("", "Queued"): Phase.PENDING,
    ("", "Running"): Phase.RUNNING,
    ("Passed", "Done"): Phase.SUCCEEDED,
    ("Failed", "Done"): Phase.FAILED,
    ("Aborted", "Done"): Phase.CANCELLED,
}
FLOW_PAIRS = tuple((phase, result or stage) for (result, stage), phase in FLOW_PHASES.items())
FLOW_MAP = FieldMap(
    id=("meta.uid",),
    name=("meta.name",),
    status=Status(("state.result", "state.stage"), FLOW_PHASES, default="Unknown"),
    times={
        "submit": Value("meta.created", parse_time),
        "start": Value("state.started", parse_time),
        "end": Value("state.finished", parse_time),
    },
)
OUTCOME_RESULTS = {"succeeded": "Passed", "failed": "Failed", "cancelled": "Aborted"}


class FlowTarget(Target):
    backend: Literal["flows"]
    url: HttpUrl
    resources: tuple[Literal["jobs"], ...] = ("jobs",)

    def identity(self) -> dict[str, object]:
        return {"url": redact_url(self.url)}


def flow_list(api: ApiClient, target: str, path: str, operation: str, parse: Parse) -> TokenList:
    """A flows-like list at ``path``, paged by token, three items a page."""
    return TokenList(
        api,
        path,
        operation,
        parse,
        TokenEnvelope(items="flows", next_token="nextPageToken", total="total"),
        name=f"target {target}: {operation}",
        form=TokenParams(token="pageToken", size="pageSize"),
        page_size=3,
    )


class FlowBackend(Backend):
    def __init__(self, target: FlowTarget, stats: ApiStats) -> None:
        super().__init__(target.backend)
        size = target.max_response_bytes
        self.api = ApiClient(target.url, stats, max_response_bytes=size, scrub=self.scrub)
        self.flows = flow_list(self.api, target.name, "/v1/flows", "ListFlows", FLOW_MAP.parser())

    def list_jobs(self, deadline: float) -> Listing:
        return self.flows.listing(deadline)

    def close(self) -> None:
        self.api.close()


Route = Callable[[dict[str, str]], tuple[int, Any]]  # a request's query -> (status, body)


class FlowList(JobResource):
    """A list of flows, paged by token (an offset), and the job contract over it, with its own
    record of answers: a ``FlowServer`` is one, and serves more at paths of their own."""

    JOB_LIST_KEY, JOB_ID_FIELD, JOB_SUBMIT_FIELD = "flows", "meta.uid", "meta.created"

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.clock, self.lock, self.failing = clock, threading.Lock(), 0
        self.flows: dict[str, dict[str, Any]] = {}  # by uid: its fields, flat, times in epoch
        self.used: set[str] = set()

    def page(
        self, query: dict[str, str], jitter: Callable[[float], float] | None
    ) -> tuple[int, Any]:
        """The answer to a request for a page of these flows, its times moved by ``jitter``."""
        with self.lock:
            if self.failing:
                self.failing -= 1
                return 503, {"error": "unavailable"}
            start, size = int(query.get("pageToken", 0)), int(query["pageSize"])
            flows = [self.flows[key] for key in sorted(self.flows)]
            page = flows[start : start + size]
            self.record_answer(self.clock(), [(f["uid"], f["result"] or f["stage"]) for f in page])
            more = str(start + size) if start + size < len(flows) else ""
            answer = [self.answer(flow, jitter) for flow in page]
        return 200, {"flows": answer, "nextPageToken": more, "total": len(flows)}

    @staticmethod
    def answer(flow: dict[str, Any], jitter: Callable[[float], float] | None) -> dict[str, Any]:
        """A flow as an answer gives it: nested, its times in RFC 3339 (jittered when asked)."""

        def rfc3339(at: float | None) -> str | None:
            moved = at if at is None or jitter is None else jitter(at)
            return None if moved is None else datetime.fromtimestamp(moved, UTC).isoformat()

        meta = {"uid": flow["uid"], "name": flow["name"], "created": rfc3339(flow["created"])}
        times = {name: rfc3339(flow[name]) for name in ("started", "finished")}
        return {"meta": meta, "state": {"stage": flow["stage"], "result": flow["result"], **times}}

    def submit_job(
        self, key: str | None = None, *, running: bool = False, name: str | None = None
    ) -> str:
        now, stage = self.clock(), "Running" if running else "Queued"
        with self.lock:
            key = key or f"flow-{len(self.used):05d}"
            if key in self.used:
                raise ValueError(f"{key} is taken")
            self.used.add(key)
            started = now if running else None
            self.flows[key] = dict(uid=key, name=name or key, created=now, stage=stage, result="")
            self.flows[key].update(started=started, finished=None)
        return key

    def start_job(self, key: str) -> None:
        with self.lock:
            self.flows[key].update(stage="Running", started=self.clock())

    def end_job(self, key: str, outcome: Outcome) -> str:
        now, result = self.clock(), OUTCOME_RESULTS[outcome]
        with self.lock:
            flow = self.flows[key]
            flow.update(stage="Done", result=result, finished=now, started=flow["started"] or now)
        return result

    def remove_job(self, key: str) -> None:
        with self.lock:
            self.flows.pop(key, None)

    def fail_job_lists(self, n: int) -> None:
        with self.lock:
            self.failing += n


class FlowServer(FlowList, Simulator):
    """The flows API on loopback, keeping the simulator contract: ``routes`` answer each path
    (a request's query -> status and body), its own flows at /v1/flows."""

    def __init__(self, clock: Callable[[], float] = time.time, **_: object) -> None:
        super().__init__(clock)
        self.routes: dict[str, Route] = {"/v1/flows": lambda query: self.page(query, self.jitter)}

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(JsonHandler):
            server_clock = staticmethod(lambda: server.clock())

            def do_GET(self) -> None:
                where = urlsplit(self.path)
                route = server.routes.get(where.path)
                if route is None:
                    return self.reply(404, {"error": "not found"})
                self.reply(*route(dict(parse_qsl(where.query))))

        return Handler

    def target_config(self, name: str, **settings: Any) -> dict[str, Any]:
        return {"name": name, "backend": "flows", "url": self.url, **settings}


FLOWS = registry.BackendDeclaration(
    target=FlowTarget,
    client=FlowBackend,
    known_pairs=FLOW_PAIRS,
    simulator=lambda name, secret=None, **settings: FlowServer(**settings),
)
