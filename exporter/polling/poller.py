"""One target at run time: poll a resource, reconcile, re-render its blocks."""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable, Mapping

from exporter.backends import create_backend, registry
from exporter.config.types import Target
from exporter.errors import PollError
from exporter.exposition.block import Block
from exporter.exposition.renderers.health import render_api, render_health, render_saves
from exporter.exposition.store import API_PART, BlockKey, Exposition
from exporter.polling.backoff import Backoff
from exporter.polling.counted import CountedJobs, counted_jobs, job_resources
from exporter.polling.health import ApiStats, ResourceHealth, ResourceStatus, SaveHealth
from exporter.polling.heap import LARGE_LISTING, release_free_heap
from exporter.polling.resources import resource_kind
from exporter.store import ledger_form
from exporter.store.database import StateFile

log = logging.getLogger(__name__)


class TargetPoller:
    """Owns a target's backend client and state; ``poll(resource)`` is called by the scheduler:
    it fetches the resource, applies the listing and publishes what it renders, as the
    resource's kind (``resources.resource_kind``) says, and waits after throttling as its
    ``Backoff`` says. Each list of jobs it polls is counted in a ledger of its own
    (``counted``, by resource), saved and published apart from the others.

    Polls of different resources may run at once; one resource is never polled concurrently.
    ``clock`` is the wall clock of what is counted; ``monotonic`` says when a backoff after
    throttling ends (tests step both instead of waiting). ``state``, when given, is saved
    after each successful job poll; ``saved`` holds each job resource's saved ledger, if any.

    A poller retired by a reload (``retire``) applies nothing more: a poll it had in flight
    ends without counting or saving, and the exposition refuses its publish once its target's
    name is released or claimed by a new poller.
    """

    def __init__(
        self,
        target: Target,
        exposition: Exposition,
        clock: Callable[[], float] = time.time,
        state: StateFile | None = None,
        saved: Mapping[str, dict | None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.target = target
        self.exposition = exposition
        self.clock = clock
        self.monotonic = monotonic  # when backoffs end; HTTP deadlines keep the real clock
        self.state = state
        self.retired = False
        self.stats = ApiStats()
        self.backend = create_backend(target, self.stats)
        saved, declared = saved or {}, registry.declaration(target.backend)
        self.counted: dict[str, CountedJobs] = {
            resource.name: counted_jobs(target, resource, self.backend, saved.get(resource.name))
            for resource in job_resources(target)
        }
        self.saves = SaveHealth() if state is not None and self.counted else None
        self.snapshots: dict[str, list] = {}  # the last listing of each kind not counted
        self.kinds = {
            resource: resource_kind(declared.resource(resource)) for resource in target.resources
        }
        self.health = {resource: ResourceHealth() for resource in target.resources}
        self.backoffs = {
            resource: Backoff(
                f"target {target.name} {resource}",
                target.poll_interval,
                target.max_retry_after,
                lambda: self.monotonic(),  # read at each use: tests replace the clock
            )
            for resource in target.resources
        }
        self.base = (("target", target.name), ("backend", target.backend))
        self.refused = 0  # samples left out because the metrics contract refused them
        self._refusals_logged: set[str] = set()
        self._lock = threading.Lock()
        self._api_lock = threading.Lock()
        exposition.claim(target.name, self, keep=(*target.resources, API_PART))
        for resource in target.resources:
            self.publish(resource)

    def poll(self, resource: str) -> bool:
        """Poll one resource now; True on success. Never raises."""
        if self.backoffs[resource].waiting():
            log.debug("target %s %s: backing off after throttling", self.target.name, resource)
            return False
        kind, health = self.kinds[resource], self.health[resource]
        started, began = time.monotonic(), self.clock()
        deadline = started + self.target.timeout
        large = False
        try:
            listing = kind.fetch(self.backend, deadline)
            now = self.clock()
            large = len(listing.items) >= LARGE_LISTING
            with self._lock:
                if self.retired:
                    log.debug("target %s %s: retired during a poll", self.target.name, resource)
                else:
                    kind.apply(self, listing, now, began)
        except PollError as err:
            self._failed(resource, err.reason, str(err), err.retry_after)
        except Exception as err:  # a bug or an unforeseen answer must not stop polling
            # Where it broke, not the message: an exception's text may quote a URL or a header.
            where = traceback.extract_tb(err.__traceback__)[-1]
            log.error(
                "target %s %s: poll failed unexpectedly: %s at %s:%d",
                self.target.name,
                resource,
                type(err).__name__,
                where.filename,
                where.lineno,
            )
            self._failed(resource, "other", f"internal error: {type(err).__name__}", None)
        else:
            self._succeeded(resource, listing.complete, listing.skipped, now)
        finally:
            health.attempted = True
            health.last_poll = self.clock()
            health.durations.observe(time.monotonic() - started)
            self.publish(resource)
        if large:  # its answer and the last poll's records are free now
            release_free_heap()
        return health.up

    def note_evicted(self, resource: str, evicted: int) -> None:
        if evicted:
            log.warning(
                "target %s %s: %d departed jobs forgotten early: max_departed_jobs (%d) are"
                " remembered; raise it if departed jobs can be listed again",
                self.target.name,
                resource,
                evicted,
                self.target.max_departed_jobs,
            )

    def save(self, counted: CountedJobs, now: float) -> None:
        """Persist what a job resource counted before it is published: after a crash, a
        restart goes on from counts at least as high as any that was scraped.

        A save that fails fails the poll (reason ``state_save``), and the resource's job series
        stay as last saved: what its ledger counted since is published with its next good save,
        which writes it all, so no counter ever goes down, not even across a kill -9 meanwhile.
        """
        if self.state is None:
            return
        try:
            self.state.save(counted.key, counted.identity, counted.ledger)
        except OSError as err:
            self.saves.failed += 1
            counted.pending = True
            raise PollError("state_save", f"cannot write the state file: {err}") from None
        counted.pending, self.saves.last_success = False, now

    def _succeeded(self, resource: str, complete: bool, skipped: int, now: float) -> None:
        health = self.health[resource]
        if not health.up and health.attempted:
            log.info("target %s %s: poll succeeded again", self.target.name, resource)
        if skipped:
            log.warning(
                "target %s %s: %d listed items had no identity or the wrong shape; skipped",
                self.target.name,
                resource,
                skipped,
            )
        if health.incomplete != (not complete):
            level = logging.WARNING if not complete else logging.INFO
            log.log(level, "target %s %s: list complete: %s", self.target.name, resource, complete)
        health.up, health.incomplete = True, not complete
        health.skipped_items += skipped
        health.last_success, health.last_error, health.last_reason = now, "", ""
        self.backoffs[resource].succeeded()

    def _failed(self, resource: str, reason: str, message: str, retry_after: float | None) -> None:
        message = self.backend.scrub(message)  # backend text: secrets masked, length bounded
        health = self.health[resource]
        level = logging.DEBUG if reason == health.last_reason else logging.WARNING
        log.log(
            level, "target %s %s: poll failed (%s): %s", self.target.name, resource, reason, message
        )
        health.up, health.last_error, health.last_reason = False, message, reason
        health.errors[reason] = health.errors.get(reason, 0) + 1
        if reason == "throttled":
            self.backoffs[resource].throttled(retry_after)

    def publish(self, resource: str) -> None:
        block = Block(self.base, self.exposition.wants_protobuf)
        render_health(block, resource, self.health[resource])
        with self._lock:
            rendered_apart = self.kinds[resource].render(self, block)
        encoded = block.encode()
        if rendered_apart is not None:
            encoded = encoded.merged(rendered_apart)
        # The request counters are shared by the target's resources, polled in parallel: render
        # and store them under one lock, or a slower poll could store an older snapshot last.
        with self._api_lock:
            self._note_refused(resource, block.refused)
            api = Block(self.base, self.exposition.wants_protobuf)
            render_api(api, self.stats, self.refused)
            if self.saves is not None:  # the saves of all its ledgers: one series per target
                render_saves(api, self.saves)
            name = self.target.name
            self.exposition.update(
                {BlockKey(name, resource): encoded, BlockKey.api(name): api.encode()}, owner=self
            )

    def _note_refused(self, resource: str, refused: list[str]) -> None:
        """Samples the metrics contract refused (a bug): counted, and logged once each."""
        self.refused += len(refused)
        for problem in refused:
            if problem not in self._refusals_logged:
                self._refusals_logged.add(problem)
                log.error("target %s %s: series left out: %s", self.target.name, resource, problem)

    def status(self) -> tuple[ResourceStatus, ...]:
        """Each resource's polling as it stands, as the landing page shows it."""
        target = self.target
        endpoint = target.endpoint_text()
        return tuple(
            ResourceStatus(
                target=target.name,
                backend=target.backend,
                endpoint=endpoint,
                resource=resource,
                attempted=health.attempted,
                up=health.up,
                last_poll=health.last_poll,
                last_success=health.last_success,
                last_error=health.last_error,
            )
            for resource, health in self.health.items()
        )

    def retire(self) -> list[tuple[str, str, dict]]:
        """Count no more (a poll in flight is discarded); the (key, identity, counts) of each
        ledger so far, read under the lock that every change of a ledger holds."""
        with self._lock:
            self.retired = True
            return [
                (counted.key, counted.identity, ledger_form.to_state(counted.ledger))
                for counted in self.counted.values()
            ]

    def close(self) -> None:
        self.backend.close()
