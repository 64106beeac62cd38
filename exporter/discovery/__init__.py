"""Discovery at run time: the configured sources, refreshed on their own intervals, and the
series that say what they found (``jobfleet_discovery_*``) and where each polled target
comes from (``jobfleet_target_info``).

``Discovery.targets`` are added to the configured ones and applied as a reload that touches
only them (``app.Exporter``): an unchanged target keeps its poller, and a target that keeps
its name and identity keeps its counts, also across a restart and when it comes back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence

from exporter.config.discovery import STATIC_SOURCE, DiscoverySource
from exporter.config.types import Defaults, Target
from exporter.discovery.http_source import HttpSource
from exporter.discovery.kuberay_source import KubeRaySource
from exporter.discovery.source import Discovered, FileSource, Source
from exporter.exposition import families
from exporter.exposition.block import Block, Encoded
from exporter.exposition.text import storable

__all__ = ["Discovered", "Discovery", "FileSource", "HttpSource", "KubeRaySource", "Source"]

KINDS: dict[str, type[Source]] = {"file": FileSource, "http": HttpSource, "kuberay": KubeRaySource}

log = logging.getLogger(__name__)


class Discovery:
    """The sources of one configuration. Built again at each reload from the previous one:
    a source whose settings and defaults stay keeps its files (or last answer) and targets,
    and every source of the same name its error counts."""

    def __init__(
        self,
        sources: Sequence[DiscoverySource],
        defaults: Defaults,
        previous: Discovery | None = None,
    ) -> None:
        before = {source.name: source for source in previous.sources} if previous else {}
        self.sources: list[Source] = []
        for settings in sources:
            old = before.get(settings.name)
            if old is not None and old.settings == settings and old.defaults == defaults:
                self.sources.append(old)
            else:
                errors = old.errors if old is not None else None
                self.sources.append(KINDS[settings.kind](settings, defaults, errors))

    def _due(self, force: bool = False) -> list[Source]:
        now = time.monotonic()
        return [s for s in self.sources if force or now >= s.next_refresh]

    def refresh(self, force: bool = False) -> None:
        """Refresh the sources whose interval has passed (every one with ``force``), side by
        side, and wait for them all: the slowest bounds the wait, not their sum."""
        threads = [
            threading.Thread(target=source.refresh_once, args=(force,), daemon=True)
            for source in self._due(force)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def refresh_files(self) -> None:
        """What a reload does: re-read the file sources now, and make the others due, to be
        asked in the background right after (``refresh_in_background``), so that a slow
        endpoint never holds a reload; meanwhile they keep the targets they found."""
        for source in self.sources:
            if source.local:
                source.refresh_once(force=True)
            else:
                source.next_refresh = 0.0

    def refresh_in_background(self, done: Callable[[], None]) -> None:
        """Refresh each due source not being refreshed in a thread of its own, which calls
        ``done`` when it is through: a slow source (an endpoint answering within its
        ``timeout``) delays neither the others nor the caller."""
        for source in self._due():
            threading.Thread(
                target=self._refresh_then,
                args=(source, done),
                name=f"discovery-{source.name}",
                daemon=True,
            ).start()

    @staticmethod
    def _refresh_then(source: Source, done: Callable[[], None]) -> None:
        source.refresh_once(wait=False)
        done()

    def due(self) -> bool:
        now = time.monotonic()
        return any(now >= source.next_refresh for source in self.sources)

    def version(self) -> tuple[int, ...]:
        """Changes whenever the targets of a source do."""
        return tuple(source.version for source in self.sources)

    def found(self) -> list[Discovered]:
        return [item for source in self.sources for item in source.found]

    def block(self, polled: Iterable[Target], origins: dict[str, Discovered]) -> Encoded:
        """Each source's counts, and the origin of each target this replica polls."""
        block = Block(())
        for source in self.sources:
            labels = (("source", source.name),)
            block.add(families.DISCOVERY_TARGETS, len(source.found), labels)
            block.add(families.DISCOVERY_REFRESH_SUCCESSFUL, int(source.ok), labels)
            if source.last_success is not None:
                block.add(
                    families.DISCOVERY_LAST_SUCCESS_TIMESTAMP_SECONDS, source.last_success, labels
                )
            for reason, count in source.errors.items():
                block.add(families.DISCOVERY_ERRORS_TOTAL, count, (*labels, ("reason", reason)))
        for target in polled:
            origin = origins.get(target.name)
            source = origin.source if origin is not None else STATIC_SOURCE
            stored = tuple((n, storable(v)) for n, v in origin.labels) if origin else ()
            labels = (("target", target.name), ("backend", target.backend), ("source", source))
            block.add(families.TARGET_INFO, 1, labels, stored)
        for problem in block.refused:  # a bug: no target's counter to count it in
            log.error("series left out: %s", problem)
        return block.encode()
