"""The failures a poll can end with; ``reason`` labels jobfleet_poll_errors_total."""

from __future__ import annotations

REASONS = (
    "timeout",
    "connection",
    "tls",
    "http",
    "auth",
    "throttled",
    "parse",
    "too_large",
    "state_save",  # the counts could not be saved to the state file: not published either
    "other",
)


class PollError(Exception):
    """A failed request or an unusable answer; ``reason`` is one of ``REASONS``.

    Messages never carry credentials, request headers or query strings.
    """

    def __init__(
        self,
        reason: str,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after


class NotFound(PollError):
    def __init__(self, message: str) -> None:
        super().__init__("http", message, status=404)
