"""The ``slos`` section: each objective checked on its own (name, objective, window, kind,
grouping, selector). What it needs of the rest of the configuration (the attribution labels it
groups or selects by) is checked by ``slo.checks``."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, field_validator, model_validator

from exporter.config.types import Duration, EmptyIfNone, Strict, one_line
from exporter.exposition.histogram import QUEUE_WAIT_BUCKETS

SLO_NAME = re.compile(r"[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?")
DAY = 86400.0
MIN_WINDOW_DAYS, MAX_WINDOW_DAYS = 7, 90  # longer than the longest alert window (3d)
DEFAULT_WINDOW = 30 * DAY  # the window the SRE workbook's burn-rate factors are made for
# One matcher of a PromQL selector: a label name, an operator and a double-quoted value.
MATCHER = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\\n]|\\.)*)"\s*')
NEVER_SELECTED = ("__name__", "le")  # the SLO's expressions choose these
ESCAPED = {"n": "\n", "t": "\t", "r": "\r"}  # in a PromQL string; others stand for themselves


def duration_text(seconds: float) -> str:
    """Seconds as Prometheus writes a duration: ``30d``, ``6h``, ``10m``, ``30s``."""
    for unit, size in (("d", DAY), ("h", 3600.0), ("m", 60.0)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


BOUNDS_TEXT = ", ".join(duration_text(float(bound)) for bound in QUEUE_WAIT_BUCKETS)


class QueueWait(Strict):
    """Good: a job whose queue wait (submission to start) is ``under`` or less; ``under`` is a
    bound of the histogram, whose buckets are the only thresholds Prometheus can count by."""

    under: Duration

    @field_validator("under")
    @classmethod
    def _a_bucket_bound(cls, seconds: float) -> float:
        if seconds not in QUEUE_WAIT_BUCKETS:
            raise ValueError(
                f"must be a bound of the queue wait histogram's buckets: one of {BOUNDS_TEXT}"
            )
        return seconds


class SuccessRatio(Strict):
    """Good: a finished job that succeeded; every terminal phase counts in the total."""


def _objective(value: Any) -> Any:
    """A YAML ``true`` would read as 1; a percentage must be given as a number."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("must be a percentage, such as 99.5")
    return value


class Slo(Strict):
    """One objective: ``objective`` percent of the jobs good over ``window``, per value of
    ``by`` (``target``, or an attribution label), among the series ``selector`` matches."""

    name: str
    objective: Annotated[float, BeforeValidator(_objective)]
    window: Duration = DEFAULT_WINDOW
    by: str = "target"
    selector: str = ""
    queue_wait: QueueWait | None = None
    # ``success_ratio:`` alone (YAML null) is the kind with no settings, as ``{}`` is
    success_ratio: Annotated[SuccessRatio | None, EmptyIfNone] = None

    @field_validator("name")
    @classmethod
    def _check_name(cls, name: str) -> str:
        if not SLO_NAME.fullmatch(name):
            raise ValueError(
                "must be 1-64 characters: lower-case letters, digits, _ and -, starting and "
                "ending with a letter or digit"
            )
        return name

    @field_validator("objective")
    @classmethod
    def _check_objective(cls, objective: float) -> float:
        if not 0 < objective < 100:
            raise ValueError("must be a percentage above 0 and below 100, such as 99.5")
        if objective <= 1:
            raise ValueError(
                "is a percentage: 99.5 means 99.5 % of jobs; write 99 rather than 0.99"
            )
        return objective

    @field_validator("window")
    @classmethod
    def _check_window(cls, seconds: float) -> float:
        if seconds % DAY or not MIN_WINDOW_DAYS * DAY <= seconds <= MAX_WINDOW_DAYS * DAY:
            raise ValueError(
                f"must be whole days from {MIN_WINDOW_DAYS}d to {MAX_WINDOW_DAYS}d, such as 30d"
            )
        return seconds

    @field_validator("by")
    @classmethod
    def _check_by(cls, by: str) -> str:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", by):
            raise ValueError("must be target, or the name of an attribution label")
        return by

    @field_validator("selector")
    @classmethod
    def _check_selector(cls, selector: str) -> str:
        matchers = parse_selector(selector)
        for name, _, _ in matchers:
            if name in NEVER_SELECTED:
                raise ValueError(f"{name}: is chosen by the objective, not by the selector")
        return ", ".join(f'{name}{op}"{value}"' for name, op, value in matchers)

    @model_validator(mode="after")
    def _one_kind(self) -> Slo:
        if (self.queue_wait is None) == (self.success_ratio is None):
            raise ValueError("give one of queue_wait or success_ratio")
        return self

    @property
    def kind(self) -> str:
        return "queue_wait" if self.queue_wait is not None else "success_ratio"

    @property
    def error_budget(self) -> Decimal:
        """The share of jobs that may be bad, exact in decimal (99.9 -> 0.001)."""
        return (Decimal(100) - Decimal(str(self.objective))) / 100

    def matchers(self) -> list[tuple[str, str, str]]:
        return parse_selector(self.selector)


def parse_selector(text: str) -> list[tuple[str, str, str]]:
    """``backend="ray", target=~"prod-.*"`` -> its (name, operator, value) matchers, the value
    as written between the quotes. ValueError naming what is wrong, never echoing the text."""
    text = text.strip().removeprefix("{").removesuffix("}")
    matchers: list[tuple[str, str, str]] = []
    position = 0
    while text[position:].strip():
        match = MATCHER.match(text, position)
        if match is None:
            raise ValueError(
                f'matcher {len(matchers) + 1}: must be label="value" (or !=, =~, !~), '
                "matchers separated by commas"
            )
        name, op, value = match.groups()
        if op in ("=~", "!~"):
            try:  # the regular expression is the string with its escapes undone
                re.compile(re.sub(r"\\(.)", lambda m: ESCAPED.get(m[1], m[1]), value))
            except re.error:
                raise ValueError(f"{one_line(name, 64)}: not a regular expression") from None
        matchers.append((name, op, value))
        position = match.end()
        if position < len(text):
            if text[position] != ",":
                raise ValueError(f"matcher {len(matchers)}: matchers are separated by commas")
            position += 1
    return matchers
