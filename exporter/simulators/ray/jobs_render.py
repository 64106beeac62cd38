"""A job record as each flavour's Jobs API sends it: Ray's (epoch milliseconds, nulls) and
openYuanrong's (epoch seconds as strings, ``""`` for unset, no ``job_id``/``message``)."""

from __future__ import annotations

import copy
from typing import Any

from exporter.simulators.ray.common import job_key, ms

AGENT_PORT = 52365


def render_ray(job: dict[str, Any]) -> dict[str, Any]:
    """A record as Ray sends it: epoch milliseconds, nulls; unfinished DRIVER jobs end at 0."""
    submission = job["type"] == "SUBMISSION"
    ran = job["driver_pid"] is not None
    end = job["end_time"]
    driver = {"id": job["job_id"], "node_ip_address": job["driver_ip"], "pid": job["driver_pid"]}
    return {
        "type": job["type"],
        "job_id": job["job_id"],
        "submission_id": job["submission_id"],
        "driver_info": driver if ran else None,
        "status": job["status"],
        "entrypoint": job["entrypoint"],
        "message": job["message"],
        "error_type": job["error_type"],
        "start_time": ms(job["start_time"]),
        "end_time": ms(end) if end is not None else (None if submission else 0),
        "metadata": dict(job["metadata"]),
        "runtime_env": copy.deepcopy(job["runtime_env"]),
        "driver_agent_http_address": (
            f"http://{job['driver_ip']}:{AGENT_PORT}" if submission and ran else None
        ),
        "driver_node_id": job["driver_node_id"] if submission and ran else None,
        "driver_exit_code": job["driver_exit_code"],
    }


def render_yuanrong(job: dict[str, Any]) -> dict[str, Any]:
    """A record as openYuanrong's example: string epoch seconds, "" for unset, no job_id."""
    end = job["end_time"]
    driver = {
        "id": job_key(job) if job["driver_pid"] else "",
        "node_ip_address": job["driver_ip"] or "",
        "pid": job["driver_pid"] or "",
    }
    return {
        "type": job["type"],
        "entrypoint": job["entrypoint"],
        "submission_id": job["submission_id"] or "",
        "driver_info": driver,
        "status": job["status"],
        "start_time": str(int(job["start_time"])),
        "end_time": "" if end is None else str(int(end)),
        "metadata": dict(job["metadata"]),
        "runtime_env": copy.deepcopy(job["runtime_env"]),
        "driver_agent_http_address": "",
        "driver_node_id": job["driver_node_id"] or "",
        "driver_exit_code": job["driver_exit_code"] or 0,
        "error_type": job["error_type"] or "",
    }
