"""The official Alibaba Cloud SDK (``alibabacloud-emr-serverless-spark20230808``) as a real
client of the EMR simulator, and requests as they came to it, in a form in which what the SDK
sends and what the exporter sends compare byte for byte.

``SentRequest`` is one request's head as the simulator received it (``sim.heads``): method,
path, the query exactly as on the wire, and the header lines. ``comparable`` leaves out what
differs between any two requests by design (nonce, date, signature); ``differences`` names
every other way two requests differ.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from typing import Any, ClassVar

from alibabacloud_emr_serverless_spark20230808.client import Client
from alibabacloud_tea_openapi import utils_models
from darabonba.model import DaraModel

from exporter.simulators.base import request_query
from exporter.simulators.emr_serverless import EmrServerlessSimulator, RequestHead

_SIGNED = re.compile(r"SignedHeaders=([^,]+)")
_READS = re.compile(r"m\.get\('([A-Za-z0-9]+)'\)")


def sdk_client(sim: EmrServerlessSimulator) -> Client:
    """The SDK's client of ``sim``, over plain HTTP with the simulator's long-term key."""
    config = utils_models.Config(
        access_key_id=sim.access_key_id,
        access_key_secret=sim.access_key_secret,
        endpoint=sim.url.removeprefix("http://"),
        protocol="http",
        connect_timeout=5000,
        read_timeout=10000,
    )
    return Client(config)


@dataclass(frozen=True)
class SentRequest:
    """One request as the simulator received it; ``VOLATILE`` are the signed headers fresh in
    every request (a nonce, a date), left out of ``comparable``."""

    VOLATILE: ClassVar[frozenset[str]] = frozenset({"x-acs-signature-nonce", "x-acs-date"})

    method: str
    path: str
    query: str  # as on the wire
    headers: tuple[tuple[str, str], ...]  # the header lines, names as sent
    body: bytes = b""

    @classmethod
    def of(cls, head: RequestHead) -> SentRequest:
        path, _, query = head.target.partition("?")
        return cls(head.method, path, query, head.headers)

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
        signed = {k: v for k, v in self.signed().items() if k not in self.VOLATILE}
        return {
            "method": self.method,
            "path": self.path,
            "query": self.pairs(),
            "signed": signed,
            "body": self.body,
        }


def sent(sim: EmrServerlessSimulator, action: str) -> list[SentRequest]:
    """The requests for ``action`` the simulator still holds (``sim.heads``), oldest first."""
    return [
        SentRequest.of(head)
        for head in list(sim.heads)
        if dict((k.lower(), v) for k, v in head.headers).get("x-acs-action") == action
    ]


def differences(ours: SentRequest, theirs: SentRequest) -> list[str]:
    """Every way ``ours`` differs from ``theirs`` beyond nonce, date and signature (requests
    of either SDK: ``sdk_capture_modelarts.SentRequest`` extends this one)."""
    found = []
    if (ours.method, ours.path) != (theirs.method, theirs.path):
        found.append(f"request line: {ours.method} {ours.path} vs {theirs.method} {theirs.path}")
    if ours.pairs() != theirs.pairs():
        found.append(f"query parameters: {ours.pairs()} vs {theirs.pairs()}")
    elif ours.query != theirs.query:
        found.append(f"query on the wire: {ours.query!r} vs {theirs.query!r}")
    if ours.body != theirs.body:
        found.append(f"body: {ours.body!r} vs {theirs.body!r}")
    mine, others = ours.comparable()["signed"], theirs.comparable()["signed"]
    for name in sorted(mine.keys() - others.keys()):
        found.append(f"signed only by us: {name}")
    for name in sorted(others.keys() - mine.keys()):
        found.append(f"signed only by the SDK: {name}")
    for name in sorted(mine.keys() & others.keys()):
        if mine[name] != others[name]:
            found.append(f"signed {name}: {mine[name]!r} vs {others[name]!r}")
    return found


def model_keys(model: type[DaraModel]) -> set[str]:
    """The answer fields the SDK's model reads (its ``from_map``)."""
    return set(_READS.findall(inspect.getsource(model.from_map)))


def unread(model: DaraModel, allowed: frozenset[str] = frozenset(), where: str = "") -> list[str]:
    """The fields of a parsed model (and of the models inside it) left unset: what the answer
    did not carry. ``allowed`` names fields (``where.snake_name``) that may be unset."""
    missing = []
    for name, value in vars(model).items():
        path = f"{where}{name}"
        if value is None:
            if path not in allowed:
                missing.append(path)
        elif isinstance(value, DaraModel):
            missing += unread(value, allowed, f"{path}.")
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, DaraModel):
                    missing += unread(item, allowed, f"{path}[].")
    return missing
