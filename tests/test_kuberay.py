"""The KubeRay backend against the Kubernetes API simulator: RayJobs counted by the status
the exporter makes of their two, with ``namespace`` on every series; RayClusters by group;
lists paged and begun again on 410; namespaces, selectors, in-cluster settings and a rotated
token; and the official ``kubernetes`` client's view equal to what the exporter exports."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from kubernetes import client

from exporter.app import Exporter
from exporter.backends.kuberay.rayjobs import KNOWN_PAIRS, PHASES, native_status
from exporter.config.parse import parse_config
from exporter.config.types import ConfigError
from exporter.model import Phase
from exporter.simulators.kuberay import KubeRaySimulator

from .helpers import exporter_on_clock, polled, samples, value
from .pki import server_pki

START = 1_800_000_000.0


@pytest.fixture
def sim(kuberay_sim: KubeRaySimulator) -> KubeRaySimulator:
    return kuberay_sim


def series(body: bytes, family: str) -> dict[frozenset, float]:
    return {labels: v for (name, labels), v in samples(body).items() if name == family}


def labelled(body: bytes, family: str, **wanted: str) -> float:
    return sum(
        v for labels, v in series(body, family).items() if wanted.items() <= dict(labels).items()
    )


@pytest.mark.parametrize(
    ("deployment", "job", "status", "phase"),
    [
        ("", "", "New", Phase.PENDING),
        ("Initializing", "", "Initializing", Phase.PENDING),
        ("Running", "", "Running", Phase.PENDING),  # the cluster is up, the job not submitted
        ("Running", "RUNNING", "RUNNING", Phase.RUNNING),
        ("Complete", "SUCCEEDED", "SUCCEEDED", Phase.SUCCEEDED),
        ("Complete", "STOPPED", "STOPPED", Phase.CANCELLED),
        ("Failed", "FAILED", "FAILED", Phase.FAILED),
        ("Failed", "", "Failed", Phase.FAILED),  # the submission failed (kuberay#4233)
        ("Failed", "RUNNING", "Failed", Phase.FAILED),  # its deadline passed while it ran
        ("Retrying", "FAILED", "Retrying", Phase.PENDING),  # an attempt failed; another comes
        ("Suspended", "", "Suspended", Phase.PENDING),
        ("Scheduled", "SUCCEEDED", "Scheduled", Phase.PENDING),  # a cron RayJob between runs
    ],
)
def test_one_status_of_two(deployment: str, job: str, status: str, phase: Phase) -> None:
    assert native_status(deployment, job) == status
    assert PHASES[(deployment, job)] == phase
    assert (phase, status) in KNOWN_PAIRS


def test_jobs_are_counted_by_namespace(sim: KubeRaySimulator) -> None:
    config = {"targets": [sim.target_config("k", per_job_series="all")]}
    with exporter_on_clock(config, sim.fake_now) as exporter:
        done = sim.submit_job("done", running=True)
        polled(exporter, "jobs")
        sim.fake_now[0] += 5  # a second after the baseline's: RFC 3339 times are whole seconds
        early, ran = sim.submit_job("early"), sim.submit_job("ran")
        sim.fake_now[0] += 30
        sim.start_job(ran)
        sim.fake_now[0] += 60
        sim.finish_job(done)
        sim.end_job(early, "failed")
        sim.end_job(ran, "failed")
        body = polled(exporter, "jobs")
    namespace = {key: sim.item(key)["metadata"]["namespace"] for key in (done, early, ran)}
    finished = "jobfleet_jobs_finished_total"
    assert labelled(body, finished, status="SUCCEEDED", namespace=namespace[done]) == 1
    assert labelled(body, finished, status="Failed", reason="SubmissionFailed") == 1
    assert labelled(body, finished, status="FAILED", reason="AppFailed") == 1
    assert labelled(body, "jobfleet_jobs_submitted_total") == 2  # the first was in the baseline
    waits = labelled(body, "jobfleet_job_queue_wait_seconds_count", namespace=namespace[ran])
    assert waits == 1  # created, then running 30 s later
    info = {dict(labels)["job_id"]: dict(labels) for labels in series(body, "jobfleet_job_info")}
    assert info[ran]["namespace"] == namespace[ran]
    assert info[ran]["ray_cluster"] == sim.item(ran)["status"]["rayClusterName"]


def test_clusters_by_group(sim: KubeRaySimulator) -> None:
    sim.step(START)  # the workload's long-lived clusters and a first RayJob's
    config = {"targets": [sim.target_config("k", resources=["clusters"])]}
    with exporter_on_clock(config, sim.fake_now) as exporter:
        body = polled(exporter, "clusters")
    clusters = {
        dict(labels)["cluster_name"]: dict(labels)
        for labels in series(body, "jobfleet_cluster_info")
    }
    gpu_pool = clusters["gpu-pool"]
    assert (gpu_pool["namespace"], gpu_pool["version"]) == ("research", "2.49.0")
    key = gpu_pool["cluster_id"]
    assert (
        value(body, "jobfleet_cluster_gpus", cluster_id=key, role="worker", group="gpu-workers")
        == 16
    )
    assert value(body, "jobfleet_cluster_cpu_cores", cluster_id=key, role="head", group="head") == 2
    assert (
        value(
            body,
            "jobfleet_cluster_nodes",
            cluster_id=key,
            role="worker",
            group="cpu-workers",
            state="alive",
        )
        == 1
    )
    assert (
        value(
            body,
            "jobfleet_cluster_group_replicas_max",
            cluster_id=key,
            role="worker",
            group="gpu-workers",
        )
        == 4
    )
    assert labelled(body, "jobfleet_clusters", state="ready") == 2
    assert labelled(body, "jobfleet_clusters", state="pending") == 1


def test_a_continue_that_expires_mid_walk_begins_the_list_again(sim: KubeRaySimulator) -> None:
    keys = [sim.submit_job(f"uid-{i}", running=True) for i in range(7)]
    pages = []
    record = sim.api.on_answer

    def compact_after_the_first_page(plural: str, items: list[dict], deleted: bool) -> None:
        record(plural, items, deleted)
        pages.append(len(items))
        if len(pages) == 1:
            sim.finish_job(keys[6])
            sim.api.store.compact()

    sim.api.on_answer = compact_after_the_first_page
    config = {"targets": [sim.target_config("k", page_size=3, per_job_series="all")]}
    with exporter_on_clock(config, sim.fake_now) as exporter:
        body = polled(exporter, "jobs")
    assert pages == [3, 3, 3, 1]  # a page, 410 Gone, then the whole list again
    statuses = {
        dict(labels)["job_id"]: dict(labels)["status"]
        for labels in series(body, "jobfleet_job_status")
    }
    assert len(statuses) == 7 and statuses[keys[6]] == "SUCCEEDED"
    assert value(body, "jobfleet_list_incomplete", resource="jobs") == 0


def test_namespaces_and_a_selector_each_listed_on_their_own(sim: KubeRaySimulator) -> None:
    keys = [sim.submit_job(f"uid-{i}", running=True) for i in range(6)]
    sim.api.namespaces = {"team-a", "team-b"}  # a Role in each: the cluster scope is refused
    config = {
        "targets": [
            sim.target_config(
                "k",
                namespaces=["team-a", "team-b"],
                label_selector="app=rayjob",
                per_job_series="all",
            )
        ]
    }
    with exporter_on_clock(config, sim.fake_now) as exporter:
        body = polled(exporter, "jobs")
    listed = {dict(labels)["job_id"] for labels in series(body, "jobfleet_job_info")}
    assert listed == {k for k in keys if sim.item(k)["metadata"]["namespace"] != "research"}
    paths = {path for path, query in sim.api.requests if query.get("labelSelector") == "app=rayjob"}
    assert paths == {f"/apis/ray.io/v1/namespaces/{ns}/rayjobs" for ns in ("team-a", "team-b")}


def test_a_forbidden_cluster_scope_is_an_auth_error_that_names_the_fix(
    sim: KubeRaySimulator,
) -> None:
    sim.api.namespaces = {"team-a"}
    exporter = Exporter(parse_config({"targets": [sim.target_config("k", resources=["jobs"])]}))
    try:
        assert not exporter.poll_all_once()
        health = exporter.pollers[0].health["jobs"]
        body = exporter.exposition.body()
    finally:
        exporter.close()
    assert "HTTP 403 Forbidden" in health.last_error and "at the cluster scope" in health.last_error
    assert sim.token not in health.last_error
    assert value(body, "jobfleet_poll_errors_total", resource="jobs", reason="auth") == 1


@pytest.mark.slow
def test_in_cluster_over_tls_with_a_rotated_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pki = server_pki(tmp_path)
    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "ca.crt").write_bytes((pki / "ca.crt").read_bytes())
    (account / "token").write_text("token-one\n")
    sim = KubeRaySimulator(token="token-one")
    sim.start(tls=(pki / "server.crt", pki / "server.key"))
    try:
        monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        monkeypatch.setenv("KUBERNETES_SERVICE_PORT", sim.url.rsplit(":", 1)[1])
        target = {
            "name": "k",
            "backend": "kuberay",
            "in_cluster": True,
            "service_account_dir": str(account),
            "resources": ["jobs"],
        }
        exporter = Exporter(parse_config({"targets": [target]}))
        try:
            sim.submit_job("one", running=True)
            assert exporter.poll_all_once()
            (account / "token").write_text("token-two-rotated\n")  # the kubelet's rotation
            os.utime(account / "token", ns=(1, 1))
            sim.api.tokens = {"token-two-rotated"}
            assert exporter.poll_all_once()
            body = exporter.exposition.body()
        finally:
            exporter.close()
    finally:
        sim.stop()
    assert value(body, "jobfleet_target_up", resource="jobs") == 1
    assert value(body, "jobfleet_poll_errors_total", resource="jobs", reason="auth") == 0


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"url": "https://k8s:6443", "in_cluster": True}, "set one of url, in_cluster: true"),
        ({"in_cluster": True}, "KUBERNETES_SERVICE_HOST is not set"),
        ({"url": "https://k8s:6443", "context": "prod"}, "it goes with kubeconfig"),
        ({}, "set one of url, in_cluster: true (the pod's own API server) or kubeconfig"),
        ({"url": "https://k8s:6443", "namespaces": ["Team_A"]}, "is not a namespace name"),
        ({"url": "https://k8s:6443", "label_selector": "app=ray;drop"}, "label selector"),
    ],
)
def test_config_errors(settings: dict, problem: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ConfigError) as refused:
        parse_config({"targets": [{"name": "k", "backend": "kuberay", **settings}]})
    assert problem in str(refused.value)


def test_namespace_is_no_label_a_user_may_take(sim: KubeRaySimulator) -> None:
    target = sim.target_config("k", attribution={"labels": {"namespace": "metadata.name"}})
    with pytest.raises(ConfigError) as refused:
        parse_config({"targets": [target]})
    assert "namespace is a label the exporter or Prometheus already uses" in str(refused.value)


def test_the_official_clients_view_equals_the_exporters(sim: KubeRaySimulator) -> None:
    for second in range(0, 1800, 5):
        sim.fake_now[0] = START + second
        sim.step(sim.fake_now[0])
    settings = client.Configuration()
    settings.host = sim.url
    settings.api_key = {"authorization": sim.token}
    settings.api_key_prefix = {"authorization": "Bearer"}
    objects = client.CustomObjectsApi(client.ApiClient(settings))
    listed = objects.list_cluster_custom_object("ray.io", "v1", "rayjobs", limit=7)
    items = listed["items"]
    while listed["metadata"].get("continue"):
        listed = objects.list_cluster_custom_object(
            "ray.io", "v1", "rayjobs", limit=7, _continue=listed["metadata"]["continue"]
        )
        items += listed["items"]
    config = {
        "targets": [sim.target_config("k", resources=["jobs"], per_job_series="all", page_size=7)]
    }
    with exporter_on_clock(config, sim.fake_now) as exporter:
        body = polled(exporter, "jobs")
    exported = {
        dict(labels)["job_id"]: dict(labels)["status"]
        for labels in series(body, "jobfleet_job_status")
    }
    info = {
        dict(labels)["job_id"]: dict(labels)["namespace"]
        for labels in series(body, "jobfleet_job_info")
    }
    seen = {
        item["metadata"]["uid"]: native_status(
            item["status"].get("jobDeploymentStatus", ""), item["status"].get("jobStatus", "")
        )
        for item in items
    }
    assert len(seen) > 20
    assert exported == seen
    assert info == {item["metadata"]["uid"]: item["metadata"]["namespace"] for item in items}
