"""The objectives against the rest of the configuration: each name once, and the labels an
objective groups or selects by carried by the series it reads (an attribution label only where
some target's attribution names it; on the queue-wait histogram only where it is also in
``attribution.histograms``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from exporter.config.types import AttributionSettings, one_line
from exporter.slo.model import Slo

TARGET_LABELS = ("target", "backend", "resource")
FINISHED_LABELS = ("phase", "status", "reason")  # jobfleet_jobs_finished_total's own


def check_slos(slos: Sequence[Slo], attributions: Iterable[AttributionSettings]) -> None:
    """ValueError, one line starting with ``slos[i]``, for the first objective that cannot
    work with the targets' ``attributions`` (those of the defaults, targets and templates)."""
    attributions = list(attributions)
    labels = _names(a.labels for a in attributions)
    on_histograms = _names(a.histograms for a in attributions)
    seen: set[str] = set()
    for index, slo in enumerate(slos):
        where = f"slos[{index}]"
        if slo.name in seen:
            raise ValueError(f"{where}.name: duplicate objective name {slo.name!r}")
        seen.add(slo.name)
        usable = on_histograms if slo.kind == "queue_wait" else labels
        own = FINISHED_LABELS if slo.kind == "success_ratio" else ()
        if slo.by != "target" and slo.by not in usable:
            problem = _not_carried(slo, slo.by, labels, on_histograms, ("target", *usable))
            raise ValueError(f"{where}.by: {problem}")
        selectable = (*TARGET_LABELS, *own, *usable)
        for name, _, _ in slo.matchers():
            if name not in selectable:
                problem = _not_carried(slo, name, labels, on_histograms, selectable)
                raise ValueError(f"{where}.selector: {problem}")


def _names(groups: Iterable[Iterable[str]]) -> list[str]:
    return sorted({name for group in groups for name in group})


def _not_carried(
    slo: Slo, name: str, labels: list[str], on_histograms: list[str], choices: Sequence[str]
) -> str:
    """Why ``name`` is no label of the series ``slo`` reads, and which ones are."""
    shown = one_line(name, 64)
    if slo.kind == "queue_wait" and name in labels:
        return (
            f"{shown} is not in any attribution.histograms: the queue wait histogram does not "
            f"carry it (labels on it: {', '.join(on_histograms) or 'none'})"
        )
    return (
        f"{shown} is not a label of the series this objective reads; one of: {', '.join(choices)}"
    )
