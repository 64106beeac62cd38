"""Job metrics of one target, from its ledger."""

from __future__ import annotations

from collections.abc import Iterable

from ..model import Job
from ..reconcile import JobLedger
from ..render import Block, escape, format_value, label_text

_VALUE_FAMILIES = (
    "jobfleet_job_submit_timestamp_seconds",
    "jobfleet_job_start_timestamp_seconds",
    "jobfleet_job_end_timestamp_seconds",
    "jobfleet_job_updated_timestamp_seconds",
    "jobfleet_job_abnormal_nodes",
    "jobfleet_job_cu_seconds",
)


def _values(job: Job) -> tuple[float | None, ...]:
    cu_seconds = None if job.cu_hours is None else job.cu_hours * 3600
    return (
        job.submit_time,
        job.start_time,
        job.end_time,
        job.updated_time,
        job.abnormal_nodes,
        cu_seconds,
    )


def _per_job(block: Block, jobs: Iterable[Job]) -> None:
    """Per-job series, written straight into the block: this loop runs for every active job
    at every poll, so labels are escaped once per job and lines built with one f-string."""
    info, base = block.series("jobfleet_job_info", ())
    status = block.lines("jobfleet_job_status")
    value_lines = [block.lines(family) for family in _VALUE_FAMILIES]
    for job in jobs:
        ident = f'{base},job_id="{escape(job.key)}"'
        extra = label_text(job.extra_labels)
        info.append(
            f'jobfleet_job_info{{{ident},job_name="{escape(job.name)}",'
            f'job_type="{escape(job.job_type)}"{"," + extra if extra else ""}}} 1\n'
        )
        status.append(
            f'jobfleet_job_status{{{ident},phase="{job.phase.value}",'
            f'status="{escape(job.status)}"}} 1\n'
        )
        for family, lines, value in zip(_VALUE_FAMILIES, value_lines, _values(job), strict=True):
            if value is not None:
                lines.append(f"{family}{{{ident}}} {format_value(value)}\n")


def render_jobs(block: Block, ledger: JobLedger, per_job_series: str) -> None:
    """Gauges of tracked jobs, counters and histograms of what finished, per-job series."""
    counts = {(phase.value, status): 0 for phase, status in ledger.known_pairs}
    types: dict[str, int] = {}
    for job in ledger.tracked.values():
        pair = (job.phase.value, job.status)
        counts[pair] = counts.get(pair, 0) + 1
        types[job.job_type] = types.get(job.job_type, 0) + 1
    if per_job_series == "all":
        _per_job(block, ledger.tracked.values())
    elif per_job_series == "active":
        _per_job(block, (job for job in ledger.tracked.values() if not job.phase.terminal))
    for (phase, status), count in sorted(counts.items()):
        block.add("jobfleet_jobs", count, (("phase", phase), ("status", status)))
    for job_type, count in sorted(types.items()):
        block.add("jobfleet_jobs_by_type", count, (("job_type", job_type),))
    block.add("jobfleet_jobs_submitted_total", ledger.submitted)
    for (phase, status), count in sorted(ledger.finished.items()):
        block.add(
            "jobfleet_jobs_finished_total", count, (("phase", phase.value), ("status", status))
        )
    for phase, histogram in sorted(ledger.duration.items()):
        block.add_histogram("jobfleet_job_duration_seconds", histogram, (("phase", phase.value),))
    block.add_histogram("jobfleet_job_queue_wait_seconds", ledger.queue_wait)
    for queue, seconds in sorted(ledger.cu_seconds.items()):
        block.add("jobfleet_cu_seconds_total", seconds, (("resource_queue", queue),))
