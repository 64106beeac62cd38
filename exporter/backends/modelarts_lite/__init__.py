"""Huawei Cloud ModelArts Lite: the Lite Server jobs of a project.

A module per concern, one per resource: ``target`` (the configuration), ``api`` (the
authenticated client and error shape), ``server_jobs`` (a job record and a job list answer
read), ``server_job_list`` (the jobs kept between polls: full lists, active jobs, ended ones
found), ``backend`` (the client of one target) and ``declaration`` (its registration).
A new resource is a new module, listed by ``backend``.
"""

from __future__ import annotations

from exporter.backends.modelarts_lite.api import classify_error
from exporter.backends.modelarts_lite.backend import ModelArtsLiteBackend
from exporter.backends.modelarts_lite.declaration import DECLARATION
from exporter.backends.modelarts_lite.server_job_list import MAX_FETCHES_BY_ID, UNKNOWN_RECHECKS
from exporter.backends.modelarts_lite.server_jobs import decode_job_page, parse_job, parse_page
from exporter.backends.modelarts_lite.target import ModelArtsLiteTarget

__all__ = [
    "DECLARATION",
    "MAX_FETCHES_BY_ID",
    "UNKNOWN_RECHECKS",
    "ModelArtsLiteBackend",
    "ModelArtsLiteTarget",
    "classify_error",
    "decode_job_page",
    "parse_job",
    "parse_page",
]
