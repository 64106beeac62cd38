"""Training jobs: an ``items`` element of a training-job search (the SDK's ``JobResponse``),
read into a ``Job``.

``status.phase`` gives the phase: ``Creating`` and ``Pending`` wait, ``Running``, ``Abnormal``
(running in trouble) and ``Terminating`` (being stopped) run, ``Completed`` succeeded,
``Failed`` failed and ``Terminated`` (stopped) was cancelled. A failed job's reason is its
``status.secondary_phase`` (``Failed``, or ``CreateFailed`` when it never ran): the SDK says
secondary phases may change, so any other is counted as ``other``.

Times are epoch milliseconds: ``metadata.create_time`` (submitted), ``status.start_time``
(began to run) and ``status.duration`` (how long it has run); an ended job ended at its start
plus its duration. The job's nodes (``spec.resource.node_count``) and the accelerators each
replica holds (``spec.resource.main_container_allocated_resources.accelerator_num``) times its
duration are its node-seconds and accelerator-seconds so far: cumulative readings, counted as
they grow. ``spec.resource.flavor_detail.flavor_type`` (CPU, GPU, Ascend) is the job type.
``endpoints`` (tokens) and ``algorithm`` (environment, command, parameters) are never read.
"""

from __future__ import annotations

from typing import Any

from exporter.backends.kit.field_map import FieldMap, Reason, Status, Value
from exporter.backends.kit.fields import number, parse_epoch, text, word
from exporter.backends.kit.token_list import value_at
from exporter.backends.modelarts_lite.families import TRAINING_EXTRAS
from exporter.exposition.labels import OTHER
from exporter.model import Job, Phase, status_pairs

RESOURCE = "training_jobs"  # the list's name in a target's ``resources``
PHASES = {
    "Creating": Phase.PENDING,
    "Pending": Phase.PENDING,
    "Running": Phase.RUNNING,
    "Abnormal": Phase.RUNNING,  # running, in trouble
    "Terminating": Phase.RUNNING,  # being stopped: it holds its nodes until it is
    "Completed": Phase.SUCCEEDED,
    "Failed": Phase.FAILED,
    "Terminated": Phase.CANCELLED,
}
KNOWN_PAIRS = status_pairs(PHASES)
FAILED_SECONDARY = ("Failed", "CreateFailed")  # the secondary phases of a failed job
FAILURE_REASONS = {"Failed": (*FAILED_SECONDARY, OTHER)}
FLAVOR_TYPES = ("CPU", "GPU", "Ascend")
RESOURCE_PATH = "spec.resource"
ACCELERATORS = f"{RESOURCE_PATH}.main_container_allocated_resources.accelerator_num"


def flavor_type(value: str) -> str:
    """A job's type: its flavor's type when the vendor documents it, else ``other``."""
    return value if value in FLAVOR_TYPES else OTHER


TRAINING_MAP = FieldMap(
    id=("metadata.id",),
    name=("metadata.name",),
    status=Status("status.phase", PHASES, default="Unknown"),
    job_type=Value(f"{RESOURCE_PATH}.flavor_detail.flavor_type", word),
    times={
        "submit": Value("metadata.create_time", parse_epoch),
        "start": Value("status.start_time", parse_epoch),
    },
    # the fields an attribution label may take its value from (docs/metrics.md, "Attribution")
    attribution={
        "metadata.user_name": text,
        "metadata.name": text,
        "metadata.workspace_id": text,
        f"{RESOURCE_PATH}.pool_id": text,
        f"{RESOURCE_PATH}.pool_name": text,
        f"{RESOURCE_PATH}.flavor_id": text,
        "algorithm.engine.engine_name": text,
    },
    secret=("endpoints", "algorithm.environments", "algorithm.command", "algorithm.parameters"),
    reason=Reason("status.secondary_phase", FAILED_SECONDARY),
    extras=TRAINING_EXTRAS,
)
ATTRIBUTION_FIELDS = TRAINING_MAP.source_fields


class TrainingJobParser:
    """One target's parser of search ``items`` (decoded dicts): ``TRAINING_MAP`` for the
    target's attribution ``sources``, then what the map cannot say from one field: an ended
    job's end, and its node- and accelerator-seconds so far."""

    def __init__(self, sources: tuple[str, ...] = ()) -> None:
        self._parse = TRAINING_MAP.parser(sources, flavor_type)

    def __call__(self, item: Any) -> Job | None:
        job = self._parse(item)
        if job is None:
            return None
        ran = number(value_at(item, "status.duration"))
        seconds = ran / 1000.0 if ran is not None and ran >= 0 else None
        if job.phase.terminal and job.start_time is not None and seconds is not None:
            job.end_time = job.start_time + seconds
        nodes = _count(value_at(item, f"{RESOURCE_PATH}.node_count"))
        accelerators = _count(value_at(item, ACCELERATORS))
        if seconds is None or nodes is None:
            return job
        held = None if accelerators is None else seconds * nodes * accelerators
        job.values = (seconds * nodes, held)
        return job


def _count(value: Any) -> float | None:
    """A count of nodes or accelerators: a finite number >= 0, else None."""
    count = number(value)
    return count if count is not None and count >= 0 else None
