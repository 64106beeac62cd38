"""RayJob attempts: ``status.failed`` and ``status.succeeded``, which the KubeRay operator adds
one to as each attempt ends (a failed one retried under ``spec.backoffLimit``), counted as
their increase after the baseline in ``jobfleet_job_attempts_total{phase}``, whole (never a
share), once across restarts; the failed ones shown per RayJob."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter.backends.kit.extras import Extras, ExtraValue
from exporter.backends.kuberay.declaration import DECLARATION
from exporter.backends.kuberay.families import JOB_ATTEMPTS_TOTAL, JOB_FAILED_ATTEMPTS
from exporter.ledger.job_ledger import JobLedger
from exporter.model import Job, Phase
from exporter.simulators.kuberay import KubeRaySimulator
from exporter.simulators.kuberay.rayjob import stage_of

from .helpers import exporter_on_clock, polled, samples

START = 1_800_000_000.0
ATTEMPTS = "jobfleet_job_attempts_total"


@pytest.fixture
def sim() -> Iterator[KubeRaySimulator]:
    now = [START]
    simulator = KubeRaySimulator(clock=lambda: now[0])
    simulator.fake_now = now  # type: ignore[attr-defined]
    with simulator:
        yield simulator


def later(sim: KubeRaySimulator, seconds: float = 30.0) -> None:
    sim.fake_now[0] += seconds  # type: ignore[attr-defined]


def total(body: bytes, name: str, **wanted: str) -> float:
    return sum(
        v
        for (sample, labels), v in samples(body).items()
        if sample == name and wanted.items() <= dict(labels).items()
    )


def attempts(body: bytes) -> tuple[float, float]:
    """The failed and succeeded attempts counted."""
    return total(body, ATTEMPTS, phase="failed"), total(body, ATTEMPTS, phase="succeeded")


def fail_attempt(sim: KubeRaySimulator, key: str) -> None:
    """The RayJob runs a while, its attempt fails and is retried: the next one begins."""
    sim.start_job(key)
    later(sim)
    sim.retry_job(key)
    later(sim, 10)
    sim.restart_job(key)
    later(sim, 10)


def test_a_rayjob_that_fails_twice_then_succeeds_counts_three_attempts(
    sim: KubeRaySimulator,
) -> None:
    config = {"targets": [sim.target_config("k")]}
    with exporter_on_clock(config, sim.fake_now) as exporter:
        assert attempts(polled(exporter, "jobs")) == (0, 0)
        later(sim)
        key = sim.create_ray_job("train", key="uid-1", backoff_limit=2)
        sim.start_job(key)
        later(sim)
        sim.retry_job(key)
        retrying = polled(exporter, "jobs")
        later(sim, 10)
        cluster = sim.restart_job(key)
        later(sim, 10)
        fail_attempt(sim, key)
        sim.start_job(key)
        running = polled(exporter, "jobs")
        later(sim)
        sim.finish_job(key)
        body = polled(exporter, "jobs")
    assert attempts(retrying) == (1, 0)
    assert total(retrying, "jobfleet_job_status", status="Retrying", phase="pending") == 1
    assert total(retrying, "jobfleet_job_failed_attempts", job_id=key) == 1
    assert cluster == "train-raycluster-1"  # each attempt has a RayCluster of its own
    assert total(running, "jobfleet_job_failed_attempts", job_id=key) == 2
    assert attempts(running) == (2, 0)
    assert attempts(body) == (2, 1)
    # the RayJob is one job, counted once as it finished; its attempts carry its labels
    assert total(body, "jobfleet_jobs_finished_total") == 1
    labels = {dict(labels)["phase"]: dict(labels) for (n, labels) in samples(body) if n == ATTEMPTS}
    assert labels["failed"] == {
        "target": "k",
        "backend": "kuberay",
        "phase": "failed",
        "namespace": "team-b",
    }


def test_attempts_made_before_the_baseline_are_not_counted(sim: KubeRaySimulator) -> None:
    ended = sim.create_ray_job("ended", backoff_limit=2)
    fail_attempt(sim, ended)
    fail_attempt(sim, ended)
    sim.start_job(ended)
    sim.end_job(ended, "failed")  # three failed attempts, all before the exporter
    running = sim.create_ray_job("running", backoff_limit=2)
    fail_attempt(sim, running)
    sim.start_job(running)
    config = {"targets": [sim.target_config("k", per_job_series="all")]}
    with exporter_on_clock(config, sim.fake_now) as exporter:
        baseline = polled(exporter, "jobs")
        later(sim)
        sim.retry_job(running)  # its second failed attempt: after the baseline
        later(sim)
        sim.restart_job(running)
        sim.start_job(running)
        later(sim)
        sim.finish_job(running)
        body = polled(exporter, "jobs")
    assert attempts(baseline) == (0, 0)
    assert total(baseline, "jobfleet_job_failed_attempts", job_id=ended) == 3
    assert attempts(body) == (1, 1)


def test_attempts_are_counted_once_across_a_restart(sim: KubeRaySimulator, tmp_path: Path) -> None:
    config = {"state_file": str(tmp_path / "state.json"), "targets": [sim.target_config("k")]}
    with exporter_on_clock(config, sim.fake_now) as exporter:
        polled(exporter, "jobs")
        later(sim)
        key = sim.create_ray_job("train", backoff_limit=3)
        fail_attempt(sim, key)
        before = polled(exporter, "jobs")
    fail_attempt(sim, key)  # while the exporter is down
    new = sim.create_ray_job("new", backoff_limit=1)  # created and retried while down
    fail_attempt(sim, new)
    later(sim, 60)
    with exporter_on_clock(config, sim.fake_now) as exporter:
        after = polled(exporter, "jobs")
        sim.start_job(key)
        sim.finish_job(key)
        later(sim)
        again = polled(exporter, "jobs")
    assert attempts(before) == (1, 0)
    assert attempts(after) == (3, 0)  # train's second failure and new's first, once each
    assert attempts(again) == (3, 1)


@pytest.mark.slow
def test_the_demo_workload_moves_the_attempts_exactly(sim: KubeRaySimulator) -> None:
    """The workload's RayJobs retried (as the operator does) for 40 minutes, each poll
    watching: the counters are the increases of every RayJob's counts since the baseline,
    those of RayJobs deleted by their TTL too."""
    workload = sim.new_workload(6.0)
    for _ in range(60):  # RayJobs from before the exporter, some retrying
        later(sim, 10)
        workload.step(sim.fake_now[0])
    last: dict[str, tuple[int, int]] = {}

    def look() -> None:
        for key in sim.live():
            status = sim.item(key)["status"]
            last[key] = (status.get("failed", 0), status.get("succeeded", 0))

    look()
    at_baseline = dict(last)
    retrying = 0
    with exporter_on_clock({"targets": [sim.target_config("k")]}, sim.fake_now) as exporter:
        polled(exporter, "jobs")
        for _ in range(240):
            later(sim, 10)
            workload.step(sim.fake_now[0])
            look()
            retrying += sum(stage_of(sim.item(key)["status"]) == "Retrying" for key in sim.live())
            body = polled(exporter, "jobs")
    failed = sum(f - at_baseline.get(key, (0, 0))[0] for key, (f, _) in last.items())
    succeeded = sum(s - at_baseline.get(key, (0, 0))[1] for key, (_, s) in last.items())
    assert retrying > 0 and failed > 0 and succeeded > 0
    assert attempts(body) == (failed, succeeded)


def test_whole_counts_count_all_or_none_of_a_first_reading() -> None:
    """A run first seen after the baseline counts all its attempts when it counts as
    submitted, none when it was submitted by the baseline (when they were made is unknown):
    never a share, as an amount that accrues while a job runs would take."""
    ledger = JobLedger(DECLARATION.known_pairs, usage=DECLARATION.extras.usage())
    ledger.apply([], now=1000.0)

    def job(key: str, submit: float, failed: int) -> Job:
        return Job(key, key, "RUNNING", Phase.RUNNING, submit_time=submit, values=(failed, 0))

    ledger.apply([job("old", 500.0, 2), job("new", 1100.0, 1)], now=1200.0)
    ledger.apply([job("old", 500.0, 3), job("new", 1100.0, 1)], now=1300.0)
    (failed, succeeded) = ledger.view().usage
    assert sum(failed.totals.values()) == 2  # new's first, old's third
    assert failed.labels == (("phase", "failed"),) and sum(succeeded.totals.values()) == 0


def test_values_counted_into_one_family_need_labels_of_their_own() -> None:
    one = ExtraValue("a", counter=JOB_ATTEMPTS_TOTAL, labels=(("phase", "failed"),))
    with pytest.raises(ValueError, match="same labels"):
        Extras((one, ExtraValue("b", counter=JOB_ATTEMPTS_TOTAL, labels=one.labels)))
    with pytest.raises(ValueError, match="lacks its labels"):
        Extras((ExtraValue("a", counter=JOB_ATTEMPTS_TOTAL, labels=(("kind", "x"),)),))
    with pytest.raises(ValueError, match="are for a counter"):
        Extras((ExtraValue("a", gauge=JOB_FAILED_ATTEMPTS, whole=True),))
