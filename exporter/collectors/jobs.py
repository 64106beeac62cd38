"""Job metrics of one target, from its ledger."""

from __future__ import annotations

from ..model import Job
from ..reconcile import JobLedger
from ..render import Block


def _per_job(block: Block, job: Job) -> None:
    key = (("job_id", job.key),)
    block.add(
        "jobfleet_job_info",
        1,
        (*key, ("job_name", job.name), ("job_type", job.job_type), *job.extra_labels),
    )
    block.add("jobfleet_job_status", 1, (*key, ("phase", job.phase.value), ("status", job.status)))
    for family, value in (
        ("jobfleet_job_submit_timestamp_seconds", job.submit_time),
        ("jobfleet_job_start_timestamp_seconds", job.start_time),
        ("jobfleet_job_end_timestamp_seconds", job.end_time),
        ("jobfleet_job_updated_timestamp_seconds", job.updated_time),
        ("jobfleet_job_abnormal_nodes", job.abnormal_nodes),
        ("jobfleet_job_cu_seconds", None if job.cu_hours is None else job.cu_hours * 3600),
    ):
        if value is not None:
            block.add(family, value, key)


def render_jobs(block: Block, ledger: JobLedger, per_job_series: str) -> None:
    """Gauges of tracked jobs, counters and histograms of what finished, per-job series."""
    counts = {(phase.value, status): 0 for phase, status in ledger.known_pairs}
    types: dict[str, int] = {}
    for job in ledger.tracked.values():
        pair = (job.phase.value, job.status)
        counts[pair] = counts.get(pair, 0) + 1
        types[job.job_type] = types.get(job.job_type, 0) + 1
        if per_job_series == "all" or (per_job_series == "active" and not job.phase.terminal):
            _per_job(block, job)
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
