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
counted once. How runs are matched (``runs``) and forgotten (``memory.RunMemory``) lives
beside this module.

Counters and histograms are kept by the job's attribution label values (``attribution.Slots``;
``()`` on a target without attribution), and a failed job's count by its reason too. The series
of a combination of label values start at 0 when its first job is seen. The usage values a
backend declares (``usage``) are counted from each run's cumulative readings, by the job labels
each is split by too; the values it observes (``observed``) are observed once, in histograms,
when the job is counted finished. Histograms of the families that declare it keep a native
histogram beside their classic buckets, made with the ledger's ``native`` settings.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from types import MappingProxyType

from exporter.exposition.histogram import Histogram
from exporter.exposition.labels import OTHER
from exporter.exposition.native_histogram import NativeSettings
from exporter.ledger.attribution import AttributionValues, Slots
from exporter.ledger.baseline import answer_made_by
from exporter.ledger.counts import LedgerState
from exporter.ledger.departed import DEFAULT_CAP, Departed
from exporter.ledger.histograms import Layouts, restore_into
from exporter.ledger.memory import RunMemory
from exporter.ledger.observed import Observed, ObservedValues
from exporter.ledger.runs import KnownJob, later, run_of
from exporter.ledger.usage import Usage, UsageKey, kept
from exporter.ledger.view import FinishedKey, LedgerView, UsageCounts
from exporter.model import TERMINAL_PHASES, Job, Phase, StatusPairs

log = logging.getLogger(__name__)

DAY = 86400.0


class JobLedger(RunMemory):
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
        usage: tuple[Usage, ...] = (),
        open_reasons: int = 0,
        observed: tuple[Observed, ...] = (),
        native: NativeSettings | None = None,
    ) -> None:
        super().__init__(max(forget_after, retention), max_departed, len(usage))
        self.known_pairs = known_pairs
        self.failure_reasons = failure_reasons or {}
        # how many reasons beyond the declared ones a failed status may have (an open-ended
        # vocabulary, such as error codes): later ones are ``other``. Read from the counts, so
        # a restart keeps the reasons admitted before it.
        self.open_reasons = open_reasons
        self._admitted_reasons: dict[str, set[str]] = {}
        self._capped_logged: set[str] = set()
        self.slots = slots  # None: no attribution
        # which of the label values the histograms carry (their positions)
        labels = slots.labels if slots is not None else ()
        self.labels = labels
        self.histogram_labels = histogram_labels
        self._histogram_positions = tuple(labels.index(name) for name in histogram_labels)
        self.retention = retention
        self.baselined = False
        self.baseline_time: float | None = None  # on the API's clock
        # the latest moment the baseline listing can have been made: all up to it is before
        # the baseline (``_before_baseline``)
        self.baseline_until: float | None = None
        self.tracked: dict[str, Job] = {}  # by id: of several runs listed, the latest
        self.submitted: dict[AttributionValues, int] = {}
        self.finished: dict[FinishedKey, int] = {}
        self.duration: dict[tuple[Phase, AttributionValues], Histogram] = {}
        self.queue_wait: dict[AttributionValues, Histogram] = {}
        self.native, self.layouts = native, Layouts.of(native)
        self.usage = usage
        self.usage_totals: tuple[dict[UsageKey, float], ...] = tuple({} for _ in usage)
        self.observed = ObservedValues(observed, native)  # by histogram label values
        if slots is None:
            self._open(())
        elif not histogram_labels:  # the histograms carry no label: there from the start
            self._open_histograms(())
        self._unknown_logged: set[str] = set()

    def resume(self, state: LedgerState) -> None:
        """Continue from ``state``, checked against this ledger by whoever kept it: counters
        carry on from its values. Histograms kept with another bucket layout start at 0."""
        if self.slots is not None and state.attribution is not None:
            self.slots.restore(*state.attribution)
        self.baselined = state.baselined
        self.baseline_time = state.baseline_time
        self.baseline_until = state.baseline_until
        self.last_complete = state.last_complete
        for values, n in state.submitted.items():
            self._open(values)
            self.submitted[values] = n
        self.finished.update(state.finished)
        self._admitted_reasons = {}
        for _, status, reason, _ in self.finished:
            self._admit_reason(status, reason)
        restore_into(self.duration, state.duration, self.layouts.duration)
        restore_into(self.queue_wait, state.queue_wait, self.layouts.queue_wait)
        self.usage_totals = tuple(dict(state.usage_totals.get(u.name, {})) for u in self.usage)
        self.observed.restore(state.observed)
        self.known = {
            key: KnownJob(*runs[0]) if len(runs) == 1 else [KnownJob(*run) for run in runs]
            for key, runs in state.known.items()
        }
        self.departed = Departed(
            state.departed_key, self.departed.cap, self.journal, len(self.usage)
        )
        self.evicted = state.departed_evicted + self.departed.restore(state.departed)

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
            self.duration.setdefault((phase, values), self.layouts.duration.new())
        self.queue_wait.setdefault(values, self.layouts.queue_wait.new())
        self.observed.open(values)

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
            usage=tuple(
                UsageCounts(u.family, u.split_by, MappingProxyType(totals), u.labels)
                for u, totals in zip(self.usage, self.usage_totals, strict=True)
            ),
            observed=self.observed.view(),
            departed=len(self.departed),
            evicted=self.evicted,
            overflow=MappingProxyType(slots.overflow if slots is not None else {}),
        )

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
            self.baseline_until = answer_made_by(now if began is None else began, as_of)
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
        known = run_of(entry, job.run)
        listed = seen_runs.get(key, ())
        if again and known is not None and (type(entry) is KnownJob or id(known) in listed):
            return  # a run listed twice in one answer: its first record is the one read
        self._note_unknown(job)
        before = None if known is None else known.kept_fields()
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
        if self.usage:
            self._account_usage(job, known, counting, api_now, values)
        self._observe_start(job, known, now, values)
        if job.phase.terminal and not known.counted and not job.values_due:
            known.counted = True
            self._count_finished(job, now, values)
        if job.phase.terminal and known.finished_at is None:
            known.finished_at = job.end_time if job.end_time is not None else now
        if not job.phase.terminal or known.finished_at >= now - self.retention:
            shown = tracked.get(key)  # another run of the id listed: the gauges show the latest
            if shown is None or later(job, shown):
                tracked[key] = job
        if not self.journal.whole and known.kept_fields() != before:
            self.journal.note_run(key, len(self.known))

    def uncounted(self, job: Job) -> bool:
        """Whether ``job``, listed ended now, is still to be counted finished: not remembered
        as counted, nor (not listed before) ended by the baseline. None is before it."""
        if not self.baselined:
            return False
        known = run_of(self.known.get(job.key), job.run)
        if known is None:
            return not self._before_baseline(job.end_time)
        return not known.counted

    def _unchanged(self, job: Job, last: Job | None, now: float, tracked: dict[str, Job]) -> bool:
        """A job listed as it was at the last poll (same status, times, values, run, labels) has
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

    def _before_baseline(self, moment: float | None) -> bool:
        """At or before the baseline (``baseline.answer_made_by``)."""
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

    def _account_usage(
        self, job: Job, known: KnownJob, counting: bool, api_now: float, values: AttributionValues
    ) -> None:
        """Count each usage value's increase since the run's last reading (its first:
        ``Usage.first_share``); a reading below the last (an estimate that dips) adds nothing."""
        readings = list(known.readings or (None,) * len(self.usage))
        for i, usage in enumerate(self.usage):
            reading = usage.reading(job)
            if reading is None:
                continue
            totals = self.usage_totals[i]
            series = (usage.split_values(job), values)
            totals.setdefault(series, 0.0)  # present from 0, like every counter
            previous = readings[i]
            if previous is None:
                submitted = not self._before_baseline(job.submit_time)  # counted submitted
                share = usage.first_share(job, self.baseline_time, api_now, submitted)
                increase = reading * share if counting else 0.0
            else:
                increase = reading - previous
            if increase > 0:
                totals[series] += increase * usage.scale
            readings[i] = max(reading, previous or 0.0)
        known.readings = kept(tuple(readings))

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

    def _admit_reason(self, status: str, reason: str) -> str:
        """``reason``, or ``other`` once ``status`` has its ``open_reasons`` undeclared ones."""
        if not self.open_reasons or reason in self.failure_reasons.get(status, ("",)):
            return reason
        admitted = self._admitted_reasons.setdefault(status, set())
        if reason in admitted:
            return reason
        if len(admitted) >= self.open_reasons:
            if status not in self._capped_logged:
                self._capped_logged.add(status)
                log.warning(
                    "more than %d distinct reasons of failed status %s: %r and later ones "
                    "are counted as %r",
                    self.open_reasons,
                    status,
                    reason,
                    OTHER,
                )
            return OTHER
        admitted.add(reason)
        return reason

    def _count_finished(self, job: Job, now: float, values: AttributionValues) -> None:
        reason = self._admit_reason(job.status, job.reason) if job.reason else ""
        series = (job.phase, job.status, reason, values)
        self.finished[series] = self.finished.get(series, 0) + 1
        begin = job.start_time if job.start_time is not None else job.submit_time
        histogram_values = self.histogram_values(values)
        duration = self.duration.get((job.phase, histogram_values))
        if begin is not None and job.end_time is not None and duration is not None:
            duration.observe(job.end_time - begin, job.key, now)
        self.observed.observe(job, histogram_values, now)
