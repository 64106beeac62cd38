"""The running exporter: pollers, scheduler and HTTP server wired together."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import platform
import threading
import time
import traceback
from collections.abc import Callable

from exporter import __revision__, __version__
from exporter.backends import check_backends
from exporter.config.parse import Config
from exporter.config.types import ConfigError, Target
from exporter.discovery import Discovered, Discovery
from exporter.exposition import families
from exporter.exposition.block import Block
from exporter.exposition.store import PROCESS_BLOCK, BlockKey, Exposition
from exporter.polling.counted import saved_entries
from exporter.polling.health import StatusSnapshot
from exporter.polling.heap import release_free_heap
from exporter.polling.poller import TargetPoller
from exporter.polling.scheduler import PollScheduler, first_poll
from exporter.polling.sharding import Shard
from exporter.store.database import StateFile
from exporter.web.server import MetricsServer, WebOptions

log = logging.getLogger(__name__)

DISCOVERY_BLOCK = BlockKey("", "~discovery")  # sources, and where each target comes from


def process_block(reload_ok: bool, loaded_at: float, shard: Shard) -> dict[str, bytes]:
    """The exporter's own series: build info, its shard, and the state of its configuration."""
    block = Block(())
    labels = (
        ("version", __version__),
        ("revision", __revision__),
        ("python_version", platform.python_version()),
    )
    block.add(families.BUILD_INFO, 1, labels)
    block.add(families.SHARD_ORDINAL, shard.ordinal)
    block.add(families.TOTAL_SHARDS, shard.total)
    block.add(families.CONFIG_LAST_RELOAD_SUCCESSFUL, int(reload_ok))
    block.add(families.CONFIG_LAST_RELOAD_SUCCESS_TIMESTAMP_SECONDS, loaded_at)
    for problem in block.refused:  # a bug: no target's counter to count it in
        log.error("series left out: %s", problem)
    return block.encode()


class Exporter:
    """Everything one configuration needs at run time.

    ``load_config``, when given, re-reads the configuration for a reload (SIGHUP or
    ``POST /-/reload``). A reload follows the rule of a restart (``state``): unchanged targets
    keep their pollers; a target that keeps its identity continues counting, also when it was
    removed and comes back; one whose identity changed starts a new baseline.

    With ``defer_pollers`` the pollers are built by ``serve`` once the port listens (thousands
    of targets take seconds to build), else here.

    Discovered targets (``discovery``) join the configured ones; a change of what a source
    finds is applied as a reload that keeps the configuration (``refresh_discovery``).
    """

    def __init__(
        self,
        config: Config,
        load_config: Callable[[], Config] | None = None,
        shard: Shard = Shard(),  # noqa: B008 - immutable
        *,
        defer_pollers: bool = False,
    ) -> None:
        self.shard = shard
        self.static = config  # as loaded: the configured targets, unsharded
        self.discovery = Discovery(config.discovery, config.defaults)
        self.discovery.refresh(force=True)
        self._applied = self.discovery.version()
        config, self.origins = self._with_discovered(config, self.discovery)
        self.config = config
        self.load_config = load_config
        self.exposition = Exposition()
        self.exposition.select(config.metrics.shown())
        self._reloading = threading.Lock()  # one reload at a time, from reading to applying
        self._apply_lock = threading.Lock()  # held while a configuration is applied
        self._scheduler: PollScheduler | None = None
        self._publish_process_block(ok=True)
        self._publish_discovery()
        self.state = StateFile(config.state_file)
        self.state.load()
        self._forget_unconfigured()
        self.pollers: list[TargetPoller] = []
        if not defer_pollers:
            try:
                self._build_pollers()
            except ConfigError:  # a target's client cannot be built: nothing may stay half-open
                self.close()
                raise

    def _poller(self, target: Target) -> TargetPoller:
        """A poller for ``target``, each of its ledgers continuing from the counts of its
        identity, if any."""
        saved = {
            resource: self.state.restore(key, identity)
            for resource, (key, identity) in saved_entries(target).items()
        }
        persisted = self.state if self.state.path is not None else None
        return TargetPoller(target, self.exposition, state=persisted, saved=saved)

    def _build_pollers(
        self, stop: threading.Event | None = None, start: dt.datetime | None = None
    ) -> None:
        """Build the pollers of the configured targets not built yet, in configuration order;
        when serving, each is scheduled as it is built, the first polls of all spread over an
        interval from ``start``."""
        with self._apply_lock:
            start = start or dt.datetime.now(dt.UTC)
            targets = self.config.targets
            for rank, target in enumerate(targets[len(self.pollers) :], len(self.pollers)):
                if stop is not None and stop.is_set():
                    return
                poller = self._poller(target)
                self.pollers.append(poller)
                if self._scheduler is not None:
                    first = first_poll(start, target.poll_interval, rank, len(targets))
                    self._scheduler.add(poller, first)

    def status(self) -> StatusSnapshot:
        """The polling of every target as it stands: what the landing page and ``/readyz``
        show. Targets whose pollers are not built yet are waiting too."""
        pollers, origins = list(self.pollers), self.origins
        resources = tuple(
            dataclasses.replace(row, source=origins[row.target].source)
            if row.target in origins
            else row
            for poller in pollers
            for row in poller.status()
        )
        unbuilt = self.config.targets[len(pollers) :]
        waiting = (
            *(f"{row.target}/{row.resource}" for row in resources if not row.attempted),
            *(f"{t.name}/{resource}" for t in unbuilt for resource in t.resources),
        )
        return StatusSnapshot(resources, waiting)

    def _publish_process_block(self, ok: bool) -> None:
        if ok:
            self._loaded_at = time.time()
        self.exposition.update({PROCESS_BLOCK: process_block(ok, self._loaded_at, self.shard)})

    def _with_discovered(
        self, static: Config, discovery: Discovery
    ) -> tuple[Config, dict[str, Discovered]]:
        """``static`` with the targets ``discovery`` found that this shard owns, and where
        each of those comes from. A configured target keeps its name."""
        names = {target.name for target in static.targets}
        origins: dict[str, Discovered] = {}
        for item in discovery.found():
            if item.target.name in names:
                log.warning(
                    "discovery %s: %s is a configured target's name: left out",
                    item.source,
                    item.target.name,
                )
            elif self.shard.owns(item.target.name):
                origins[item.target.name] = item
        targets = [*static.targets, *(item.target for item in origins.values())]
        config = self.shard.select(static.model_copy(update={"targets": targets}))
        return config, origins

    def _publish_discovery(self) -> None:
        encoded = self.discovery.block(self.config.targets, self.origins)
        self.exposition.update({DISCOVERY_BLOCK: encoded})

    def refresh_discovery(self, force: bool = False) -> None:
        """Refresh the sources that are due (all with ``force``), and apply what changed."""
        self.discovery.refresh(force)
        self.apply_discovery()

    def apply_discovery(self) -> None:
        """Apply what the sources found, if it changed since last applied: only discovered
        targets are added, removed or replaced. Never raises. The sources are read before,
        without the lock this holds, so that a slow one holds neither a reload nor another
        source's changes."""
        with self._apply_lock:
            version = self.discovery.version()
            if version != self._applied:
                self._applied = version  # tried once per change: a failure is not retried
                try:
                    config, origins = self._with_discovered(self.static, self.discovery)
                    check_backends(t for t in config.targets if t not in self.config.targets)
                    summary = self._apply(config)
                    self.origins = origins
                    log.info("discovered targets applied: %s", summary)
                except ConfigError as err:
                    log.error("discovered targets not applied: %s", "; ".join(err.problems))
                except Exception as err:  # the serve loop must outlive it
                    log.error("discovered targets not applied: %s", type(err).__name__)
            self._publish_discovery()

    def reload(self) -> tuple[bool, str]:
        """Re-read the configuration and apply it; (ok, what happened). Never raises: a bad
        new configuration is refused and the running one stays; a failure while applying is
        logged and reported as a failed reload."""
        if self.load_config is None:
            return False, "no configuration file to reload (demo mode)"
        with self._reloading:
            try:
                static = self.load_config()
                discovery = Discovery(static.discovery, static.defaults, self.discovery)
                discovery.refresh_files()  # endpoints are asked right after, in the background
                with self._apply_lock:
                    config, origins = self._with_discovered(static, discovery)
                    # new clients are built first, so that a refusal leaves nothing half-applied
                    check_backends(t for t in config.targets if t not in self.config.targets)
                    summary = self._apply(config)
                    self.static, self.discovery, self.origins = static, discovery, origins
                    self._applied = discovery.version()
                    self._publish_discovery()
            except ConfigError as err:
                self._publish_process_block(ok=False)
                log.error("configuration reload refused: %s", "; ".join(err.problems))
                return False, "\n".join(err.problems)
            except Exception as err:  # the serve loop and the HTTP handler must outlive it
                self._publish_process_block(ok=False)
                # Where it broke, not the message: an exception's text may quote a secret.
                where = traceback.extract_tb(err.__traceback__)[-1]
                log.error(
                    "configuration reload failed: %s at %s:%d",
                    type(err).__name__,
                    where.filename,
                    where.lineno,
                )
                return False, f"reload failed: internal error: {type(err).__name__}"
            self._publish_process_block(ok=True)
            log.info("configuration reloaded: %s", summary)
            return True, summary

    def _apply(self, config: Config) -> str:
        if config.web != self.config.web:
            log.warning("web settings changed: they take effect at the next restart")
        if config.state_file != self.config.state_file:
            log.warning("state_file changed: it takes effect at the next restart")
        current = {poller.target.name: poller for poller in self.pollers}
        unchanged, changed = {}, []
        for target in config.targets:
            poller = current.pop(target.name, None)
            if poller is not None and poller.target == target:
                unchanged[target.name] = poller
            else:
                changed.append((target, poller))
        removed = list(current.values())
        retired = [poller for _, poller in changed if poller is not None] + removed
        if self._scheduler is not None:
            self._scheduler.remove(retired)
        # Retire first: a poll in flight applies nothing more, and the counts read here are
        # final. The state then holds them as it would across a restart.
        self.state.keep_absent([entry for poller in retired for entry in poller.retire()])
        for poller in removed:
            self.exposition.release(poller.target.name, poller)
        start = dt.datetime.now(dt.UTC)
        added = {}
        for rank, (target, _) in enumerate(changed):
            added[target.name] = self._poller(target)
            if self._scheduler is not None:
                first = first_poll(start, target.poll_interval, rank, len(changed))
                self._scheduler.add(added[target.name], first)
        self.pollers = [unchanged.get(t.name) or added[t.name] for t in config.targets]
        self.config = config
        self.exposition.select(config.metrics.shown())
        self._forget_unconfigured()
        for poller in retired:
            poller.close()
        if retired:
            release_free_heap()  # what the retired targets held, given back (heap.py)
        return (
            f"{len(self.pollers)} targets: {len(changed)} new or changed, "
            f"{len(retired)} removed or replaced, {len(unchanged)} unchanged"
        )

    def _forget_unconfigured(self) -> None:
        """Entries of the ledgers the configured targets do not hold go absent: those of
        targets gone, and of job resources a target no longer polls."""
        self.state.forget(
            key for target in self.config.targets for key, _ in saved_entries(target).values()
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
        """Serve and poll until ``stop`` is set; reload whenever ``reload_requested`` is.

        The port listens first (``/healthz`` answers at once, ``/readyz`` once every target
        was tried); then the pollers not built yet are built and scheduled one by one.
        """
        server = MetricsServer(host, port, self.exposition, self.status, self.reload, web)
        self._scheduler = PollScheduler(sum(len(t.resources) for t in self.config.targets))
        server.start()
        log.info(
            "listening on %s:%d; polling %d targets",
            host or "*",
            server.port,
            len(self.config.targets),
        )
        try:
            if on_ready:
                on_ready(server.port)
            start, total = dt.datetime.now(dt.UTC), len(self.config.targets)
            for rank, poller in enumerate(self.pollers):  # built already (not deferred)
                self._scheduler.add(
                    poller, first_poll(start, poller.target.poll_interval, rank, total)
                )
            self._scheduler.start()
            self._build_pollers(stop, start)
            while not stop.wait(0.2):
                if reload_requested is not None and reload_requested.is_set():
                    reload_requested.clear()
                    log.info("configuration reload requested")
                    self.reload()
                if self.discovery.due():
                    self.discovery.refresh_in_background(self.apply_discovery)
        finally:
            log.info("shutting down")
            self._scheduler.shutdown()
            server.stop()
            self.close()

    def close(self) -> None:
        for poller in self.pollers:
            poller.close()
        self.state.close()
