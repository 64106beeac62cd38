import json
import random
import re

import pytest

from exporter.backends.emr_serverless.families import EXTRAS as EMR_EXTRAS
from exporter.backends.ray import STATUSES
from exporter.ledger.job_ledger import JobLedger
from exporter.ledger.runs import RUN_TOLERANCE, KnownJob
from exporter.model import Job, Phase, status_pairs
from exporter.store import ledger_form
from exporter.store.saved_ledger import SavedStateError

RAY_PAIRS = status_pairs(STATUSES)
EMR_USAGE = EMR_EXTRAS.usage()
T0 = 1_800_000_000.0


def job(key: str, status: str, submit: float = T0 - 100, end: float | None = None, **kw) -> Job:
    return Job(
        key=key,
        name=key,
        status=status,
        phase=STATUSES.get(status, Phase.UNKNOWN),
        submit_time=submit,
        end_time=end,
        **kw,
    )


def finished(ledger: JobLedger) -> dict[tuple[str, str], int]:
    return {(p.value, s): n for (p, s, _reason, _values), n in ledger.finished.items() if n}


def test_counters_start_at_zero_for_every_terminal_status() -> None:
    ledger = JobLedger(RAY_PAIRS)
    assert ledger.finished == {
        (Phase.SUCCEEDED, "SUCCEEDED", "", ()): 0,
        (Phase.FAILED, "FAILED", "", ()): 0,
        (Phase.CANCELLED, "STOPPED", "", ()): 0,
    }


def test_baseline_remembers_finished_jobs_without_counting() -> None:
    ledger = JobLedger(RAY_PAIRS)
    ledger.apply([job("a", "SUCCEEDED", end=T0 - 10), job("b", "RUNNING")], T0)
    assert finished(ledger) == {}
    assert ledger.submitted == {(): 0}
    assert ledger.duration[(Phase.SUCCEEDED, ())].count == 0
    ledger.apply([job("a", "SUCCEEDED", end=T0 - 10), job("b", "FAILED", end=T0 + 20)], T0 + 30)
    assert finished(ledger) == {("failed", "FAILED"): 1}
    assert ledger.duration[(Phase.FAILED, ())].count == 1
    assert ledger.duration[(Phase.FAILED, ())].total == 120


def test_each_job_counted_once_through_flicker_failure_and_vanishing() -> None:
    ledger = JobLedger(RAY_PAIRS)
    ledger.apply([], T0)
    submit = T0 + 5  # after the baseline: new work
    ledger.apply([job("x", "PENDING", submit)], T0 + 10)
    assert ledger.submitted == {(): 1}
    ledger.apply([job("x", "SUCCEEDED", submit, end=T0 + 15)], T0 + 20)
    ledger.apply([job("x", "RUNNING", submit)], T0 + 30)  # flicker back
    ledger.apply([job("x", "FAILED", submit, end=T0 + 35)], T0 + 40)  # and to another end
    # a failed poll applies nothing; then the job vanishes and comes back
    ledger.apply([], T0 + 60)
    ledger.apply([job("x", "SUCCEEDED", submit, end=T0 + 15)], T0 + 70)
    assert finished(ledger) == {("succeeded", "SUCCEEDED"): 1}
    assert ledger.submitted == {(): 1}
    assert ledger.duration[(Phase.SUCCEEDED, ())].count == 1
    assert sum(h.count for h in ledger.duration.values()) == 1


def test_job_that_vanished_while_running_is_counted_when_it_returns_finished() -> None:
    ledger = JobLedger(RAY_PAIRS)
    ledger.apply([job("x", "RUNNING")], T0)
    ledger.apply([], T0 + 10)
    assert "x" not in ledger.tracked
    ledger.apply([job("x", "STOPPED", end=T0 + 15)], T0 + 20)
    assert finished(ledger) == {("cancelled", "STOPPED"): 1}
    assert ledger.submitted == {(): 0}  # known since the baseline, not new


def test_job_born_and_finished_between_polls_is_counted() -> None:
    ledger = JobLedger(RAY_PAIRS)
    ledger.apply([], T0)
    ledger.apply([job("y", "FAILED", submit=T0 + 1, end=T0 + 5)], T0 + 10)
    assert ledger.submitted == {(): 1}
    assert finished(ledger) == {("failed", "FAILED"): 1}


def test_duplicates_in_one_listing_count_once() -> None:
    ledger = JobLedger(RAY_PAIRS)
    ledger.apply([], T0)
    ledger.apply([job("d", "SUCCEEDED", submit=T0 + 1, end=T0 + 2)] * 3, T0 + 10)
    assert ledger.submitted == {(): 1}
    assert finished(ledger) == {("succeeded", "SUCCEEDED"): 1}


def test_retention_drops_old_finished_jobs_from_gauges_but_not_counts() -> None:
    ledger = JobLedger(RAY_PAIRS, retention=3600)
    ledger.apply([job("old", "SUCCEEDED", end=T0 - 7200), job("new", "SUCCEEDED", end=T0 - 60)], T0)
    assert set(ledger.tracked) == {"new"}
    ledger.apply(
        [job("old", "SUCCEEDED", end=T0 - 7200), job("new", "SUCCEEDED", end=T0 - 60)], T0 + 3600
    )
    assert set(ledger.tracked) == set()
    assert set(ledger.known) == {"old", "new"}


def test_terminal_job_without_end_time_leaves_after_retention() -> None:
    ledger = JobLedger(RAY_PAIRS, retention=100)
    ledger.apply([], T0)
    ledger.apply([job("n", "FAILED", end=None)], T0 + 10)
    ledger.apply([job("n", "FAILED", end=None)], T0 + 50)
    assert "n" in ledger.tracked
    ledger.apply([job("n", "FAILED", end=None)], T0 + 200)
    assert "n" not in ledger.tracked
    assert finished(ledger) == {("failed", "FAILED"): 1}


def test_queue_wait_observed_once_from_pending_to_running() -> None:
    ledger = JobLedger(RAY_PAIRS)
    ledger.apply([], T0)
    ledger.apply([job("q", "PENDING", submit=T0 + 5)], T0 + 10)
    ledger.apply([job("q", "RUNNING", submit=T0 + 5)], T0 + 40)
    ledger.apply([job("q", "RUNNING", submit=T0 + 5)], T0 + 50)
    ledger.apply([job("q", "SUCCEEDED", submit=T0 + 5, end=T0 + 55)], T0 + 60)
    assert ledger.queue_wait[()].count == 1
    assert ledger.queue_wait[()].total == 35


def test_queue_wait_from_start_time_when_the_api_gives_it() -> None:
    ledger = JobLedger(RAY_PAIRS)
    ledger.apply([], T0)
    ledger.apply([job("s", "RUNNING", submit=T0, start_time=T0 + 7)], T0 + 10)
    assert (ledger.queue_wait[()].count, ledger.queue_wait[()].total) == (1, 7)


def test_jobs_running_at_baseline_observe_no_queue_wait() -> None:
    ledger = JobLedger(RAY_PAIRS)
    ledger.apply([job("r", "RUNNING", start_time=T0 - 5)], T0)
    ledger.apply([job("r", "SUCCEEDED", start_time=T0 - 5, end=T0 + 5)], T0 + 10)
    assert ledger.queue_wait[()].count == 0
    assert ledger.duration[(Phase.SUCCEEDED, ())].total == 10


def cu(hours: float | None, queue: str) -> dict:
    """A job's EMR values: its ``cuHours`` reading, in its resource queue."""
    return {"values": (hours,), "extra_labels": (("resource_queue", queue),)}


def test_cu_seconds_grow_from_baseline_and_never_decrease() -> None:
    pairs = ((Phase.RUNNING, "Running"), (Phase.SUCCEEDED, "Succeeded"))
    ledger = JobLedger(pairs, usage=EMR_USAGE)
    q = "err-1.2.0"
    ledger.apply([job("c", "Running", **cu(1.0, q))], T0)
    assert ledger.usage_totals == ({((q,), ()): 0.0},)  # present from the baseline, at 0
    ledger.apply([job("c", "Running", **cu(1.5, q))], T0 + 10)
    ledger.apply([job("c", "Running", **cu(1.2, q))], T0 + 20)  # estimate dips
    ledger.apply([job("c", "Succeeded", **cu(2.0, q), end=T0 + 25)], T0 + 30)
    born = job("n", "Succeeded", T0 + 31, **cu(0.25, q), end=T0 + 35)
    ledger.apply([born], T0 + 40)
    assert ledger.usage_totals[0][((q,), ())] == (1.0 + 0.25) * 3600


def test_forgotten_after_long_absence() -> None:
    ledger = JobLedger(RAY_PAIRS, retention=10, forget_after=100)
    ledger.apply([job("g", "SUCCEEDED", end=T0)], T0)
    ledger.apply([], T0 + 50)
    assert ledger.remembers("g")
    ledger.apply([], T0 + 200)
    assert not ledger.remembers("g")


def test_unknown_status_is_tracked_as_unknown_and_not_counted() -> None:
    ledger = JobLedger(RAY_PAIRS)
    ledger.apply([], T0)
    ledger.apply([job("u", "RETRYING")], T0 + 1)
    assert ledger.tracked["u"].phase is Phase.UNKNOWN
    assert finished(ledger) == {}


# --- identity, baseline time, forgetting (docs/metrics.md "Counting") ---


def test_a_job_first_seen_after_the_baseline_that_ended_before_it_is_remembered() -> None:
    ledger = JobLedger(RAY_PAIRS)
    ledger.apply([], T0)  # an empty (or partial) baseline
    old = job("old", "SUCCEEDED", submit=T0 - 500, end=T0 - 100)
    across = job("across", "FAILED", submit=T0 - 500, end=T0 + 5)
    ledger.apply([old, across], T0 + 10)
    assert ledger.submitted == {(): 0}  # both submitted before the baseline time
    assert finished(ledger) == {("failed", "FAILED"): 1}  # only the one that ended after it


def test_the_baseline_time_is_the_apis_clock() -> None:
    ledger = JobLedger(RAY_PAIRS)
    ledger.apply([], T0, as_of=T0 + 720)  # the cloud's clock 12 minutes ahead
    assert ledger.baseline_time == T0 + 720
    assert ledger.baseline_until == T0 + 720.999  # its Date has whole seconds: to their end
    ledger.apply([job("j", "SUCCEEDED", submit=T0 + 700, end=T0 + 710)], T0 + 10, T0 + 730)
    assert (ledger.submitted[()], finished(ledger)) == (0, {})


@pytest.mark.parametrize(
    ("began", "before"),
    [
        (T0 + 0.75, 7),  # our clock agrees: the answer was made after T0 + 0.75
        (T0 - 0.5, 0),  # begun in the second before: made after T0, the Date's start
        (T0 + 3.2, 9),  # the clocks differ: the whole of the Date's second is before
        (T0 - 1.5, 9),
    ],
)
def test_events_in_the_baselines_own_second(began: float, before: int) -> None:
    """A Date of T0 is an answer made in [T0, T0 + 1), after its poll began: jobs that ended
    0.1-0.9 s into that second, missing from that answer and listed at the next, are before the
    baseline up to the later of T0 and our clock as the poll began where the clocks agree,
    else up to T0 + 0.999."""
    ledger = JobLedger(RAY_PAIRS)
    ledger.apply([], began + 0.2, as_of=T0, began=began)  # an empty first answer
    ended = [job(f"e{i}", "SUCCEEDED", submit=T0 - 5, end=T0 + i / 10) for i in range(1, 10)]
    after = job("after", "SUCCEEDED", submit=T0 + 1, end=T0 + 1.2)
    ledger.apply([*ended, after], T0 + 30, as_of=T0 + 29)
    counted = 1 + 9 - before
    assert (ledger.submitted[()], finished(ledger)) == (1, {("succeeded", "SUCCEEDED"): counted})


def test_without_a_date_the_baseline_is_our_clock_as_the_poll_began() -> None:
    ledger = JobLedger(RAY_PAIRS)
    ledger.apply([], T0 + 0.9, began=T0 + 0.5)
    ledger.apply([job("a", "SUCCEEDED", end=T0 + 0.4), job("b", "SUCCEEDED", end=T0 + 0.6)], T0 + 9)
    assert finished(ledger) == {("succeeded", "SUCCEEDED"): 1}  # b alone


def test_histograms_observe_only_events_after_the_baseline() -> None:
    """A job that started before the baseline but is first seen after it (a partial or late
    baseline list) adds no queue wait; one that started after it does."""
    ledger = JobLedger(RAY_PAIRS)
    ledger.apply([], T0, as_of=T0)
    early = job("early", "RUNNING", submit=T0 - 600, start_time=T0 - 60)
    late = job("late", "RUNNING", submit=T0 - 600, start_time=T0 + 60)
    ledger.apply([early, late], T0 + 90, as_of=T0 + 90)
    wait = ledger.queue_wait[()]
    assert (wait.count, wait.total) == (1, 660.0)


def test_a_reused_id_is_a_new_job() -> None:
    ledger = JobLedger(RAY_PAIRS)
    first = T0 - 100
    ledger.apply([job("02000000", "SUCCEEDED", first, end=T0 - 5, run=first)], T0)
    ledger.apply([job("02000000", "SUCCEEDED", first, end=T0 - 5, run=first)], T0 + 10)
    assert (ledger.submitted[()], finished(ledger)) == (0, {})
    again = job("02000000", "RUNNING", submit=T0 + 20, run=T0 + 20)
    ledger.apply([again], T0 + 30)
    done = job("02000000", "SUCCEEDED", submit=T0 + 20, end=T0 + 35, run=T0 + 20)
    ledger.apply([done], T0 + 40)
    assert (ledger.submitted[()], finished(ledger)) == (1, {("succeeded", "SUCCEEDED"): 1})


def test_cu_of_a_job_across_the_baseline_is_pro_rated_without_a_reading() -> None:
    pairs = ((Phase.RUNNING, "Running"), (Phase.SUCCEEDED, "Succeeded"))
    ledger = JobLedger(pairs, usage=EMR_USAGE)
    q = "queue"
    start = T0 - 1800
    ledger.apply([job("c", "Running", start, start_time=start, **cu(None, q))], T0)  # null
    done = job("c", "Succeeded", start, start_time=start, end=T0 + 1800, **cu(10.0, q))
    ledger.apply([done], T0 + 1900)
    assert ledger.usage_totals[0][((q,), ())] == 5.0 * 3600  # half its run after the baseline
    missed = job("m", "Succeeded", start, start_time=start, end=T0 + 600, **cu(2.4, q))
    ledger.apply([missed], T0 + 2000)
    assert ledger.usage_totals[0][((q,), ())] == (5.0 + 0.6) * 3600  # first seen late: same rule


def test_forgotten_only_after_complete_listings_lacked_it_for_the_period() -> None:
    ledger = JobLedger(RAY_PAIRS, retention=10, forget_after=100)
    ledger.apply([job("g", "SUCCEEDED", end=T0 - 1)], T0)
    ledger.apply([], T0 + 1000, complete=False)  # an incomplete listing proves nothing
    ledger.apply([], T0 + 5000)  # the first poll after a long outage: absence starts now
    assert ledger.remembers("g")
    ledger.apply([job("g", "SUCCEEDED", end=T0 - 1)], T0 + 5050)  # it was only missed
    assert finished(ledger) == {}
    ledger.apply([], T0 + 5100)
    ledger.apply([], T0 + 5199)
    assert ledger.remembers("g")
    ledger.apply([], T0 + 5200)
    assert not ledger.remembers("g")


def test_state_keeps_the_baseline_time_runs_and_absences() -> None:
    ledger = JobLedger(RAY_PAIRS)
    running = job("r", "RUNNING", run=T0 - 100.007)
    ledger.apply([running, job("gone", "SUCCEEDED", end=T0 - 1)], T0, T0 - 3)
    ledger.apply([running], T0 + 10)
    restored = JobLedger(RAY_PAIRS)
    ledger_form.restore(restored, json.loads(json.dumps(ledger_form.to_state(ledger))))
    assert (restored.baseline_time, restored.baseline_until) == (T0 - 3, T0 - 3 + 0.999)
    assert restored.known["r"].run == T0 - 100.007
    assert [run.absent_since for run in restored.remembered_runs("gone")] == [T0 + 10]
    old = ledger_form.to_state(ledger)
    del old["baseline_time"]
    old["known"] = {key: entry[:6] for key, entry in old["known"].items()}
    ledger_form.restore(restored, old)  # saved before these fields existed
    assert restored.baseline_time is None and restored.known["r"].run is None


def test_absence_is_counted_again_after_a_gap_in_complete_listings() -> None:
    ledger = JobLedger(RAY_PAIRS, retention=10, forget_after=7 * 86400)
    ledger.apply([job("h", "SUCCEEDED", end=T0 - 1)], T0)
    ledger.apply([], T0 + 30)  # an (empty) answer without it: absence starts
    ledger.apply([], T0 + 8 * 86400)  # the first poll after an 8-day outage
    assert ledger.remembers("h")
    ledger.apply([job("h", "SUCCEEDED", end=T0 - 1)], T0 + 8 * 86400 + 30)
    assert finished(ledger) == {}


def test_a_run_whose_time_moves_within_the_tolerance_is_counted_once() -> None:
    """Rounded or re-derived submission times (1 ms, a second, a few seconds) are one run; a
    time later by more than RUN_TOLERANCE is a new run of the id."""
    ledger = JobLedger(RAY_PAIRS)
    ledger.apply([], T0)
    submit = T0 + 5.0
    for poll, moved in enumerate((0.0, 0.001, -0.001, 0.5, -3.0, 3.0, 59.9, -59.9)):
        at = submit + moved
        ledger.apply([job("j", "SUCCEEDED", at, end=T0 + 9, run=at)], T0 + 10 + poll)
    assert (ledger.submitted[()], finished(ledger)) == (1, {("succeeded", "SUCCEEDED"): 1})
    later = submit + RUN_TOLERANCE + 0.001
    ledger.apply([job("j", "SUCCEEDED", later, end=later + 1, run=later)], T0 + 100)
    assert (ledger.submitted[()], finished(ledger)) == (2, {("succeeded", "SUCCEEDED"): 2})
    assert [known.run for known in ledger.remembered_runs("j")] == [submit, later]


def test_two_runs_of_one_id_in_one_answer_each_count_once_in_any_order() -> None:
    rng = random.Random(5)
    ledger = JobLedger(RAY_PAIRS)
    old = job("x", "SUCCEEDED", T0 - 900, end=T0 - 800, run=T0 - 900)
    ledger.apply([old], T0)  # remembered, not counted
    for poll in range(1, 41):
        new = job("x", "RUNNING" if poll < 20 else "FAILED", T0 + 10, run=T0 + 10.0 + poll % 3)
        if poll >= 20:
            new.end_time = T0 + 590
        answer = [old, new, old] if poll % 7 else [new]  # listed twice, or the old run absent
        rng.shuffle(answer)
        ledger.apply(answer, T0 + 30 * poll)
        assert ledger.submitted[()] == 1
        assert finished(ledger) == ({("failed", "FAILED"): 1} if poll >= 20 else {})
        assert ledger.tracked["x"].run == new.run  # the gauges show the latest run
    assert [known.run for known in ledger.remembered_runs("x")] == [T0 - 900, T0 + 11]


def test_runs_of_one_id_are_forgotten_each_on_its_own() -> None:
    ledger = JobLedger(RAY_PAIRS, retention=10, forget_after=100)
    first = job("x", "SUCCEEDED", T0 - 900, end=T0 - 800, run=T0 - 900)
    second = job("x", "RUNNING", T0 - 500, run=T0 - 500)
    ledger.apply([first, second], T0)
    ledger.apply([second], T0 + 10)
    ledger.apply([second], T0 + 110)
    assert [k.run for k in ledger.remembered_runs("x")] == [T0 - 500]  # one run left
    assert type(ledger.known["x"]) is KnownJob  # remembered as one again
    with ledger.journal.draining() as changes:
        changed = ledger_form.changed_runs(ledger, changes)
    dropped = list(changes.forgotten)
    assert changed["x"][6] == str(round((T0 - 500) * 1000)) and dropped == []
    ledger.apply([], T0 + 120)
    ledger.apply([], T0 + 220)
    assert not ledger.remembers("x")


def test_state_keeps_several_runs_of_an_id_and_reads_the_saved_form_of_before() -> None:
    ledger = JobLedger(RAY_PAIRS)
    runs = [job("x", "SUCCEEDED", at, end=at + 60, run=at) for at in (T0 - 900, T0 - 300)]
    ledger.apply([*runs, job("y", "RUNNING", T0 - 50, run=T0 - 49.999)], T0)
    saved = json.loads(json.dumps(ledger_form.to_state(ledger)))
    assert saved["known"]["x"] == [
        [T0, True, True, False, T0 - 840, None, "1799999100000", None],
        [T0, True, True, False, T0 - 240, None, "1799999700000", None],
    ]
    assert saved["known"]["y"][6] == "1799999950001"  # as saved before: whole milliseconds
    restored = JobLedger(RAY_PAIRS)
    ledger_form.restore(restored, saved)
    assert [known.run for known in restored.remembered_runs("x")] == [T0 - 900, T0 - 300]
    # the saved form of the version before, a run in milliseconds as text: its records, times
    # jittered, are the runs remembered
    before = saved | {
        "known": {
            "x": [T0, True, True, False, T0 - 840, None, "1799999100123", None],
            "y": [T0, False, True, False, None, None, "1799999950001", None],
            "z": [T0, True, True, False, T0 - 10, None],
        }
    }
    restored = JobLedger(RAY_PAIRS)
    ledger_form.restore(restored, before)
    restored.apply(
        [
            job("x", "SUCCEEDED", T0 - 899.5, end=T0 - 840, run=T0 - 899.5),
            job("y", "SUCCEEDED", T0 - 51, end=T0 + 5, run=T0 - 51),
            job("z", "SUCCEEDED", T0 - 20, end=T0 - 10, run=T0 - 20),
        ],
        T0 + 30,
    )
    assert (restored.submitted[()], finished(restored)) == (0, {("succeeded", "SUCCEEDED"): 1})
    assert restored.known["z"].run == T0 - 20  # remembered before runs: this is its run


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ([T0, True, True, False, None, None, "soon", None], "known[6]"),
        ([T0, True, True, False, None, None, 1799999100000, None], "known[6]"),
        ([[T0, True, True, False, None, None, "1799999100000", None]], "known"),
        ([[T0, True, True, False, None, None, "1", None], [T0, True]], "known[1]"),
        ([[T0, True, True, False, None, None, "", None]] * 2, "known"),
    ],
)
def test_saved_runs_are_checked(entry: list, field: str) -> None:
    ledger = JobLedger(RAY_PAIRS)
    ledger.apply([], T0)
    saved = ledger_form.to_state(ledger) | {"known": {"x": entry}}
    with pytest.raises(SavedStateError, match=re.escape(field)):
        ledger_form.restore(JobLedger(RAY_PAIRS), saved)
