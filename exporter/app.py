"""The running exporter: pollers, scheduler and HTTP server wired together."""

from __future__ import annotations

import logging
import platform
import threading
import time
from collections.abc import Callable

from . import __revision__, __version__
from .backends import check_backends
from .config import Config, ConfigError, Target
from .poller import TargetPoller
from .render import Block, Exposition
from .scheduler import PollScheduler
from .server import MetricsServer, WebOptions
from .sharding import Shard
from .state import StateFile

log = logging.getLogger(__name__)


def process_block(reload_ok: bool, loaded_at: float, shard: Shard) -> dict[str, bytes]:
    """The exporter's own series: build info, its shard, and the state of its configuration."""
    block = Block(())
    labels = (
        ("version", __version__),
        ("revision", __revision__),
        ("python_version", platform.python_version()),
    )
    block.add("jobfleet_build_info", 1, labels)
    block.add("jobfleet_shard_ordinal", shard.ordinal)
    block.add("jobfleet_total_shards", shard.total)
    block.add("jobfleet_config_last_reload_successful", int(reload_ok))
    block.add("jobfleet_config_last_reload_success_timestamp_seconds", loaded_at)
    return block.encode()


class Exporter:
    """Everything one configuration needs at run time.

    ``load_config``, when given, re-reads the configuration for a reload (SIGHUP or
    ``POST /-/reload``): targets added, removed or changed are applied without a restart;
    unchanged targets keep their pollers, and so their counters.
    """

    def __init__(
        self,
        config: Config,
        load_config: Callable[[], Config] | None = None,
        shard: Shard = Shard(),  # noqa: B008 - immutable
    ) -> None:
        self.shard = shard
        config = shard.select(config)
        self.config = config
        self.load_config = load_config
        self.exposition = Exposition()
        self._reload_lock = threading.Lock()
        self._scheduler: PollScheduler | None = None
        self._publish_process_block(ok=True)
        self.state = StateFile(config.state_file) if config.state_file else None
        self._saved = self.state.load() if self.state else {}
        if self.state:
            self.state.forget({target.name for target in config.targets})
        self.pollers: list[TargetPoller] = []
        try:
            for target in config.targets:
                self.pollers.append(self._poller(target))
        except ConfigError:  # a target's client cannot be built: nothing may stay half-open
            self.close()
            raise

    def _poller(self, target: Target, saved: dict | None = None) -> TargetPoller:
        """A poller for ``target``, continuing from ``saved`` counts or the state file's."""
        saved = saved if saved is not None else self._saved.pop(target.name, None)
        return TargetPoller(target, self.exposition, state=self.state, saved=saved)

    def _publish_process_block(self, ok: bool) -> None:
        if ok:
            self._loaded_at = time.time()
        self.exposition.update({("", "~build"): process_block(ok, self._loaded_at, self.shard)})

    def reload(self) -> tuple[bool, str]:
        """Re-read the configuration and apply it; (ok, what happened). A bad new
        configuration is refused and the running one stays."""
        if self.load_config is None:
            return False, "no configuration file to reload (demo mode)"
        with self._reload_lock:
            try:
                config = self.shard.select(self.load_config())
                # new clients are built first, so that a refusal leaves nothing half-applied
                check_backends(t for t in config.targets if t not in self.config.targets)
                summary = self._apply(config)
            except ConfigError as err:
                self._publish_process_block(ok=False)
                log.error("configuration reload refused: %s", "; ".join(err.problems))
                return False, "\n".join(err.problems)
            self._publish_process_block(ok=True)
            log.info("configuration reloaded: %s", summary)
            return True, summary

    def _apply(self, config: Config) -> str:
        if config.web != self.config.web:
            log.warning("web settings changed: they take effect at the next restart")
        current = {poller.target.name: poller for poller in self.pollers}
        pollers, added, retired = [], [], []
        for target in config.targets:
            poller = current.pop(target.name, None)
            if poller is not None and poller.target == target:
                pollers.append(poller)
                continue
            if poller is not None:
                retired.append(poller)
            # a changed target carries its counts over
            added.append(self._poller(target, poller.ledger.to_state() if poller else None))
            pollers.append(added[-1])
        retired.extend(current.values())
        if self._scheduler is not None:
            self._scheduler.remove(retired)
            self._scheduler.add(added)
        for poller in retired:
            poller.close()
        kept = {(p.target.name, key) for p in pollers for key in (*p.target.resources, "~api")}
        self.exposition.remove(
            [
                (p.target.name, key)
                for p in retired
                for key in (*p.target.resources, "~api")
                if (p.target.name, key) not in kept
            ]
        )
        self.pollers, self.config = pollers, config
        return (
            f"{len(pollers)} targets: {len(added)} new or changed, "
            f"{len(retired)} removed or replaced, {len(pollers) - len(added)} unchanged"
        )

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
        reload_requested: threading.Event | None = None,
        web: WebOptions = WebOptions(),  # noqa: B008 - immutable
    ) -> None:
        """Serve and poll until ``stop`` is set; reload whenever ``reload_requested`` is."""
        server = MetricsServer(host, port, self.exposition, lambda: self.pollers, self.reload, web)
        self._scheduler = PollScheduler(self.pollers)
        server.start()
        log.info(
            "listening on %s:%d; polling %d targets", host or "*", server.port, len(self.pollers)
        )
        if on_ready:
            on_ready(server.port)
        self._scheduler.start()
        try:
            while not stop.wait(0.2):
                if reload_requested is not None and reload_requested.is_set():
                    reload_requested.clear()
                    self.reload()
        finally:
            log.info("shutting down")
            self._scheduler.shutdown()
            server.stop()
            self.close()

    def close(self) -> None:
        for poller in self.pollers:
            poller.close()
        if self.state is not None:
            self.state.close()
