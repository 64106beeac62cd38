"""State saved before backends declared their usage values loads with the same counts and
counts on exactly; state of any number of usage values is read back as it was saved."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from exporter.backends.emr_serverless.declaration import DECLARATION as EMR
from exporter.backends.emr_serverless.ray_jobs import parse_jobs
from exporter.backends.kit.extras import Extras, ExtraValue
from exporter.exposition.block import Block
from exporter.exposition.families import EMR as EMR_NAME
from exporter.exposition.families import TARGET
from exporter.exposition.family import Family
from exporter.exposition.renderers.jobs import render_jobs
from exporter.ledger.attribution import Slots
from exporter.ledger.job_ledger import JobLedger
from exporter.model import Job, Phase
from exporter.store import ledger_form
from exporter.store.database import StateFile

from .helpers import ROOT, value

LEGACY = json.loads((ROOT / "tests" / "data" / "state" / "emr-cu-hours-legacy.json").read_text())
T0 = 1_780_000_000.0
Q1, Q2 = "err-1.2.0 (Ray 2.55.1, Python 3.12)", "dev"


def emr_ledger(attributed: bool) -> JobLedger:
    """A ledger of an EMR target as the poller makes it (a ``user`` label when attributed)."""
    return JobLedger(
        EMR.known_pairs,
        failure_reasons=EMR.failure_reasons,
        slots=Slots(("user",), 10) if attributed else None,
        usage=EMR.extras.usage(),
    )


def item(key: str, status: str, cu: float, queue: str = Q1, **times: float) -> dict[str, Any]:
    """A ``rayJobs`` item as the legacy file's listings had it."""
    submit, start = times.get("submit", T0 - 600), times.get("start", T0 - 600)
    end = times.get("end")
    return {
        "submissionId": key,
        "name": key,
        "status": status,
        "resourceQueue": queue,
        "cuHours": cu,
        "submitTime": int(submit * 1000),
        "startTime": int(start * 1000),
        "endTime": None if end is None else int(end * 1000),
        "clusterState": "Running",
        "creatorName": "Bob" if queue == Q2 else "Alice",
    }


def totals(ledger: JobLedger) -> list[list]:
    return sorted([split[0], list(v), n] for (split, v), n in ledger.usage_totals[0].items())


@pytest.mark.parametrize("target", ["plain", "attributed"])
def test_state_saved_with_one_cu_hours_reading_a_run_loads_with_the_same_counts(
    target: str,
) -> None:
    legacy = LEGACY["targets"][target]
    ledger = emr_ledger(target == "attributed")
    ledger_form.restore(ledger, legacy["state"])
    assert totals(ledger) == sorted(legacy["cu_seconds_total"])
    finished = sorted([p.value, s, r, list(v), n] for (p, s, r, v), n in ledger.finished.items())
    assert finished == legacy["finished_total"]
    assert sorted([list(v), n] for v, n in ledger.submitted.items()) == legacy["submitted_total"]
    assert ledger.known["nul"].readings == (1.0,) and len(ledger.departed) == 2
    block = Block((("target", target), ("backend", EMR_NAME)))
    render_jobs(block, ledger.view(), "none")
    body = b"".join(block.encode().values())
    for queue, _, seconds in legacy["cu_seconds_total"]:
        assert value(body, "jobfleet_cu_seconds_total", resource_queue=queue) == seconds


@pytest.mark.parametrize("target", ["plain", "attributed"])
def test_counting_goes_on_from_the_readings_the_legacy_state_kept(target: str) -> None:
    """Each run counts from its saved reading: a departed run listed again adds only what its
    reading grew since it left, and is not counted as finished again."""
    legacy = LEGACY["targets"][target]
    ledger = emr_ledger(target == "attributed")
    ledger_form.restore(ledger, legacy["state"])
    sources = ("creatorName",) if target == "attributed" else ()
    listing = [
        item("pre", "Succeeded", 2.0, end=T0 + 110),  # departed at 1.5
        item("old", "Succeeded", 3.0, end=T0 - 60),  # departed at 3.0
        item("nul", "Running", 1.5, queue=Q2),  # kept at 1.0
        item("new", "Failed", 0.375, queue=Q2, submit=T0 + 30, start=T0 + 30, end=T0 + 100),
    ]
    jobs, skipped = parse_jobs(listing, sources)
    assert skipped == 0
    ledger.apply(jobs, T0 + 240, as_of=T0 + 240)
    before = {queue: n for queue, _, n in legacy["cu_seconds_total"]}
    assert {split[0]: n for (split, _), n in ledger.usage_totals[0].items()} == {
        Q1: before[Q1] + 0.5 * 3600,
        Q2: before[Q2] + 0.5 * 3600,
    }
    assert sum(ledger.finished.values()) == sum(e[-1] for e in legacy["finished_total"])


def test_legacy_state_saved_again_is_read_back_exactly(tmp_path: Path) -> None:
    ledger = emr_ledger(attributed=True)
    ledger_form.restore(ledger, LEGACY["targets"]["attributed"]["state"])
    again = _through_a_state_file(ledger, emr_ledger(attributed=True), tmp_path)
    _assert_same(again, ledger)


# --- any number of usage values

GPU = Family("jobfleet_test_gpu_seconds_total", "counter", "GPU.", (*TARGET, "pool"))
NODE = Family("jobfleet_test_node_seconds_total", "counter", "Nodes.", TARGET)
VALUES = (
    ExtraValue("gpu_seconds", counter=GPU, split_by=("pool",)),
    ExtraValue("node_hours", counter=NODE, scale=3600.0),
)
PAIRS = ((Phase.RUNNING, "RUNNING"), (Phase.SUCCEEDED, "SUCCEEDED"))


def job(key: str, done: bool, at: float, *values: float | None) -> Job:
    """A job of pool ``pool-<first letter of key>`` with ``values`` in the declared order."""
    phase = Phase.SUCCEEDED if done else Phase.RUNNING
    return Job(
        key=key,
        name=key,
        status=phase.name,
        phase=phase,
        submit_time=T0 - 100,
        start_time=T0 - 100,
        end_time=at if done else None,
        extra_labels=(("pool", f"pool-{key[0]}"),),
        values=values,
    )


def two_value_ledger(values: tuple[ExtraValue, ...] = VALUES) -> JobLedger:
    return JobLedger(PAIRS, retention=10, usage=Extras(values).usage())


def counted_twice() -> JobLedger:
    """Two usage values read of running, finished and departed runs, one reading null."""
    ledger = two_value_ledger()
    ledger.apply([job("a1", False, T0, 10.0, None), job("b1", False, T0, 5.0, 0.5)], T0)
    ledger.apply([job("a1", False, T0, 30.0, 1.0), job("b1", True, T0 + 50, 9.0, 0.75)], T0 + 60)
    ledger.apply([job("a1", False, T0, 40.0, 1.5)], T0 + 120)  # b1 departs
    assert len(ledger.departed) == 1
    return ledger


def test_state_of_several_usage_values_is_read_back_exactly(tmp_path: Path) -> None:
    ledger = counted_twice()
    assert ledger.usage_totals == (
        {(("pool-a",), ()): 30.0, (("pool-b",), ()): 4.0},
        {((), ()): (0.375 + 0.25 + 0.5) * 3600},  # a1: 60 of its 160 s after the baseline
    )
    restored = two_value_ledger()
    ledger_form.restore(restored, json.loads(json.dumps(ledger_form.to_state(ledger))))
    _assert_same(restored, ledger)
    _assert_same(_through_a_state_file(ledger, two_value_ledger(), tmp_path), ledger)


def test_saved_usage_values_are_matched_by_name_not_by_place() -> None:
    """A backend that declares its values in another order, or drops one, continues each value
    that it still declares from its own readings and counts."""
    ledger = counted_twice()
    state = json.loads(json.dumps(ledger_form.to_state(ledger)))
    swapped = two_value_ledger(VALUES[::-1])
    ledger_form.restore(swapped, state)
    assert swapped.usage_totals == ledger.usage_totals[::-1]
    assert swapped.known["a1"].readings == (1.5, 40.0)
    nodes_only = two_value_ledger(VALUES[1:])
    ledger_form.restore(nodes_only, state)
    assert nodes_only.usage_totals == ledger.usage_totals[1:]
    nodes_only.apply([job("a1", False, T0, 2.0), job("b1", True, T0 + 50, 1.0)], T0 + 180)
    assert nodes_only.usage_totals[0][((), ())] == ledger.usage_totals[1][((), ())] + 0.75 * 3600


def _through_a_state_file(ledger: JobLedger, fresh: JobLedger, tmp_path: Path) -> JobLedger:
    """``fresh`` continued from ``ledger`` saved whole to a state file and read back."""
    ledger.journal.note_whole()  # a restored ledger's journal is clear: its store holds it
    ledger.journal.note_departed_whole()
    state = StateFile(tmp_path / "state.db")
    state.load()
    try:
        state.save("t", "id", ledger)
    finally:
        state.close()
    again = StateFile(tmp_path / "state.db")
    again.load()
    try:
        ledger_form.restore(fresh, again.restore("t", "id"))
    finally:
        again.close()
    return fresh


def _assert_same(restored: JobLedger, ledger: JobLedger) -> None:
    assert restored.usage_totals == ledger.usage_totals
    assert restored.finished == ledger.finished and restored.submitted == ledger.submitted
    assert {key: k.kept_fields() for key, k in restored.known.items()} == {
        key: k.kept_fields() for key, k in ledger.known.items()
    }
    assert sorted(restored.departed.records()) == sorted(ledger.departed.records())
