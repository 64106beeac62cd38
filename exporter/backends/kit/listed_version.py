"""An item's version marker: its identity and its version (``metadata.uid`` and
``metadata.resourceVersion`` of a Kubernetes object), read without decoding the rest.

Two answers may spell the same object differently (another API server, another serializer:
members in another order, other blanks or escapes), so its bytes change where it did not. An
item whose (identity, version) is the one an item of the last answer had is the same object,
and keeps that item's record. Only the two fields are decoded, into a msgspec Struct built for
their paths (every other member is skipped unread); an item where either is missing, null, or
no string or integer has no marker, and is decoded as a changed item.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import msgspec

T = TypeVar("T")
Mark = tuple[str | int, str | int]


@dataclass(slots=True)
class Marks(Generic[T]):
    """The markers of one answer's items: by item digest, and the record of each marker."""

    of: dict[int, Mark] = field(default_factory=dict)
    records: dict[Mark, T | None] = field(default_factory=dict)


class VersionMarker:
    """Reads the (identity, version) of an item: ``paths`` are dotted member names, as
    ``("metadata.uid", "metadata.resourceVersion")``."""

    def __init__(self, identity: str, version: str) -> None:
        tree: dict[str, Any] = {}
        self._paths = (_place(tree, identity, 0), _place(tree, version, 1))
        self._decoder = msgspec.json.Decoder(_struct(tree, "Marker"))

    def read(self, raw: msgspec.Raw) -> Mark | None:
        """The item's marker; None when it has none."""
        try:
            item = self._decoder.decode(raw)
        except (msgspec.MsgspecError, RecursionError):
            return None
        identity, version = (_get(item, path) for path in self._paths)
        if identity is None or version is None:
            return None
        return identity, version


def _place(tree: dict[str, Any], path: str, leaf: int) -> tuple[str, ...]:
    """Put ``path`` into ``tree`` (nested names to ``leaf``): its attribute names there."""
    names = path.split(".")
    if not all(names):
        raise ValueError(f"version marker path {path!r} has an empty name")
    attributes = []
    for depth, name in enumerate(names):
        last = depth == len(names) - 1
        node = tree.setdefault(name, leaf if last else {})
        if last != isinstance(node, int) or (last and node != leaf):
            raise ValueError(f"version marker path {path!r} overlaps the other")
        attributes.append(f"f{list(tree).index(name)}")
        if not last:
            tree = node
    return tuple(attributes)


def _struct(tree: dict[str, Any], name: str) -> type:
    """A Struct with a field per member of ``tree``: a scalar for a leaf, a Struct for a node."""
    fields = []
    for index, node in enumerate(tree.values()):
        kind = str | int if isinstance(node, int) else _struct(node, f"{name}_{index}")
        fields.append((f"f{index}", kind | None, None))
    rename = {f"f{index}": member for index, member in enumerate(tree)}
    return msgspec.defstruct(name, fields, rename=rename, gc=False)


def _get(item: Any, path: tuple[str, ...]) -> Any:
    for attribute in path:
        if item is None:
            return None
        item = getattr(item, attribute)
    return item
