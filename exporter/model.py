"""The shared records every backend produces, and the phases that unify their statuses."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field


class Phase(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_PHASES

    @property
    def active(self) -> bool:
        """Pending or running: worth asking about between full lists. Unknown is not active:
        a job in a status no backend table knows waits for the next full list."""
        return self in ACTIVE_PHASES


TERMINAL_PHASES = frozenset({Phase.SUCCEEDED, Phase.FAILED, Phase.CANCELLED})
ACTIVE_PHASES = frozenset({Phase.PENDING, Phase.RUNNING})
# the name of a list a backend polls (``jobs``, ``spark_runs``): a config value, a label value
# and part of a state file key
RESOURCE_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")

StatusPairs = tuple[tuple[Phase, str], ...]


def status_pairs(statuses: Mapping[str, Phase]) -> StatusPairs:
    """The (phase, native status) pairs a backend knows, from its status -> phase table."""
    return tuple((phase, status) for status, phase in statuses.items())


@dataclass(slots=True)
class Job:
    """One job as a backend reports it, normalized.

    Times are epoch seconds or None when the backend did not say. ``submit_time`` is when the
    job was submitted, ``start_time`` when it began to run (None where the API does not tell).
    ``run`` tells apart jobs a platform lists under the same ``key`` at different times (an id
    handed out again): the time, in epoch seconds, that names the run (Ray: its submission
    time), None where ids are never reused. Two records of one key are one run when their
    ``run`` times are within ``reconcile.RUN_TOLERANCE`` (a time re-derived or rounded between
    two answers is not a new run). ``attribution`` holds the values of the
    target's attribution source fields, in the order of its labels; ``reason`` why a failed
    job failed, from a small vocabulary of its backend ("" where the API does not tell).
    ``extra_labels`` are the backend's own labels of the job (``jobfleet_job_info``'s optional
    ones); ``values`` the backend's own values of it (None: not reported), in the order its
    declaration gives them (``BackendDeclaration.extras``): () where it declares none.
    ``values_due``: an ended job some of whose values the backend is still fetching (a training
    job's stages); the ledger counts it finished once they come, or the backend gives up.
    """

    key: str
    name: str
    status: str
    phase: Phase
    job_type: str = ""
    submit_time: float | None = None
    start_time: float | None = None
    end_time: float | None = None
    updated_time: float | None = None
    extra_labels: tuple[tuple[str, str], ...] = ()
    values: tuple[float | None, ...] = ()
    run: float | None = None
    attribution: tuple[str, ...] = ()
    reason: str = ""
    values_due: bool = False


@dataclass(slots=True)
class ClusterGroup:
    """Capacity of one group of a cluster: the head, or a worker group.

    ``role`` is ``head`` or ``worker``; ``group`` names the group (the role where the API has
    no groups). ``min_replicas``/``max_replicas`` are set when the group autoscales.
    """

    role: str
    group: str = ""
    nodes_alive: int = 0
    nodes_dead: int = 0
    cpu_cores: float = 0.0
    memory_bytes: float = 0.0
    gpus: float = 0.0
    min_replicas: int | None = None
    max_replicas: int | None = None
    info_labels: tuple[tuple[str, str], ...] = ()


@dataclass(slots=True)
class Cluster:
    """One cluster as a backend reports it, normalized. ``idle_since``: since when it has
    been ready with no job on it (None while one is, when it is not ready, or where the
    backend cannot tell)."""

    key: str
    name: str
    state: str
    groups: list[ClusterGroup] = field(default_factory=list)
    cpu_used: float | None = None
    memory_used_bytes: float | None = None
    gpus_used: float | None = None
    created_time: float | None = None
    started_time: float | None = None
    idle_since: float | None = None
    info_labels: tuple[tuple[str, str], ...] = ()
