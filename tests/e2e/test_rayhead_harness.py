"""The harness itself, on a real Ray head: jobs reach every status, DRIVER jobs show up, a
pending job stays pending, and a token head enforces its token."""

from __future__ import annotations

import subprocess
import time
import uuid
from typing import Any

import httpx
import pytest

from .rayhead import RayHead

pytestmark = pytest.mark.e2e

PENDING_FOR = 20.0  # seconds a pending job must stay PENDING


def uid(prefix: str) -> str:
    return f"harness-{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def pending(ray_head: RayHead) -> tuple[float, list[str]]:
    """Two jobs that cannot be placed, submitted first so the module's other tests pass the
    time. They stay PENDING on the shared head: Ray cannot stop a pending job."""
    submitted = time.monotonic()
    jobs = [
        ray_head.submit_pending(uid("pend-resource"), metadata={"kind": "pending"}),
        ray_head.submit("echo never", uid("pend-cpus"), entrypoint_num_cpus=ray_head.num_cpus + 1),
    ]
    return submitted, jobs


def test_submission_jobs_reach_each_status(
    ray_head: RayHead, pending: tuple[float, list[str]]
) -> None:
    ok = ray_head.submit('python -c "print(1)"', uid("ok"), metadata={"team": "a"})
    fail = ray_head.submit('python -c "import sys; sys.exit(3)"', uid("fail"))
    stop = ray_head.submit("sleep 600", uid("stop"))

    done = ray_head.wait_status(ok, {"SUCCEEDED", "FAILED"})
    assert done["status"] == "SUCCEEDED", done["message"]
    assert done["type"] == "SUBMISSION"
    assert done["metadata"] == {"team": "a"}
    assert done["end_time"] >= done["start_time"] > 0

    failed = ray_head.wait_status(fail, {"SUCCEEDED", "FAILED"})
    assert failed["status"] == "FAILED"
    assert failed["error_type"] == "JOB_ENTRYPOINT_COMMAND_ERROR"
    assert failed["driver_exit_code"] == 3

    running = ray_head.wait_status(stop, {"RUNNING"})
    assert running["end_time"] is None
    assert ray_head.stop_job(stop) is True
    stopped = ray_head.wait_status(stop, {"STOPPED"}, timeout=30)
    assert stopped["end_time"] >= stopped["start_time"]

    for job_id in pending[1]:
        job = ray_head.job(job_id)
        assert job["status"] == "PENDING", job
        assert job["start_time"] > 0 and job["end_time"] is None

    listed = {job.get("submission_id"): job["status"] for job in ray_head.list_jobs()}
    assert listed[ok] == "SUCCEEDED" and listed[fail] == "FAILED" and listed[stop] == "STOPPED"


def _drivers(head: RayHead, job_id: str) -> list[dict[str, Any]]:
    return [job for job in head.list_jobs() if job.get("job_id") == job_id]


def test_driver_jobs(ray_head: RayHead) -> None:
    job_id = ray_head.run_driver("print('driver done')")
    finished = ray_head.wait_status(job_id, {"SUCCEEDED"}, timeout=20)
    assert finished["type"] == "DRIVER"
    assert finished["submission_id"] is None
    assert finished["end_time"] >= finished["start_time"] > 0
    assert [job["type"] for job in _drivers(ray_head, job_id)] == ["DRIVER"]

    process = ray_head.start_driver("import time\ntime.sleep(600)")
    try:
        running = ray_head.wait_driver(process.pid, {"RUNNING"})
        assert running["submission_id"] is None
        assert running["end_time"] == 0  # Ray's "unset" for a DRIVER job
        assert running["driver_info"]["pid"] == str(process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    # a driver that was killed is not FAILED: Ray only knows that it went away
    ended = ray_head.wait_driver(process.pid, {"SUCCEEDED"}, timeout=30)
    assert ended["end_time"] >= ended["start_time"]


def test_token_head_answers_only_the_right_token(ray_head_token: RayHead) -> None:
    url = f"{ray_head_token.dashboard_url}/api/jobs/"
    assert httpx.get(url, timeout=10).status_code == 401
    wrong = {"Authorization": "Bearer not-the-token"}
    assert httpx.get(url, headers=wrong, timeout=10).status_code == 403
    right = {"Authorization": f"Bearer {ray_head_token.auth_token}"}
    assert httpx.get(url, headers=right, timeout=10).status_code == 200
    mode = httpx.get(f"{ray_head_token.dashboard_url}/api/authentication_mode", timeout=10)
    assert mode.json() == {"authentication_mode": "token"}
    # the harness itself sends the token, for submissions and for drivers alike
    ok = ray_head_token.submit('python -c "print(1)"', uid("token-ok"))
    assert ray_head_token.wait_status(ok, {"SUCCEEDED", "FAILED"})["status"] == "SUCCEEDED"
    job_id = ray_head_token.run_driver("pass")
    assert ray_head_token.wait_status(job_id, {"SUCCEEDED"}, timeout=20)["type"] == "DRIVER"


def test_pending_job_stays_pending(ray_head: RayHead, pending: tuple[float, list[str]]) -> None:
    submitted, jobs = pending
    deadline = submitted + PENDING_FOR + 1
    while (left := deadline - time.monotonic()) > 0:
        for job_id in jobs:
            assert ray_head.job(job_id)["status"] == "PENDING", job_id
        time.sleep(min(left, 2))
    for job_id in jobs:
        job = ray_head.job(job_id)
        assert job["status"] == "PENDING", job
        assert "waiting for resources" in job["message"]
    # Ray accepts the stop but only queues it on the supervisor actor that was never placed
    assert ray_head.stop_job(jobs[0]) is True
    time.sleep(2)
    assert ray_head.job(jobs[0])["status"] == "PENDING"
