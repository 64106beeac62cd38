"""EMR Serverless Spark: the documented examples parsed, the backend against its simulator."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from alibabacloud_emr_serverless_spark20230808 import models
from alibabacloud_tea_openapi.exceptions import AlibabaCloudException

from exporter.app import Exporter
from exporter.auth.alibaba_credentials import OidcRoleCredentials
from exporter.backends.emr_serverless import (
    DECLARATION,
    classify_error,
    parse_cluster,
    parse_job,
    parse_memory,
)
from exporter.backends.emr_serverless.families import CU_HOURS
from exporter.config.parse import parse_config
from exporter.exposition.block import Block
from exporter.exposition.renderers.clusters import render_clusters
from exporter.exposition.renderers.jobs import JobLines, render_jobs
from exporter.http.client import USER_AGENT
from exporter.ledger.job_ledger import JobLedger
from exporter.model import Phase
from exporter.simulators.base import OUTCOMES
from exporter.simulators.emr_serverless import EmrServerlessSimulator
from exporter.simulators.emr_serverless.workload import QUEUES

from .helpers import SteppedClock, promtool_check_metrics, samples, value, vendor_example
from .sdk_capture import sdk_client


def emr_target(sim: EmrServerlessSimulator, name: str = "emr", **extra) -> dict:
    return sim.target_config(name, timeout="20s", requests_per_second=1000, **extra)


def exporter_for(*targets: dict) -> Exporter:
    return Exporter(parse_config({"targets": list(targets)}))


def list_requests(sim: EmrServerlessSimulator) -> list[dict[str, str]]:
    return [query for action, query in sim.requests if action == "ListRayJob"]


# --- seeds and parsing -----------------------------------------------------------------------


def test_seed_job_and_cluster_parse_into_documented_metrics_without_tokens() -> None:
    (item,) = vendor_example("emr-serverless-ListRayJob.json")["rayJobs"]
    job = parse_job(item)
    assert (job.key, job.name, job.status, job.phase) == (
        "rj-uiulpgow9xljimm1",
        "testRayJob",
        "Running",
        Phase.RUNNING,
    )
    assert (job.submit_time, job.start_time, job.end_time) == (
        1776945399.0,
        1776945499.0,
        1776945509.0,
    )
    assert job.values[CU_HOURS] == 120
    assert dict(job.extra_labels)["resource_queue"] == "err-1.2.0 (Ray 2.55.1, Python 3.12)"
    (raw_cluster,) = vendor_example("emr-serverless-ListRayCluster.json")["rayClusters"]
    cluster = parse_cluster(raw_cluster)
    head, worker = cluster.groups
    assert (head.role, head.nodes_alive, head.cpu_cores, head.memory_bytes) == (
        "head",
        1,
        2,
        8589934592,
    )
    assert (worker.group, worker.nodes_alive, worker.cpu_cores, worker.memory_bytes) == (
        "Group1",
        2,
        4,
        2 * 8589934592,
    )
    assert (worker.min_replicas, worker.max_replicas) == (None, None)  # autoscaling is off
    assert cluster.created_time == 1723722279.8

    ledger = JobLedger(DECLARATION.known_pairs, usage=DECLARATION.extras.usage())
    ledger.apply([job], 1776945600.0)
    block = Block((("target", "t"), ("backend", "emr_serverless")))
    render_jobs(block, ledger.view(), "all", JobLines(DECLARATION.extras.gauges()))
    render_clusters(block, [cluster], DECLARATION.cluster_states)
    body = b"".join(block.encode().values())
    assert b"token=" not in body and b"dashboard" not in body
    assert value(body, "jobfleet_job_cu_seconds", job_id="rj-uiulpgow9xljimm1") == 120 * 3600
    assert value(body, "jobfleet_job_info", cluster_state="Running") == 1
    assert value(body, "jobfleet_cluster_memory_bytes", group="head") == 8589934592
    assert value(body, "jobfleet_cluster_state", state="Running") == 1
    assert value(body, "jobfleet_cluster_state", state="Error") == 0
    assert value(body, "jobfleet_cluster_info", network_service="vpc") == 1


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("8Gi", 8 * 2**30),
        ("512Mi", 512 * 2**20),
        ("16G", 16e9),
        ("2", 2 * 2**30),
        ("8589934592", 8589934592),
        ("", 0),
        ("lots", 0),
    ],
)
def test_memory_sizes(text: str, size: float) -> None:
    assert parse_memory(text) == size


@pytest.mark.parametrize(
    ("status", "body", "headers", "reason", "retry_after"),
    [
        (429, {"Code": "Throttling.User"}, {"x-acs-retry-after": "1500"}, "throttled", 1.5),
        (400, {"code": "Throttling.Api", "message": "slow down"}, {}, "throttled", None),
        (400, {"Code": "SignatureDoesNotMatch"}, {}, "auth", None),
        (404, {"Code": "InvalidAccessKeyId.NotFound"}, {}, "auth", None),
        (403, {"Code": "Forbidden.RAM"}, {}, "auth", None),
        (503, {"Code": "ServiceUnavailable", "RequestId": "R-1"}, {}, "http", None),
        (500, "<html>oops</html>", {}, "http", None),
    ],
)
def test_error_classification(status, body, headers, reason, retry_after) -> None:
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    response = httpx.Response(status, headers=headers, content=raw)
    error = classify_error("ListRayJob", response, raw)
    assert (error.reason, error.retry_after) == (reason, retry_after)


# --- against the simulator -------------------------------------------------------------------


def test_250_jobs_over_3_pages_appear_exactly_once() -> None:
    with EmrServerlessSimulator() as sim:
        base = time.time() - 86400
        for i in range(250):
            sim.add_job(f"rj-{i:04d}", status="Succeeded", submit_time=base + i, cu_hours=0.5)
        exporter = exporter_for(emr_target(sim, per_job_series="all", resources=["jobs"]))
        assert exporter.poll_all_once()
        exporter.close()
        pages = [query["pageNum"] for query in list_requests(sim)]
    body = exporter.exposition.body()
    assert pages == ["1", "2", "3"]
    assert value(body, "jobfleet_jobs", status="Succeeded") == 250
    ids = [
        dict(labels)["job_id"] for (name, labels) in samples(body) if name == "jobfleet_job_info"
    ]
    assert sorted(ids) == [f"rj-{i:04d}" for i in range(250)]
    lint = promtool_check_metrics(body)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_job_inserted_mid_walk_is_neither_lost_nor_doubled() -> None:
    with EmrServerlessSimulator() as sim:
        base = time.time() - 3600
        for i in range(250):
            sim.add_job(f"rj-{i:04d}", status="Running", submit_time=base + i)
        inserted = []

        def insert_once(page: int) -> None:
            if page == 2 and not inserted:
                inserted.append(sim.add_job("rj-newcomer", status="Submitted"))

        sim.on_list_page = insert_once
        exporter = exporter_for(emr_target(sim, per_job_series="all", resources=["jobs"]))
        assert exporter.poll_all_once()
        exporter.close()
    body = exporter.exposition.body()
    ids = [
        dict(labels)["job_id"] for (name, labels) in samples(body) if name == "jobfleet_job_info"
    ]
    assert len(ids) == len(set(ids)) == 251
    assert "rj-newcomer" in ids
    assert value(body, "jobfleet_jobs") == 251


@pytest.mark.slow
def test_steady_state_poll_asks_for_new_and_active_jobs_only() -> None:
    with EmrServerlessSimulator() as sim:
        now = time.time()
        for i in range(10_000):
            sim.add_job(
                f"rj-old-{i:05d}",
                status="Succeeded",
                submit_time=now - 30 * 86400 + i * 200,
                cu_hours=1,
            )
        active = [
            sim.add_job(f"rj-act-{i:02d}", status="Running", submit_time=now - 600 + i)
            for i in range(20)
        ]
        exporter = exporter_for(emr_target(sim, resources=["jobs"]))
        poller = exporter.pollers[0]
        assert poller.poll("jobs")
        full_walk = len(list_requests(sim))
        sim.set_job(active[0], status="Succeeded", cu_hours=2.0)
        sim.add_job("rj-brand-new", status="Submitted")
        sim.requests.clear()
        assert poller.poll("jobs")
        steady = list_requests(sim)
        exporter.close()
    body = exporter.exposition.body()
    assert full_walk >= 101
    assert 1 <= len(steady) <= 5, steady
    assert all("submitTime" in query or "submissionId" in query for query in steady)
    window = json.loads(steady[0]["submitTime"])
    assert set(window) == {"startTime", "endTime"}
    assert value(body, "jobfleet_jobs_finished_total", status="Succeeded") == 1
    assert value(body, "jobfleet_jobs_submitted_total") == 1
    assert value(body, "jobfleet_jobs", status="Running") == 19
    assert value(body, "jobfleet_jobs", status="Submitted") == 1


def test_throttling_is_counted_and_retry_after_honoured() -> None:
    with EmrServerlessSimulator() as sim:
        sim.add_job("rj-1", status="Running")
        exporter = exporter_for(emr_target(sim, resources=["jobs"]))
        poller = exporter.pollers[0]
        poller.monotonic = clock = SteppedClock()
        sim.throttle_next(1, retry_after_ms=1500)
        assert not poller.poll("jobs")
        sent = len(sim.requests)
        assert not poller.poll("jobs")  # inside the retry-after: no request at all
        clock.advance(1.4)
        assert not poller.poll("jobs")
        assert len(sim.requests) == sent
        clock.advance(0.2)
        assert poller.poll("jobs")
        exporter.close()
    body = exporter.exposition.body()
    assert value(body, "jobfleet_poll_errors_total", reason="throttled") == 1
    assert value(body, "jobfleet_api_requests_total", operation="ListRayJob", code="429") == 1
    assert value(body, "jobfleet_target_up", resource="jobs") == 1


def test_a_bad_secret_is_reason_auth_and_target_down() -> None:
    with EmrServerlessSimulator() as sim:
        target = emr_target(sim)
        target["credentials"] = {**target["credentials"], "access_key_secret": "wrong-secret-value"}
        exporter = exporter_for(target)
        assert not exporter.poll_all_once()
        exporter.close()
    body = exporter.exposition.body()
    for resource in ("jobs", "clusters"):
        assert value(body, "jobfleet_target_up", resource=resource) == 0
        assert value(body, "jobfleet_poll_errors_total", resource=resource, reason="auth") == 1
    assert value(body, "jobfleet_api_requests_total", code="400") == 2
    assert (
        exporter.pollers[0]
        .health["jobs"]
        .last_error.startswith("ListRayJob: HTTP 400 SignatureDoesNotMatch")
    )
    assert b"wrong-secret-value" not in body


def test_filters_reach_the_wire() -> None:
    with EmrServerlessSimulator() as sim:
        sim.add_job("rj-1", name="nightly", status="Running", task_biz_id="TSK-9")
        sim.add_job("rj-2", name="other", status="Running")
        exporter = exporter_for(
            emr_target(sim, resources=["jobs"], filters={"name": "nightly", "task_biz_id": "TSK-9"})
        )
        assert exporter.poll_all_once()
        exporter.close()
        (query,) = list_requests(sim)
    assert (query["name"], query["taskBizId"]) == ("nightly", "TSK-9")
    assert value(exporter.exposition.body(), "jobfleet_jobs", status="Running") == 1


@pytest.mark.slow
def test_clusters_paged_until_a_short_page_with_states_and_groups() -> None:
    with EmrServerlessSimulator() as sim:
        for i in range(130):
            sim.add_cluster(f"ray-{i:03d}", state="Error" if i == 7 else "Running", worker_groups=2)
        exporter = exporter_for(emr_target(sim, resources=["clusters"]))
        assert exporter.poll_all_once()
        exporter.close()
        pages = [q["pageNum"] for action, q in sim.requests if action == "ListRayCluster"]
    body = exporter.exposition.body()
    assert pages == ["1", "2"]
    assert value(body, "jobfleet_clusters", state="Running") == 129
    assert value(body, "jobfleet_clusters", state="Error") == 1
    assert value(body, "jobfleet_clusters", state="Stopped") == 0
    assert value(body, "jobfleet_cluster_state", cluster_id="ray-007", state="Error") == 1
    assert (
        value(body, "jobfleet_cluster_group_replicas_max", cluster_id="ray-007", group="Group2")
        == 10
    )
    assert value(body, "jobfleet_cluster_gpus", cluster_id="ray-007") == 0
    assert (
        value(
            body,
            "jobfleet_cluster_group_info",
            cluster_id="ray-007",
            gpu_spec="ecs.gn6i-c4g1.xlarge",
        )
        == 1
    )
    assert b"token=" not in body


def test_cu_seconds_equal_the_jobs_cu_hours_increase() -> None:
    start = time.time()
    now = [start]
    with EmrServerlessSimulator(seed=3, clock=lambda: now[0]) as sim:
        sim.step(now[0])
        for i in range(5):  # running at the baseline: only their growth counts
            sim.add_job(f"rj-pre-{i}", status="Running", cu_hours=1.0 + i)
        exporter = exporter_for(emr_target(sim, resources=["jobs"], per_job_series="none"))
        poller = exporter.pollers[0]
        poller.clock = lambda: now[0]
        assert poller.poll("jobs")
        baseline = {job["submissionId"]: job["cuHours"] for job in sim.jobs()}
        for _ in range(10):  # 300 simulated seconds, a poll every 30, the workload every 5
            for _ in range(6):
                now[0] += 5
                sim.step(now[0])
            for i in range(5):
                sim.set_job(f"rj-pre-{i}", cu_hours=1.0 + i + (now[0] - start) / 3600)
            assert poller.poll("jobs")
        exporter.close()
        truth = sum(job["cuHours"] - baseline.get(job["submissionId"], 0.0) for job in sim.jobs())
        short_lived = [
            job
            for job in sim.jobs()
            if job["status"] not in ("Running", "Submitted", "Pending")
            and (job["endTime"] - job["submitTime"]) / 1000 < 30
        ]
    counted = value(exporter.exposition.body(), "jobfleet_cu_seconds_total")
    assert truth > 0 and short_lived, "the workload must run jobs, some between two polls"
    assert counted == pytest.approx(truth * 3600, rel=1e-9)


def test_rrsa_credentials_through_sts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token_file = tmp_path / "oidc-token"
    token_file.write_text("eyJhbGciOi.simulated.oidc\n")
    with EmrServerlessSimulator(oidc_token="eyJhbGciOi.simulated.oidc") as sim:
        sim.add_job("rj-1", status="Running")
        monkeypatch.delenv("ALIBABA_CLOUD_ACCESS_KEY_ID", raising=False)
        monkeypatch.setenv("ALIBABA_CLOUD_ROLE_ARN", "acs:ram::123:role/exporter")
        monkeypatch.setenv("ALIBABA_CLOUD_OIDC_PROVIDER_ARN", "acs:ram::123:oidc-provider/ack")
        monkeypatch.setenv("ALIBABA_CLOUD_OIDC_TOKEN_FILE", str(token_file))
        target = {**emr_target(sim), "credentials": {"sts_endpoint": sim.url}}
        exporter = exporter_for(target)
        assert exporter.poll_all_once() and exporter.poll_all_once()
        exporter.close()
        assert sim.sts_calls == 1  # cached until close to expiry
        sts = [head for head in sim.heads if head.method == "POST"]
        agents = [dict((k.lower(), v) for k, v in head.headers)["user-agent"] for head in sts]
        assert agents == [USER_AGENT]  # the STS request names the exporter too
        assert value(exporter.exposition.body(), "jobfleet_jobs", status="Running") == 1

        clock = [time.time()]
        provider = OidcRoleCredentials(
            "acs:ram::123:role/x",
            "acs:ram::123:oidc-provider/y",
            str(token_file),
            sim.url,
            clock=lambda: clock[0],
        )
        first = provider.get()
        assert provider.get() == first
        clock[0] += sim.sts_lifetime - 200  # inside the refresh margin
        assert provider.get() != first
        assert sim.sts_calls == 3

        token_file.write_text("not-the-token")
        clock[0] += sim.sts_lifetime
        with pytest.raises(Exception) as err:
            provider.get()
        assert err.value.reason == "auth"
        assert "not-the-token" not in str(err.value)


def test_pagination_that_never_ends_is_stopped_by_the_page_cap() -> None:
    with EmrServerlessSimulator() as sim:
        for i in range(450):
            sim.add_job(f"rj-{i:04d}", status="Running", submit_time=time.time() - 1000 + i)
        exporter = exporter_for(emr_target(sim, resources=["jobs"], max_pages=2))
        assert exporter.poll_all_once()
        exporter.close()
        pages = [query["pageNum"] for query in list_requests(sim)]
    body = exporter.exposition.body()
    assert pages == ["1", "2"]
    assert value(body, "jobfleet_list_incomplete", resource="jobs") == 1
    assert value(body, "jobfleet_jobs", status="Running") == 200  # what came is exported


# --- Spark job runs and queues ---------------------------------------------------------------


def test_spark_runs_keep_the_job_contract_with_a_record_of_their_own() -> None:
    now = [float(int(time.time()))]
    with EmrServerlessSimulator(clock=lambda: now[0]) as sim:
        runs, client = sim.job_resource("spark_runs"), sdk_client(sim)
        assert runs is sim.spark_runs and sim.job_resource("jobs") is sim
        assert (runs.HAS_PENDING, runs.REUSES_IDS, runs.JOB_LIST_KEY) == (True, False, "jobRuns")
        waiting = runs.submit_job("jr-wait", name="nightly")
        started = runs.submit_job()
        runs.start_job(started)
        ended = {outcome: runs.end_job(runs.submit_job(), outcome) for outcome in OUTCOMES}
        marks = runs.answers_shown(), sim.answers_shown()
        answer = client.list_job_runs(sim.workspace_id, models.ListJobRunsRequest())
        (shown,) = runs.shown_since(marks[0])
        runs.fail_job_lists(1)
        runs.fail_lists(1, 503, "ServiceUnavailable")
        failures = []
        for _ in range(2):
            with pytest.raises(AlibabaCloudException) as failed:
                client.list_job_runs(sim.workspace_id, models.ListJobRunsRequest())
            failures.append((failed.value.status_code, failed.value.code))
        runs.remove_job(waiting)
        with pytest.raises(ValueError):
            runs.submit_job(waiting)  # the API never gives an id twice
        after = client.list_job_runs(sim.workspace_id, models.ListJobRunsRequest())
        assert sim.answers_shown() == marks[1]  # the Ray jobs' record saw none of it
        assert runs.answers_shown() == marks[0] + 2  # the failed lists recorded nothing
    assert ended == {"succeeded": "Success", "failed": "Failed", "cancelled": "Cancelled"}
    assert shown.jobs == tuple((run.job_run_id, run.state) for run in answer.body.job_runs)
    assert dict(shown.jobs)[waiting] == "Submitted" and dict(shown.jobs)[started] == "Running"
    assert failures == [(429, "Throttling.User"), (503, "ServiceUnavailable")]
    assert waiting not in [run.job_run_id for run in after.body.job_runs]


def test_the_workload_runs_spark_jobs_through_queues_within_their_capacity() -> None:
    now = [1_700_000_000.0]
    sim = EmrServerlessSimulator(seed=5, clock=lambda: now[0])
    most: dict[str, tuple[int, int]] = dict.fromkeys(QUEUES, (0, 0))  # (vcores, waiting)
    for _ in range(900):
        now[0] += 1
        sim.step(now[0])
        for name in QUEUES:
            cpu, _, waiting = sim.queues.usage(name)
            most[name] = (max(most[name][0], cpu), max(most[name][1], waiting))
    states = {run["state"] for run in sim.spark_runs.runs()}
    for name, (vcores, _) in QUEUES.items():
        assert 0 < most[name][0] <= vcores
    assert most["dev_queue"][1] >= 2  # a full queue keeps runs waiting
    assert {"Success", "Failed", "Cancelled", "Running"} <= states
