"""Per-target job state: what is tracked for the gauges, and what was already counted.

The counting rules (docs/metrics.md, "Counting"): the first successful listing sets a baseline,
a set of jobs and a time on the API's clock: jobs finished then, or found later to have ended
before that time, are remembered, not counted; from then on every job that reaches a terminal
phase is counted exactly once, whatever its status does afterwards, whether polls fail in
between, and whether it vanishes from the listing and comes back. A job is one run: an id the
platform hands out again is a new job when its ``Job.run`` time is more than ``RUN_TOLERANCE``
from that of every run of the id remembered (a time rounded or re-derived between two answers
is the same run). Jobs are remembered by run: the runs of one id are kept side by side, so two
runs listed in one answer, in any order, or by two heads answering in turn, are two jobs, each
counted once. A run is forgotten only after complete listings have gone without it for
``forget_after``; a counted run that complete listings lack is kept meanwhile as a small fixed
record (``departed.Departed``), at most ``max_departed`` of them: past that the oldest are
forgotten early, and counted in ``evicted``.

Counters and histograms are kept by the job's attribution label values (``attribution.Slots``;
``()`` on a target without attribution), and a failed job's count by its reason too. The series
of a combination of label values start at 0 when its first job is seen.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from exporter.exposition.histogram import JOB_DURATION_BUCKETS, QUEUE_WAIT_BUCKETS, Histogram
from exporter.exposition.labels import OTHER
from exporter.ledger.attribution import AttributionValues, Slots
from exporter.ledger.departed import DEFAULT_CAP, Departed, DepartedRun
from exporter.ledger.view import FinishedKey, LedgerView
from exporter.model import TERMINAL_PHASES, Job, Phase, StatusPairs
from exporter.store.saved_ledger import check_ledger_state

log = logging.getLogger(__name__)

DAY = 86400.0
ABSENCE_GAP = 3600.0  # complete listings further apart do not prove a job gone in between
# Two records of one id whose run times are this close are one run (docs/metrics.md, "Counting"):
# far above what rounding (to the second) or a time re-derived by a proxy or another Ray version
# moves, far below the time between two runs of one id (a head restart and a resubmission)
RUN_TOLERANCE = 60.0
# The API's clock as its HTTP Date header gives it has whole seconds: a Date of 12:00:00 is an
# answer made before 12:00:01, so its last millisecond (the finest time an API here reports)
# is the latest the answer can have been made, unless our clock, read as the poll began, is
# within a second of the Date: then the clocks agree, and ours is the finer bound
DATE_LAST_MS = 0.999


@dataclass(slots=True)
class KnownJob:
    """What is remembered of every job seen, so nothing is counted twice."""

    last_seen: float
    counted: bool = False
    started: bool = False
    seen_pending: bool = False
    finished_at: float | None = None
    cu_hours: float | None = None
    run: float | None = None  # which run of its id (Job.run's time), None: the id alone
    absent_since: float | None = None  # first complete listing without it, since last seen

    def stored(self) -> tuple:
        """What a store must rewrite when it changes (``last_seen`` alone is not worth a write:
        it only says when the job was last listed, and no rule reads it)."""
        return (
            self.counted,
            self.started,
            self.seen_pending,
            self.finished_at,
            self.cu_hours,
            self.run,
            self.absent_since,
        )

    def entry(self) -> list:
        """The saved form, checked back by ``ledger_state``: ``last_seen``, then ``stored()``,
        with the run as text: its whole milliseconds, "" for none (the form saved before runs
        were matched within a tolerance)."""
        run = "" if self.run is None else str(round(self.run * 1000))
        return [
            self.last_seen,
            self.counted,
            self.started,
            self.seen_pending,
            self.finished_at,
            self.cu_hours,
            run,
            self.absent_since,
        ]


Remembered = KnownJob | list[KnownJob]  # one run of an id, or two and more (each with its time)
Run = KnownJob | DepartedRun  # a run remembered in full, or as departed


def _returned(run: DepartedRun, now: float) -> KnownJob:
    """A departed run listed again, remembered in full from now on."""
    return KnownJob(
        last_seen=now,
        counted=True,
        started=run.started,
        seen_pending=run.seen_pending,
        finished_at=run.finished_at,
        cu_hours=run.cu_hours,
        run=run.run,
        absent_since=run.absent_since,
    )


def _departing(known: KnownJob) -> DepartedRun:
    assert known.absent_since is not None
    return DepartedRun(
        known.run,
        known.absent_since,
        known.finished_at,
        known.cu_hours,
        known.started,
        known.seen_pending,
    )


def _saved(entry: Remembered) -> list:
    """An id's saved form: its run's entry, or the list of its runs' entries."""
    return entry.entry() if type(entry) is KnownJob else [known.entry() for known in entry]


def _run_time(known: Run | Job) -> float:
    return -math.inf if known.run is None else known.run


def _later(job: Job, other: Job) -> bool:
    """Whether ``job`` is of a later run than ``other`` (a run without a time is the earliest)."""
    return _run_time(job) > _run_time(other)


class JobLedger:
    """Reconciles successive job listings of one target into gauges, counters and histograms."""

    def __init__(
        self,
        known_pairs: StatusPairs,
        retention: float = DAY,
        forget_after: float = 7 * DAY,
        failure_reasons: Mapping[str, tuple[str, ...]] | None = None,
        slots: Slots | None = None,
        histogram_labels: tuple[str, ...] = (),
        max_departed: int = DEFAULT_CAP,
    ) -> None:
        self.known_pairs = known_pairs
        self.failure_reasons = failure_reasons or {}
        self.slots = slots  # None: no attribution
        # which of the label values the histograms carry (their positions)
        labels = slots.labels if slots is not None else ()
        self.labels = labels
        self.histogram_labels = histogram_labels
        self._histogram_positions = tuple(labels.index(name) for name in histogram_labels)
        self.retention = retention
        self.forget_after = max(forget_after, retention)
        self.baselined = False
        self.baseline_time: float | None = None  # on the API's clock
        # the latest moment the baseline listing can have been made: all up to it is before
        # the baseline (``_before_baseline``)
        self.baseline_until: float | None = None
        self.last_complete: float | None = None  # the last complete listing (our clock)
        self.known: dict[str, Remembered] = {}  # by id: its run, or its runs
        self.departed = Departed(cap=max_departed)
        self.evicted = 0  # departed runs forgotten early, at the cap
        self.tracked: dict[str, Job] = {}  # by id: of several runs listed, the latest
        self.submitted: dict[AttributionValues, int] = {}
        self.finished: dict[FinishedKey, int] = {}
        self.duration: dict[tuple[Phase, AttributionValues], Histogram] = {}
        self.queue_wait: dict[AttributionValues, Histogram] = {}
        self.cu_seconds: dict[tuple[str, AttributionValues], float] = {}
        if slots is None:
            self._open(())
        elif not histogram_labels:  # the histograms carry no label: there from the start
            self._open_histograms(())
        self._unknown_logged: set[str] = set()
        # What changed since a store last took it: remembered jobs by key, forgotten keys; all
        # of it while no store holds this ledger's entries (a new or a replaced ledger).
        self._changed: set[str] = set()
        self._dropped: set[str] = set()
        self._all_changed = True

    # --- persistence (state_file): what was counted, so a restart neither recounts nor misses

    def to_state(self) -> dict:
        """Everything counted, as JSON-ready data; the gauges are rebuilt by the next poll."""
        return self.header_state() | {
            "known": {key: _saved(entry) for key, entry in self.known.items()},
            "departed": [list(record) for record in self.departed.records()],
        }

    def header_state(self) -> dict:
        """``to_state`` without the remembered jobs: what a store rewrites at every save.

        Without attribution (and without histogram labels) every count has the form earlier
        versions saved; with it, each entry names its label values."""
        state = {
            "baselined": self.baselined,
            "baseline_time": self.baseline_time,
            "baseline_until": self.baseline_until,
            "last_complete": self.last_complete,
            "finished": [
                [phase.value, status, n, reason, list(values)]
                if reason or values
                else [phase.value, status, n]
                for (phase, status, reason, values), n in self.finished.items()
            ],
            "departed_key": self.departed.key.hex(),
            "departed_evicted": self.evicted,
        }
        if self.slots is None:
            state["submitted"] = self.submitted.get((), 0)
            state["cu_seconds"] = {queue: n for (queue, _), n in self.cu_seconds.items()}
        else:
            state["submitted"] = [[list(values), n] for values, n in self.submitted.items()]
            state["cu_seconds"] = [
                [queue, list(values), n] for (queue, values), n in self.cu_seconds.items()
            ]
            state["attribution"] = self.slots.to_state()
        if not self._histogram_positions:
            state["duration"] = {p.value: h.to_state() for (p, _), h in self.duration.items()}
            state["queue_wait"] = self.queue_wait[()].to_state()
        else:
            state["duration"] = [
                [p.value, list(values), h.to_state()] for (p, values), h in self.duration.items()
            ]
            state["queue_wait"] = [[list(v), h.to_state()] for v, h in self.queue_wait.items()]
        return state

    def changes(self) -> tuple[bool, dict[str, list], list[str]]:
        """What a store must write to hold this ledger: (everything?, the saved form of the
        remembered jobs that changed, the keys forgotten) since ``changes_stored``."""
        if self._all_changed:
            return True, {key: _saved(entry) for key, entry in self.known.items()}, []
        changed = {key: _saved(self.known[key]) for key in self._changed if key in self.known}
        return False, changed, sorted(self._dropped)

    def departed_changes(self) -> tuple[bool, list[tuple], list[tuple[int, int]]]:
        """What a store must write of the departed runs: (everything?, records added,
        (digest, run) of those gone) since ``changes_stored``."""
        return self.departed.changes()

    def changes_stored(self) -> None:
        """A store holds everything up to now: later ``changes`` start from here."""
        self._changed.clear()
        self._dropped.clear()
        self._all_changed = False
        self.departed.changes_stored()

    def _note_changed(self, key: str) -> None:
        self._changed.add(key)
        if len(self._changed) > len(self.known):  # never taken: no store holds this ledger
            self._note_all_changed()

    def _note_all_changed(self) -> None:
        self._changed.clear()
        self._dropped.clear()
        self._all_changed = True

    def restore(self, state: object) -> None:
        """Continue from ``to_state`` data: counters carry on from their saved values.

        Everything is checked before anything is taken: SavedStateError (naming the field)
        leaves this ledger as it was."""
        saved = check_ledger_state(state)
        labels = self.slots.labels if self.slots is not None else ()
        widths = {len(labels)} | ({0} if self.slots is None else set())
        saved_widths = {len(v) for v in saved.submitted} | {len(k[3]) for k in saved.finished}
        if not saved_widths <= widths:
            raise ValueError("counts saved with other attribution labels")
        slots: Mapping[str, list[str]] = {}
        if self.slots is not None:
            if saved.attribution is None:
                raise ValueError("attribution: missing")
            slots = saved.attribution[0]
            self.slots.check(slots)
        counted = [
            *saved.submitted,
            *(k[3] for k in saved.finished),
            *(k[1] for k in saved.cu_seconds),
        ]
        histograms = [*(values for _, values in saved.duration), *saved.queue_wait]
        if not all(self._held(v, self.labels, slots) for v in counted) or not all(
            self._held(v, self.histogram_labels, slots) for v in histograms
        ):
            raise ValueError("attribution: counts saved under values that hold no slot")
        if self.slots is not None:
            self.slots.restore(*saved.attribution)
        self.baselined = saved.baselined
        self.baseline_time = saved.baseline_time
        self.baseline_until = saved.baseline_until
        self.last_complete = saved.last_complete
        for values, n in saved.submitted.items():
            self._open(values)
            self.submitted[values] = n
        self.finished.update(saved.finished)
        for (phase, values), histogram in saved.duration.items():
            if histogram.buckets is not None:
                self.duration.setdefault((phase, values), Histogram(JOB_DURATION_BUCKETS)).restore(
                    histogram.buckets, histogram.count, histogram.total
                )
        for values, wait in saved.queue_wait.items():
            if wait.buckets is not None:
                self.queue_wait.setdefault(values, Histogram(QUEUE_WAIT_BUCKETS)).restore(
                    wait.buckets, wait.count, wait.total
                )
        self.cu_seconds = dict(saved.cu_seconds)
        self.known = {
            key: KnownJob(*runs[0]) if len(runs) == 1 else [KnownJob(*run) for run in runs]
            for key, runs in saved.known.items()
        }
        self.departed = Departed(saved.departed_key, self.departed.cap)
        self.evicted = saved.departed_evicted + self.departed.restore(saved.departed)
        self.changes_stored()  # restored from a store, which holds all of it
        if saved.departed_key is None:  # saved before: its counted absent runs depart now
            self._depart_absent()

    @staticmethod
    def _held(
        values: AttributionValues, labels: tuple[str, ...], slots: Mapping[str, list[str]]
    ) -> bool:
        """Whether saved counts of ``values`` (of ``labels``) are ones this ledger could have
        made: each value empty, ``other``, or holding its label's slot in ``slots`` (so the
        series stay within the cap)."""
        if len(values) != len(labels):
            return False
        return all(
            v in ("", OTHER) or v in slots[label] for label, v in zip(labels, values, strict=True)
        )

    def _open(self, values: AttributionValues) -> None:
        """The series of a combination of label values, at 0, when its first job is seen: every
        terminal (phase, status, reason) the backend knows, and the histograms."""
        if values in self.submitted:
            return
        self.submitted[values] = 0
        for phase, status in self.known_pairs:
            if phase in TERMINAL_PHASES:
                failed = phase is Phase.FAILED
                for reason in self.failure_reasons.get(status, ("",)) if failed else ("",):
                    self.finished.setdefault((phase, status, reason, values), 0)
        self._open_histograms(self.histogram_values(values))

    def _open_histograms(self, values: AttributionValues) -> None:
        for phase in TERMINAL_PHASES:
            self.duration.setdefault((phase, values), Histogram(JOB_DURATION_BUCKETS))
        self.queue_wait.setdefault(values, Histogram(QUEUE_WAIT_BUCKETS))

    def histogram_values(self, values: AttributionValues) -> AttributionValues:
        """The label values the histograms carry, of a job's ``values``."""
        return tuple(values[i] for i in self._histogram_positions)

    def label_values(self, job: Job) -> AttributionValues:
        """A job's attribution label values as admitted (``other`` past the cap)."""
        return () if self.slots is None else self.slots.lookup(job.attribution)

    def view(self) -> LedgerView:
        """What the renderers read, read-only and uncopied (``view.LedgerView``)."""
        slots = self.slots
        return LedgerView(
            known_pairs=self.known_pairs,
            labels=self.labels,
            histogram_labels=self.histogram_labels,
            attributed=slots is not None,
            tracked=MappingProxyType(self.tracked),
            label_values=self.label_values,
            submitted=MappingProxyType(self.submitted),
            finished=MappingProxyType(self.finished),
            duration=MappingProxyType(self.duration),
            queue_wait=MappingProxyType(self.queue_wait),
            cu_seconds=MappingProxyType(self.cu_seconds),
            departed=len(self.departed),
            evicted=self.evicted,
            overflow=MappingProxyType(slots.overflow if slots is not None else {}),
        )

    def remembered_runs(self, key: str) -> list[Run]:
        """The runs of id ``key`` remembered, in full or as departed, earliest first."""
        entry = self.known.get(key)
        runs: list[Run] = [] if entry is None else entry if type(entry) is list else [entry]
        runs += [record for _, record in self.departed.runs(key)]
        return sorted(runs, key=_run_time)

    def remembers(self, key: str) -> bool:
        """Whether a run of id ``key`` is remembered, in full or as departed."""
        return bool(self.remembered_runs(key))

    def unfinished(self) -> list[str]:
        """Jobs remembered as seen but not yet counted finished (by id: one of its runs)."""
        return [
            key
            for key, entry in self.known.items()
            if (not entry.counted if type(entry) is KnownJob else any(not k.counted for k in entry))
        ]

    def apply(
        self,
        jobs: Iterable[Job],
        now: float,
        as_of: float | None = None,
        complete: bool = True,
        began: float | None = None,
    ) -> None:
        """Reconcile one successful listing taken at ``now`` (our clock; its poll ``began``
        then, None: at ``now``), ``as_of`` on the API's clock, in whole seconds (its ``Date``
        header; None: ours). Only a ``complete`` listing can tell that a job is gone."""
        api_now = now if as_of is None else as_of
        counting = self.baselined
        if not counting:
            self.baseline_time = api_now
            self.baseline_until = self._answer_made_by(now if began is None else began, as_of)
        previous = self.tracked
        tracked: dict[str, Job] = {}
        seen: set[str] = set()  # the ids listed
        # of the ids listed that are remembered with several runs: the runs listed (``id``)
        seen_runs: dict[str, set[int]] = {}
        for job in jobs:
            key = job.key
            if key in seen:
                again = True
            else:
                seen.add(key)
                if self._unchanged(job, previous.get(key), now, tracked):
                    continue
                again = False
            self._take(job, again, now, api_now, counting, tracked, seen_runs)
        self.tracked = tracked
        self.baselined = True
        if complete:
            self._forget(now, seen, seen_runs)

    def _take(
        self,
        job: Job,
        again: bool,
        now: float,
        api_now: float,
        counting: bool,
        tracked: dict[str, Job],
        seen_runs: dict[str, set[int]],
    ) -> None:
        """Reconcile one record of a listing; ``again``: its id was listed before in it."""
        key = job.key
        entry = self._remembered(key, job.run, now, again, seen_runs)
        known = self._run_of(entry, job.run)
        listed = seen_runs.get(key, ())
        if again and known is not None and (type(entry) is KnownJob or id(known) in listed):
            return  # a run listed twice in one answer: its first record is the one read
        self._note_unknown(job)
        before = None if known is None else known.stored()
        if known is not None and known.run is None and job.run is not None:
            known.run = job.run  # remembered before runs were told apart: this is its run
        values = self._admit(job, new=known is None)
        if known is None:
            known = KnownJob(last_seen=now, run=job.run)
            entry = self._add_run(key, entry, known, again, seen_runs)
            if counting:
                self._first_seen_after_baseline(job, known, values)
            else:
                known.counted = job.phase.terminal
                known.started = job.phase is not Phase.PENDING
        if type(entry) is list:
            seen_runs.setdefault(key, set()).add(id(known))
        known.last_seen, known.absent_since = now, None
        self._account_cu(job, known, counting, api_now, values)
        self._observe_start(job, known, now, values)
        if job.phase.terminal and not known.counted:
            known.counted = True
            self._count_finished(job, now, values)
        if job.phase.terminal and known.finished_at is None:
            known.finished_at = job.end_time if job.end_time is not None else now
        if not job.phase.terminal or known.finished_at >= now - self.retention:
            shown = tracked.get(key)  # another run of the id listed: the gauges show the latest
            if shown is None or _later(job, shown):
                tracked[key] = job
        if not self._all_changed and known.stored() != before:
            self._note_changed(key)

    def _remembered(
        self,
        key: str,
        run: float | None,
        now: float,
        again: bool,
        seen_runs: dict[str, set[int]],
    ) -> Remembered | None:
        """The runs remembered of id ``key``; when none of them is the run of a record of run
        time ``run``, the departed run that is (if any) comes back among them."""
        entry = self.known.get(key)
        if not len(self.departed) or self._run_of(entry, run) is not None:
            return entry
        kept = self.departed.runs(key)
        match = self._run_of([record for _, record in kept], run) if kept else None
        if match is None:
            return entry
        self.departed.take(next(p for p, record in kept if record is match))
        return self._add_run(key, entry, _returned(match, now), again, seen_runs)

    def _add_run(
        self,
        key: str,
        entry: Remembered | None,
        known: KnownJob,
        again: bool,
        seen_runs: dict[str, set[int]],
    ) -> Remembered:
        """Remember ``known``, a run of id ``key``, beside its runs remembered (``entry``)."""
        if entry is None:
            self.known[key] = known
            return known
        if type(entry) is KnownJob:  # another run of an id: both are remembered
            if again:  # the run remembered was the one listed before in this answer
                seen_runs[key] = {id(entry)}
            entry = self.known[key] = [entry, known]
            return entry
        entry.append(known)
        return entry

    @staticmethod
    def _run_of(entry: Run | list[Run] | list[KnownJob] | None, run: float | None) -> Run | None:
        """The run remembered that a record of run time ``run`` is: the one of nearest time
        within ``RUN_TOLERANCE``, the latest for a record without a time (a run remembered
        without one matches any), or None: a new run."""
        if entry is None:
            return None
        if type(entry) is not list:
            if run is None or entry.run is None or abs(entry.run - run) <= RUN_TOLERANCE:
                return entry
            return None
        if run is None:
            return max(entry, key=_run_time)
        nearest, gap = None, RUN_TOLERANCE
        for known in entry:
            distance = RUN_TOLERANCE if known.run is None else abs(known.run - run)
            if distance <= gap:
                nearest, gap = known, distance
        return nearest

    def _unchanged(self, job: Job, last: Job | None, now: float, tracked: dict[str, Job]) -> bool:
        """A job listed as it was at the last poll (same status, times, CU, run, labels) has
        nothing left to count: it is marked seen and kept tracked while its retention lasts,
        as the same ``Job`` object, so its rendered series can be reused as they are."""
        if last is not job and (last is None or last != job):  # the same record: as it was
            return False
        known = self.known.get(job.key)
        if type(known) is not KnownJob or known.absent_since is not None:  # or several runs
            return False
        known.last_seen = now
        if last.phase not in TERMINAL_PHASES or known.finished_at >= now - self.retention:
            tracked[job.key] = last
        return True

    @staticmethod
    def _answer_made_by(began: float, as_of: float | None) -> float:
        """The moment up to which an event missing from the baseline answer is taken as before
        it: the answer was made after the poll began and in the second of its ``Date``. Where
        our clock agrees with the API's (within a second), the later of the two lower bounds:
        a job listed by neither was not there yet, so it counts (only a list that lags could
        have left it out). Where they disagree, the whole of the ``Date``'s second, the bound
        that cannot be too early."""
        if as_of is None:
            return began
        if as_of - 1 < began < as_of + 1:
            return max(began, as_of)
        return as_of + DATE_LAST_MS

    def _before_baseline(self, moment: float | None) -> bool:
        """At or before the baseline (``_answer_made_by``)."""
        until = self.baseline_until
        return moment is not None and until is not None and moment <= until

    def _admit(self, job: Job, new: bool) -> AttributionValues:
        """A job's label values, taking slots still free (``Slots.admit``); its series open."""
        values = () if self.slots is None else self.slots.admit(job.attribution, new)
        self._open(values)
        return values

    def _first_seen_after_baseline(
        self, job: Job, known: KnownJob, values: AttributionValues
    ) -> None:
        """A job the baseline did not list (a partial or moving list, a late one): counted as
        submitted only if submitted after the baseline time; if it ended by then, remembered."""
        if not self._before_baseline(job.submit_time):
            self.submitted[values] += 1
        if job.phase.terminal and self._before_baseline(job.end_time):
            known.counted = True
            known.started = True

    def _note_unknown(self, job: Job) -> None:
        if job.phase is Phase.UNKNOWN and job.status not in self._unknown_logged:
            self._unknown_logged.add(job.status)
            log.warning("unknown job status %r (job %s): phase 'unknown'", job.status, job.key)

    def _account_cu(
        self, job: Job, known: KnownJob, counting: bool, api_now: float, values: AttributionValues
    ) -> None:
        if job.cu_hours is None:
            return
        series = (job.resource_queue, values)
        self.cu_seconds.setdefault(series, 0.0)  # present from 0, like every counter
        previous = known.cu_hours
        if previous is None:
            increase = job.cu_hours * self._share_after_baseline(job, api_now) if counting else 0.0
        else:
            increase = job.cu_hours - previous
        if increase > 0:
            self.cu_seconds[series] += increase * 3600.0
        known.cu_hours = max(job.cu_hours, previous or 0.0)

    def _share_after_baseline(self, job: Job, api_now: float) -> float:
        """The part of a job's first ``cuHours`` reading consumed after the baseline time: all
        of it for a job begun since, none for one ended before, else pro rata of its run time
        (the same for a job running at the baseline whose reading was null then)."""
        begin = job.start_time if job.start_time is not None else job.submit_time
        if self.baseline_time is None or begin is None or begin >= self.baseline_time:
            return 1.0
        stop = job.end_time if job.end_time is not None else api_now
        if stop <= self.baseline_time:
            return 0.0
        return (stop - self.baseline_time) / (stop - begin)

    def _observe_start(
        self, job: Job, known: KnownJob, now: float, values: AttributionValues
    ) -> None:
        """Observe queue wait once, when a job is first seen started.

        Where the API gives no run-start time (Ray), the start is taken as the first poll that
        sees the job running after having seen it pending: precise to one poll interval.
        """
        if job.phase is Phase.PENDING:
            known.seen_pending = True
            return
        if known.started:
            return
        known.started = True
        if job.submit_time is None or self._before_baseline(job.start_time):
            return  # a start before the baseline is not one of the events observed
        queue_wait = self.queue_wait[self.histogram_values(values)]
        if job.start_time is not None:
            queue_wait.observe(job.start_time - job.submit_time, job.key, now)
        elif job.phase is Phase.RUNNING and known.seen_pending:
            queue_wait.observe(now - job.submit_time, job.key, now)

    def _count_finished(self, job: Job, now: float, values: AttributionValues) -> None:
        series = (job.phase, job.status, job.reason, values)
        self.finished[series] = self.finished.get(series, 0) + 1
        begin = job.start_time if job.start_time is not None else job.submit_time
        duration = self.duration.get((job.phase, self.histogram_values(values)))
        if begin is not None and job.end_time is not None and duration is not None:
            duration.observe(job.end_time - begin, job.key, now)

    def _forget(self, now: float, seen: set[str], seen_runs: dict[str, set[int]]) -> None:
        """Forget a run once complete listings have gone without it for ``forget_after``: the
        platform no longer returns it. Absence is counted from the first complete listing that
        lacks it, and counted again from the start after a gap of more than ``ABSENCE_GAP``
        between two complete listings (an outage, a long run of failed polls): what the
        exporter did not watch proves nothing, so a first poll after an outage forgets nothing.
        Each run of an id is absent, and forgotten, on its own; a counted run departs as soon
        as it is absent (``departed``), and is forgotten from there."""
        watched = self.last_complete is not None and now - self.last_complete <= ABSENCE_GAP
        if watched:
            self.departed.expire(now, self.forget_after)
        else:
            self.departed.restart_absence(now)
        stale = []  # ids none of whose runs is kept in full
        several: dict[str, set[int]] = {}  # ids of several runs: those of their runs listed
        for key, entry in self.known.items():
            if key in seen:
                continue
            if type(entry) is list:
                several[key] = set()
            elif self._gone(key, entry, now, watched):
                stale.append(key)
            elif entry.counted:
                self._depart(key, entry)
                stale.append(key)
        for key, listed in (*seen_runs.items(), *several.items()):
            runs = self.known[key]
            assert type(runs) is list  # an id listed is remembered, and runs are never fewer
            kept = []
            for known in runs:
                if id(known) in listed:
                    kept.append(known)
                elif self._gone(key, known, now, watched):
                    continue
                elif known.counted:
                    self._depart(key, known)
                else:
                    kept.append(known)
            if len(kept) < len(runs):
                if kept:
                    self.known[key] = kept[0] if len(kept) == 1 else kept
                    if not self._all_changed:
                        self._note_changed(key)
                else:
                    stale.append(key)
        self._drop_keys(stale)
        self.last_complete = now

    def _depart(self, key: str, known: KnownJob) -> None:
        """A counted run that complete listings lack is kept as a departed record."""
        self.evicted += self.departed.add(key, _departing(known))

    def _drop_keys(self, keys: list[str]) -> None:
        """Ids no run of which is remembered in full any more."""
        for key in keys:
            del self.known[key]
            if not self._all_changed:
                self._changed.discard(key)
                self._dropped.add(key)
        if len(self._dropped) > len(self.known):  # never taken: no store holds this ledger
            self._note_all_changed()

    def _depart_absent(self) -> None:
        """The counted runs remembered absent, in state saved before they were kept apart,
        depart (each id's once), oldest absence first."""
        absent = sorted(
            (
                (known.absent_since, key, known)
                for key, entry in self.known.items()
                for known in (entry if type(entry) is list else [entry])
                if known.counted and known.absent_since is not None
            ),
            key=lambda item: item[0],
        )
        stale = []
        for _, key, known in absent:
            self._depart(key, known)
            entry = self.known[key]
            if type(entry) is KnownJob:
                stale.append(key)
                continue
            entry.remove(known)
            self.known[key] = entry[0] if len(entry) == 1 else entry
            if not self._all_changed:
                self._note_changed(key)
        self._drop_keys(stale)

    def _gone(self, key: str, known: KnownJob, now: float, watched: bool) -> bool:
        """Whether a run that a complete listing lacked is to be forgotten now."""
        if known.absent_since is None or not watched:
            known.absent_since = now
            if not self._all_changed:
                self._note_changed(key)
            return False
        return now - known.absent_since >= self.forget_after
