"""A RayCluster's idle time: since when it has been ready with no RayJob on it (one whose
``status.rayClusterName``, or until the operator sets that its ``spec.clusterSelector``, names
it), absent while a RayJob holds it and while it is not ready; derived from the objects' times
after a restart; the RayJobs read for it by a target that polls only clusters."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.simulators.kuberay import KubeRaySimulator
from exporter.simulators.kuberay.raycluster import become_ready, suspend
from exporter.simulators.kuberay.rayjob import new_ray_job

from .helpers import exporter_on_clock, polled, samples

START = 1_800_000_000.0
IDLE = "jobfleet_cluster_idle_since_timestamp_seconds"
SHARED = ("team-a", "shared")
LIST_JOBS = frozenset({"target": "k", "backend": "kuberay", "resource": "jobs"}.items())


@pytest.fixture
def sim(kuberay_sim: KubeRaySimulator) -> KubeRaySimulator:
    return kuberay_sim


def at(sim: KubeRaySimulator, seconds: float) -> None:
    sim.fake_now[0] = START + seconds  # type: ignore[attr-defined]


def idle(body: bytes) -> dict[str, float]:
    """Each cluster shown idle: its idle-since time, by ``cluster_id``."""
    return {
        dict(labels)["cluster_id"]: v for (name, labels), v in samples(body).items() if name == IDLE
    }


def test_a_shared_cluster_is_idle_between_its_rayjobs(sim: KubeRaySimulator) -> None:
    cluster = sim.create_ray_cluster(*SHARED)  # ready at START
    with exporter_on_clock({"targets": [sim.target_config("k")]}, sim.fake_now) as exporter:
        shown = {}
        at(sim, 60)
        shown["before"] = idle(polled(exporter, "jobs", "clusters"))
        first = sim.create_ray_job("nightly", on=SHARED)
        at(sim, 90)
        shown["pending"] = idle(polled(exporter, "jobs", "clusters"))
        sim.start_job(first)
        at(sim, 200)
        shown["running"] = idle(polled(exporter, "jobs", "clusters"))
        at(sim, 300)
        sim.finish_job(first)
        at(sim, 330)
        shown["ended"] = idle(polled(exporter, "jobs", "clusters"))
        at(sim, 400)
        sim.remove_job(first)  # its TTL: the end is remembered from the watch
        at(sim, 600)
        shown["deleted"] = idle(polled(exporter, "jobs", "clusters"))
        second = sim.create_ray_job("adhoc", on=SHARED, key="second")
        at(sim, 630)
        shown["again"] = idle(polled(exporter, "jobs", "clusters"))
        at(sim, 900)
        sim.end_job(second, "failed")
        at(sim, 960)
        shown["failed"] = idle(polled(exporter, "jobs", "clusters"))
    assert sim.item(second)["status"]["rayClusterName"] == "shared"
    assert shown == {
        "before": {cluster: START},  # ready since START, no RayJob yet
        "pending": {},  # a RayJob not yet running holds it
        "running": {},
        "ended": {cluster: START + 300},  # the RayJob's endTime
        "deleted": {cluster: START + 300},
        "again": {},
        "failed": {cluster: START + 900},
    }


def test_a_clusters_own_running_rayjob_keeps_it_from_idle(sim: KubeRaySimulator) -> None:
    job = sim.submit_job("own", running=True)
    meta = sim.item(job)["metadata"]
    own = sim.create_ray_cluster(meta["namespace"], sim.item(job)["status"]["rayClusterName"])
    other = sim.create_ray_cluster("team-b", "interactive")
    with exporter_on_clock({"targets": [sim.target_config("k")]}, sim.fake_now) as exporter:
        at(sim, 30)
        running = idle(polled(exporter, "jobs", "clusters"))
        at(sim, 60)
        sim.end_job(job, "cancelled")
        at(sim, 90)
        stopped = idle(polled(exporter, "jobs", "clusters"))
    assert running == {other: START}
    assert stopped == {other: START, own: START + 60}


def test_a_rayjob_selecting_a_cluster_holds_it_before_the_operator_names_it(
    sim: KubeRaySimulator,
) -> None:
    cluster = sim.create_ray_cluster(*SHARED)
    item = new_ray_job(
        "fresh",
        SHARED[0],
        "uid-fresh",
        labels={},
        entrypoint="python x.py",
        ttl=0,
        cluster="shared",
    )
    with exporter_on_clock({"targets": [sim.target_config("k")]}, sim.fake_now) as exporter:
        at(sim, 30)
        before = idle(polled(exporter, "jobs", "clusters"))
        sim.api.store.create("rayjobs", item)  # no status yet: only its clusterSelector
        at(sim, 60)
        after = idle(polled(exporter, "jobs", "clusters"))
    assert before == {cluster: START}
    assert after == {}


def test_a_cluster_not_ready_is_not_idle(sim: KubeRaySimulator) -> None:
    coming = sim.create_ray_cluster(*SHARED, ready=False)
    old = sim.create_ray_cluster("team-b", "old-operator", ready=False)
    where = {coming: SHARED, old: ("team-b", "old-operator")}
    with exporter_on_clock({"targets": [sim.target_config("k")]}, sim.fake_now) as exporter:
        at(sim, 30)
        pending = idle(polled(exporter, "jobs", "clusters"))
        at(sim, 100)
        for key in where.values():
            sim.api.store.update("rayclusters", key, lambda c: become_ready(c, START + 100))
        # an operator that writes no stateTransitionTimes: the exporter saw it become ready
        sim.api.store.update(
            "rayclusters", where[old], lambda c: c["status"].pop("stateTransitionTimes")
        )
        at(sim, 150)
        ready = idle(polled(exporter, "jobs", "clusters"))
        sim.api.store.update("rayclusters", SHARED, lambda c: suspend(c, START + 150))
        at(sim, 200)
        suspended = idle(polled(exporter, "jobs", "clusters"))
    assert pending == {}
    assert ready == {coming: START + 100, old: START + 150}
    assert suspended == {old: START + 150}


def test_no_cluster_is_idle_before_the_rayjobs_are_read(sim: KubeRaySimulator) -> None:
    sim.create_ray_cluster(*SHARED)
    sim.create_ray_job("busy", on=SHARED)
    with exporter_on_clock({"targets": [sim.target_config("k")]}, sim.fake_now) as exporter:
        at(sim, 30)
        first = idle(polled(exporter, "clusters"))
        sim.finish_job(sim.live()[0])
        at(sim, 60)
        then = idle(polled(exporter, "jobs", "clusters"))
    assert first == {}  # the RayJob on it is unknown yet: it is not shown idle
    assert list(then.values()) == [START + 30]


def test_after_a_restart_idle_is_derived_from_the_objects(
    sim: KubeRaySimulator, tmp_path: Path
) -> None:
    kept = sim.create_ray_cluster(*SHARED)
    lost = sim.create_ray_cluster("research", "gpu-pool")
    never = sim.create_ray_cluster("team-b", "interactive")
    legacy = sim.create_ray_cluster("team-b", "legacy")  # an operator without transition times
    sim.api.store.update(
        "rayclusters", ("team-b", "legacy"), lambda c: c["status"].pop("stateTransitionTimes")
    )
    config = {"state_file": str(tmp_path / "state.db"), "targets": [sim.target_config("k")]}
    one = sim.create_ray_job("one", on=SHARED)
    two = sim.create_ray_job("two", on=("research", "gpu-pool"))
    with exporter_on_clock(config, sim.fake_now) as exporter:
        at(sim, 30)
        before = idle(polled(exporter, "jobs", "clusters"))
    at(sim, 300)
    sim.finish_job(one)  # ended while the exporter was down, still listed
    sim.finish_job(two)
    sim.remove_job(two)  # ended and deleted while down: its end is unknown
    at(sim, 3600)
    with exporter_on_clock(config, sim.fake_now) as exporter:
        after = idle(polled(exporter, "jobs", "clusters"))
    assert before == {never: START, legacy: START}
    # ``lost``'s RayJob is gone: idle since it became ready, as far as can be known; ``legacy``
    # first listed ready: since its creation
    assert after == {kept: START + 300, lost: START, never: START, legacy: START}


def test_a_target_polling_only_clusters_reads_the_rayjobs_for_it(sim: KubeRaySimulator) -> None:
    cluster = sim.create_ray_cluster(*SHARED)
    job = sim.create_ray_job("busy", on=SHARED)
    target = sim.target_config("k", resources=["clusters"])
    with exporter_on_clock({"targets": [target]}, sim.fake_now) as exporter:
        at(sim, 30)
        busy = idle(polled(exporter, "clusters"))
        at(sim, 60)
        sim.finish_job(job)
        sim.remove_job(job)
        at(sim, 90)
        mark = len(sim.api.requests)
        ended = idle(polled(exporter, "clusters"))
        asked = [(path.rsplit("/", 1)[-1], "watch" in q) for path, q in sim.api.requests][mark:]
    assert busy == {}
    assert ended == {cluster: START + 60}  # seen deleted by the watch, in its last state
    assert asked == [("rayjobs", True), ("rayclusters", False)]


def test_a_target_polling_only_clusters_without_rayjobs_access_shows_none_idle(
    sim: KubeRaySimulator, caplog: pytest.LogCaptureFixture
) -> None:
    sim.create_ray_cluster(*SHARED)
    sim.fail_job_lists(100)  # every RayJob list refused (429)
    target = sim.target_config("k", resources=["clusters"])
    with exporter_on_clock({"targets": [target]}, sim.fake_now) as exporter:
        at(sim, 30)
        body = polled(exporter, "clusters")
        at(sim, 60)
        polled(exporter, "clusters")
    assert idle(body) == {}
    assert any(name == "jobfleet_cluster_info" for name, _ in samples(body))
    assert caplog.text.count("RayJobs not read for the RayClusters' idle time") == 1


def test_an_incomplete_rayjob_listing_leaves_held_clusters_held(sim: KubeRaySimulator) -> None:
    sim.create_ray_cluster(*SHARED)
    sim.create_ray_job("nightly", on=SHARED)
    target = sim.target_config("k", page_size=1, max_pages=1, full_list_interval="10s")
    with exporter_on_clock({"targets": [target]}, sim.fake_now) as exporter:
        at(sim, 30)
        whole = idle(polled(exporter, "jobs", "clusters"))
        sim.create_ray_job("early", on=("research", "elsewhere"))  # listed first, on its own
        at(sim, 60)
        body = polled(exporter, "jobs", "clusters")
    assert whole == {}
    assert samples(body)[("jobfleet_list_incomplete", LIST_JOBS)] == 1
    assert idle(body) == {}  # the RayJob on it is not in the page read: still held
