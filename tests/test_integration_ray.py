"""The exporter against the Ray / openYuanrong simulators over real HTTP on loopback."""

import gzip
import time

import httpx
import pytest

from exporter.app import Exporter
from exporter.config.parse import parse_config
from exporter.simulators.ray import RaySimulator

from .helpers import (
    eventually,
    exporter_series,
    promtool_check_metrics,
    serving,
    value,
    wait_ready,
)


def exporter_for(*targets: dict) -> Exporter:
    return Exporter(parse_config({"targets": list(targets)}))


def target(sim: RaySimulator, name: str = "t", **extra) -> dict:
    return {"name": name, "backend": "ray", "url": sim.url, "timeout": "3s", **extra}


def seed_every_status(sim: RaySimulator) -> None:
    now = time.time()
    sim.add_job("p1", status="PENDING")
    sim.add_job("r1", status="RUNNING")
    sim.add_job("r2", status="RUNNING")
    sim.add_job("s1", status="SUCCEEDED", end_time=now - 5)
    sim.add_job("f1", status="FAILED", end_time=now - 5, error_type="JOB_ENTRYPOINT_COMMAND_ERROR")
    sim.add_job("x1", status="STOPPED", end_time=now - 5)
    sim.add_job(None, type="DRIVER", job_id="03000000", status="RUNNING")


def test_one_poll_reports_jobs_by_phase_and_status(ray_sim: RaySimulator) -> None:
    seed_every_status(ray_sim)
    exporter = exporter_for(target(ray_sim, per_job_series="all"))
    assert exporter.poll_all_once()
    body = exporter.exposition.body()
    expected = {
        ("pending", "PENDING"): 1,
        ("running", "RUNNING"): 3,
        ("succeeded", "SUCCEEDED"): 1,
        ("failed", "FAILED"): 1,
        ("cancelled", "STOPPED"): 1,
    }
    for (phase, status), n in expected.items():
        assert value(body, "jobfleet_jobs", phase=phase, status=status) == n
    assert value(body, "jobfleet_jobs_finished_total") == 0  # baseline only
    assert value(body, "jobfleet_job_info", job_id="03000000", job_type="DRIVER") == 1
    assert value(body, "jobfleet_target_up", resource="jobs") == 1
    assert value(body, "jobfleet_api_requests_total", operation="ListJobs", code="200") == 1
    result = promtool_check_metrics(body)
    assert result.returncode == 0, result.stdout + result.stderr
    exporter.close()


def test_counts_transitions_after_the_baseline(ray_sim: RaySimulator) -> None:
    ray_sim.add_job("old", status="SUCCEEDED", end_time=time.time() - 60)
    ray_sim.add_job("a", status="RUNNING")
    ray_sim.add_job("b", status="RUNNING")
    ray_sim.add_job("c", status="PENDING")
    exporter = exporter_for(target(ray_sim))
    poller = exporter.pollers[0]
    assert poller.poll("jobs")
    ray_sim.set_status("a", "STOPPED")
    ray_sim.set_status("b", "FAILED")
    ray_sim.set_status("c", "RUNNING")
    ray_sim.add_job("d", status="PENDING")
    assert poller.poll("jobs")
    ray_sim.set_status("c", "SUCCEEDED")
    assert poller.poll("jobs")
    assert poller.poll("jobs")
    body = exporter.exposition.body()
    assert value(body, "jobfleet_jobs_finished_total", status="STOPPED") == 1
    assert value(body, "jobfleet_jobs_finished_total", status="FAILED") == 1
    assert value(body, "jobfleet_jobs_finished_total", status="SUCCEEDED") == 1
    assert value(body, "jobfleet_jobs_submitted_total") == 1
    assert value(body, "jobfleet_job_duration_seconds_count") == 3
    assert value(body, "jobfleet_job_queue_wait_seconds_count") == 1  # c: PENDING -> RUNNING
    exporter.close()


def test_openyuanrong_path_fallback_is_remembered(yuanrong_sim: RaySimulator) -> None:
    yuanrong_sim.add_job("app-1", status="RUNNING")
    exporter = exporter_for({**target(yuanrong_sim), "resources": ["jobs"]})
    poller = exporter.pollers[0]
    assert poller.poll("jobs") and poller.poll("jobs")
    paths = [path for method, path, _ in yuanrong_sim.requests if method == "GET"]
    assert paths == ["/api/jobs/", "/api/jobs", "/api/jobs"]
    body = exporter.exposition.body()
    assert value(body, "jobfleet_jobs", status="RUNNING") == 1
    assert value(body, "jobfleet_api_requests_total", operation="ListJobs", code="404") == 1
    exporter.close()


def test_openyuanrong_backend_reads_string_second_times(yuanrong_sim: RaySimulator) -> None:
    yuanrong_sim.add_job("app-2", status="RUNNING", start_time=1755484077)
    exporter = exporter_for(
        {**target(yuanrong_sim), "backend": "openyuanrong", "resources": ["jobs"]}
    )
    assert exporter.poll_all_once()
    body = exporter.exposition.body()
    assert value(body, "jobfleet_job_submit_timestamp_seconds", job_id="app-2") == 1755484077
    assert [p for _, p, _ in yuanrong_sim.requests] == ["/api/jobs"]
    exporter.close()


def test_token_auth(tmp_path) -> None:
    with RaySimulator(auth_token="right-token") as sim:
        sim.add_job("j", status="RUNNING")
        exporter = exporter_for(
            target(sim, "none"),
            {**target(sim, "wrong"), "credentials": {"token": "wrong-token"}},
            {**target(sim, "right"), "credentials": {"token": "right-token"}},
        )
        exporter.poll_all_once()
        body = exporter.exposition.body()
        for name, code in (("none", "401"), ("wrong", "403")):
            assert value(body, "jobfleet_target_up", target=name, resource="jobs") == 0
            assert value(body, "jobfleet_poll_errors_total", target=name, reason="auth") == 2
            assert value(body, "jobfleet_api_requests_total", target=name, code=code) >= 1
        assert value(body, "jobfleet_target_up", target="right", resource="jobs") == 1
        assert value(body, "jobfleet_target_up", target="right", resource="clusters") == 1
        assert b"right-token" not in body and b"wrong-token" not in body
        exporter.close()


def test_failed_polls_keep_last_good_data_and_name_the_reason(ray_sim: RaySimulator) -> None:
    ray_sim.add_job("j", status="RUNNING")
    exporter = exporter_for({**target(ray_sim), "resources": ["jobs"]})
    poller = exporter.pollers[0]
    assert poller.poll("jobs")
    for knob, reason in (("fail", "http"), ("garbage", "parse")):
        if knob == "fail":
            ray_sim.fail_next(1, status=503)
        else:
            ray_sim.set_garbage(True)
        assert not poller.poll("jobs")
        ray_sim.set_garbage(False)
        body = exporter.exposition.body()
        assert value(body, "jobfleet_target_up", resource="jobs") == 0
        assert value(body, "jobfleet_poll_errors_total", reason=reason) == 1
        assert value(body, "jobfleet_jobs", status="RUNNING") == 1  # last good data kept
        assert poller.health["jobs"].last_reason == reason
    assert poller.poll("jobs")
    assert value(exporter.exposition.body(), "jobfleet_target_up", resource="jobs") == 1
    exporter.close()


def test_cluster_metrics(ray_sim: RaySimulator) -> None:
    ray_sim.set_nodes(
        alive_head=1, alive_workers=2, dead_workers=1, cpus_per_node=4, gpus_per_node=1
    )
    ray_sim.set_usage(cpu_used=3, gpu_used=1, memory_used=2**30)
    exporter = exporter_for({**target(ray_sim), "resources": ["clusters"]})
    assert exporter.poll_all_once()
    body = exporter.exposition.body()
    assert value(body, "jobfleet_cluster_nodes", role="worker", state="alive") == 2
    assert value(body, "jobfleet_cluster_nodes", role="worker", state="dead") == 1
    assert value(body, "jobfleet_cluster_nodes", role="head", state="alive") == 1
    assert value(body, "jobfleet_cluster_cpu_cores") == 12
    assert value(body, "jobfleet_cluster_gpus", role="worker") == 2
    assert value(body, "jobfleet_cluster_cpu_cores_used") == 3
    assert value(body, "jobfleet_cluster_memory_used_bytes") == 2**30
    assert value(body, "jobfleet_clusters", state="Running") == 1
    assert value(body, "jobfleet_cluster_state", state="Running") == 1
    exporter.close()


@pytest.mark.slow
def test_a_hung_target_does_not_delay_another() -> None:
    with RaySimulator() as healthy, RaySimulator() as hung:
        healthy.add_job("ok", status="RUNNING")
        hung.set_hang(True)
        exporter = Exporter(
            parse_config(
                {
                    "defaults": {"poll_interval": "1s", "timeout": "4s"},
                    "targets": [
                        {
                            "name": "healthy",
                            "backend": "ray",
                            "url": healthy.url,
                            "resources": ["jobs"],
                        },
                        {"name": "hung", "backend": "ray", "url": hung.url, "resources": ["jobs"]},
                    ],
                }
            )
        )
        with serving(exporter) as base:
            try:
                healthy_health = exporter.pollers[0].health["jobs"]
                hung_health = exporter.pollers[1].health["jobs"]
                # three healthy polls (1 s apart) inside the hung target's first 4 s poll
                assert eventually(lambda: healthy_health.durations.count >= 3, timeout=10)
                assert not hung_health.attempted
                assert eventually(lambda: hung_health.attempted, timeout=10)
                assert hung_health.last_reason == "timeout"
                assert hung_health.durations.total < 4.5  # ended by its deadline
                body = httpx.get(f"{base}/metrics", timeout=5).content
                assert value(body, "jobfleet_target_up", target="healthy") == 1
                assert value(body, "jobfleet_target_up", target="hung") == 0
            finally:
                hung.set_hang(False)


def test_http_endpoints(ray_sim: RaySimulator) -> None:
    ray_sim.add_job("j", status="RUNNING")
    exporter = exporter_for(
        {
            **target(ray_sim, poll_interval="1h"),
            "url": ray_sim.url,
            "credentials": {"token": "tok-123"},
        }
    )
    ray_sim.set_hang(True)
    with serving(exporter) as base:
        try:
            not_ready = httpx.get(f"{base}/readyz", timeout=5)
            assert not_ready.status_code == 503 and "t/jobs" in not_ready.text
            assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
            ray_sim.set_hang(False)
            wait_ready(base, timeout=10)
            plain = httpx.get(f"{base}/metrics", timeout=5)
            assert plain.headers["content-type"].startswith("text/plain; version=0.0.4")
            raw = httpx.get(f"{base}/metrics", headers={"Accept-Encoding": "gzip"}, timeout=5)
            assert raw.headers["content-encoding"] == "gzip"
            assert exporter_series(raw.content) == exporter_series(plain.content)  # httpx gunzips
            assert b"jobfleet_build_info" in plain.content
            page = httpx.get(f"{base}/", timeout=5).text
            assert "<td>t</td>" in page and ray_sim.url in page
            assert "tok-123" not in page and "tok-123" not in plain.text
            assert httpx.get(f"{base}/nope", timeout=5).status_code == 404
        finally:
            ray_sim.set_hang(False)


def test_gzip_body_matches_plain() -> None:
    exporter = exporter_for({"name": "t", "backend": "ray", "url": "http://127.0.0.1:9"})
    assert gzip.decompress(exporter.exposition.gzipped()) == exporter.exposition.body()


def test_token_file_and_extra_headers_reach_the_wire(tmp_path) -> None:
    token = tmp_path / "token"
    token.write_text("file-token\n")
    with RaySimulator(auth_token="file-token") as sim:
        exporter = exporter_for(
            {
                **target(sim),
                "resources": ["jobs"],
                "credentials": {"token_file": str(token)},
                "headers": {"X-Team": "platform"},
            }
        )
        assert exporter.poll_all_once()
        exporter.close()
        (_, _, headers), *_ = sim.requests
    assert headers["Authorization"] == "Bearer file-token"
    assert headers["X-Team"] == "platform"


def test_an_unexpected_error_is_counted_and_logged_without_its_message(
    ray_sim: RaySimulator, caplog, monkeypatch
) -> None:
    exporter = exporter_for({**target(ray_sim), "resources": ["jobs"]})
    poller = exporter.pollers[0]

    def broken(deadline: float) -> None:
        raise RuntimeError("http://user:leaked-password@host/")

    monkeypatch.setattr(poller.backend, "list_jobs", broken)
    assert not poller.poll("jobs")
    exporter.close()
    assert poller.health["jobs"].last_reason == "other"
    assert "RuntimeError at" in caplog.text and "leaked-password" not in caplog.text
