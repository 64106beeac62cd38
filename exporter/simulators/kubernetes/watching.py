"""A watch as the API server streams it: the changes after a resourceVersion as JSON lines
(``{"type": ..., "object": ...}``), an object that stops matching the selector sent as DELETED
and one that starts as ADDED, BOOKMARK events carrying the version reached when the client
allows them (every ``bookmark_every`` seconds, and as its time runs out, so that a client of a
quiet resource goes on from a recent version), and an ERROR event with a 410 Status when the
version asked is compacted away."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from exporter.simulators.kubernetes.listing import whole
from exporter.simulators.kubernetes.resources import GROUP_VERSION, ResourceKind, status
from exporter.simulators.kubernetes.selectors import Requirement
from exporter.simulators.kubernetes.store import Change, Gone, Key, ObjectStore

Event = dict[str, Any]


class Watch:
    """One watch: ``events()`` yields its events until its time is up or ``stopped()``."""

    def __init__(
        self,
        store: ObjectStore,
        kind: ResourceKind,
        namespace: str | None,
        wanted: Requirement,
        query: dict[str, str],
        *,
        bookmark_every: float,
        longest: float,
        stopped: Callable[[], bool],
    ) -> None:
        self.store, self.kind, self.namespace, self.wanted = store, kind, namespace, wanted
        self.bookmarks = query.get("allowWatchBookmarks") in ("true", "1")
        asked = whole(query, "timeoutSeconds")
        self.seconds = min(float(asked), longest) if asked else longest
        self.since = whole(query, "resourceVersion")
        self.bookmark_every = bookmark_every
        self.stopped = stopped
        self._matching: set[Key] = set()

    def events(self) -> Iterator[Event]:
        deadline = time.monotonic() + self.seconds
        try:
            version = yield from self._start()
        except Gone as err:
            yield {"type": "ERROR", "object": status(410, "Expired", str(err))}
            return
        last_bookmark = time.monotonic()
        while not self.stopped():  # the changes since the version asked first, however short
            try:
                changes, reached = self.store.changes_after(self.kind.plural, version)
            except Gone as err:
                yield {"type": "ERROR", "object": status(410, "Expired", str(err))}
                return
            for change in changes:
                yield from self._event(change)
            version = reached
            if self.bookmarks and time.monotonic() - last_bookmark >= self.bookmark_every:
                yield self._bookmark(version)
                last_bookmark = time.monotonic()
            left = deadline - time.monotonic()
            if left <= 0:
                if self.bookmarks:  # as the watch cache does as a watch's time runs out
                    yield self._bookmark(version)
                return
            if not changes:
                self.store.wait(version, min(left, self.bookmark_every))

    def _start(self) -> Iterator[Event]:
        """Without a version (or with 0), the objects now as ADDED events; else nothing yet.
        Returns the version the watch goes on from."""
        if self.since:
            for item in self.store.items_at(self.kind.plural, self.since):
                if self._selected(item):
                    self._matching.add(_key(item))
            return self.since
        version = self.store.version
        for item in self.store.items_at(self.kind.plural, version):
            if self._selected(item):
                self._matching.add(_key(item))
                yield {"type": "ADDED", "object": item}
        return version

    def _event(self, change: Change) -> Iterator[Event]:
        was = change.key in self._matching
        now = change.kind != "DELETED" and self._selected(change.item)
        if now:
            self._matching.add(change.key)
        else:
            self._matching.discard(change.key)
        if was and now:
            yield {"type": change.kind, "object": change.item}
        elif now:
            yield {"type": "ADDED", "object": change.item}
        elif was:
            yield {"type": "DELETED", "object": change.item}

    def _selected(self, item: dict[str, Any]) -> bool:
        meta = item["metadata"]
        if self.namespace is not None and meta.get("namespace") != self.namespace:
            return False
        return self.wanted(meta.get("labels") or {})

    def _bookmark(self, version: int) -> Event:
        meta = {"resourceVersion": str(version)}
        return {
            "type": "BOOKMARK",
            "object": {"apiVersion": GROUP_VERSION, "kind": self.kind.kind, "metadata": meta},
        }


def _key(item: dict[str, Any]) -> Key:
    meta = item["metadata"]
    return (meta.get("namespace", ""), meta["name"])
