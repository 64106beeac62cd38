"""What a metric family declaration is, and the rules every declaration keeps
(``index_families``): the declarations themselves are in ``families``."""

from __future__ import annotations

import re
from dataclasses import dataclass

_UNITS = ("seconds", "bytes")  # the base units the exporter's family names end in
STABILITIES = ("stable", "alpha", "deprecated")
TYPES = ("gauge", "counter", "histogram")


@dataclass(frozen=True, slots=True)
class Family:
    """One family. ``labels`` are on every sample, ``optional`` on some (a backend's extra
    labels, a reason only failures have); ``attribution``: its samples also carry the target's
    attribution labels, whose names the configuration chooses (histograms: those listed in
    ``attribution.histograms``). ``backends``: the backends whose targets emit it (empty:
    every one). ``discovered``: its samples also carry the labels a discovery source gave
    their target (``jobfleet_target_info``), which the source's files name. A ``deprecated``
    family names the family that ``replaced_by`` it. ``health``:
    the exporter's own view of itself, which an allowlist or a denylist never turns off.
    ``native``: a histogram also kept as a native histogram, sent beside its classic buckets
    in the protobuf format (``exposition.native_histogram``)."""

    name: str
    type: str
    help: str
    labels: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    attribution: bool = False
    discovered: bool = False
    stability: str = "stable"
    backends: tuple[str, ...] = ()
    replaced_by: str | None = None
    health: bool = False  # the exporter's own view of itself: never turned off
    native: bool = False  # a histogram with a native histogram beside its classic buckets

    @property
    def label_names(self) -> frozenset[str]:
        """Every label a sample may carry, attribution labels aside."""
        return frozenset((*self.labels, *self.optional))

    @property
    def unit(self) -> str | None:
        name = self.name.removesuffix("_total")
        return next((u for u in _UNITS if name.endswith(f"_{u}")), None)

    @property
    def help_text(self) -> str:
        if self.stability == "deprecated":
            return f"{self.help} Deprecated: use {self.replaced_by}."
        return self.help

    def header(self) -> bytes:
        return f"# HELP {self.name} {self.help_text}\n# TYPE {self.name} {self.type}\n".encode()

    def openmetrics_header(self) -> bytes:
        """HELP, TYPE and UNIT in OpenMetrics 1.0.0: a counter's family name drops ``_total``
        (its samples keep it), a gauge of ``*_info`` that is always 1 is an info, and a name
        ending in a base unit declares it."""
        name, kind, unit = self.name, self.type, self.unit
        if kind == "counter":
            name = name.removesuffix("_total")
        elif kind == "gauge" and name.endswith("_info"):
            name, kind, unit = name.removesuffix("_info"), "info", None
        text = f"# HELP {name} {self.help_text}\n# TYPE {name} {kind}\n"
        if unit is not None:
            text += f"# UNIT {name} {unit}\n"
        return text.encode()


_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def _problems(family: Family, declared: dict[str, Family]) -> list[str]:
    """What breaks the contract's rules in ``family``, declared after ``declared``."""
    problems = []
    if family.name in declared:
        problems.append("declared twice")
    if family.type not in TYPES:
        problems.append(f"unknown type {family.type}")
    if family.stability not in STABILITIES:
        problems.append(f"unknown stability {family.stability}")
    if len(family.label_names) < len(family.labels) + len(family.optional):
        problems.append("a label declared twice")
    for name in sorted(family.label_names):
        if not _LABEL_NAME.fullmatch(name) or name.startswith("__") or name == "le":
            problems.append(f"label name {name!r} is not one a family may declare")
    if family.native and family.type != "histogram":
        problems.append("native is for histograms")
    if (family.stability == "deprecated") != (family.replaced_by is not None):
        problems.append("replaced_by is for deprecated families, and they need it")
    return problems


def index_families(families: list[Family]) -> dict[str, Family]:
    """The families by name; ValueError for a declaration that breaks the contract's rules,
    at import, so that no test and no start passes with it."""
    index: dict[str, Family] = {}
    for family in families:
        if problems := _problems(family, index):
            raise ValueError(f"{family.name}: {'; '.join(problems)}")
        index[family.name] = family
    for family in families:
        if family.replaced_by is not None and family.replaced_by not in index:
            raise ValueError(f"{family.name}: replaced by {family.replaced_by}, not declared")
    return index
