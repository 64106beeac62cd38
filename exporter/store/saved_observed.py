"""The observed values of a saved ledger (``ledger.observed``): each one's histograms, checked
as ``saved_ledger`` checks the rest.

State saves ``observed`` as ``{"form": 1, "values": {name: {"bounds": [...], "series":
[[histogram label values, histogram], ...]}}}``: by the value's name (never renamed), the bucket
bounds its histograms were kept with (a ledger declaring other bounds starts them at 0), and
each histogram as ``Histogram.to_state``. State saved before observed values were declared has
no ``observed``: it loads with none observed. A ``form`` other than ``FORM`` is refused.
"""

from __future__ import annotations

from typing import Any

from exporter.ledger.counts import SavedObserved, Values
from exporter.ledger.observed import ObservedValues
from exporter.store.saved_fields import (
    SavedStateError,
    as_histogram,
    as_list,
    as_mapping,
    as_number,
    as_strings,
)

FORM = 1  # of the saved ``observed`` part


def observed(state: dict) -> dict[str, SavedObserved]:
    """The observed values' histograms saved in ``state``, by name ({}: none saved)."""
    if state.get("observed") is None:
        return {}
    saved = as_mapping(state["observed"], "observed")
    if saved.get("form") != FORM:
        raise SavedStateError(f"observed.form: must be {FORM}")
    return {
        str(name): _value(value, f"observed.values.{name}")
        for name, value in as_mapping(saved.get("values"), "observed.values").items()
    }


def _value(value: Any, field: str) -> SavedObserved:
    saved = as_mapping(value, field)
    raw = as_list(saved.get("bounds"), f"{field}.bounds")
    bounds = tuple(as_number(b, f"{field}.bounds[{i}]") for i, b in enumerate(raw))
    series: dict[Values, Any] = {}
    for i, entry in enumerate(as_list(saved.get("series"), f"{field}.series")):
        entry = as_list(entry, f"{field}.series[{i}]")
        if len(entry) != 2:
            raise SavedStateError(f"{field}.series[{i}]: must be [label values, histogram]")
        values = as_strings(entry[0], f"{field}.series[{i}][0]")
        series[values] = as_histogram(entry[1], f"{field}.series[{i}][1]", bounds)
    return SavedObserved(bounds, series)


def saved_observed(values: ObservedValues) -> dict:
    """The ``observed`` field of a ledger observing ``values`` ({} when it observes none)."""
    if not values.observed:
        return {}
    return {
        "observed": {
            "form": FORM,
            "values": {
                value.name: {
                    "bounds": [float(b) for b in value.buckets],
                    "series": [[list(v), h.to_state()] for v, h in series.items()],
                }
                for value, series in zip(values.observed, values.series, strict=True)
            },
        }
    }
