"""When a resource that the backend throttled may be polled again."""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger("exporter.polling.poller")  # its lines read as the poller's, as before

THROTTLE_BACKOFF_MAX = 600.0


class Backoff:
    """The wait after throttling of one (target, resource): the server's ``Retry-After`` (at
    most ``max_retry_after``, so that a huge one cannot stop polling), else doubling from the
    poll interval up to ``THROTTLE_BACKOFF_MAX``; a success ends the streak. ``monotonic``
    says when a wait ends (tests step it instead of waiting)."""

    def __init__(
        self,
        where: str,
        poll_interval: float,
        max_retry_after: float,
        monotonic: Callable[[], float],
    ) -> None:
        self.where = where  # "target NAME RESOURCE", as the log lines name it
        self.poll_interval = poll_interval
        self.max_retry_after = max_retry_after
        self.monotonic = monotonic
        self._not_before = 0.0
        self._streak = 0
        self._capped = False  # the cap is logged once

    def waiting(self) -> bool:
        """Whether a poll now would come before the wait ends."""
        return self.monotonic() < self._not_before

    def throttled(self, retry_after: float | None) -> None:
        self._streak += 1
        wait = (
            self._capped_retry_after(retry_after)
            if retry_after is not None
            else min(THROTTLE_BACKOFF_MAX, self.poll_interval * 2**self._streak)
        )
        self._not_before = self.monotonic() + wait

    def succeeded(self) -> None:
        self._streak = 0

    def _capped_retry_after(self, retry_after: float) -> float:
        cap = self.max_retry_after
        if retry_after <= cap:
            return retry_after
        if not self._capped:
            self._capped = True
            log.warning(
                "%s: server asked to wait %.0fs; waiting max_retry_after (%.0fs)",
                self.where,
                min(retry_after, 1e12),
                cap,
            )
        return cap
