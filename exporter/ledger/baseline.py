"""When a baseline listing was made, on the API's clock: the moment up to which an event it did
not show is taken as one before it (``JobLedger.baseline_until``)."""

from __future__ import annotations

# The API's clock as its HTTP Date header gives it has whole seconds: a Date of 12:00:00 is an
# answer made before 12:00:01, so its last millisecond (the finest time an API here reports)
# is the latest the answer can have been made, unless our clock, read as the poll began, is
# within a second of the Date: then the clocks agree, and ours is the finer bound
DATE_LAST_MS = 0.999


def answer_made_by(began: float, as_of: float | None) -> float:
    """The moment up to which an event missing from the baseline answer is taken as before
    it: the answer was made after the poll began and in the second of its ``Date``. Where
    our clock agrees with the API's (within a second), the later of the two lower bounds:
    a job listed by neither was not there yet, so it counts (only a list that lags could
    have left it out). Where they disagree, the whole of the ``Date``'s second, the bound
    that cannot be too early."""
    if as_of is None:
        return began
    if as_of - 1 < began < as_of + 1:
        return max(began, as_of)
    return as_of + DATE_LAST_MS
