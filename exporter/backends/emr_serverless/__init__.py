"""Alibaba Cloud EMR Serverless Spark (API 2023-08-08): the Ray jobs, Ray clusters, Spark job
runs and resource queues of a workspace.

A module per concern, one per resource: ``target`` (the configuration), ``api`` (the signed
client, error shape and list answers), ``ray_jobs`` (a job record read into a ``Job``),
``ray_job_walk`` (paging ListRayJob without missing a job), ``spark_runs`` and
``spark_run_walk`` (the same of ListJobRuns), ``ray_clusters`` (ListRayCluster and its
records), ``queues`` (ListWorkspaceQueues), ``families`` (the values only EMR reports),
``backend`` (the client of one target: each list of jobs kept between polls, full walks and
incremental windows) and ``declaration`` (its registration).
A new resource is a new module, listed by ``backend``.
"""

from __future__ import annotations

from exporter.backends.emr_serverless.api import classify_error
from exporter.backends.emr_serverless.backend import EmrServerlessBackend
from exporter.backends.emr_serverless.declaration import DECLARATION
from exporter.backends.emr_serverless.ray_clusters import parse_cluster, parse_memory
from exporter.backends.emr_serverless.ray_jobs import decode_job_page, parse_job
from exporter.backends.emr_serverless.target import EmrServerlessTarget

__all__ = [
    "DECLARATION",
    "EmrServerlessBackend",
    "EmrServerlessTarget",
    "classify_error",
    "decode_job_page",
    "parse_cluster",
    "parse_job",
    "parse_memory",
]
