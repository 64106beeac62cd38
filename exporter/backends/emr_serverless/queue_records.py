"""A resource queue as ListWorkspaceQueues gives it, read into a ``Queue``.

``maxResource``, ``minResource`` and ``usedResource`` are JSON strings of Kubernetes quantities
(``{"cpu":"16","memory":"64Gi"}``; GPU queues add ``"gpu"``). They are read leniently: a string
that is no JSON object, or an amount that is no quantity, leaves out that value alone, noted in
``Queue.unreadable`` for the lister to count and log; the queue and its other values stay.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from exporter.backends.kit.fields import parse_quantity, text, word
from exporter.http.decode import TypedRecord

KINDS = ("cpu", "memory", "gpu")  # cores, bytes, devices: the values of ``resource_kind``
BOUNDS = (("max", "maxResource"), ("min", "minResource"), ("used", "usedResource"))
MAX_RESOURCE_CHARS = 4096  # three quantities take under 100: a longer string is damage
UNKNOWN_STATUS = "UNKNOWN"
INFO = (
    ("queue_type", "queueType"),
    ("queue_category", "queueCategory"),
    ("payment_type", "paymentType"),
)


@dataclass(slots=True)
class Queue:
    """One queue: its amounts of each resource kind by bound (``max``, ``min``, ``used``),
    the runs waiting in it (set by the lister), and the values of it that could not be read
    (``maxResource.memory``, ``usedResource``: a whole string)."""

    name: str
    status: str
    info: tuple[tuple[str, str], ...] = ()
    amounts: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    waiting: int = 0
    unreadable: tuple[str, ...] = ()


def parse_queue(item: Any) -> Queue | None:
    """One element of ``queues``; None when it is no object or has no ``queueName``."""
    if not isinstance(item, dict | TypedRecord):
        return None
    name = text(item.get("queueName"))
    if not name:
        return None
    amounts: dict[str, Mapping[str, float]] = {}
    unreadable: list[str] = []
    for bound, key in BOUNDS:
        amounts[bound], bad = read_amounts(item.get(key))
        unreadable += [f"{key}.{kind}" if kind else key for kind in bad]
    info = [(label, word(item.get(key))) for label, key in INFO]
    info.append(("environments", environments(item.get("environments"))))
    return Queue(
        name=name,
        status=word(item.get("queueStatus")) or UNKNOWN_STATUS,
        info=tuple((label, value) for label, value in info if value),
        amounts=amounts,
        unreadable=tuple(unreadable),
    )


def read_amounts(value: Any) -> tuple[dict[str, float], list[str]]:
    """The amounts of a resource field by kind, and what of it could not be read: "" for the
    whole field, else the kinds. A JSON object is taken as well as its string; an absent or
    empty field, or kind, is no amount and nothing unreadable."""
    if value is None or value == "":
        return {}, []
    if isinstance(value, str):
        if len(value) > MAX_RESOURCE_CHARS:
            return {}, [""]
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            return {}, [""]
    if not isinstance(value, dict):
        return {}, [""]
    amounts, unreadable = {}, []
    for kind in KINDS:
        raw = value.get(kind)
        if raw is None or raw == "":
            continue
        amount = parse_quantity(raw)
        if amount is None or amount < 0:
            unreadable.append(kind)
        else:
            amounts[kind] = amount
    return amounts, unreadable


def environments(value: Any) -> str:
    """The environments a queue serves (``dev``, ``production``), sorted and comma-joined."""
    if not isinstance(value, list):
        return ""
    return ",".join(sorted({text(env) for env in value if text(env)}))
