"""A list as the API server answers it: read at one resourceVersion, filtered by namespace and
label selector, cut into pages by ``limit`` with a ``continue`` token that carries that version
and the last key, so every page of one list shows the same moment. A token whose version has
been compacted away is answered 410 Gone (reason ``Expired``): the client starts over."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from exporter.simulators.kubernetes.resources import GROUP_VERSION, ApiError, ResourceKind
from exporter.simulators.kubernetes.selectors import BadSelector, parse_selector
from exporter.simulators.kubernetes.store import Gone, ObjectStore

EXPIRED = (
    "The provided continue parameter is too old to display a consistent list result. You can "
    "start a new list without the continue parameter."
)


def encode_continue(version: int, last: str) -> str:
    text = json.dumps({"v": "meta.k8s.io/v1", "rv": version, "start": last + "\x00"})
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_continue(token: str) -> tuple[int, str]:
    """(version, first key to show) of a continue token; ApiError 400 when it is not one."""
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        version, start = data["rv"], data["start"]
        if data.get("v") != "meta.k8s.io/v1" or not isinstance(version, int):
            raise ValueError(token)
        if not isinstance(start, str) or version <= 0:
            raise ValueError(token)
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ApiError(400, "BadRequest", "continue key is not valid") from None
    return version, start


def whole(query: dict[str, str], name: str) -> int:
    text = query.get(name, "") or "0"
    if not text.isdigit():
        raise ApiError(400, "BadRequest", f"{name}: must be a non-negative whole number")
    return int(text)


def read_version(store: ObjectStore, query: dict[str, str]) -> int:
    """The version a list without a continue token is read at (``resourceVersion`` and
    ``resourceVersionMatch``: unset or 0 is now, ``Exact`` that version, else no older)."""
    asked = whole(query, "resourceVersion")
    match = query.get("resourceVersionMatch", "")
    if match not in ("", "Exact", "NotOlderThan"):
        raise ApiError(400, "BadRequest", f"resourceVersionMatch: unsupported value {match!r}")
    if match and not query.get("resourceVersion"):
        raise ApiError(400, "BadRequest", "resourceVersionMatch needs resourceVersion")
    now = store.version
    if asked > now:
        raise ApiError(504, "Timeout", f"Too large resource version: {asked}, current: {now}")
    return asked if match == "Exact" else now


def list_answer(
    store: ObjectStore, kind: ResourceKind, namespace: str | None, query: dict[str, str]
) -> dict[str, Any]:
    """The answer to a list of ``kind`` (in ``namespace``, or all when None)."""
    try:
        wanted = parse_selector(query.get("labelSelector", ""))
    except BadSelector as err:
        raise ApiError(400, "BadRequest", f"labelSelector: {err}") from None
    limit = whole(query, "limit")
    token = query.get("continue", "")
    if token:
        if query.get("resourceVersion"):
            raise ApiError(
                400, "BadRequest", "specifying resource version is not allowed with continue"
            )
        version, start = decode_continue(token)
    else:
        version, start = read_version(store, query), ""

    def shown(item: dict[str, Any]) -> bool:
        return (
            (namespace is None or item["metadata"].get("namespace") == namespace)
            and _key(item) >= start
            and wanted(item["metadata"].get("labels") or {})
        )

    try:
        page, matching = store.page_at(kind.plural, version, shown, limit)
    except Gone:
        message = EXPIRED if token else f"too old resource version: {version} ({store.oldest})"
        raise ApiError(410, "Expired", message) from None
    metadata: dict[str, Any] = {"resourceVersion": str(version)}
    if limit and matching > limit:
        rest = matching - limit
        metadata["continue"] = encode_continue(version, _key(page[-1]))
        if not query.get("labelSelector"):
            metadata["remainingItemCount"] = rest
    return {
        "apiVersion": GROUP_VERSION,
        "kind": kind.list_kind,
        "metadata": metadata,
        "items": page,
    }


def _key(item: dict[str, Any]) -> str:
    meta = item["metadata"]
    return f"{meta.get('namespace', '')}/{meta['name']}"
