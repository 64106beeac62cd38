"""The server's HTTP face: a bearer token checked (401), the namespaces a token may read
(403 for the rest), then discovery, one object, a list or a watch; every error a ``Status``."""

from __future__ import annotations

import json
import re
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING

from exporter.simulators.base import JsonHandler, request_query
from exporter.simulators.kubernetes.discovery import discovery_document
from exporter.simulators.kubernetes.listing import list_answer
from exporter.simulators.kubernetes.resources import GROUP_VERSION, RESOURCES, ApiError
from exporter.simulators.kubernetes.selectors import BadSelector, Requirement, parse_selector
from exporter.simulators.kubernetes.watching import Watch

if TYPE_CHECKING:
    from exporter.simulators.kubernetes.server import KubernetesApi

_RESOURCE_PATH = re.compile(
    rf"/apis/{re.escape(GROUP_VERSION)}(?:/namespaces/([^/]+))?/([a-z]+)(?:/([^/]+))?"
)


def handler(api: KubernetesApi) -> type[BaseHTTPRequestHandler]:
    class Handler(JsonHandler):
        server_clock = staticmethod(lambda: api.store.clock())

        def do_GET(self) -> None:
            path = self.path.partition("?")[0]
            query = dict(request_query(self.path))
            api.log_request(path, query)
            try:
                self._check_token()
                document = discovery_document(path)
                if document is not None:
                    self.reply(200, document)
                    return
                self._resource(path, query)
            except ApiError as err:
                self.reply(err.code, err.body, headers=err.headers)

        def _check_token(self) -> None:
            given = self.headers.get("Authorization", "")
            scheme, _, token = given.partition(" ")
            if scheme.lower() != "bearer" or token not in api.tokens:
                raise ApiError(401, "Unauthorized", "Unauthorized")

        def _resource(self, path: str, query: dict[str, str]) -> None:
            match = _RESOURCE_PATH.fullmatch(path)
            kind = RESOURCES.get(match.group(2)) if match else None
            if match is None or kind is None:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            namespace, _, name = match.groups()
            api.check_scope(kind.plural, namespace)
            if name is not None:
                item = api.store.get(kind.plural, (namespace or "", name))
                if item is None or namespace is None:
                    raise ApiError(404, "NotFound", f'{kind.plural}.ray.io "{name}" not found')
                self.reply(200, item)
            elif query.get("watch") in ("1", "true"):
                api.take_fault(kind.plural)
                wanted = _selector(query)
                self._watch(
                    kind.plural,
                    Watch(api.store, kind, namespace, wanted, query, **api.watch_settings()),
                )
            else:
                api.take_fault(kind.plural)
                answer = list_answer(api.store, kind, namespace, query)
                api.answered(kind.plural, answer["items"])
                self.reply(200, answer)

        def _watch(self, plural: str, watch: Watch) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                for event in watch.events():
                    if event["type"] in ("ADDED", "MODIFIED", "DELETED"):
                        api.answered(plural, [event["object"]], deleted=event["type"] == "DELETED")
                    self._chunk(json.dumps(event).encode() + b"\n")
                self._chunk(b"")
            except OSError:  # the client went away
                self.close_connection = True

        def _chunk(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

    return Handler


def _selector(query: dict[str, str]) -> Requirement:
    try:
        return parse_selector(query.get("labelSelector", ""))
    except BadSelector as err:
        raise ApiError(400, "BadRequest", f"labelSelector: {err}") from None
