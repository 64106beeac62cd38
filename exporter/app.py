"""The running exporter: pollers, scheduler and HTTP server wired together."""

from __future__ import annotations

import logging
import platform
import threading
from collections.abc import Callable

from . import __version__
from .config import Config
from .poller import TargetPoller
from .render import Block, Exposition
from .scheduler import PollScheduler
from .server import MetricsServer

log = logging.getLogger(__name__)


def build_info_block() -> dict[str, bytes]:
    block = Block(())
    labels = (("version", __version__), ("python_version", platform.python_version()))
    block.add("jobfleet_build_info", 1, labels)
    return block.encode()


class Exporter:
    """Everything one configuration needs at run time."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.exposition = Exposition()
        self.exposition.update({("", "~build"): build_info_block()})
        self.pollers = [TargetPoller(target, self.exposition) for target in config.targets]

    def poll_all_once(self) -> bool:
        """Poll every (target, resource) once, all at once; True if every poll succeeded."""
        results: list[bool] = []
        threads = [
            threading.Thread(
                target=lambda p=poller, r=resource: results.append(p.poll(r)),
                name=f"poll-{poller.target.name}-{resource}",
            )
            for poller in self.pollers
            for resource in poller.target.resources
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return all(results) and len(results) == len(threads)

    def serve(
        self,
        host: str,
        port: int,
        stop: threading.Event,
        on_ready: Callable[[int], None] | None = None,
    ) -> None:
        """Serve and poll until ``stop`` is set."""
        server = MetricsServer(host, port, self.exposition, lambda: self.pollers)
        scheduler = PollScheduler(self.pollers)
        server.start()
        log.info(
            "listening on %s:%d; polling %d targets", host or "*", server.port, len(self.pollers)
        )
        if on_ready:
            on_ready(server.port)
        scheduler.start()
        try:
            stop.wait()
        finally:
            log.info("shutting down")
            scheduler.shutdown()
            server.stop()
            self.close()

    def close(self) -> None:
        for poller in self.pollers:
            poller.close()
