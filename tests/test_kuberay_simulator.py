"""The KubeRay simulator: RayJobs moved through the operator's statuses by the job contract,
and a workload whose RayJobs and RayClusters come and go, read back by the official
``kubernetes`` client as a user's tooling would read them."""

from __future__ import annotations

import httpx
import pytest
from kubernetes import client

from exporter.simulators.kuberay import KubeRaySimulator


@pytest.fixture
def sim(kuberay_sim: KubeRaySimulator) -> KubeRaySimulator:
    return kuberay_sim


def objects(sim: KubeRaySimulator) -> client.CustomObjectsApi:
    settings = client.Configuration()
    settings.host = sim.url
    settings.api_key = {"authorization": sim.token}
    settings.api_key_prefix = {"authorization": "Bearer"}
    return client.CustomObjectsApi(client.ApiClient(settings))


def listed(sim: KubeRaySimulator, plural: str = "rayjobs") -> dict[str, dict]:
    answer = objects(sim).list_cluster_custom_object("ray.io", "v1", plural)
    return {item["metadata"]["uid"]: item for item in answer["items"]}


def test_the_contract_writes_the_operators_statuses(sim: KubeRaySimulator) -> None:
    ran, early, stopped = sim.submit_job("uid-1"), sim.submit_job("uid-2"), sim.submit_job("uid-3")
    assert listed(sim)[ran]["status"]["jobDeploymentStatus"] == "Initializing"
    assert "jobStatus" not in listed(sim)[ran]["status"]
    sim.fake_now[0] += 30
    sim.start_job(ran)
    sim.start_job(stopped)
    assert sim.end_job(early, "failed") == "Failed"
    sim.fake_now[0] += 60
    assert sim.end_job(ran, "failed") == "FAILED"
    assert sim.end_job(stopped, "cancelled") == "STOPPED"
    jobs = listed(sim)
    assert {
        key: (s["status"]["jobDeploymentStatus"], s["status"].get("jobStatus", ""))
        for key, s in jobs.items()
    } == {
        ran: ("Failed", "FAILED"),
        early: ("Failed", ""),
        stopped: ("Complete", "STOPPED"),
    }
    assert (jobs[early]["status"]["reason"], jobs[ran]["status"]["reason"]) == (
        "SubmissionFailed",
        "AppFailed",
    )
    assert jobs[ran]["status"]["rayJobInfo"] == {
        "startTime": "2027-01-15T08:00:30Z",
        "endTime": "2027-01-15T08:01:30Z",
    }
    assert "startTime" not in jobs[early]["status"].get("rayJobInfo", {})
    assert jobs[ran]["status"]["failed"] == 1
    with pytest.raises(ValueError):
        sim.submit_job("uid-1")
    sim.remove_job(ran)
    assert ran not in listed(sim)


def test_answers_are_recorded_as_the_exporter_will_read_them(sim: KubeRaySimulator) -> None:
    key = sim.submit_job(running=True)
    mark = sim.answers_shown()
    listed(sim)
    sim.finish_job(key)
    listed(sim)
    assert [answer.jobs for answer in sim.shown_since(mark)] == [
        ((key, "RUNNING"),),
        ((key, "SUCCEEDED"),),
    ]


def test_throttled_lists_are_429_with_retry_after(sim: KubeRaySimulator) -> None:
    sim.submit_job("uid-1")
    sim.fail_job_lists(1)
    url = f"{sim.url}/apis/ray.io/v1/rayjobs"
    headers = {"Authorization": f"Bearer {sim.token}"}
    refused = httpx.get(url, headers=headers)
    assert (refused.status_code, refused.headers["Retry-After"]) == (429, "1")
    assert refused.json()["reason"] == "TooManyRequests"
    assert [
        item["metadata"]["uid"] for item in httpx.get(url, headers=headers).json()["items"]
    ] == ["uid-1"]


@pytest.mark.slow  # two simulated hours, stepped every 10 s
def test_the_workload_comes_and_goes(sim: KubeRaySimulator) -> None:
    start = sim.fake_now[0]
    sim.step(start)
    clusters = {
        (c["metadata"]["namespace"], c["metadata"]["name"])
        for c in listed(sim, "rayclusters").values()
    }
    assert clusters == {
        ("team-a", "shared"),
        ("research", "gpu-pool"),
        ("team-b", "batch-infer-1-raycluster"),
    }
    seen: dict[str, str] = {}
    for second in range(0, 2 * 3600, 10):
        sim.fake_now[0] = start + second
        sim.step(sim.fake_now[0])
        if second % 60 == 0:
            for key, item in listed(sim).items():
                seen[key] = item["status"].get("jobStatus") or item["status"]["jobDeploymentStatus"]
    assert len(seen) > 500  # 6 a minute for 2 hours
    assert {"SUCCEEDED", "FAILED", "STOPPED", "Failed", "RUNNING"} <= set(seen.values())
    assert len(listed(sim)) < len(seen) / 5  # finished RayJobs are deleted after their TTL
    assert sim.api.store.oldest > 1  # and the store compacted
    gpu = listed(sim, "rayclusters")
    assert any(item["status"].get("desiredGPU") == "16" for item in gpu.values())
