"""The exporter against a REAL Ray head: its numbers must equal Ray's own truth."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import pytest

from exporter.app import Exporter
from exporter.config.parse import parse_config

from ..helpers import ROOT, promtool_check_metrics, samples, value

pytestmark = pytest.mark.e2e

STATUSES = ("PENDING", "RUNNING", "SUCCEEDED", "FAILED", "STOPPED")


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def populated(ray_head):
    """Jobs in every status on the shared head, plus a finished DRIVER job."""
    ok = ray_head.submit("python -c 'print(1)'", uid("ok"))
    fail = ray_head.submit("python -c 'import sys; sys.exit(3)'", uid("fail"))
    stop = ray_head.submit("sleep 600", uid("stop"))
    run = ray_head.submit("sleep 600", uid("run"), metadata={"job_name": "long-train"})
    pend = ray_head.submit("sleep 1", uid("pend"), entrypoint_num_cpus=64)
    ray_head.wait_status(ok, {"SUCCEEDED"})
    ray_head.wait_status(fail, {"FAILED"})
    ray_head.wait_status(stop, {"RUNNING"})
    ray_head.stop_job(stop)
    ray_head.wait_status(stop, {"STOPPED"})
    ray_head.wait_status(run, {"RUNNING"})
    ray_head.run_driver("print('driver done')")
    assert ray_head.job(pend)["status"] == "PENDING"
    yield ray_head
    for job_id in (run, pend):
        ray_head.stop_job(job_id)


def truth(head) -> Counter:
    return Counter(job["status"] for job in head.list_jobs())


def test_once_matches_ray_truth_and_passes_promtool(populated, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"targets:\n- name: real\n  backend: ray\n  url: {populated.dashboard_url}\n"
        "  per_job_series: all\n"
    )
    expected = truth(populated)
    result = subprocess.run(
        [sys.executable, "-m", "exporter", "--config.file", str(config), "--once"],
        capture_output=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    after = truth(populated)
    assert expected == after, "Ray changed during the poll; rerun"
    assert set(expected) >= set(STATUSES), expected
    for status in STATUSES:
        assert value(result.stdout, "jobfleet_jobs", status=status) == expected[status], status
    drivers = [
        labels
        for (name, labels) in samples(result.stdout)
        if name == "jobfleet_job_info" and ("job_type", "DRIVER") in labels
    ]
    assert drivers, "the DRIVER job is missing"
    assert value(result.stdout, "jobfleet_cluster_nodes", role="head", state="alive") == 1
    assert value(result.stdout, "jobfleet_cluster_cpu_cores", role="head") >= 1
    lint = promtool_check_metrics(result.stdout)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_counts_what_happens_after_the_first_poll(populated) -> None:
    head = populated
    stop_a = head.submit("sleep 600", uid("stop-a"))
    stop_b = head.submit("sleep 600", uid("stop-b"))
    finish = head.submit("sleep 6", uid("finish"))
    for job_id in (stop_a, stop_b, finish):
        head.wait_status(job_id, {"RUNNING"})
    exporter = Exporter(
        parse_config({"targets": [{"name": "real", "backend": "ray", "url": head.dashboard_url}]})
    )
    poller = exporter.pollers[0]
    try:
        assert poller.poll("jobs")
        before = exporter.exposition.body()
        head.stop_job(stop_a)
        head.stop_job(stop_b)
        for job_id, status in ((stop_a, "STOPPED"), (stop_b, "STOPPED"), (finish, "SUCCEEDED")):
            head.wait_status(job_id, {status}, timeout=60)
        assert poller.poll("jobs")
        assert poller.poll("jobs")  # a second look counts nothing again
        after = exporter.exposition.body()
    finally:
        exporter.close()

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("jobfleet_jobs_finished_total", status="STOPPED") == 2
    assert delta("jobfleet_jobs_finished_total", status="SUCCEEDED") == 1
    assert delta("jobfleet_jobs_finished_total", status="FAILED") == 0
    assert delta("jobfleet_jobs_finished_total") == 3
    assert delta("jobfleet_job_duration_seconds_count") == 3


def test_token_auth_on_a_real_head(ray_head_token) -> None:
    url = ray_head_token.dashboard_url
    exporter = Exporter(
        parse_config(
            {
                "targets": [
                    {"name": "anonymous", "backend": "ray", "url": url},
                    {
                        "name": "authorized",
                        "backend": "ray",
                        "url": url,
                        "credentials": {"token": ray_head_token.auth_token},
                    },
                ]
            }
        )
    )
    try:
        exporter.poll_all_once()
        body = exporter.exposition.body()
    finally:
        exporter.close()
    assert value(body, "jobfleet_target_up", target="anonymous", resource="jobs") == 0
    assert value(body, "jobfleet_poll_errors_total", target="anonymous", reason="auth") >= 1
    assert value(body, "jobfleet_api_requests_total", target="anonymous", code="401") >= 1
    assert value(body, "jobfleet_target_up", target="authorized", resource="jobs") == 1
    assert value(body, "jobfleet_target_up", target="authorized", resource="clusters") == 1
    assert ray_head_token.auth_token.encode() not in body


def test_jobs_submitted_with_a_team_are_counted_by_team_exactly(populated) -> None:
    head = populated
    attribution = {"labels": {"team": "metadata.team"}, "histograms": ["team"]}
    target = {"name": "real", "backend": "ray", "url": head.dashboard_url}
    exporter = Exporter(parse_config({"targets": [{**target, "attribution": attribution}]}))
    poller = exporter.pollers[0]
    ok, fail = "python -c 'print(1)'", "python -c 'import sys; sys.exit(3)'"
    plan = [("vision", ok), ("vision", ok), ("vision", fail), ("nlp", ok), ("nlp", fail)]
    try:
        assert poller.poll("jobs")  # the baseline: the head's earlier jobs are not counted
        jobs = [head.submit(command, uid(team), metadata={"team": team}) for team, command in plan]
        for job_id, (_, command) in zip(jobs, plan, strict=True):
            head.wait_status(job_id, {"SUCCEEDED" if command == ok else "FAILED"}, timeout=90)
        assert poller.poll("jobs")
        assert poller.poll("jobs")  # a second look counts nothing again
        body = exporter.exposition.body()
    finally:
        exporter.close()

    def finished(**labels: str) -> float:
        return value(body, "jobfleet_jobs_finished_total", **labels)

    assert finished(team="vision") == 3 and finished(team="nlp") == 2
    assert finished(team="vision", phase="succeeded") == 2
    assert finished(team="vision", phase="failed", reason="JOB_ENTRYPOINT_COMMAND_ERROR") == 1
    assert finished(team="nlp", phase="failed", reason="JOB_ENTRYPOINT_COMMAND_ERROR") == 1
    assert finished() == 5  # the jobs without a team ran before the baseline
    assert value(body, "jobfleet_jobs_submitted_total", team="vision") == 3
    assert value(body, "jobfleet_job_duration_seconds_count", team="nlp") == 2
