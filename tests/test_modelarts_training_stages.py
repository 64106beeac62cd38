"""An ended training job's stages (``ListTrainingJobStages``): the time it spent queueing and
preparing, observed once as it is counted finished; fetched once per job, only for jobs still
to be counted, a bounded number a poll; a failed fetch retried, its job's count waiting no longer
than the documented bound; across a restart nothing fetched or observed twice; and the request
as the SDK sends it. All against the simulator over HTTP."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from huaweicloudsdkmodelarts.v1 import ListTrainingJobStagesRequest

from exporter.app import Exporter
from exporter.backends.modelarts_lite.training_stages import (
    FETCHES_PER_POLL,
    MAX_FAILURES,
    OPERATION,
    stage_seconds,
)
from exporter.simulators.modelarts_lite import ModelArtsLiteSimulator
from exporter.simulators.modelarts_lite.stages import PREPARE_MS

from .helpers import exporter_on_clock, samples, value
from .helpers import polled as polled_resources
from .sdk_capture import differences
from .sdk_capture_modelarts import sdk_client, sent
from .test_emr_queues import frozen_now

TRAINING = "training_jobs"
QUEUEING = "jobfleet_job_queueing_seconds"
PREPARING = "jobfleet_job_preparing_seconds"


@contextlib.contextmanager
def exporting(
    sim: ModelArtsLiteSimulator, now: list[float], state: Path | None = None, **more: Any
) -> Iterator[Exporter]:
    settings = {"resources": [TRAINING], "requests_per_second": 1000, **more}
    config: dict[str, Any] = {"targets": [sim.target_config("ma", **settings)]}
    if state is not None:
        config["state_file"] = str(state)
    with exporter_on_clock(config, now) as exporter:
        yield exporter


def polled(exporter: Exporter) -> bytes:
    return polled_resources(exporter, TRAINING)


def training(body: bytes, name: str, **labels: str) -> float:
    return value(body, name, resource=TRAINING, **labels)


def finished(body: bytes) -> float:
    return sum(
        training(body, "jobfleet_jobs_finished_total", phase=phase)
        for phase in ("succeeded", "failed", "cancelled")
    )


def fetched(sim: ModelArtsLiteSimulator) -> list[str]:
    """The ids whose stages were asked for, in order."""
    return [head.path.split("/")[-2] for head in sent(sim, OPERATION)]


def test_queueing_and_preparing_are_observed_once_for_jobs_ended_after_the_baseline() -> None:
    now = frozen_now()
    with ModelArtsLiteSimulator(clock=lambda: now[0]) as sim:
        jobs = sim.training_jobs
        jobs.add_job("tj-old", phase="Completed")  # ended by the baseline: never fetched
        with exporting(sim, now) as exporter:
            polled(exporter)
            now[0] += 10
            jobs.add_job("tj-ran", phase="Pending")
            jobs.add_job("tj-stopped", phase="Pending")
            now[0] += 40
            jobs.set_phase("tj-ran", "Running")
            now[0] += 60
            jobs.set_phase("tj-ran", "Completed")
            jobs.set_phase("tj-stopped", "Terminated")  # stopped while it queued
            body = polled(exporter)
            now[0] += 30
            again = polled(exporter)
    assert sorted(fetched(sim)) == ["tj-ran", "tj-stopped"]  # once each
    for shown in (body, again):
        assert training(shown, f"{QUEUEING}_count") == 2
        assert training(shown, f"{QUEUEING}_sum") == pytest.approx(40 + 100)
        assert training(shown, f"{PREPARING}_count") == 2  # the stopped one prepared for 0 s
        assert training(shown, f"{PREPARING}_sum") == pytest.approx(PREPARE_MS / 1000)
        assert training(shown, f"{PREPARING}_bucket", le="5") == 2
        assert training(shown, f"{QUEUEING}_bucket", le="60") == 1


def test_the_histograms_carry_the_attribution_labels_listed_in_histograms() -> None:
    now = frozen_now()
    labels = {"owner": "metadata.user_name", "workload": "metadata.name"}
    attribution = {"labels": labels, "histograms": ["owner"]}
    with ModelArtsLiteSimulator(clock=lambda: now[0]) as sim:
        jobs = sim.training_jobs
        with exporting(sim, now, attribution=attribution) as exporter:
            polled(exporter)
            for key, user in (("tj-1", "ann"), ("tj-2", "ann"), ("tj-3", "bo")):
                jobs.add_job(key, name=key, phase="Running", user_name=user)
            now[0] += 60
            for key in ("tj-1", "tj-2", "tj-3"):
                jobs.set_phase(key, "Completed")
            body = polled(exporter)
    for family in (QUEUEING, PREPARING):
        counts = {
            dict(labels)["owner"]: v
            for (name, labels), v in samples(body).items()
            if name == f"{family}_count" and v
        }
        assert counts == {"ann": 2, "bo": 1}
        assert all(
            "workload" not in dict(labels)
            for (name, labels) in samples(body)
            if name.startswith(family)
        )


def test_at_most_a_poll_s_share_is_fetched_and_the_rest_are_counted_at_the_next() -> None:
    now = frozen_now()
    with ModelArtsLiteSimulator(clock=lambda: now[0]) as sim:
        jobs = sim.training_jobs
        with exporting(sim, now) as exporter:
            polled(exporter)
            now[0] += 10
            keys = [jobs.add_job(f"tj-{i:02d}", phase="Running") for i in range(25)]
            now[0] += 60
            for key in keys:
                jobs.set_phase(key, "Completed")
            first = polled(exporter)
            first_fetches = len(fetched(sim))
            now[0] += 30
            second = polled(exporter)
    assert first_fetches == FETCHES_PER_POLL == 20
    assert training(first, "jobfleet_jobs", phase="succeeded", status="Completed") == 25
    assert finished(first) == training(first, f"{QUEUEING}_count") == 20  # 5 wait their turn
    assert finished(second) == training(second, f"{PREPARING}_count") == 25
    assert sorted(fetched(sim)) == keys


def test_a_failed_fetch_is_retried_and_a_job_is_counted_without_stages_past_the_bound(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = frozen_now()
    with ModelArtsLiteSimulator(clock=lambda: now[0]) as sim:
        jobs = sim.training_jobs
        with exporting(sim, now) as exporter:
            polled(exporter)
            jobs.add_job("tj-late", phase="Running")
            now[0] += 60
            jobs.set_phase("tj-late", "Completed")
            jobs.fail_stages(1)
            with caplog.at_level(logging.WARNING):
                failed = polled(exporter)
            now[0] += 30
            retried = polled(exporter)
            jobs.add_job("tj-never", phase="Running")
            now[0] += 60
            jobs.set_phase("tj-never", "Failed")
            jobs.fail_stages(MAX_FAILURES)
            bodies = []
            for _ in range(MAX_FAILURES + 1):
                now[0] += 30
                bodies.append(polled(exporter))
    assert finished(failed) == 0  # its count waits for its stages
    assert value(failed, "jobfleet_api_requests_total", operation=OPERATION, code="500") == 1
    assert "tj-late: its stages could not be read" in caplog.text
    assert finished(retried) == training(retried, f"{QUEUEING}_count") == 1
    # tj-never waits while each fetch fails, and is counted, without stages, at the last
    assert [finished(body) for body in bodies] == [1] * (MAX_FAILURES - 1) + [2, 2]
    assert training(bodies[-1], f"{QUEUEING}_count") == 1
    assert fetched(sim).count("tj-never") == MAX_FAILURES  # never again once counted


def test_a_job_gone_before_or_while_its_stages_wait_is_counted_without_them() -> None:
    """A 404 for the stages (the job deleted since it was listed) counts the job at once; one
    deleted while its count waits (a failed fetch) is counted at the next poll, as listed
    last, though no list shows it any more; neither is observed."""
    now = frozen_now()
    with ModelArtsLiteSimulator(clock=lambda: now[0]) as sim:
        jobs = sim.training_jobs
        with exporting(sim, now) as exporter:
            polled(exporter)
            jobs.add_job("tj-404", phase="Running")
            now[0] += 60
            jobs.set_phase("tj-404", "Failed")
            jobs.fail_stages(1, status=404, code="ModelArts.0104")
            answered_404 = polled(exporter)
            jobs.add_job("tj-waits", phase="Running")
            now[0] += 60
            jobs.set_phase("tj-waits", "Completed")
            jobs.fail_stages(1)
            waiting = polled(exporter)
            jobs.remove_job("tj-waits")
            now[0] += 30
            gone = polled(exporter)
            now[0] += 30
            later = polled(exporter)
    assert finished(answered_404) == 1
    assert finished(waiting) == 1  # tj-waits waits for its stages
    assert finished(gone) == finished(later) == 2  # and is counted once it is gone
    assert training(later, f"{QUEUEING}_count") == 0


def test_after_a_restart_nothing_is_fetched_or_observed_twice(tmp_path: Path) -> None:
    now = frozen_now()
    state = tmp_path / "state.db"
    with ModelArtsLiteSimulator(clock=lambda: now[0]) as sim:
        jobs = sim.training_jobs
        with exporting(sim, now, state) as exporter:
            polled(exporter)
            jobs.add_job("tj-a", phase="Running")
            now[0] += 60
            jobs.set_phase("tj-a", "Completed")
            polled(exporter)
            jobs.add_job("tj-b", phase="Running")
            now[0] += 60
            jobs.set_phase("tj-b", "Completed")
            jobs.fail_stages(1)
            polled(exporter)  # tj-b's count waits
        now[0] += 30
        with exporting(sim, now, state) as exporter:
            body = polled(exporter)
    assert fetched(sim) == ["tj-a", "tj-b", "tj-b"]  # tj-a counted before: not again
    assert finished(body) == training(body, f"{QUEUEING}_count") == 2
    assert training(body, f"{PREPARING}_count") == 2


def test_stage_times_are_summed_over_records_and_an_open_stage_lasts_to_the_next() -> None:
    def stage(name: str, start: int, end: int | None = None) -> dict[str, Any]:
        return {"name": name, "start_time": str(start), **({"end_time": str(end)} if end else {})}

    records = [
        {"stages": [stage("scheduling", 0, 10_000), stage("preparing", 10_000, 12_000)]},
        {"stages": [stage("scheduling", 20_000), stage("preparing", 50_000, 51_500)]},
    ]
    assert stage_seconds({"running_records": records}) == {
        "queueing_seconds": 10 + 30,
        "preparing_seconds": 2 + 1.5,
    }
    assert stage_seconds({"running_records": []}) is None
    assert stage_seconds({"running_records": [{"stages": "x"}]}) == {
        "queueing_seconds": 0.0,
        "preparing_seconds": 0.0,
    }


# How the exporter's request differs from the SDK's (both accepted): the SDK also signs its
# User-Agent. Method, path, query and every other signed header are the same.
SDK_DIFFERS = ["signed only by the SDK: user-agent"]


def test_the_exporters_stage_request_against_the_sdks() -> None:
    now = frozen_now()
    with ModelArtsLiteSimulator(clock=lambda: now[0]) as sim:
        with exporting(sim, now) as exporter:
            polled(exporter)
            key = sim.training_jobs.add_job("tj-1", phase="Running")
            now[0] += 60
            sim.training_jobs.set_phase(key, "Completed")
            polled(exporter)
        (ours,) = sent(sim, OPERATION)
        request = ListTrainingJobStagesRequest(training_job_id=key)
        answer = sdk_client(sim).list_training_job_stages(request)
        theirs = sent(sim, OPERATION)[-1]
    assert [s.name for s in answer.running_records[0].stages] == [
        "scheduling",
        "preparing",
        "running",
        "end",
    ]
    assert (ours.method, ours.path, ours.query) == (theirs.method, theirs.path, theirs.query)
    assert ours.path == f"/v2/{sim.project_id}/training-jobs/tj-1/stages"
    assert differences(ours, theirs) == SDK_DIFFERS
