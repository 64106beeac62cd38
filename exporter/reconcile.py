"""Per-target job state: what is tracked for the gauges, and what was already counted.

The counting rules (docs/metrics.md, "Counting"): the first successful listing sets a baseline,
a set of jobs and a time on the API's clock: jobs finished then, or found later to have ended
before that time, are remembered, not counted; from then on every job that reaches a terminal
phase is counted exactly once, whatever its status does afterwards, whether polls fail in
between, and whether it vanishes from the listing and comes back. A job is one run: an id the
platform hands out again (``Job.run`` differs) is a new job. A job is forgotten only after
complete listings have gone without it for ``forget_after``.

Counters and histograms are kept by the job's attribution label values (``attribution.Slots``;
``()`` on a target without attribution), and a failed job's count by its reason too. The series
of a combination of label values start at 0 when its first job is seen.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .attribution import AttributionValues, Slots
from .histogram import JOB_DURATION_BUCKETS, QUEUE_WAIT_BUCKETS, Histogram
from .labels import OTHER
from .ledger_state import check_ledger_state
from .model import TERMINAL_PHASES, Job, Phase, StatusPairs

log = logging.getLogger(__name__)

DAY = 86400.0
ABSENCE_GAP = 3600.0  # complete listings further apart do not prove a job gone in between

FinishedKey = tuple[Phase, str, str, AttributionValues]  # phase, status, reason, label values


@dataclass(slots=True)
class KnownJob:
    """What is remembered of every job seen, so nothing is counted twice."""

    last_seen: float
    counted: bool = False
    started: bool = False
    seen_pending: bool = False
    finished_at: float | None = None
    cu_hours: float | None = None
    run: str = ""  # which run of its id (Job.run)
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
        """The saved form, checked back by ``ledger_state``: ``last_seen``, then ``stored()``."""
        return [self.last_seen, *self.stored()]


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
        self.last_complete: float | None = None  # the last complete listing (our clock)
        self.known: dict[str, KnownJob] = {}
        self.tracked: dict[str, Job] = {}
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
            "known": {key: known.entry() for key, known in self.known.items()}
        }

    def header_state(self) -> dict:
        """``to_state`` without the remembered jobs: what a store rewrites at every save.

        Without attribution (and without histogram labels) every count has the form earlier
        versions saved; with it, each entry names its label values."""
        state = {
            "baselined": self.baselined,
            "baseline_time": self.baseline_time,
            "last_complete": self.last_complete,
            "finished": [
                [phase.value, status, n, reason, list(values)]
                if reason or values
                else [phase.value, status, n]
                for (phase, status, reason, values), n in self.finished.items()
            ],
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
            return True, {key: known.entry() for key, known in self.known.items()}, []
        changed = {key: self.known[key].entry() for key in self._changed if key in self.known}
        return False, changed, sorted(self._dropped)

    def changes_stored(self) -> None:
        """A store holds everything up to now: later ``changes`` start from here."""
        self._changed.clear()
        self._dropped.clear()
        self._all_changed = False

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
        self.known = {key: KnownJob(*entry) for key, entry in saved.known.items()}
        self.changes_stored()  # restored from a store, which holds all of it

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

    def unfinished(self) -> list[str]:
        """Jobs remembered as seen but not yet counted finished."""
        return [key for key, known in self.known.items() if not known.counted]

    def apply(
        self, jobs: Iterable[Job], now: float, as_of: float | None = None, complete: bool = True
    ) -> None:
        """Reconcile one successful listing taken at ``now`` (our clock), ``as_of`` on the API's
        clock (None: ours). Only a ``complete`` listing can tell that a job is gone."""
        api_now = now if as_of is None else as_of
        counting = self.baselined
        if not counting:
            self.baseline_time = api_now
        previous = self.tracked
        tracked: dict[str, Job] = {}
        seen: set[str] = set()
        for job in jobs:
            if job.key in seen:
                continue
            seen.add(job.key)
            if self._unchanged(job, previous.get(job.key), now, tracked):
                continue
            self._note_unknown(job)
            known = self.known.get(job.key)
            before = None if known is None else known.stored()
            if known is not None and job.run and known.run != job.run:
                if known.run:  # the id was handed out again: this is another job
                    known = None
                else:  # remembered before runs were told apart: this is its run
                    known.run = job.run
            values = self._admit(job, new=known is None)
            if known is None:
                known = self.known[job.key] = KnownJob(last_seen=now, run=job.run)
                if counting:
                    self._first_seen_after_baseline(job, known, values)
                else:
                    known.counted = job.phase.terminal
                    known.started = job.phase is not Phase.PENDING
            known.last_seen, known.absent_since = now, None
            self._account_cu(job, known, counting, api_now, values)
            self._observe_start(job, known, now, values)
            if job.phase.terminal and not known.counted:
                known.counted = True
                self._count_finished(job, now, values)
            if job.phase.terminal and known.finished_at is None:
                known.finished_at = job.end_time if job.end_time is not None else now
            if not job.phase.terminal or known.finished_at >= now - self.retention:
                tracked[job.key] = job
            if not self._all_changed and known.stored() != before:
                self._note_changed(job.key)
        self.tracked = tracked
        self.baselined = True
        if complete:
            self._forget(now, seen)

    def _unchanged(self, job: Job, last: Job | None, now: float, tracked: dict[str, Job]) -> bool:
        """A job listed as it was at the last poll (same status, times, CU, run, labels) has
        nothing left to count: it is marked seen and kept tracked while its retention lasts,
        as the same ``Job`` object, so its rendered series can be reused as they are."""
        if last is not job and (last is None or last != job):  # the same record: as it was
            return False
        known = self.known.get(job.key)
        if known is None or known.absent_since is not None:
            return False
        known.last_seen = now
        if last.phase not in TERMINAL_PHASES or known.finished_at >= now - self.retention:
            tracked[job.key] = last
        return True

    def _before_baseline(self, moment: float | None) -> bool:
        """At or before the baseline time (the API's ``Date`` has whole seconds: a job that
        ended in the baseline's own second was due in its listing)."""
        return (
            moment is not None and self.baseline_time is not None and moment <= self.baseline_time
        )

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
        if job.submit_time is None:
            return
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

    def _forget(self, now: float, seen: set[str]) -> None:
        """Forget a job once complete listings have gone without it for ``forget_after``: the
        platform no longer returns it. Absence is counted from the first complete listing that
        lacks it, and counted again from the start after a gap of more than ``ABSENCE_GAP``
        between two complete listings (an outage, a long run of failed polls): what the
        exporter did not watch proves nothing, so a first poll after an outage forgets nothing."""
        watched = self.last_complete is not None and now - self.last_complete <= ABSENCE_GAP
        stale = []
        for key, known in self.known.items():
            if key in seen:
                continue
            if known.absent_since is None or not watched:
                known.absent_since = now
                if not self._all_changed:
                    self._note_changed(key)
            elif now - known.absent_since >= self.forget_after:
                stale.append(key)
        for key in stale:
            del self.known[key]
            if not self._all_changed:
                self._changed.discard(key)
                self._dropped.add(key)
        if len(self._dropped) > len(self.known):  # never taken: no store holds this ledger
            self._note_all_changed()
        self.last_complete = now
