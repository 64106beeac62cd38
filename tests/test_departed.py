"""Departed runs: counted jobs that left the listings, kept as small fixed records until forgotten,
at most ``max_departed_jobs`` of them; never counted again while remembered, and saved exactly."""

import gc
import json
import random
import re
import tracemalloc
from pathlib import Path

import pytest

from exporter.app import Exporter
from exporter.backends.emr_serverless.families import EXTRAS as EMR_EXTRAS
from exporter.backends.ray import STATUSES
from exporter.config.parse import parse_config
from exporter.ledger.departed import NO_RUN, Departed, DepartedRun
from exporter.ledger.job_ledger import JobLedger
from exporter.model import Job, status_pairs
from exporter.simulators.ray import RaySimulator
from exporter.store import ledger_form
from exporter.store.database import StateFile
from exporter.store.saved_ledger import SavedStateError
from exporter.store.saved_usage import readings as saved_readings

from .helpers import on_clock, value

RAY_PAIRS = status_pairs(STATUSES)
EMR_USAGE = EMR_EXTRAS.usage()
T0 = 1_800_000_000.0
DAY = 86400.0


def job(key: str, status: str = "SUCCEEDED", **kw) -> Job:
    kw.setdefault("submit_time", T0 - 100)
    if STATUSES[status].terminal:
        kw.setdefault("end_time", T0 - 10)
    return Job(key=key, name=key, status=status, phase=STATUSES[status], **kw)


def finished_total(ledger: JobLedger) -> int:
    return sum(ledger.finished.values())


def record(run: float | None, absent: float, **kw) -> DepartedRun:
    return DepartedRun(
        run,
        absent,
        kw.get("finished_at"),
        kw.get("readings", ()),
        kw.get("started", True),
        kw.get("seen_pending", False),
    )


# --- the store of records, against a plain model


def test_random_operations_agree_with_a_plain_list_and_survive_a_save() -> None:
    """Adds, returns, expiry and the cap in random order: ``Departed`` holds exactly what a
    plain list of (id, record) would, oldest first, and its saved records restore the same."""
    rng = random.Random(7)
    departed = Departed(cap=100, usage=2)
    model: list[tuple[str, DepartedRun]] = []  # oldest first
    now, evicted = T0, 0
    for _ in range(6000):
        now += rng.random()
        action = rng.random()
        if action < 0.6:
            key = f"id-{rng.randrange(800)}"
            run = rng.choice([None, float(rng.randrange(10**6))])
            readings = rng.choice([(), (rng.random(), None), (None, 1.0), (0.5, rng.random())])
            added = record(run, now, readings=readings)
            evicted += departed.add(key, added)
            model.append((key, added))
            while len(model) > 100:
                model.pop(0)
        elif action < 0.9:
            key = f"id-{rng.randrange(800)}"
            kept = departed.runs(key)
            assert sorted(kept_run(r) for _, r in kept) == sorted(
                kept_run(r) for k, r in model if k == key
            )
            if kept:
                position, taken = rng.choice(kept)
                departed.take(position)
                model.remove(next(item for item in model if item[0] == key and item[1] == taken))
        else:
            forget_after = rng.uniform(50, 400)
            departed.expire(now, forget_after)
            model = [(k, r) for k, r in model if now - r.absent_since < forget_after]
        assert len(departed) == len(model)
    assert evicted > 0
    restored = Departed(departed.key, cap=100, usage=2)
    saved = json.loads(json.dumps([ledger_form.saved_departed(r) for r in departed.records()]))
    restored.restore((*r[:4], saved_readings(r[4], "r", 2), r[5]) for r in saved)
    for key in {k for k, _ in model}:
        assert sorted(map(kept_run, (r for _, r in restored.runs(key)))) == sorted(
            kept_run(r) for k, r in model if k == key
        )


def kept_run(run: DepartedRun) -> tuple:
    return (-1.0 if run.run is None else run.run, run.absent_since, run.readings)


def test_digests_are_keyed_so_no_backend_can_aim_a_collision() -> None:
    first, second = Departed(), Departed()
    assert first.digest("job-1") != second.digest("job-1")  # a random key each
    assert Departed(first.key).digest("job-1") == first.digest("job-1")  # saved: the same


# --- the counting rules with departed runs


def test_a_departed_run_listed_again_is_not_counted_again() -> None:
    ledger = JobLedger(RAY_PAIRS, retention=10, forget_after=7 * DAY, usage=EMR_USAGE)
    ledger.apply([], T0)
    done = job("a", run=T0 - 100, end_time=T0 + 5, values=(2.0,))
    ledger.apply([done], T0 + 10)
    assert finished_total(ledger) == 1
    cu_seconds = sum(ledger.usage_totals[0].values())  # its share after the baseline
    ledger.apply([], T0 + 40)  # gone from the list: departed
    assert "a" not in ledger.known and len(ledger.departed) == 1
    for poll in range(2, 10):  # shown again now and then, its time jittering by a second
        shown = job("a", run=T0 - 100 + poll % 2, end_time=T0 + 5, values=(2.0,))
        ledger.apply([shown] if poll % 3 else [], T0 + 30 * poll)
    assert finished_total(ledger) == 1
    assert sum(ledger.usage_totals[0].values()) == cu_seconds > 0


def test_only_counted_runs_depart_and_unfinished_ones_keep_their_id() -> None:
    ledger = JobLedger(RAY_PAIRS, forget_after=7 * DAY)
    ledger.apply([job("run", "RUNNING"), job("done")], T0)
    ledger.apply([], T0 + 30)
    assert list(ledger.known) == ["run"] and len(ledger.departed) == 1
    assert ledger.unfinished() == ["run"]  # a backend that follows ids still gets it


def test_partial_listings_make_nothing_depart() -> None:
    ledger = JobLedger(RAY_PAIRS)
    ledger.apply([job("a")], T0)
    ledger.apply([], T0 + 30, complete=False)
    assert list(ledger.known) == ["a"] and len(ledger.departed) == 0


def test_departed_runs_are_forgotten_after_forget_after_and_not_after_an_outage() -> None:
    ledger = JobLedger(RAY_PAIRS, retention=10, forget_after=1000)
    ledger.apply([job("a")], T0)
    ledger.apply([], T0 + 30)
    ledger.apply([], T0 + 30 + 2 * 3600)  # after a gap: absence counted again from here
    ledger.apply([], T0 + 30 + 2 * 3600 + 999)
    assert ledger.remembers("a")
    ledger.apply([], T0 + 30 + 2 * 3600 + 1000)
    assert not ledger.remembers("a") and ledger.evicted == 0
    ledger.apply([job("a", run=None)], T0 + 3 * 3600 + 1030)  # listed after: a new job
    assert finished_total(ledger) == 0  # it ended before the baseline: remembered only


def test_past_the_cap_the_oldest_are_forgotten_early_and_counted() -> None:
    ledger = JobLedger(RAY_PAIRS, max_departed=100)
    ledger.apply([], T0)
    for poll in range(15):  # 10 jobs end and leave each poll
        jobs = [job(f"j{poll}-{i}", end_time=T0 + poll + 1) for i in range(10)]
        ledger.apply(jobs, T0 + 60 * poll + 1)
        ledger.apply([], T0 + 60 * poll + 30)
    assert (len(ledger.departed), ledger.evicted, finished_total(ledger)) == (100, 50, 150)
    assert ledger.remembers("j14-0") and ledger.remembers("j5-0")
    assert not ledger.remembers("j4-9")  # among the oldest: forgotten early


def test_two_runs_of_one_id_one_departed_each_count_once() -> None:
    """Two heads behind one address, each listing its own run of the id: each run departs and
    comes back at every poll, and each is counted once."""
    ledger = JobLedger(RAY_PAIRS)
    ledger.apply([], T0)
    first = job("nightly", run=T0 - 3000, end_time=T0 + 5)
    second = job("nightly", run=T0 + 100, end_time=T0 + 200)
    for poll in range(1, 30):
        ledger.apply([first if poll % 2 else second], T0 + 300 + 30 * poll)
    assert finished_total(ledger) == 2
    assert [r.run for r in ledger.remembered_runs("nightly")] == [T0 - 3000, T0 + 100]


# --- saved and restored


def test_departed_runs_are_saved_by_change_and_restored_exactly(tmp_path: Path) -> None:
    ledger = JobLedger(RAY_PAIRS, retention=10, forget_after=500)
    state = StateFile(tmp_path / "state.db")
    state.load()
    ledger.apply([], T0)
    for poll in range(1, 40):  # 5 end and leave each poll; one comes back now and then
        jobs = [job(f"p{poll}-{i}", run=T0 + poll, end_time=T0 + poll) for i in range(5)]
        if poll % 4 == 0:
            jobs.append(job(f"p{poll - 2}-0", run=T0 + poll - 2, end_time=T0 + poll - 2))
        ledger.apply(jobs, T0 + 30 * poll)
        state.save("t", "id", ledger)
        ledger.apply([], T0 + 30 * poll + 15)
        state.save("t", "id", ledger)
    rows = state._db.execute("SELECT count(*) FROM departed").fetchone()[0]
    state.close()
    assert rows == len(ledger.departed) > 0
    again = StateFile(tmp_path / "state.db")
    again.load()
    restored = JobLedger(RAY_PAIRS, retention=10, forget_after=500)
    ledger_form.restore(restored, again.restore("t", "id"))
    again.close()
    assert sorted(restored.departed.records()) == sorted(ledger.departed.records())
    counted = finished_total(restored)
    restored.apply([job("p38-1", run=T0 + 38, end_time=T0 + 38)], T0 + 30 * 41)
    assert finished_total(restored) == counted  # remembered across the restart


def test_state_saved_before_departed_records_is_taken_over() -> None:
    """Counted runs saved as absent by an earlier version depart at restore, oldest first."""
    ledger = JobLedger(RAY_PAIRS)
    ledger.apply([job("a"), job("b", "RUNNING")], T0)
    ledger.apply([job("b", "RUNNING")], T0 + 30)
    saved = json.loads(json.dumps(ledger_form.to_state(ledger)))
    for field in ("departed", "departed_key", "departed_evicted"):
        del saved[field]
    saved["known"]["a"] = [T0, True, True, False, T0 - 10, None, "", T0 + 30]
    restored = JobLedger(RAY_PAIRS)
    ledger_form.restore(restored, saved)
    assert list(restored.known) == ["b"] and len(restored.departed) == 1
    with restored.journal.draining() as changes:  # what a store must write: its row goes
        runs = ledger_form.changed_runs(restored, changes)
        assert (changes.whole, runs, list(changes.forgotten)) == (False, {}, ["a"])
        assert len(restored.departed.records_of(changes.departed_added)) == 1  # its record comes
    restored.apply([job("a"), job("b", "RUNNING")], T0 + 60)
    assert finished_total(restored) == 0


@pytest.mark.parametrize(
    ("departed", "key", "field"),
    [
        ([[1, NO_RUN, T0, None, None, 0, 9]], "0" * 32, "departed[0]"),
        ([[1.5, NO_RUN, T0, None, None, 0]], "0" * 32, "departed[0][0]"),
        ([[1, 2**63, T0, None, None, 0]], "0" * 32, "departed[0][1]"),
        ([[1, 5, "x", None, None, 0]], "0" * 32, "departed[0][2]"),
        ([[1, 5, T0, None, -1, 0]], "0" * 32, "departed[0][4]"),
        ([[1, 5, T0, None, None, 8]], "0" * 32, "departed[0][5]"),
        ([[1, 5, T0, None, None, 1]], None, "departed_key"),
        ([[1, 5, T0, None, None, 1]], "xyz", "departed_key"),
        ({"a": 1}, "0" * 32, "departed"),
    ],
)
def test_bad_saved_departed_records_are_refused_by_field(departed, key, field) -> None:
    state = ledger_form.to_state(JobLedger(RAY_PAIRS)) | {"departed": departed, "departed_key": key}
    with pytest.raises(SavedStateError, match="^" + re.escape(field) + ":"):
        ledger_form.restore(JobLedger(RAY_PAIRS), state)


# --- what it costs


@pytest.mark.slow
def test_200000_ids_churned_through_one_target_cost_a_small_record_each() -> None:
    """200,000 jobs end and leave one target's list, 1,000 a poll: the ledger then holds each
    as a departed record of at most 64 bytes (measured by tracemalloc, all it allocated)."""
    churned, batch = 200_000, 1_000
    ledger = JobLedger(RAY_PAIRS, retention=60, forget_after=30 * DAY)
    ledger.apply([], T0)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for poll in range(churned // batch):
            at = T0 + 60 * (poll + 1)
            ids = range(poll * batch, (poll + 1) * batch)
            jobs = [job(f"raysubmit_{i:016x}", run=at - 50, end_time=at - 5) for i in ids]
            ledger.apply(jobs, at + 10)
            del jobs
        ledger.apply([], T0 + 60 * (churned // batch + 1) + 10)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    per_id = held / churned
    arrays = ledger.departed.footprint()
    print(
        f"\n{churned:,} departed ids: {held / 2**20:.1f} MiB traced, {per_id:.1f} B per id"
        f" ({arrays / churned:.1f} B in the record arrays and index)"
    )
    assert (len(ledger.departed), len(ledger.known), finished_total(ledger)) == (
        churned,
        0,
        churned,
    )
    assert per_id <= 64


# --- through the exporter


def test_the_cap_is_logged_exposed_and_survives_a_restart(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A Ray head drops finished jobs from its list: past ``max_departed_jobs`` the oldest are
    forgotten (warning, counter); the rest are never counted again, across a restart too."""
    now = [T0]
    with RaySimulator(clock=lambda: now[0]) as head:
        target = head.target_config("ray", resources=["jobs"], max_departed_jobs=5)
        config = parse_config({"state_file": str(tmp_path / "state.db"), "targets": [target]})

        def start() -> Exporter:
            exporter = Exporter(config)
            on_clock(exporter.pollers[0], lambda: now[0])
            return exporter

        def poll(exporter: Exporter) -> bytes:
            assert exporter.pollers[0].poll("jobs")
            now[0] += 30
            return exporter.exposition.body()

        exporter = start()
        try:
            poll(exporter)  # the baseline
            started = {}
            for i in range(8):
                started[i] = now[0]
                head.add_job(f"j{i}", status="SUCCEEDED", start_time=now[0], end_time=now[0] + 1)
                now[0] += 2
                poll(exporter)
                head.remove_job(f"j{i}")
            body = poll(exporter)
        finally:
            exporter.close()
        assert value(body, "jobfleet_jobs_departed", target="ray") == 5
        assert value(body, "jobfleet_jobs_departed_evicted_total", target="ray") == 3
        assert value(body, "jobfleet_jobs_finished_total", status="SUCCEEDED") == 8
        assert "3 departed jobs forgotten early" not in caplog.text  # one at a time, each logged
        assert caplog.text.count("departed jobs forgotten early: max_departed_jobs (5)") == 3
        exporter = start()
        try:
            for i in (7, 6, 0):  # two remembered, one forgotten early: counted again
                head.add_job(
                    f"j{i}", status="SUCCEEDED", start_time=started[i], end_time=started[i] + 1
                )
            body = poll(exporter)
        finally:
            exporter.close()
        assert value(body, "jobfleet_jobs_finished_total", status="SUCCEEDED") == 9
        assert value(body, "jobfleet_jobs_departed_evicted_total", target="ray") == 3
