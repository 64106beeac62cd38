"""Which families a scrape shows: all, or those an allowlist or a denylist of patterns
selects (``--metric-allowlist``, ``--metric-denylist`` or ``metrics:`` in the configuration),
as kube-state-metrics has them. A pattern is a regular expression a whole family name must
match. The exporter's own health families (``Family.health``) are always shown: they are how
a broken target is seen.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from exporter.exposition.declared import all_families


def selected_families(
    allowlist: Sequence[str] = (), denylist: Sequence[str] = ()
) -> frozenset[str]:
    """The names of the families shown; ValueError naming the list and the pattern for a
    pattern that is no regular expression or matches no family, a denylist pattern that
    matches a health family, and both lists at once."""
    if allowlist and denylist:
        raise ValueError("metric allowlist and denylist exclude each other: give one")
    allowed = _matching("allowlist", allowlist) if allowlist else set(all_families())
    denied = _matching("denylist", denylist)
    health = sorted(name for name in denied if all_families()[name].health)
    if health:
        raise ValueError(
            f"metric denylist: {', '.join(health)} cannot be turned off (the exporter's health)"
        )
    health_families = {name for name, family in all_families().items() if family.health}
    return frozenset((allowed | health_families) - denied)


def _matching(which: str, patterns: Sequence[str]) -> set[str]:
    names: set[str] = set()
    for index, pattern in enumerate(patterns):
        try:
            compiled = re.compile(pattern)
        except re.error as err:
            raise ValueError(f"metric {which}[{index}]: {pattern!r} is no pattern: {err}") from None
        matched = {name for name in all_families() if compiled.fullmatch(name)}
        if not matched:
            raise ValueError(f"metric {which}[{index}]: {pattern!r} matches no family")
        names |= matched
    return names
