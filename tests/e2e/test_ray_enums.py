"""The Ray backend's tables are Ray's own: every job status and every ``error_type`` the
installed Ray (the version the end-to-end heads run) can report is in them, and nothing else."""

from __future__ import annotations

import json
import subprocess

from exporter.backends.ray import ERROR_TYPES, STATUSES

from .conftest import unavailable
from .rayhead import ensure_ray_venv

READ_ENUMS = """
import json
from ray.dashboard.modules.job.common import JobErrorType, JobStatus
print(json.dumps({"status": [s.value for s in JobStatus],
                  "error_type": [e.value for e in JobErrorType]}))
"""


def _rays_enums() -> dict[str, list[str]]:
    try:
        python = ensure_ray_venv()
    except (RuntimeError, OSError) as err:
        unavailable(f"no Ray venv: {err}")
    result = subprocess.run(
        [str(python), "-c", READ_ENUMS], capture_output=True, text=True, timeout=120, check=True
    )
    return json.loads(result.stdout)


def test_status_and_failure_reason_tables_match_the_installed_ray() -> None:
    enums = _rays_enums()
    assert sorted(STATUSES) == sorted(enums["status"])
    assert sorted(ERROR_TYPES) == sorted(enums["error_type"])
