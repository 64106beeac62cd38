"""Observed values (``ledger.observed``): a per-job value a backend declares with a histogram
is observed once, when the job is counted finished, never at the baseline, never twice through
re-listing, reordering or a restart from the saved state; a state saved before observed values
loads; and a declaration that cannot work is refused."""

from __future__ import annotations

import json

import pytest

from exporter.backends.kit.extras import Extras, ExtraValue
from exporter.backends.ray import STATUSES
from exporter.exposition.family import Family
from exporter.ledger.attribution import Slots
from exporter.ledger.job_ledger import JobLedger
from exporter.model import Job, Phase, status_pairs
from exporter.store import ledger_form
from exporter.store.saved_ledger import SavedStateError

T0 = 1_800_000_000.0
PAIRS = status_pairs(STATUSES)
WAITED = Family("jobfleet_test_waited_seconds", "histogram", "Test.", ("target",), attribution=True)
EXTRAS = Extras((ExtraValue("waited", histogram=WAITED, buckets=(10, 60, 300)),))


def job(key: str, status: str, waited: float | None = None, **kw: object) -> Job:
    return Job(
        key=key,
        name=key,
        status=status,
        phase=STATUSES[status],
        submit_time=T0 - 100,
        values=(waited,),
        **kw,  # type: ignore[arg-type]
    )


def ledger(**kw: object) -> JobLedger:
    return JobLedger(PAIRS, observed=EXTRAS.observed(), **kw)  # type: ignore[arg-type]


def observed(ledger: JobLedger, values: tuple[str, ...] = ()) -> tuple[int, float, list[int]]:
    histogram = ledger.observed.series[0][values]
    return histogram.count, histogram.total, histogram.buckets


def restarted(old: JobLedger, **kw: object) -> JobLedger:
    """A new ledger continuing from ``old``'s state as a state file keeps it."""
    new = ledger(**kw)
    ledger_form.restore(new, json.loads(json.dumps(ledger_form.to_state(old))))
    return new


def test_each_finished_job_is_observed_once_and_the_baseline_not_at_all() -> None:
    counted = ledger()
    counted.apply([job("old", "SUCCEEDED", 50, end_time=T0 - 10), job("a", "RUNNING")], T0)
    assert observed(counted) == (0, 0.0, [0, 0, 0])  # a job ended by the baseline is not
    ended = [job("b", "FAILED", 400, end_time=T0 + 20), job("a", "SUCCEEDED", 30, end_time=T0 + 5)]
    counted.apply(ended, T0 + 30)
    assert observed(counted) == (2, 430.0, [0, 1, 0])  # 400 s is past the last bound
    for now in (T0 + 60, T0 + 90):  # listed again, in another order, and with a new value
        counted.apply([job("a", "SUCCEEDED", 31, end_time=T0 + 5), *ended[:1]], now)
    assert observed(counted) == (2, 430.0, [0, 1, 0])
    again = restarted(counted)
    again.apply([*ended, job("c", "STOPPED", 5, end_time=T0 + 100)], T0 + 120)
    assert observed(again) == (3, 435.0, [1, 1, 0])  # kept through the restart, c added once


def test_a_job_without_the_value_is_counted_and_not_observed() -> None:
    counted = ledger()
    counted.apply([], T0)
    counted.apply([job("a", "SUCCEEDED", None, end_time=T0 + 5)], T0 + 30)
    assert sum(counted.finished.values()) == 1
    assert observed(counted)[0] == 0


def test_observed_histograms_carry_the_histogram_attribution_labels() -> None:
    counted = ledger(slots=Slots(("team", "user"), 5), histogram_labels=("team",))
    counted.apply([], T0)
    ended = [
        job("a", "SUCCEEDED", 20, end_time=T0 + 5, attribution=("red", "ann")),
        job("b", "SUCCEEDED", 20, end_time=T0 + 5, attribution=("red", "bo")),
    ]
    counted.apply(ended, T0 + 30)
    (series,) = counted.view().observed
    assert series.family is WAITED
    assert {values: h.count for values, h in series.series.items()} == {("red",): 2}
    assert (
        observed(
            restarted(counted, slots=Slots(("team", "user"), 5), histogram_labels=("team",)),
            ("red",),
        )[0]
        == 2
    )


def test_state_saved_before_observed_values_loads_with_none_observed() -> None:
    counted = ledger()
    counted.apply([], T0)
    counted.apply([job("a", "SUCCEEDED", 20, end_time=T0 + 5)], T0 + 30)
    state = ledger_form.to_state(counted)
    assert state["observed"]["form"] == 1
    del state["observed"]
    old = ledger()
    ledger_form.restore(old, state)
    assert sum(old.finished.values()) == 1 and observed(old)[0] == 0
    old.apply([job("a", "SUCCEEDED", 20, end_time=T0 + 5)], T0 + 60)
    assert observed(old)[0] == 0  # counted before the restart: not observed after it


def test_histograms_kept_with_other_buckets_start_at_zero_and_another_form_is_refused() -> None:
    counted = ledger()
    counted.apply([], T0)
    counted.apply([job("a", "SUCCEEDED", 20, end_time=T0 + 5)], T0 + 30)
    state = ledger_form.to_state(counted)
    state["observed"]["values"]["waited"]["bounds"] = [10.0, 60.0, 600.0]
    moved = ledger()
    ledger_form.restore(moved, state)
    assert observed(moved)[0] == 0 and sum(moved.finished.values()) == 1
    state["observed"]["form"] = 2
    with pytest.raises(SavedStateError, match=r"observed\.form"):
        ledger_form.restore(ledger(), state)
    state["observed"] = {"form": 1, "values": {"waited": {"bounds": [1], "series": [[[], 3]]}}}
    with pytest.raises(SavedStateError, match=r"observed\.values\.waited\.series\[0\]\[1\]"):
        ledger_form.restore(ledger(), state)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (ExtraValue("w", histogram=WAITED), "a histogram and its buckets come together"),
        (ExtraValue("w", buckets=(1, 2)), "a histogram and its buckets come together"),
        (ExtraValue("w", histogram=WAITED, buckets=(5, 1)), "buckets must increase"),
        (
            ExtraValue("w", histogram=Family("jobfleet_x_seconds", "gauge", "X."), buckets=(1,)),
            "jobfleet_x_seconds is no histogram",
        ),
    ],
)
def test_a_histogram_value_that_cannot_work_is_refused(value: ExtraValue, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        Extras((value,))


def test_the_declaration_gives_the_family_and_the_ledger_its_observed_value() -> None:
    assert WAITED in EXTRAS.families
    (value,) = EXTRAS.observed()
    assert (value.name, value.position, value.buckets) == ("waited", 0, (10, 60, 300))


def test_a_job_whose_values_are_due_is_counted_when_they_come_and_only_then() -> None:
    counted = ledger()
    old = job("old", "SUCCEEDED", end_time=T0 - 10)
    assert not counted.uncounted(old)  # no baseline yet: nothing is to be counted
    counted.apply([old], T0)
    due = job("a", "SUCCEEDED", None, end_time=T0 + 5, values_due=True)
    assert counted.uncounted(due) and not counted.uncounted(old)
    counted.apply([old, due], T0 + 30)
    assert sum(counted.finished.values()) == 0 and counted.uncounted(due)
    assert counted.tracked["a"].phase is Phase.SUCCEEDED  # shown ended meanwhile
    counted = restarted(counted)  # still to be counted after a restart
    assert counted.uncounted(due)
    counted.apply([old, job("a", "SUCCEEDED", 25, end_time=T0 + 5)], T0 + 60)
    assert sum(counted.finished.values()) == 1 and observed(counted)[:2] == (1, 25.0)
    assert not counted.uncounted(due)
    late = job("late", "FAILED", end_time=T0 - 5)  # first listed now, ended by the baseline
    assert not counted.uncounted(late)
