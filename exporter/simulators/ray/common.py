"""What every module of the Ray simulator shares: the flavours, a reply, the terminal statuses,
a unit, and a job record's key and times."""

from __future__ import annotations

from typing import Any, Literal

TERMINAL = frozenset({"SUCCEEDED", "FAILED", "STOPPED"})
GIB = 2**30

Flavour = Literal["ray", "openyuanrong"]
Reply = tuple[int, Any]  # HTTP status and body: JSON-able, str (plain text) or raw bytes


def job_key(job: dict[str, Any]) -> str:
    return job["submission_id"] or job["job_id"]


def ms(seconds: float) -> int:
    return int(seconds * 1000)
