"""Objects kept the way etcd keeps them for the API server: every change gets the next
resourceVersion, a list can be read as it was at any version since the last compaction, and a
watch replays the changes after a version. Versions older than the compaction are gone (410)."""

from __future__ import annotations

import copy
import datetime
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

Key = tuple[str, str]  # (namespace, name)


def path_key(key: Key) -> str:
    """``namespace/name``: the order of etcd's keys, which a list gives its items in."""
    return f"{key[0]}/{key[1]}"


class Gone(Exception):
    """A resourceVersion older than the last compaction: its state is no longer kept."""

    def __init__(self, asked: int, oldest: int) -> None:
        super().__init__(f"too old resource version: {asked} ({oldest})")
        self.asked = asked
        self.oldest = oldest


@dataclass(frozen=True, slots=True)
class Change:
    """One change of one object: ``kind`` ADDED, MODIFIED or DELETED, the object after it (the
    last state for DELETED), at resourceVersion ``version``."""

    version: int
    resource: str
    kind: str
    key: Key
    item: dict[str, Any]


class ObjectStore:
    """The objects of some resources (``rayjobs``, ``rayclusters``), each change versioned.

    ``create``, ``update`` and ``delete`` change them; ``items_at`` reads a resource as it was
    at a version; ``changes_after`` gives the changes since one; ``compact`` forgets history up
    to a version, as the API server's etcd does every few minutes. Thread-safe; ``wait`` blocks
    a watcher until a change or a deadline."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._changes: list[Change] = []
        self._now: dict[str, dict[Key, dict[str, Any]]] = {}  # the state at ``_version``
        self._version = 1
        self._oldest = 1  # the oldest version still readable
        self._uid = 0
        self._lock = threading.Condition()

    @property
    def version(self) -> int:
        with self._lock:
            return self._version

    @property
    def oldest(self) -> int:
        with self._lock:
            return self._oldest

    def create(self, resource: str, item: dict[str, Any]) -> dict[str, Any]:
        """Add ``item`` (its ``metadata`` giving namespace and name); ValueError when taken."""
        with self._lock:
            meta = item.setdefault("metadata", {})
            key = (meta.get("namespace", ""), meta["name"])
            if key in self._current(resource):
                raise ValueError(f"{resource} {key[0]}/{key[1]} already exists")
            self._uid += 1
            meta.setdefault("uid", f"00000000-0000-4000-8000-{self._uid:012d}")
            meta.setdefault("creationTimestamp", rfc3339(self.clock()))
            meta.setdefault("generation", 1)
            return self._record(resource, "ADDED", key, item)

    def update(self, resource: str, key: Key, change: Callable[[dict[str, Any]], None]) -> None:
        """Apply ``change`` to a copy of object ``key`` and store it; KeyError when absent."""
        with self._lock:
            item = copy.deepcopy(self._current(resource)[key])
            change(item)
            self._record(resource, "MODIFIED", key, item)

    def delete(self, resource: str, key: Key) -> bool:
        """Remove object ``key``; whether it was there."""
        with self._lock:
            item = self._current(resource).get(key)
            if item is None:
                return False
            self._record(resource, "DELETED", key, copy.deepcopy(item))
            return True

    def get(self, resource: str, key: Key) -> dict[str, Any] | None:
        with self._lock:
            item = self._current(resource).get(key)
            return copy.deepcopy(item) if item is not None else None

    def items_at(self, resource: str, version: int) -> list[dict[str, Any]]:
        """The objects of ``resource`` as they were at ``version``, ordered by (namespace,
        name); Gone when that version is compacted away."""
        return self.page_at(resource, version, lambda item: True, 0)[0]

    def page_at(
        self, resource: str, version: int, keep: Callable[[dict[str, Any]], bool], limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        """The first ``limit`` (0: all) objects of ``resource`` at ``version`` that ``keep``
        keeps, ordered as ``items_at``, and how many it keeps in all; only the objects given
        are copied, so that a page of a large list costs its page. Gone as ``items_at``."""
        with self._lock:
            if version < self._oldest:
                raise Gone(version, self._oldest)
            found = self._state(resource, version)
            kept = [found[key] for key in sorted(found, key=path_key) if keep(found[key])]
            return [copy.deepcopy(item) for item in (kept[:limit] if limit else kept)], len(kept)

    def changes_after(self, resource: str, version: int) -> tuple[list[Change], int]:
        """The changes of ``resource`` after ``version``, in order, and the store's version
        they run up to; Gone when that history is compacted away."""
        with self._lock:
            if version < self._oldest:
                raise Gone(version, self._oldest)
            changes = [c for c in self._changes if c.version > version and c.resource == resource]
            return changes, self._version

    def compact(self, version: int | None = None) -> None:
        """Forget the history before ``version`` (default: all of it, up to now)."""
        with self._lock:
            upto = self._version if version is None else min(version, self._version)
            if upto <= self._oldest:
                return
            resources = {c.resource for c in self._changes}
            base = {r: self._state(r, upto) for r in resources}
            self._changes = [
                Change(upto, r, "ADDED", key, item)
                for r, items in base.items()
                for key, item in sorted(items.items(), key=lambda pair: path_key(pair[0]))
            ] + [c for c in self._changes if c.version > upto]
            self._oldest = upto

    def wait(self, version: int, timeout: float) -> bool:
        """Block until the store is past ``version`` or ``timeout`` seconds pass."""
        with self._lock:
            return self._lock.wait_for(lambda: self._version > version, timeout)

    def wake(self) -> None:
        """Wake every waiting watcher (the server stops)."""
        with self._lock:
            self._lock.notify_all()

    # --- under the lock ------------------------------------------------------------------

    def _record(self, resource: str, kind: str, key: Key, item: dict[str, Any]) -> dict[str, Any]:
        self._version += 1
        item["metadata"]["resourceVersion"] = str(self._version)
        self._changes.append(Change(self._version, resource, kind, key, item))
        current = self._now.setdefault(resource, {})
        if kind == "DELETED":
            current.pop(key, None)
        else:
            current[key] = item
        self._lock.notify_all()
        return copy.deepcopy(item)

    def _current(self, resource: str) -> dict[Key, dict[str, Any]]:
        return self._now.setdefault(resource, {})

    def _state(self, resource: str, version: int) -> dict[Key, dict[str, Any]]:
        if version >= self._version:
            return dict(self._current(resource))
        found: dict[Key, dict[str, Any]] = {}
        for change in self._upto(version):
            if change.resource != resource:
                continue
            if change.kind == "DELETED":
                found.pop(change.key, None)
            else:
                found[change.key] = change.item
        return found

    def _upto(self, version: int) -> Iterator[Change]:
        for change in self._changes:
            if change.version > version:
                return
            yield change


def rfc3339(seconds: float) -> str:
    """A time as Kubernetes writes it: RFC 3339 in UTC, whole seconds."""
    moment = datetime.datetime.fromtimestamp(int(seconds), datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
