"""The official Huawei Cloud SDK (``huaweicloudsdkmodelarts``) as a real client of the ModelArts
simulator, and requests as they came to it, in a form in which what the SDK sends and what the
exporter sends compare byte for byte.

``SentRequest`` is one request as the simulator received it (``sim.heads``): its operation,
method, path, the query exactly as on the wire, the header lines and the body bytes.
``comparable`` leaves out what differs between any two requests by design (``X-Sdk-Date`` and
so the signature); ``differences`` (shared with the EMR capture) names every other way two
requests differ. ``unread`` lists
the fields of an SDK model an answer left unset.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkmodelarts.v1 import ModelArtsClient

from exporter.simulators.base import request_query
from exporter.simulators.modelarts_lite import ModelArtsLiteSimulator, RequestHead

VOLATILE = frozenset({"x-sdk-date"})  # fresh in every request
_SIGNED = re.compile(r"SignedHeaders=([^,]+)")


def sdk_client(sim: ModelArtsLiteSimulator) -> ModelArtsClient:
    """The SDK's client of ``sim`` over plain HTTP, with the simulator's key and project; it
    never retries (the SDK's default)."""
    config = HttpConfig.get_default_config()
    config.timeout = (5, 10)
    credentials = BasicCredentials(sim.access_key, sim.secret_key, sim.project_id)
    if sim.security_token:
        credentials = credentials.with_security_token(sim.security_token)
    return (
        ModelArtsClient.new_builder()
        .with_credentials(credentials)
        .with_endpoints([sim.url])
        .with_http_config(config)
        .build()
    )


@dataclass(frozen=True)
class SentRequest:
    operation: str
    method: str
    path: str
    query: str  # as on the wire
    headers: tuple[tuple[str, str], ...]  # the header lines, names as sent
    body: bytes

    @classmethod
    def of(cls, head: RequestHead) -> SentRequest:
        path, _, query = head.target.partition("?")
        return cls(head.operation, head.method, path, query, head.headers, head.body)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name), None)

    def signed(self) -> dict[str, str]:
        """The signed headers (lower-case names, as ``SignedHeaders`` lists them) and values."""
        match = _SIGNED.search(self.header("authorization") or "")
        names = match.group(1).split(";") if match else []
        return {name: self.header(name) or "" for name in names}

    def pairs(self) -> list[tuple[str, str]]:
        """The query's parameters as the gateway decodes them, sorted."""
        return sorted(request_query(f"?{self.query}"))

    def comparable(self) -> dict[str, Any]:
        """All of the request that two requests for the same thing should share."""
        signed = {k: v for k, v in self.signed().items() if k not in VOLATILE}
        return {
            "method": self.method,
            "path": self.path,
            "query": self.pairs(),
            "signed": signed,
            "body": self.body,
        }


def sent(sim: ModelArtsLiteSimulator, operation: str) -> list[SentRequest]:
    """The requests for ``operation`` the simulator still holds (``sim.heads``), oldest first."""
    return [SentRequest.of(head) for head in list(sim.heads) if head.operation == operation]


def model_keys(model: type) -> set[str]:
    """The answer fields an SDK model reads (its ``attribute_map``)."""
    return set(model.attribute_map.values())


def unread(model: Any, allowed: frozenset[str] = frozenset(), where: str = "") -> list[str]:
    """The fields (by JSON name, dotted) of a parsed SDK model and of the models inside it
    that the answer left unset; ``allowed`` names those that may be (``status.start_time``,
    ``items[].spec``: a list's members as ``[]``)."""
    missing = []
    for attr, key in model.attribute_map.items():
        value, path = getattr(model, attr), f"{where}{key}"
        if value is None:
            if path not in allowed:
                missing.append(path)
        elif hasattr(value, "attribute_map"):
            missing += unread(value, allowed, f"{path}.")
        elif isinstance(value, list):
            for item in value:
                if hasattr(item, "attribute_map"):
                    missing += unread(item, allowed, f"{path}[].")
    return sorted(set(missing))
