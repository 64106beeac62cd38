"""ModelArts Lite Server jobs: the documented example parsed, the backend against its simulator."""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from pathlib import Path

import httpx
import pytest

from exporter.app import Exporter
from exporter.auth.sdk_hmac import HuaweiKey, SdkHmacAuth
from exporter.backends.modelarts_lite import classify_error, parse_page
from exporter.backends.modelarts_lite.api import open_client
from exporter.backends.modelarts_lite.families import ABNORMAL_NODES
from exporter.config.parse import parse_config
from exporter.config.types import ConfigError
from exporter.errors import PollError
from exporter.http.client import ApiClient
from exporter.model import Phase
from exporter.polling.health import ApiStats
from exporter.simulators.base import ShownAnswer
from exporter.simulators.modelarts_lite import TRAINING_JOBS, ModelArtsLiteSimulator

from .helpers import SteppedClock, promtool_check_metrics, samples, value, vendor_example

T0 = 1_750_000_000


def seed_example() -> dict:
    """The documented example response of the Lite Server job list."""
    return vendor_example("modelarts-lite-list-jobs.json")


def exporter_for(*targets: dict) -> Exporter:
    return Exporter(parse_config({"targets": list(targets)}))


def test_seed_example_parses_to_two_finished_jobs() -> None:
    jobs, partial, skipped = parse_page(seed_example())
    assert (partial, skipped) == (False, 0)
    by_id = {job.key: job for job in jobs}
    upgrade = by_id["03af7361-5cba-44d4-b29b-4dcc5d9dff51"]
    diagnosis = by_id["62c89f77-fc81-45a8-9647-d6e457e73954"]
    assert (upgrade.status, upgrade.phase, upgrade.job_type) == (
        "FINISHED",
        Phase.SUCCEEDED,
        "ASCEND_SOFTWARE_UPGRADE",
    )
    assert (diagnosis.job_type, diagnosis.name, diagnosis.values[ABNORMAL_NODES]) == (
        "ASCEND_DIAGNOSIS",
        "diagnosis-81ef",
        0,
    )
    assert upgrade.submit_time == pytest.approx(1749536420.547)
    assert upgrade.updated_time == pytest.approx(1749536603.947)
    assert upgrade.end_time == upgrade.updated_time


def test_finished_with_abnormal_nodes_is_failed_and_string_times_are_read() -> None:
    page = {
        "data": [
            {"id": "a", "status": "FINISHED", "abnormal_count": 2, "create_at": "1749536420547"},
            {"id": "b", "status": "DELETED", "type": "X"},
            {"id": "c", "status": "PROCESSING"},
            {"name": "no id"},
        ],
        "pages": 1,
        "total": 4,
    }
    jobs, partial, skipped = parse_page(page)
    assert [(j.key, j.phase) for j in jobs] == [
        ("a", Phase.FAILED),
        ("b", Phase.CANCELLED),
        ("c", Phase.RUNNING),
    ]
    assert jobs[0].submit_time == pytest.approx(1749536420.547)
    assert (partial, skipped) == (False, 1)
    assert parse_page({"data": [], "pages": 2, "total": 0})[1] is True
    assert parse_page({"data": [{"id": "x"}], "total": 7})[1] is True


@pytest.mark.parametrize(
    ("status", "body", "headers", "reason"),
    [
        (429, {"error_code": "APIG.0308", "error_msg": "throttled"}, {}, "throttled"),
        (400, {"errorCode": "APIG.0308", "errorMsg": "throttled"}, {}, "throttled"),
        (401, {"error_code": "APIG.0301", "error_msg": "verify aksk signature fail"}, {}, "auth"),
        (403, {"code": "ModelArts.0203", "message": "no permission"}, {}, "auth"),
        (500, {"error_code": "ModelArts.0001"}, {"X-Request-Id": "r-1"}, "http"),
    ],
)
def test_error_classification(status, body, headers, reason) -> None:
    raw = json.dumps(body).encode()
    error = classify_error(
        "ListDevServerJobs", httpx.Response(status, headers=headers, content=raw), raw
    )
    assert error.reason == reason
    if "X-Request-Id" in headers:
        assert "(request r-1)" in str(error)


def test_filters_reach_the_wire() -> None:
    with ModelArtsLiteSimulator() as sim:
        sim.add_job("j-1", name="nightly", job_type="COMMON", status="FINISHED", visible=False)
        sim.add_job("j-2", name="nightly", job_type="COMMON", status="FINISHED")
        filters = {
            "id": "j-1",
            "name": "nightly",
            "type": "COMMON",
            "status": "FINISHED",
            "visible": False,
        }
        exporter = exporter_for(sim.target_config("ma", filters=filters, per_job_series="all"))
        assert exporter.poll_all_once()
        exporter.close()
        (query,) = sim.requests
    assert query == {
        "id": "j-1",
        "name": "nightly",
        "type": "COMMON",
        "status": "FINISHED",
        "visible": "false",
    }
    assert value(exporter.exposition.body(), "jobfleet_job_info", job_id="j-1") == 1


def test_partial_answer_is_reported_and_still_exported(caplog: pytest.LogCaptureFixture) -> None:
    with ModelArtsLiteSimulator(page_limit=3) as sim:
        for i in range(5):
            sim.add_job(f"j-{i}", status="PROCESSING", create_at=time.time() - i)
        exporter = exporter_for(sim.target_config("ma"))
        with caplog.at_level(logging.WARNING):
            assert exporter.poll_all_once()
            assert exporter.poll_all_once()
        exporter.close()
    body = exporter.exposition.body()
    assert value(body, "jobfleet_list_incomplete", resource="jobs") == 1
    assert value(body, "jobfleet_jobs", status="PROCESSING") == 3
    assert sum("list complete: False" in record.getMessage() for record in caplog.records) == 1


@pytest.mark.slow
def test_job_leaving_processing_with_abnormal_nodes_counts_once_as_failed() -> None:
    with ModelArtsLiteSimulator() as sim:
        for i in range(50):
            sim.add_job(f"old-{i}", status="FINISHED", create_at=time.time() - 86400)
        sim.add_job("busy", status="PROCESSING", job_type="ASCEND_DIAGNOSIS")
        exporter = exporter_for(sim.target_config("ma"))
        poller = exporter.pollers[0]
        assert poller.poll("jobs")
        sim.set_job("busy", status="FINISHED", abnormal_count=2)
        sim.requests.clear()
        assert poller.poll("jobs")  # the next interval
        assert sim.requests == [{"status": "PROCESSING"}, {"status": "FINISHED"}]
        assert poller.poll("jobs")
        exporter.close()
    body = exporter.exposition.body()
    assert value(body, "jobfleet_jobs_finished_total", phase="failed", status="FINISHED") == 1
    assert value(body, "jobfleet_jobs_finished_total", phase="succeeded") == 0
    assert value(body, "jobfleet_jobs_by_type", job_type="ASCEND_DIAGNOSIS") == 1
    lint = promtool_check_metrics(body)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_bad_signature_is_reason_auth_and_target_down() -> None:
    with ModelArtsLiteSimulator() as sim:
        target = sim.target_config("ma")
        target["credentials"]["secret_key"] = "not-the-secret-key"
        exporter = exporter_for(target)
        assert not exporter.poll_all_once()
        exporter.close()
    body = exporter.exposition.body()
    assert value(body, "jobfleet_target_up", resource="jobs") == 0
    assert value(body, "jobfleet_poll_errors_total", reason="auth") == 1
    assert value(body, "jobfleet_api_requests_total", code="401") == 1
    assert "APIG.0301" in exporter.pollers[0].health["jobs"].last_error
    assert b"not-the-secret-key" not in body


def test_throttling_is_counted_and_backed_off() -> None:
    with ModelArtsLiteSimulator() as sim:
        sim.add_job("j", status="PROCESSING")
        exporter = exporter_for(sim.target_config("ma", poll_interval="1s"))
        poller = exporter.pollers[0]
        poller.monotonic = clock = SteppedClock()
        sim.throttle_next(1)
        assert not poller.poll("jobs")
        sent = len(sim.requests)
        assert not poller.poll("jobs")  # backing off: no request
        clock.advance(1.9)  # the backoff is 1 s interval x 2 after the first throttled answer
        assert not poller.poll("jobs")
        assert len(sim.requests) == sent
        clock.advance(0.2)
        assert poller.poll("jobs")
        exporter.close()
    body = exporter.exposition.body()
    assert value(body, "jobfleet_poll_errors_total", reason="throttled") == 1
    assert value(body, "jobfleet_api_requests_total", code="429") == 1


def test_iam_token_and_temporary_credentials(tmp_path: Path) -> None:
    token_file = tmp_path / "iam-token"
    token_file.write_text("MIIsimulatedIAMtoken\n")
    with ModelArtsLiteSimulator(iam_token="MIIsimulatedIAMtoken", security_token="sts+/=") as sim:
        sim.add_job("j", status="PROCESSING")
        by_token = {
            **sim.target_config("token"),
            "credentials": {"auth_token_file": str(token_file)},
        }
        wrong = {**sim.target_config("wrong"), "credentials": {"auth_token": "nope"}}
        exporter = exporter_for(by_token, wrong, sim.target_config("sts"))
        exporter.poll_all_once()
        exporter.close()
    body = exporter.exposition.body()
    assert value(body, "jobfleet_target_up", target="token") == 1
    assert value(body, "jobfleet_target_up", target="sts") == 1
    assert value(body, "jobfleet_target_up", target="wrong") == 0
    assert value(body, "jobfleet_poll_errors_total", target="wrong", reason="auth") == 1


def test_open_ended_job_types_are_capped() -> None:
    with ModelArtsLiteSimulator() as sim:
        for i, job_type in enumerate(("A", "B", "C", "D")):
            sim.add_job(f"j-{i}", job_type=job_type, create_at=time.time() - 10 + i)
        exporter = exporter_for(sim.target_config("ma", job_type_cap=2))
        assert exporter.poll_all_once()
        exporter.close()
    types = {
        dict(labels)["job_type"]: v
        for (name, labels), v in samples(exporter.exposition.body()).items()
        if name == "jobfleet_jobs_by_type"
    }
    assert len(types) == 3 and types["other"] == 2


def test_endpoint_project_and_credentials_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HUAWEICLOUD_SDK_AK", "AK")
    monkeypatch.setenv("HUAWEICLOUD_SDK_SK", "SK")
    monkeypatch.setenv("HUAWEICLOUD_SDK_PROJECT_ID", "p-123")
    base = {"name": "m", "backend": "modelarts_lite"}
    singapore, beijing = parse_config(
        {
            "targets": [
                {**base, "region": "ap-southeast-1"},
                {**base, "name": "b", "region": "cn-north-4"},
            ]
        }
    ).targets
    assert singapore.base_url() == "https://modelarts.ap-southeast-1.myhuaweicloud.cn"
    assert beijing.base_url() == "https://modelarts.cn-north-4.myhuaweicloud.com"
    assert singapore.project() == "p-123"
    assert singapore.auth_text() == "AK/SK signature (environment)"
    monkeypatch.delenv("HUAWEICLOUD_SDK_SK")
    with pytest.raises(ConfigError) as err:
        parse_config({"targets": [{**base, "region": "cn-north-4"}]})
    assert err.value.problems[0].startswith("targets[0]: credentials: none found")


# --- a search by POST: the HTTP client against the simulator --------------------------------


def search_client(sim: ModelArtsLiteSimulator, **settings: object) -> tuple[ApiClient, ApiStats]:
    """The exporter's configured client of ``sim`` (its signer, error classes, scrubbing)."""
    target = parse_config({"targets": [sim.target_config("ma", **settings)]}).targets[0]
    stats = ApiStats()
    return open_client(target, stats), stats


def search(api: ApiClient, sim: ModelArtsLiteSimulator, body: bytes, seconds: float = 10):
    return api.post_json_dated(
        f"/v2/{sim.project_id}/training-job-searches",
        "ListTrainingJobs",
        deadline=time.monotonic() + seconds,
        body=body,
    )


def test_a_search_by_post_is_signed_over_its_body_answered_and_counted() -> None:
    now = [float(int(time.time()))]
    with ModelArtsLiteSimulator(clock=lambda: now[0]) as sim:
        for i in range(3):
            sim.training_jobs.add_job(f"tj-{i}", create_time=now[0] - 60 + i)
        body = json.dumps({"offset": 0, "limit": 2, "order": "asc"}).encode()
        api, stats = search_client(sim)
        try:
            answer, date = search(api, sim, body)
        finally:
            api.close()
        (head,) = sim.heads
    assert [item["metadata"]["id"] for item in answer["items"]] == ["tj-0", "tj-1"]
    assert (answer["count"], answer["total"], date) == (3, 3, now[0])
    assert (head.method, head.body) == ("POST", body)
    assert dict(head.headers)["Content-Type"] == "application/json"
    assert stats.requests == {("ListTrainingJobs", "200"): 1}


def test_the_simulator_refuses_a_body_changed_after_it_was_signed() -> None:
    now = dt.datetime.now(dt.UTC)
    with ModelArtsLiteSimulator() as sim, httpx.Client() as client:
        auth = SdkHmacAuth(HuaweiKey(sim.access_key, sim.secret_key), sim.project_id, lambda: now)
        url = f"{sim.url}/v2/{sim.project_id}/training-job-searches"
        signed = next(auth.auth_flow(httpx.Request("POST", url, content=b'{"limit": 5}')))
        accepted = client.send(signed)
        signed.stream = httpx.ByteStream(b'{"limit": 6}')  # as long, not what was signed
        refused = client.send(signed)
    assert accepted.status_code == 200
    assert (refused.status_code, refused.json()["error_code"]) == (401, "APIG.0301")


def test_a_search_by_post_fails_as_a_get_does() -> None:
    with ModelArtsLiteSimulator() as sim:
        sim.training_jobs.add_job("tj-1")
        api, stats = search_client(sim, max_response_bytes=1024)
        try:
            sim.training_jobs.fail_job_lists(1)
            with pytest.raises(PollError) as throttled:
                search(api, sim, b"{}")
            with pytest.raises(PollError) as too_large:  # one job's answer is ~4 KB
                search(api, sim, b"{}")
            sent = len(sim.heads)
            with pytest.raises(PollError) as late:
                search(api, sim, b"{}", seconds=-1)
        finally:
            api.close()
    assert (throttled.value.reason, too_large.value.reason) == ("throttled", "too_large")
    assert "APIG.0308" in str(throttled.value) and sim.secret_key not in str(throttled.value)
    assert late.value.reason == "timeout" and len(sim.heads) == sent  # never sent
    assert stats.requests[("ListTrainingJobs", "429")] == 1


# --- the simulator's training jobs and pools, as tests drive them ------------------------------


def page_ids(sim: ModelArtsLiteSimulator, offset: int) -> list[str]:
    answer = sim.training_jobs.search({"offset": offset, "limit": 3})
    return [item["metadata"]["id"] for item in answer["items"]]


def test_jobs_submitted_or_deleted_between_pages_shift_the_later_pages() -> None:
    now = [float(T0)]
    sim, shown = ModelArtsLiteSimulator(clock=lambda: now[0]), []
    for i in range(9):
        sim.training_jobs.add_job(f"tj-{i:02d}", create_time=now[0] - 100 + i)
    shown.append(page_ids(sim, 0))
    sim.training_jobs.submit_between_pages(1)  # the newest: every later job one place on
    shown.append(page_ids(sim, 1))
    sim.training_jobs.delete_between_pages(["tj-07"])  # seen already: every later one back
    shown.append(page_ids(sim, 2))
    assert shown == [
        ["tj-08", "tj-07", "tj-06"],
        ["tj-06", "tj-05", "tj-04"],  # tj-06 twice
        ["tj-02", "tj-01", "tj-00"],  # tj-03 never
    ]


def test_a_saturated_pool_keeps_its_jobs_queuing_and_the_record_shows_their_phase() -> None:
    sim = ModelArtsLiteSimulator(clock=lambda: T0)
    pool = sim.pools.add_pool("gpu-pool", nodes=2)
    jobs = sim.job_resource(TRAINING_JOBS)
    jobs.submit_job("tj-0", running=True)  # on the public pool: takes none of it
    sim.training_jobs.add_job(
        "tj-1", phase="Running", pool_id=pool, flavor_id="modelarts.pool.visual.4xlarge"
    )
    queued = sim.training_jobs.fill_pool(pool, queued=2)
    mark = jobs.answers_shown()
    body = {"filters": [{"key": "phase", "operator": "in", "value": ["Pending"]}]}
    waiting = sim.training_jobs.search(body)["items"]
    nodes = sim.pools.nodes(pool)
    assert sorted(item["metadata"]["id"] for item in waiting) == sorted(queued)
    assert {item["status"]["secondary_phase"] for item in waiting} == {"Queuing"}
    assert [node["status"]["availableResources"]["nvidia.com/gpu"] for node in nodes] == ["0"] * 2
    in_id_order = tuple((key, "Pending") for key in sorted(queued))  # created at once
    assert jobs.shown_since(mark) == [ShownAnswer(T0, in_id_order)]
