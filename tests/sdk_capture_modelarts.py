"""The official Huawei Cloud SDK (``huaweicloudsdkmodelarts``) as a real client of the ModelArts
simulator, and requests as they came to it, in a form in which what the SDK sends and what the
exporter sends compare byte for byte.

``SentRequest`` is one request as the simulator received it (``sim.heads``): the EMR capture's
record (method, path, the query exactly as on the wire, the header lines, the body bytes) with
its operation; its ``comparable`` leaves out ``X-Sdk-Date`` and so the signature, and
``sdk_capture.differences`` names every other way two requests differ. ``unread`` lists the
fields of an SDK model an answer left unset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkmodelarts.v1 import ModelArtsClient

from exporter.simulators.modelarts_lite import ModelArtsLiteSimulator, RequestHead

from .sdk_capture import SentRequest as CapturedRequest


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
class SentRequest(CapturedRequest):
    """One request as the ModelArts simulator received it: its operation and body too."""

    VOLATILE: ClassVar[frozenset[str]] = frozenset({"x-sdk-date"})

    operation: str = ""

    @classmethod
    def of(cls, head: RequestHead) -> SentRequest:
        path, _, query = head.target.partition("?")
        return cls(head.method, path, query, head.headers, head.body, head.operation)


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
