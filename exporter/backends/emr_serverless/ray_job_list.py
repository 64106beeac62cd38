"""The Ray jobs of one target, kept between polls: the shared incremental list
(``kit.windowed``) over ListRayJob, on the target's full-walk and poll intervals."""

from __future__ import annotations

from collections.abc import Callable

from exporter.backends.emr_serverless.ray_job_walk import RayJobWalker
from exporter.backends.emr_serverless.target import EmrServerlessTarget
from exporter.backends.kit.windowed import WindowedList
from exporter.http.client import ApiClient


def ray_job_list(
    api: ApiClient,
    target: EmrServerlessTarget,
    sources: tuple[str, ...],
    clock: Callable[[], float],
) -> WindowedList:
    """Every Ray job of ``target`` as of the last poll, its ``list_jobs`` bringing it up to
    date; ``sources`` are the target's attribution source fields."""
    return WindowedList(
        RayJobWalker(api, target, sources),
        clock,
        full_list_interval=target.full_list_interval,
        poll_interval=target.poll_interval,
    )
