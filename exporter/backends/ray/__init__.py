"""Ray's Jobs REST API (a Ray dashboard) and openYuanrong, which copies it.

The job list is one bare JSON array: no pagination. Ray serves ``/api/jobs/`` (the slash
matters); openYuanrong documents ``/api/jobs``; whichever answers is remembered.

A module per concern: ``target`` (the configuration), ``jobs`` (a job list item, its typed
record and field map), ``clusters`` (the cluster behind a dashboard), ``backend`` (the client
of one target) and ``declaration`` (its registration).
"""

from __future__ import annotations

from exporter.backends.ray.backend import RayBackend
from exporter.backends.ray.clusters import CLUSTER_STATES, parse_cluster
from exporter.backends.ray.declaration import DECLARATION
from exporter.backends.ray.jobs import (
    ATTRIBUTION_FIELDS,
    ERROR_TYPES,
    FAILURE_REASONS,
    JOB_MAP,
    STATUSES,
    RayJobItem,
    decode_job_list,
    parse_job,
    parse_jobs,
    read_jobs,
)
from exporter.backends.ray.target import RayTarget

__all__ = [
    "ATTRIBUTION_FIELDS",
    "CLUSTER_STATES",
    "DECLARATION",
    "ERROR_TYPES",
    "FAILURE_REASONS",
    "JOB_MAP",
    "STATUSES",
    "RayBackend",
    "RayJobItem",
    "RayTarget",
    "decode_job_list",
    "parse_cluster",
    "parse_job",
    "parse_jobs",
    "read_jobs",
]
