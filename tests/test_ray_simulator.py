"""The Ray / openYuanrong simulator over real HTTP: paths, record shapes, auth, faults, workload."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from exporter.simulators.ray import RaySimulator

from .helpers import RAY_TESTDATA, eventually, vendor_example

T0 = 1_795_351_000.0


def load_capture(name: str):
    return json.loads((RAY_TESTDATA / name).read_text())


def seed_example() -> dict:
    """The one job of openYuanrong's documented "Query list successful" example."""
    (job,) = vendor_example("openyuanrong-query-job-list.json")
    return job


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def ray(clock: FakeClock) -> Iterator[RaySimulator]:
    with RaySimulator(clock=clock) as sim:
        yield sim


@pytest.fixture
def yuanrong(clock: FakeClock) -> Iterator[RaySimulator]:
    with RaySimulator(flavour="openyuanrong", clock=clock) as sim:
        yield sim


def get(sim: RaySimulator, path: str, **kwargs) -> httpx.Response:
    return httpx.get(sim.url + path, timeout=5, **kwargs)


def post(sim: RaySimulator, path: str, body: dict | None = None) -> httpx.Response:
    return httpx.post(sim.url + path, json=body, timeout=5)


def by_status(jobs: list[dict]) -> dict[str, dict]:
    return {job["status"]: job for job in jobs}


def seed_every_status(sim: RaySimulator, clock: FakeClock) -> None:
    sim.add_job("p", status="PENDING", start_time=clock.now - 30)
    sim.add_job("r", status="RUNNING", start_time=clock.now - 20)
    sim.add_job("s", status="SUCCEEDED", start_time=clock.now - 60, end_time=clock.now - 10)
    sim.add_job("f", status="FAILED", start_time=clock.now - 60, end_time=clock.now - 5)
    sim.add_job("x", status="STOPPED", start_time=clock.now - 60, end_time=clock.now - 1)


# --- paths ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flavour", "good", "bad"),
    [("ray", "/api/jobs/", "/api/jobs"), ("openyuanrong", "/api/jobs", "/api/jobs/")],
)
def test_each_flavour_serves_the_job_list_on_its_own_path(
    flavour: str, good: str, bad: str
) -> None:
    with RaySimulator(flavour=flavour) as sim:
        assert get(sim, good).json() == []
        sim.add_job("a")
        assert [job["submission_id"] for job in get(sim, good).json()] == ["a"]
        missing = get(sim, bad)
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("text/plain")
        assert missing.text == "404: Not Found"
        assert post(sim, bad, {"entrypoint": "true"}).status_code == 404


def test_job_list_order_is_shuffled(ray: RaySimulator) -> None:
    for n in range(12):
        ray.add_job(f"job-{n}")
    orders = [tuple(j["submission_id"] for j in get(ray, "/api/jobs/").json()) for _ in range(4)]
    assert all(sorted(order) == sorted(orders[0]) for order in orders)
    assert len(set(orders)) > 1


def test_one_job_by_submission_id_or_job_id(ray: RaySimulator) -> None:
    ray.add_job("sub-1", status="RUNNING")
    driver = ray.add_job(type="DRIVER", status="RUNNING")
    job_id = get(ray, "/api/jobs/sub-1").json()["job_id"]
    assert get(ray, f"/api/jobs/{job_id}").json()["submission_id"] == "sub-1"
    assert get(ray, f"/api/jobs/{driver}").json()["type"] == "DRIVER"
    missing = get(ray, "/api/jobs/nope")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/plain")
    assert missing.text == "Job nope does not exist"


# --- record shapes -------------------------------------------------------------------------------


def test_ray_records_have_the_captured_keys_and_types(ray: RaySimulator, clock) -> None:
    seed_every_status(ray, clock)
    ray.add_job(type="DRIVER", status="RUNNING", start_time=clock.now - 15)
    captured_keys = {frozenset(job) for job in load_capture("jobs.json")}
    assert len(captured_keys) == 1
    listed = get(ray, "/api/jobs/").json()
    assert {frozenset(job) for job in listed} == captured_keys
    jobs = by_status([j for j in listed if j["type"] == "SUBMISSION"])
    for job in listed:
        assert isinstance(job["start_time"], int) and job["start_time"] > 10**12
    pending, running = jobs["PENDING"], jobs["RUNNING"]
    assert pending["job_id"] is None and pending["driver_info"] is None
    assert pending["end_time"] is None and pending["driver_node_id"] is None
    assert pending["start_time"] == int((clock.now - 30) * 1000)
    assert pending["message"].startswith("Job has not started yet.")
    assert re.fullmatch(r"\d{2}000000", running["job_id"])
    assert running["end_time"] is None
    assert running["driver_info"]["id"] == running["job_id"]
    assert isinstance(running["driver_info"]["pid"], str)
    assert running["driver_agent_http_address"].endswith(":52365")
    assert jobs["SUCCEEDED"]["end_time"] == int((clock.now - 10) * 1000)
    assert jobs["SUCCEEDED"]["driver_exit_code"] == 0
    failed = jobs["FAILED"]
    assert failed["error_type"] == "JOB_ENTRYPOINT_COMMAND_ERROR"
    assert failed["message"].startswith("Job entrypoint command failed with exit code 1")
    assert jobs["STOPPED"]["message"] == "Job was intentionally stopped."
    (driver,) = [j for j in listed if j["type"] == "DRIVER"]
    assert driver["submission_id"] is None and re.fullmatch(r"\d{2}000000", driver["job_id"])
    assert driver["end_time"] == 0 and driver["message"] is None
    assert driver["driver_agent_http_address"] is None


def test_ray_finished_driver_job_has_an_end_time(ray: RaySimulator, clock) -> None:
    driver = ray.add_job(type="DRIVER", status="RUNNING")
    clock.now += 30
    ray.set_status(driver, "SUCCEEDED")
    job = get(ray, f"/api/jobs/{driver}").json()
    assert job["end_time"] == int(clock.now * 1000)
    assert job["driver_exit_code"] is None  # Ray never reports one for DRIVER jobs


def test_openyuanrong_records_match_the_documented_example(yuanrong: RaySimulator, clock) -> None:
    example = seed_example()
    seed_every_status(yuanrong, clock)
    listed = get(yuanrong, "/api/jobs").json()
    assert {frozenset(job) for job in listed} == {frozenset(example)}
    assert {frozenset(job["driver_info"]) for job in listed} == {frozenset(example["driver_info"])}
    jobs = by_status(listed)
    for job in listed:
        assert None not in job.values() and None not in job["driver_info"].values()
        assert "job_id" not in job and "message" not in job
        assert job["start_time"].isdigit() and len(job["start_time"]) == 10  # epoch seconds
    assert jobs["PENDING"]["end_time"] == "" and jobs["PENDING"]["driver_node_id"] == ""
    assert jobs["RUNNING"]["end_time"] == ""
    assert jobs["RUNNING"]["driver_info"]["id"] == "r"
    assert jobs["RUNNING"]["driver_info"]["pid"].isdigit()
    assert jobs["SUCCEEDED"]["end_time"] == str(int(clock.now - 10))
    assert jobs["SUCCEEDED"]["error_type"] == ""
    assert jobs["FAILED"]["error_type"] == "JOB_ENTRYPOINT_COMMAND_ERROR"
    assert get(yuanrong, "/api/jobs/r").json() == jobs["RUNNING"]


def test_openyuanrong_generated_ids_look_like_its_example(yuanrong: RaySimulator) -> None:
    key = yuanrong.add_job()
    assert re.fullmatch(r"app-[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", key)


def test_set_status_moves_times_and_ids(ray: RaySimulator, clock) -> None:
    key = ray.add_job()
    assert ray.jobs()[0]["job_id"] is None
    clock.now += 5
    ray.set_status(key, "RUNNING")
    (running,) = ray.jobs()
    assert running["job_id"] is not None and running["end_time"] is None
    clock.now += 7
    ray.set_status(key, "FAILED", error_type="RUNTIME_ENV_SETUP_FAILURE")
    (failed,) = ray.jobs()
    assert failed["end_time"] == clock.now and failed["error_type"] == "RUNTIME_ENV_SETUP_FAILURE"
    ray.set_status(key, "RUNNING")
    assert ray.jobs()[0]["end_time"] is None
    ray.set_status(key, "SUCCEEDED", end_time=T0 + 1)
    assert ray.jobs()[0]["end_time"] == T0 + 1
    ray.remove_job(running["job_id"])
    assert ray.jobs() == []
    with pytest.raises(KeyError):
        ray.set_status(key, "RUNNING")


def test_add_job_refuses_a_taken_id(ray: RaySimulator) -> None:
    ray.add_job("same")
    with pytest.raises(ValueError, match="already exists"):
        ray.add_job("same")


# --- submit and stop -----------------------------------------------------------------------------


def test_submit_and_stop_over_http(ray: RaySimulator, clock) -> None:
    body = {"entrypoint": "python x.py", "submission_id": "mine", "metadata": {"owner": "me"}}
    submitted = post(ray, "/api/jobs/", body)
    assert submitted.json() == {"job_id": "mine", "submission_id": "mine"}
    job = get(ray, "/api/jobs/mine").json()
    assert (job["status"], job["type"], job["job_id"]) == ("PENDING", "SUBMISSION", None)
    assert job["metadata"] == {"owner": "me"} and job["entrypoint"] == "python x.py"
    assert post(ray, "/api/jobs/", body).status_code == 400  # the id is taken
    generated = post(ray, "/api/jobs/", {"entrypoint": "true"}).json()["submission_id"]
    assert re.fullmatch(r"raysubmit_[A-Za-z1-9]{16}", generated)
    clock.now += 9
    assert post(ray, "/api/jobs/mine/stop").json() == {"stopped": True}
    stopped = get(ray, "/api/jobs/mine").json()
    assert stopped["status"] == "STOPPED" and stopped["end_time"] == int(clock.now * 1000)
    assert post(ray, "/api/jobs/mine/stop").json() == {"stopped": False}
    assert post(ray, "/api/jobs/nope/stop").status_code == 404


def test_submit_rejects_bad_requests_and_driver_jobs_cannot_be_stopped(ray: RaySimulator) -> None:
    for body in ({}, {"entrypoint": 3}, {"entrypoint": "x", "metadata": {"n": 1}}):
        assert post(ray, "/api/jobs/", body).status_code == 400
    driver = ray.add_job(type="DRIVER", status="RUNNING")
    refused = post(ray, f"/api/jobs/{driver}/stop")
    assert refused.status_code == 400 and refused.text == "Can only stop submission type jobs"
    assert ray.jobs()[0]["status"] == "RUNNING"


# --- auth ----------------------------------------------------------------------------------------


def test_token_auth() -> None:
    with RaySimulator(auth_token="s3cret") as sim:
        sim.add_job("a")
        mode = get(sim, "/api/authentication_mode")
        assert mode.json() == {"authentication_mode": "token"}
        missing = get(sim, "/api/jobs/")
        assert missing.status_code == 401
        assert missing.text == "Unauthorized: Missing authentication token"
        wrong = get(sim, "/api/jobs/", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 403
        assert wrong.text == "Forbidden: Invalid authentication token"
        for header in ("Authorization", "X-Ray-Authorization"):
            for path in ("/api/jobs/", "/api/jobs/a", "/api/v0/nodes", "/api/version"):
                assert get(sim, path, headers={header: "Bearer s3cret"}).status_code == 200
        assert get(sim, "/api/cluster_status").status_code == 401
        assert post(sim, "/api/jobs/", {"entrypoint": "true"}).status_code == 401


def test_no_token_means_auth_disabled(ray: RaySimulator) -> None:
    assert get(ray, "/api/authentication_mode").json() == {"authentication_mode": "disabled"}
    assert get(ray, "/api/jobs/", headers={"Authorization": "Bearer any"}).status_code == 200


# --- cluster endpoints ---------------------------------------------------------------------------


def test_nodes_have_the_captured_shape_and_honour_limit(ray: RaySimulator) -> None:
    ray.set_nodes(alive_head=1, alive_workers=2, dead_workers=1, cpus_per_node=8, gpus_per_node=1)
    captured = load_capture("v0_nodes_with_dead.json")
    payload = get(ray, "/api/v0/nodes").json()
    assert payload.keys() == captured.keys()
    assert payload["data"]["result"].keys() == captured["data"]["result"].keys()
    nodes = payload["data"]["result"]["result"]
    assert {frozenset(n) for n in nodes} == {
        frozenset(n) for n in captured["data"]["result"]["result"]
    }
    assert [(n["is_head_node"], n["state"]) for n in nodes] == [
        (True, "ALIVE"),
        (False, "ALIVE"),
        (False, "ALIVE"),
        (False, "DEAD"),
    ]
    dead = nodes[3]
    assert dead["end_time_ms"] > dead["start_time_ms"] > 0 and dead["state_message"]
    assert nodes[0]["end_time_ms"] == 0
    assert nodes[0]["resources_total"]["node:__internal_head__"] == 1.0
    assert {n["resources_total"]["CPU"] for n in nodes} == {8.0}
    assert {n["resources_total"]["GPU"] for n in nodes} == {1.0}
    assert len({n["node_id"] for n in nodes}) == 4
    truncated = get(ray, "/api/v0/nodes", params={"limit": 2}).json()["data"]["result"]
    assert (truncated["total"], truncated["num_after_truncation"]) == (4, 2)
    assert len(truncated["result"]) == 2
    ray.set_nodes(alive_head=1, alive_workers=120)
    assert len(get(ray, "/api/v0/nodes").json()["data"]["result"]["result"]) == 100


def test_cluster_status_has_the_captured_shape_and_reports_usage(ray: RaySimulator) -> None:
    ray.set_nodes(alive_head=1, alive_workers=1, dead_workers=1, cpus_per_node=4, gpus_per_node=2)
    ray.set_usage(cpu_used=3, gpu_used=9, memory_used=2**30)
    ray.add_job("waiting")
    ray.add_job("also-waiting")
    captured = load_capture("cluster_status_busy.json")
    payload = get(ray, "/api/cluster_status").json()
    assert payload.keys() == captured.keys()
    assert payload["data"].keys() == captured["data"].keys()
    status, real = payload["data"]["clusterStatus"], captured["data"]["clusterStatus"]
    assert status.keys() == real.keys()
    assert status["loadMetricsReport"].keys() == real["loadMetricsReport"].keys()
    assert status["autoscalerReport"].keys() == real["autoscalerReport"].keys()
    usage = status["loadMetricsReport"]["usage"]
    assert usage["CPU"] == [3.0, 8.0]  # the dead worker does not count
    assert usage["GPU"] == [4.0, 4.0]  # use is capped at the total
    assert usage["memory"] == [2.0**30, 32.0 * 2**30]
    assert usage["objectStoreMemory"][0] == 0.0
    assert usage["node:InternalHead"] == [0.0, 1.0]
    assert status["loadMetricsReport"]["resourceDemand"] == [[{"CPU": 1.0}, 2]]
    by_node = status["loadMetricsReport"]["usageByNode"]
    assert sum(node["CPU"][0] for node in by_node.values()) == pytest.approx(3.0)


def test_cluster_status_omits_gpu_when_there_is_none(ray: RaySimulator) -> None:
    usage = get(ray, "/api/cluster_status").json()["data"]["clusterStatus"]["loadMetricsReport"]
    assert "GPU" not in usage["usage"] and usage["resourceDemand"] == []


def test_version_has_the_captured_keys(ray: RaySimulator) -> None:
    version = get(ray, "/api/version").json()
    assert version.keys() == load_capture("version.json").keys()
    assert version["session_name"].startswith("session_")
    assert version == get(ray, "/api/version").json()


# --- faults --------------------------------------------------------------------------------------


def test_fail_next_answers_n_requests_then_recovers(ray: RaySimulator) -> None:
    ray.fail_next(2, status=503, body="busy")
    assert get(ray, "/api/authentication_mode").status_code == 200  # not counted
    first, second = get(ray, "/api/jobs/"), get(ray, "/api/v0/nodes")
    assert (first.status_code, first.text) == (503, "busy")
    assert (second.status_code, second.text) == (503, "busy")
    assert get(ray, "/api/jobs/").status_code == 200


def test_garbage_answers_invalid_json(ray: RaySimulator) -> None:
    ray.set_garbage(True)
    for path in ("/api/jobs/", "/api/cluster_status"):
        answer = get(ray, path)
        assert answer.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            answer.json()
    ray.set_garbage(False)
    assert get(ray, "/api/jobs/").json() == []


@pytest.mark.slow
def test_hang_blocks_until_turned_off(ray: RaySimulator) -> None:
    ray.set_hang(True)
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(ray.url + "/api/jobs/", timeout=0.5)
    assert get(ray, "/api/authentication_mode").status_code == 200  # public, never hangs
    ray.set_hang(False)
    assert get(ray, "/api/jobs/").status_code == 200


def test_stop_releases_hung_requests() -> None:
    sim = RaySimulator()
    sim.start()
    sim.set_hang(True)
    outcome: list[object] = []

    def call() -> None:
        try:
            outcome.append(httpx.get(sim.url + "/api/jobs/", timeout=30).status_code)
        except httpx.HTTPError as err:
            outcome.append(err)

    caller = threading.Thread(target=call)
    caller.start()
    eventually(lambda: sim.requests, timeout=10, step=0.01, what="the request")
    started = time.monotonic()
    sim.stop()
    caller.join(timeout=10)
    assert not caller.is_alive() and outcome
    assert time.monotonic() - started < 5


def test_requests_are_logged(ray: RaySimulator) -> None:
    get(ray, "/api/v0/nodes", params={"limit": 5}, headers={"X-Team": "a"})
    post(ray, "/api/jobs/", {"entrypoint": "true"})
    (method, path, headers), (post_method, post_path, _) = ray.requests
    assert (method, path, headers["X-Team"]) == ("GET", "/api/v0/nodes", "a")
    assert (post_method, post_path) == ("POST", "/api/jobs/")


# --- workload ------------------------------------------------------------------------------------


def run_workload(
    sim: RaySimulator, clock: FakeClock, seconds: float, every: int = 10
) -> list[list[dict]]:
    """Step every 0.5 simulated seconds; return a snapshot of the jobs every ``every`` steps."""
    snapshots = []
    for tick in range(int(seconds * 2)):
        clock.now += 0.5
        sim.step(clock.now)
        if tick % every == 0:
            snapshots.append(sim.jobs())
    return snapshots


def get_json(sim: RaySimulator, path: str):
    """GET, retrying past the occasional 503 that the workload injects."""
    for _ in range(3):
        answer = get(sim, path)
        if answer.status_code != 503:
            return answer.json()
    raise AssertionError(f"{path} kept answering 503")


@pytest.mark.slow
def test_workload_reaches_every_status_within_five_minutes(ray: RaySimulator, clock) -> None:
    nodes, usage = [], []
    statuses, error_types, types = set(), set(), set()
    for _ in range(60):  # 5 simulated minutes
        for job in run_workload(ray, clock, 5)[-1]:
            statuses.add(job["status"])
            types.add(job["type"])
            error_types.add(job["error_type"])
        result = get_json(ray, "/api/v0/nodes")["data"]["result"]["result"]
        nodes.append(frozenset((n["node_id"], n["state"]) for n in result))
        status = get_json(ray, "/api/cluster_status")["data"]["clusterStatus"]
        usage.append(status["loadMetricsReport"]["usage"]["CPU"][0])
    assert statuses == {"PENDING", "RUNNING", "SUCCEEDED", "FAILED", "STOPPED"}
    assert types == {"SUBMISSION", "DRIVER"}
    assert "JOB_ENTRYPOINT_COMMAND_ERROR" in error_types
    assert len(set(nodes)) > 3
    assert any(state == "DEAD" for snapshot in nodes for _, state in snapshot)
    assert len(set(usage)) > 10


def test_workload_jobs_move_pending_running_finished(ray: RaySimulator, clock) -> None:
    histories: dict[str, list[str]] = {}
    for snapshot in run_workload(ray, clock, 180, every=1):
        for job in snapshot:
            if job["type"] == "SUBMISSION":
                history = histories.setdefault(job["submission_id"], [])
                if not history or history[-1] != job["status"]:
                    history.append(job["status"])
    assert any(h[:3] == ["PENDING", "RUNNING", "SUCCEEDED"] for h in histories.values())
    assert all(h[0] == "PENDING" for h in histories.values())
    assert 20 <= len(histories) <= 60  # about 12 a minute


def test_workload_is_deterministic_from_the_seed() -> None:
    def history(seed: int) -> list[dict]:
        clock = FakeClock()
        sim = RaySimulator(seed=seed, clock=clock)
        run_workload(sim, clock, 120)
        return sim.jobs()

    assert history(7) == history(7)
    assert history(7) != history(8)


def test_workload_keeps_the_job_list_bounded(clock: FakeClock) -> None:
    with RaySimulator(clock=clock) as sim:
        sim.start_workload(rate_per_min=600)  # its thread steps too, on the same fake clock
        for _ in range(240):
            clock.now += 5
            sim.step(clock.now)
        assert len(sim.jobs()) <= 500


def test_openyuanrong_workload_has_only_identifiable_submission_jobs(yuanrong, clock) -> None:
    run_workload(yuanrong, clock, 120)
    jobs = yuanrong.jobs()
    assert jobs and {job["type"] for job in jobs} == {"SUBMISSION"}
    assert all(job["submission_id"].startswith("app-") for job in jobs)


@pytest.mark.slow
def test_workload_thread_runs_on_the_real_clock_and_stops() -> None:
    sim = RaySimulator(seed=3)
    sim.start()
    sim.start_workload(rate_per_min=600)
    assert eventually(sim.jobs, timeout=10, step=0.05)
    sim.stop()
    assert not sim.workload_running()  # stop() joined the thread: no step can follow
