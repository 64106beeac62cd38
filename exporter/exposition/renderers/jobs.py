"""Job metrics of one target, from a view of its ledger (``LedgerView``)."""

from __future__ import annotations

from collections.abc import Iterable

from exporter.exposition import families, protobuf
from exporter.exposition.block import Block
from exporter.exposition.contract import refusal, refuse
from exporter.exposition.family import Family
from exporter.exposition.text import escape, format_value, label_text
from exporter.ledger.attribution import AttributionValues
from exporter.ledger.view import LedgerView
from exporter.model import TERMINAL_PHASES, Job

_TIME_FAMILIES = (
    families.JOB_SUBMIT_TIMESTAMP_SECONDS,
    families.JOB_START_TIMESTAMP_SECONDS,
    families.JOB_END_TIMESTAMP_SECONDS,
    families.JOB_UPDATED_TIMESTAMP_SECONDS,
)
JobGauge = tuple[int, Family, float]  # a backend's value: position in Job.values, family, scale
# A job's series, in the order of JobLines' families (info, status, then its values; None:
# no value), as text lines or as protobuf ``metric`` entries
Series = tuple[str | None, ...]
EncodedSeries = tuple[bytes | None, ...]
# its record, its series as text and, once a block asked for them, as protobuf
JobEntry = tuple[Job, Series, EncodedSeries | None]


def _times(job: Job) -> tuple[float | None, ...]:
    return job.submit_time, job.start_time, job.end_time, job.updated_time


def _scaled(job: Job, gauges: tuple[JobGauge, ...]) -> tuple[float | None, ...]:
    values = job.values
    return tuple(
        values[i] * scale if i < len(values) and values[i] is not None else None
        for i, _, scale in gauges
    )


class JobLines:
    """Each active job's rendered per-job lines, kept from one publish to the next.

    The ledger keeps the same ``Job`` object for a job listed unchanged, so a job whose record
    is the one its lines were made from is not formatted again: a publish formats only the jobs
    that changed. Lines of jobs no longer rendered are dropped at each publish. In a block that
    renders protobuf, each job's series are kept encoded too, made once like its lines.

    ``gauges`` are the per-job gauges of the backend's own values (``Job.values``)."""

    def __init__(self, gauges: tuple[JobGauge, ...] = ()) -> None:
        self._gauges = gauges
        self._families = (*_TIME_FAMILIES, *(family for _, family, _ in gauges))
        self._base = ""
        self._by_key: dict[str, JobEntry] = {}

    def render(self, block: Block, jobs: Iterable[Job]) -> None:
        """Per-job series of ``jobs``, written straight into the block."""
        info, base = block.series(families.JOB_INFO, ())
        if base != self._base:
            self._base, self._by_key = base, {}
        value_families = (families.JOB_STATUS, *self._families)
        lines = (info, *(block.lines(family) for family in value_families))
        entries, base_pb = None, b""
        if block.renders_protobuf:
            info_pb, base_pb = block.protobuf_series(families.JOB_INFO, ())
            entries = (info_pb, *(block.protobuf_entries(f) for f in value_families))
        previous, kept = self._by_key, {}
        for job in jobs:
            entry = previous.get(job.key)
            if entry is None or entry[0] is not job:
                if job.extra_labels and not _extra_labels_declared(block, job):
                    continue
                entry = (job, _format(base, job, self._families, self._gauges), None)
            if entries is not None and entry[2] is None:
                entry = (job, entry[1], _encode(base_pb, job, self._families, self._gauges))
            kept[job.key] = entry
            _append(lines, entry[1])
            if entries is not None:
                _append(entries, entry[2])
        self._by_key = kept


def _append(into: tuple[list, ...], series: Series | EncodedSeries | None) -> None:
    for target, item in zip(into, series or (), strict=True):
        if item is not None:
            target.append(item)


def _extra_labels_declared(block: Block, job: Job) -> bool:
    """Whether the backend's extra labels of ``job`` are declared on ``jobfleet_job_info``."""
    problem = refusal(families.JOB_INFO, families.JOB_INFO.labels, job.extra_labels, False)
    if problem is not None:
        refuse(problem, block.refused)
    return problem is None


def _format(
    base: str, job: Job, value_families: tuple[Family, ...], gauges: tuple[JobGauge, ...]
) -> Series:
    """One job's lines: labels escaped once, each line one f-string."""
    ident = f'{base},job_id="{escape(job.key)}"'
    extra = label_text(job.extra_labels)
    info = (
        f'{families.JOB_INFO.name}{{{ident},job_name="{escape(job.name)}",'
        f'job_type="{escape(job.job_type)}"{"," + extra if extra else ""}}} 1\n'
    )
    status = (
        f'{families.JOB_STATUS.name}{{{ident},phase="{job.phase.value}",'
        f'status="{escape(job.status)}"}} 1\n'
    )
    values = (
        None if value is None else f"{family.name}{{{ident}}} {format_value(value)}\n"
        for family, value in zip(value_families, (*_times(job), *_scaled(job, gauges)), strict=True)
    )
    return (info, status, *values)


def _encode(
    base: bytes, job: Job, value_families: tuple[Family, ...], gauges: tuple[JobGauge, ...]
) -> EncodedSeries:
    """One job's series as protobuf ``metric`` entries: its identity's labels encoded once."""
    ident = base + protobuf.labels((("job_id", job.key),))
    names = (("job_name", job.name), ("job_type", job.job_type), *job.extra_labels)
    info = protobuf.sample(families.JOB_INFO.type, ident + protobuf.labels(names), 1)
    phase = (("phase", job.phase.value), ("status", job.status))
    status = protobuf.sample(families.JOB_STATUS.type, ident + protobuf.labels(phase), 1)
    values = (
        None if value is None else protobuf.sample(family.type, ident, value)
        for family, value in zip(value_families, (*_times(job), *_scaled(job, gauges)), strict=True)
    )
    return (info, status, *values)


def _tracked_counts(
    ledger: LedgerView,
) -> tuple[dict[tuple[str, str, AttributionValues], int], dict[str, int]]:
    """Tracked jobs by (phase, status, label values), every known pair present for each
    combination of label values seen (the one of no labels always), and by job type."""
    counts: dict[tuple[str, str, AttributionValues], int] = {}
    types: dict[str, int] = {}
    combinations = set() if ledger.attributed else {()}
    for job in ledger.tracked.values():
        values = ledger.label_values(job)
        combinations.add(values)
        series = (job.phase, job.status, values)  # a Phase is the str of its value
        counts[series] = counts.get(series, 0) + 1
        types[job.job_type] = types.get(job.job_type, 0) + 1
    for values in combinations:
        for phase, status in ledger.known_pairs:
            counts.setdefault((phase, status, values), 0)
    return counts, types


def render_jobs(
    block: Block, ledger: LedgerView, per_job_series: str, job_lines: JobLines | None = None
) -> None:
    """Gauges of tracked jobs, counters and histograms of what finished, per-job series
    (``job_lines`` keeps them between publishes; without it every job is formatted).

    Aggregates carry the target's attribution labels; the gauge's series of a combination of
    their values are there while a job of it is tracked, each known (phase, status) at 0."""
    job_lines = JobLines() if job_lines is None else job_lines
    names, histogram_names = ledger.labels, ledger.histogram_labels
    counts, types = _tracked_counts(ledger)
    if per_job_series == "all":
        job_lines.render(block, ledger.tracked.values())
    elif per_job_series == "active":
        active = (job for job in ledger.tracked.values() if job.phase not in TERMINAL_PHASES)
        job_lines.render(block, active)
    # attribution values are label values already (the slots hold them): passed as stored,
    # never made label values again
    for (phase, status, values), count in sorted(counts.items()):
        stored = tuple(zip(names, values, strict=True))
        block.add(families.JOBS, count, (("phase", phase), ("status", status)), stored)
    for job_type, count in sorted(types.items()):
        block.add(families.JOBS_BY_TYPE, count, (("job_type", job_type),))
    for values, count in sorted(ledger.submitted.items()):
        stored = tuple(zip(names, values, strict=True))
        block.add(families.JOBS_SUBMITTED_TOTAL, count, (), stored)
    for (phase, status, reason, values), count in sorted(ledger.finished.items()):
        labels = (
            ("phase", phase.value),
            ("status", status),
            *((("reason", reason),) if reason else ()),
        )
        stored = tuple(zip(names, values, strict=True))
        block.add(families.JOBS_FINISHED_TOTAL, count, labels, stored)
    for (phase, values), histogram in sorted(ledger.duration.items()):
        stored = tuple(zip(histogram_names, values, strict=True))
        block.add_histogram(
            families.JOB_DURATION_SECONDS, histogram, (("phase", phase.value),), stored
        )
    for values, histogram in sorted(ledger.queue_wait.items()):
        stored = tuple(zip(histogram_names, values, strict=True))
        block.add_histogram(families.JOB_QUEUE_WAIT_SECONDS, histogram, (), stored)
    for observed in ledger.observed:
        for values, histogram in sorted(observed.series.items()):
            stored = tuple(zip(histogram_names, values, strict=True))
            block.add_histogram(observed.family, histogram, (), stored)
    for usage in ledger.usage:
        for (split, values), total in sorted(usage.totals.items()):
            labels = (*usage.labels, *zip(usage.split_by, split, strict=True))
            stored = tuple(zip(names, values, strict=True))
            block.add(usage.family, total, labels, stored)
    block.add(families.JOBS_DEPARTED, ledger.departed)
    block.add(families.JOBS_DEPARTED_EVICTED_TOTAL, ledger.evicted)
    for label, count in ledger.overflow.items():
        block.add(families.ATTRIBUTION_OVERFLOW_TOTAL, count, (("label", label),))
