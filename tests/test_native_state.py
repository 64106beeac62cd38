"""Native histograms in the state file: exact across restarts as every counter, in agreement
with the classic histograms they ride beside, a state saved before them loading with them
empty (logged once), a change of schema converting or keeping what was saved, native parts
turned off (none kept or saved) and on again (empty, the series sent classic), and the text
formats unchanged."""

from __future__ import annotations

import contextlib
import json
import logging
import random
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from exporter.app import Exporter
from exporter.backends.emr_serverless.declaration import DECLARATION as EMR
from exporter.backends.modelarts_lite.declaration import DECLARATION as MODELARTS
from exporter.config.parse import parse_config
from exporter.exposition.block import Block
from exporter.exposition.histogram import Histogram
from exporter.exposition.native_histogram import NativeSettings
from exporter.exposition.renderers.jobs import render_jobs
from exporter.ledger.attribution import Slots
from exporter.ledger.job_ledger import JobLedger
from exporter.model import Job, Phase
from exporter.simulators.ray import RaySimulator
from exporter.store import ledger_form
from exporter.store.database import StateFile
from exporter.store.saved_fields import SavedStateError

from .helpers import ROOT, on_clock

T0 = 1_780_000_000.0
PAIRS = ((Phase.PENDING, "PENDING"), (Phase.RUNNING, "RUNNING"), (Phase.SUCCEEDED, "SUCCEEDED"))
LEGACY = json.loads((ROOT / "tests" / "data" / "state" / "emr-cu-hours-legacy.json").read_text())


DEFAULT = NativeSettings()


def ledger(native: NativeSettings | None = DEFAULT) -> JobLedger:
    return JobLedger(PAIRS, slots=Slots(("team",), 10), histogram_labels=("team",), native=native)


def jobs(rng: random.Random, at: float, n: int) -> list[Job]:
    """``n`` jobs submitted after ``at``, each with a queue wait and a run time spread from
    well under a second to a day, of one of three teams."""
    made = []
    for i in range(n):
        submit = at + rng.uniform(0, 10)
        start = submit + rng.lognormvariate(2, 2)
        made.append(
            Job(
                key=f"j{at:.0f}-{i}",
                name="x",
                status="SUCCEEDED",
                phase=Phase.SUCCEEDED,
                submit_time=submit,
                start_time=start,
                end_time=start + rng.lognormvariate(6, 2.5),
                attribution=(f"t{rng.randrange(3)}",),
            )
        )
    return made


def histograms(counted: JobLedger) -> list[Histogram]:
    series = [*counted.duration.values(), *counted.queue_wait.values()]
    return series + [h for observed in counted.observed.series for h in observed.values()]


def saved(counted: JobLedger) -> str:
    """Its counters and histograms as saved (the runs it remembers aside)."""
    return json.dumps(ledger_form.counts_state(counted), sort_keys=True)


def histogram_states(counted: JobLedger) -> str:
    return json.dumps([h.to_state() for h in histograms(counted)])


def through_a_state_file(counted: JobLedger, fresh: JobLedger, place: Path) -> tuple[str, ...]:
    counted.journal.note_whole()
    state = StateFile(place / "state.db")
    state.load()
    try:
        state.save("t", "id", counted)
    finally:
        state.close()
    again = StateFile(place / "state.db")
    again.load()
    try:
        return ledger_form.restore(fresh, again.restore("t", "id"))
    finally:
        again.close()


@pytest.mark.parametrize("seed", range(6))
def test_a_restart_goes_on_exactly_as_if_there_had_been_none(seed: int, tmp_path: Path) -> None:
    """Counted, saved, restored, counted on: the same native state, byte for byte, as a
    ledger never restarted, and each native part agrees with its classic histogram."""
    rng, steady = random.Random(seed), ledger()
    steady.apply([], T0)
    batches = [jobs(rng, T0 + 100 * (i + 1), rng.randrange(1, 60)) for i in range(4)]
    for i, batch in enumerate(batches[:2]):
        steady.apply(batch, T0 + 100 * (i + 1) + 50)
    restarted = ledger()
    assert through_a_state_file(steady, restarted, tmp_path) == ()
    assert saved(restarted) == saved(steady)
    for i, batch in enumerate(batches[2:], start=2):
        steady.apply(batch, T0 + 100 * (i + 1) + 50)
        restarted.apply(batch, T0 + 100 * (i + 1) + 50)
    assert saved(restarted) == saved(steady)
    for histogram in histograms(restarted):
        part = histogram.native
        assert part is not None and part.count == histogram.count
        assert part.sum == histogram.total
    assert sum(h.count for h in histograms(restarted)) == 2 * sum(len(b) for b in batches)


def test_a_state_saved_before_native_histograms_loads_with_them_empty() -> None:
    """The native parts count from the restart on; while they miss the counts before it, only
    the classic buckets are offered. One line says so."""
    before = ledger(native=None)
    before.apply([], T0)
    before.apply(jobs(random.Random(1), T0 + 100, 30), T0 + 200)
    old = json.loads(json.dumps(ledger_form.to_state(before)))
    assert "native" not in json.dumps(old)
    upgraded = ledger()
    notes = ledger_form.restore(upgraded, old)
    counted = sum(1 for h in histograms(upgraded) if h.count)
    assert notes == (
        f"{counted} histograms saved without native histograms: they count from now on, and "
        "until they hold every observation only the classic buckets are sent",
    )
    assert [h.to_state()["buckets"] for h in histograms(upgraded)] == [
        h.to_state()["buckets"] for h in histograms(before)
    ]
    assert all(h.native is None for h in histograms(upgraded) if h.count)
    upgraded.apply(jobs(random.Random(2), T0 + 300, 30), T0 + 400)
    assert all(h.native is None for h in histograms(upgraded) if h.count)
    assert sum(h.to_state()["native"]["count"] for h in histograms(upgraded)) == 60


def test_the_legacy_state_file_loads_into_a_ledger_with_native_histograms() -> None:
    for target in ("plain", "attributed"):
        emr = JobLedger(
            EMR.known_pairs,
            failure_reasons=EMR.failure_reasons,
            slots=Slots(("user",), 10) if target == "attributed" else None,
            usage=EMR.extras.usage(),
            native=NativeSettings(),
        )
        notes = ledger_form.restore(emr, LEGACY["targets"][target]["state"])
        assert all("saved without native histograms" in note for note in notes)
        assert sum(h.count for h in histograms(emr)) == sum(
            h.count for h in histograms(_plain_emr(target))
        )


def _plain_emr(target: str) -> JobLedger:
    emr = JobLedger(
        EMR.known_pairs,
        failure_reasons=EMR.failure_reasons,
        slots=Slots(("user",), 10) if target == "attributed" else None,
        usage=EMR.extras.usage(),
    )
    ledger_form.restore(emr, LEGACY["targets"][target]["state"])
    return emr


def test_a_lower_schema_converts_saved_counts_and_a_higher_one_keeps_them() -> None:
    batch = jobs(random.Random(3), T0 + 100, 80)
    at = {schema: ledger(NativeSettings(schema, 0.0)) for schema in (2, 3, 5)}
    for counted in at.values():
        counted.apply([], T0)
        counted.apply(batch, T0 + 200)
    saved_at_5 = json.loads(json.dumps(ledger_form.to_state(at[5])))
    lowered = ledger(NativeSettings(3, 0.0))
    assert ledger_form.restore(lowered, saved_at_5) == (
        f"{len(histograms(at[5]))} histograms saved at a higher schema: reduced to schema 3",
    )
    assert histogram_states(lowered) == histogram_states(
        at[3]
    )  # as if observed at 3 from the start
    raised = ledger(NativeSettings(3, 0.5))
    notes = ledger_form.restore(raised, json.loads(json.dumps(ledger_form.to_state(at[2]))))
    assert notes == (
        f"{len(histograms(at[2]))} histograms saved at a lower schema than 3: kept (a "
        "resolution cannot be raised)",
        f"{len(histograms(at[2]))} histograms saved with another zero threshold: kept",
    )
    assert histogram_states(raised) == histogram_states(at[2])
    assert all(h.native is not None and h.native.schema == 2 for h in histograms(raised))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda n: {"form": 2}, "native.form: must be 1"),
        (lambda n: {"schema": 9}, "native.schema: must be a whole number from -4 to 8"),
        (lambda n: {"zero_count": n["zero_count"] + 1}, "native: its buckets do not add up"),
        (lambda n: {"buckets": [[3, 1], [3, 1]]}, "native.buckets[1]: must be [index, count]"),
        (lambda n: {"buckets": [[3, 0]]}, "native.buckets[0][1]: must be at least 1"),
        (
            lambda n: {"count": n["count"] + 1, "zero_count": n["zero_count"] + 1},
            "native.count: more than the histogram's count",
        ),
    ],
)
def test_a_broken_native_histogram_is_refused_naming_the_field(
    change: Callable[[dict], dict], field: str
) -> None:
    counted = ledger()
    counted.apply([], T0)
    counted.apply(jobs(random.Random(4), T0 + 100, 5), T0 + 200)
    state = json.loads(json.dumps(ledger_form.to_state(counted)))
    histogram = next(entry[2] for entry in state["duration"] if entry[2]["count"])
    histogram["native"] |= change(histogram["native"])
    with pytest.raises(SavedStateError, match=r"duration\[\d+\]\." + re.escape(field)):
        ledger_form.restore(ledger(), state)


def test_the_text_formats_are_unchanged_by_native_histograms() -> None:
    bodies = []
    for native in (None, NativeSettings()):
        counted = ledger(native)
        counted.apply([], T0)
        counted.apply(jobs(random.Random(5), T0 + 100, 40), T0 + 200)
        block = Block((("target", "t"), ("backend", "ray")))
        render_jobs(block, counted.view(), "none")
        bodies.append(block.encode())
    assert bodies[0] == bodies[1]


def test_the_stage_histograms_keep_native_parts_too() -> None:
    """ModelArts training jobs' queueing and preparing histograms (observed values)."""
    resource = MODELARTS.resource("training_jobs")
    counted = JobLedger(
        resource.known_pairs, observed=resource.extras.observed(), native=NativeSettings()
    )
    stages = counted.observed.series
    assert stages and all(h.native is not None for series in stages for h in series.values())


def test_a_restart_with_another_schema_logs_what_it_did_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    now = [T0]
    with RaySimulator(clock=lambda: now[0]) as head:

        def run(schema: int) -> list[Histogram]:
            target = head.target_config("ray", resources=["jobs"])
            config = parse_config(
                {
                    "state_file": str(tmp_path / "state.db"),
                    "defaults": {"native_histograms": {"schema": schema}},
                    "targets": [target],
                }
            )
            exporter = Exporter(config)
            on_clock(exporter.pollers[0], lambda: now[0])
            try:
                for i in range(3):
                    key = f"j{schema}-{i}"
                    head.add_job(key, status="SUCCEEDED", start_time=now[0], end_time=now[0] + i)
                    assert exporter.pollers[0].poll("jobs")
                    now[0] += 30
                return histograms(exporter.pollers[0].counted["jobs"].ledger)
            finally:
                exporter.close()

        caplog.set_level(logging.INFO, logger="exporter.polling.counted")
        first = run(5)
        assert all(h.native is not None and h.native.schema == 5 for h in first)
        second = run(2)
    lines = [r.getMessage() for r in caplog.records if "native histograms" in r.getMessage()]
    assert lines == [
        f"target ray: native histograms: {len(first)} histograms saved at a higher schema: "
        "reduced to schema 2"
    ]
    assert all(h.native is not None and h.native.schema == 2 for h in second)
    assert all(h.native.count == h.count for h in second)


def saved_native_parts(path: Path) -> int:
    """How many native parts the state file at ``path`` holds, in every target's counts."""

    def parts(node: object) -> int:
        if isinstance(node, dict):
            return ("native" in node) + sum(parts(value) for value in node.values())
        return sum(parts(value) for value in node) if isinstance(node, list) else 0

    with contextlib.closing(sqlite3.connect(path)) as db:
        rows = db.execute("SELECT counts FROM targets WHERE counts IS NOT NULL").fetchall()
    return sum(parts(json.loads(counts)) for (counts,) in rows)


def switched(on: list[Histogram], off: list[Histogram], again: list[Histogram]) -> list[str]:
    """What the log is to say when native histograms are turned off after ``on``, then on
    again after ``off``; and the checks of each stage."""
    assert on and all(h.native is not None for h in on)
    assert all(h.native is None and "native" not in h.to_state() for h in off)
    # the upgrade rule: a series whose native part misses observations, as each counted
    # before it was turned on again does, is sent classic; one still empty then is native
    restored = sum(1 for h in off if h.count)
    missing = [h for h in again if h.to_state()["native"]["count"] < h.count]
    assert len(missing) == restored > 0 and all(h.native is None for h in missing)
    assert all(h.native is not None for h in again if h not in missing)
    return [
        f"target ray: native histograms: {len(on)} histograms saved with a native part: "
        "dropped (not enabled)",
        f"target ray: native histograms: {restored} histograms saved without native "
        "histograms: they count from now on, and until they hold every observation only the "
        "classic buckets are sent",
    ]


def native_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "native histograms:" in r.getMessage()]


@pytest.mark.slow
def test_turned_off_no_native_part_is_kept_and_turned_on_again_it_starts_empty(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    now, state = [T0], tmp_path / "state.db"
    with RaySimulator(clock=lambda: now[0]) as head:

        def run(enabled: bool, tag: str) -> list[Histogram]:
            config = parse_config(
                {
                    "state_file": str(state),
                    "defaults": {"native_histograms": {"enabled": enabled}},
                    "targets": [head.target_config("ray", resources=["jobs"])],
                }
            )
            exporter = Exporter(config)
            on_clock(exporter.pollers[0], lambda: now[0])
            try:
                for i in range(2):
                    end = now[0] + 5 * i + 1
                    head.add_job(f"{tag}{i}", status="SUCCEEDED", start_time=now[0], end_time=end)
                    assert exporter.pollers[0].poll("jobs")
                    now[0] += 30
                return histograms(exporter.pollers[0].counted["jobs"].ledger)
            finally:
                exporter.close()

        caplog.set_level(logging.INFO, logger="exporter.polling.counted")
        on = run(True, "a")
        assert saved_native_parts(state) == len(on)
        off = run(False, "b")
        assert saved_native_parts(state) == 0
        again = run(True, "c")
        assert saved_native_parts(state) == len(again)
    assert native_lines(caplog) == switched(on, off, again)


def test_a_reload_turning_them_off_and_on_again_restores_as_a_restart_does(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [T0]
    with RaySimulator(clock=lambda: now[0]) as head:
        target = head.target_config("ray", resources=["jobs"])
        configs = {
            enabled: parse_config(
                {"defaults": {"native_histograms": {"enabled": enabled}}, "targets": [target]}
            )
            for enabled in (True, False)
        }
        current = [configs[True]]
        exporter = Exporter(current[0], lambda: current[0])
        try:

            def poll(tag: str) -> list[Histogram]:
                on_clock(exporter.pollers[0], lambda: now[0])
                head.add_job(tag, status="SUCCEEDED", start_time=now[0], end_time=now[0] + 7)
                assert exporter.pollers[0].poll("jobs")
                now[0] += 30
                return histograms(exporter.pollers[0].counted["jobs"].ledger)

            caplog.set_level(logging.INFO, logger="exporter.polling.counted")
            on = poll("a")
            current[0] = configs[False]
            changed = "1 targets: 1 new or changed, 1 removed or replaced, 0 unchanged"
            assert exporter.reload() == (True, changed)
            off = poll("b")
            current[0] = configs[True]
            assert exporter.reload() == (True, changed)
            again = poll("c")
        finally:
            exporter.close()
    assert native_lines(caplog) == switched(on, off, again)
