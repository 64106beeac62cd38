"""ModelArts training jobs (the training-job search) as the ``training_jobs`` job resource: each
phase, what a job's fields become, its node- and accelerator-seconds counted, a walk that loses
no job while the pages shift, and the exporter's requests against the SDK's, all against the
simulator over HTTP."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from huaweicloudsdkmodelarts.v1 import Filter, JobSearches, ListTrainingJobsRequest

from exporter.app import Exporter
from exporter.backends.modelarts_lite.training_jobs import PHASES
from exporter.config.parse import parse_config
from exporter.config.types import ConfigError
from exporter.simulators.modelarts_lite import ModelArtsLiteSimulator

from .helpers import exporter_on_clock, samples, value
from .helpers import polled as polled_resources
from .sdk_capture import differences
from .sdk_capture_modelarts import sdk_client, sent
from .test_emr_queues import frozen_now

TRAINING = "training_jobs"
GPU_GB = "modelarts.vm.gpu.8v100nv32"  # 8 GPUs a node


@contextlib.contextmanager
def exporting(sim: ModelArtsLiteSimulator, now: list[float], **settings: Any) -> Iterator[Exporter]:
    """An exporter of one target polling ``sim``'s training jobs on the clock ``now``."""
    settings = {"resources": [TRAINING], "requests_per_second": 1000, **settings}
    config = {"targets": [sim.target_config("ma", **settings)]}
    with exporter_on_clock(config, now) as exporter:
        yield exporter


def polled(exporter: Exporter) -> bytes:
    return polled_resources(exporter, TRAINING)


def training(body: bytes, name: str, **labels: str) -> float:
    return value(body, name, resource=TRAINING, **labels)


def test_each_phase_has_its_phase_and_a_failures_secondary_phase_is_its_reason() -> None:
    now = frozen_now()
    with ModelArtsLiteSimulator(clock=lambda: now[0]) as sim:
        jobs = sim.training_jobs
        with exporting(sim, now, per_job_series="all") as exporter:
            polled(exporter)  # the baseline
            now[0] += 10
            for phase in PHASES:
                jobs.add_job(f"tj-{phase}", phase="Running" if phase != "Creating" else phase)
            now[0] += 60
            for phase in PHASES:
                if phase not in ("Running", "Creating"):
                    jobs.set_phase(f"tj-{phase}", phase)
            jobs.add_job("tj-never-ran", phase="Failed", secondary="CreateFailed")
            jobs.add_job("tj-lost", phase="Running")
            jobs.set_phase("tj-lost", "Failed", "Lost")
            body = polled(exporter)
    shown = {
        dict(labels)["job_id"]: (dict(labels)["phase"], dict(labels)["status"])
        for (name, labels), _ in samples(body).items()
        if name == "jobfleet_job_status"
    }
    assert {key: shown[f"tj-{key}"] for key in PHASES} == {
        "Creating": ("pending", "Creating"),
        "Pending": ("pending", "Pending"),
        "Running": ("running", "Running"),
        "Abnormal": ("running", "Abnormal"),
        "Terminating": ("running", "Terminating"),
        "Completed": ("succeeded", "Completed"),
        "Failed": ("failed", "Failed"),
        "Terminated": ("cancelled", "Terminated"),
    }
    finished = {
        dict(labels)["reason"]: v
        for (name, labels), v in samples(body).items()
        if name == "jobfleet_jobs_finished_total" and dict(labels).get("status") == "Failed"
    }
    assert finished == {"Failed": 1, "CreateFailed": 1, "other": 1}  # Lost is no known reason
    # an ended job's duration is its run's: one that never ran has none (no answer gives it)
    ended = training(body, "jobfleet_job_duration_seconds_count")
    assert ended == 4  # Completed, Failed, Terminated (each ran 60 s) and Lost (0 s)
    assert training(body, "jobfleet_job_duration_seconds_sum") == pytest.approx(3 * 60, abs=3)
    assert training(body, "jobfleet_job_queue_wait_seconds_count") == 7


def test_node_and_accelerator_seconds_grow_while_jobs_run_after_the_baseline() -> None:
    now = frozen_now()
    with ModelArtsLiteSimulator(clock=lambda: now[0]) as sim:
        pool = sim.pools.add_pool("gpu-pool", flavor=GPU_GB, nodes=3)
        jobs = sim.training_jobs
        old = jobs.add_job("tj-old", phase="Running", pool_id=pool, node_count=1)
        with exporting(sim, now) as exporter:
            polled(exporter)  # the baseline: tj-old's use so far is not counted
            now[0] += 100
            jobs.add_job("tj-new", phase="Running", pool_id=pool, node_count=2)
            now[0] += 50
            jobs.set_phase(old, "Completed")
            body = polled(exporter)
    # tj-old: 1 node x 150 s after the baseline; tj-new: 2 nodes x 50 s; 8 GPUs a node
    assert training(body, "jobfleet_node_seconds_total") == pytest.approx(150 + 100, abs=2)
    assert training(body, "jobfleet_accelerator_seconds_total") == pytest.approx(8 * 250, abs=16)


def test_user_pool_engine_and_flavor_become_labels_and_tokens_stay_unread() -> None:
    now = frozen_now()
    labels = {
        "owner": "metadata.user_name",
        "pool_name": "spec.resource.pool_name",
        "engine": "algorithm.engine.engine_name",
    }
    with ModelArtsLiteSimulator(clock=lambda: now[0]) as sim:
        pool = sim.pools.add_pool("gpu-pool", flavor=GPU_GB, nodes=1)
        attribution = {"labels": labels}
        with exporting(sim, now, attribution=attribution, per_job_series="all") as exporter:
            polled(exporter)
            now[0] += 10
            sim.training_jobs.add_job("tj-a", phase="Running", pool_id=pool, user_name="ann")
            sim.training_jobs.add_job("tj-b", engine=("MindSpore", "ms_2.3"), user_name="bo")
            body = polled(exporter)
            tokens = [job["endpoints"]["jupyter_lab"]["token"] for job in sim.training_jobs.jobs()]
    submitted = {
        (dict(labels)["owner"], dict(labels)["pool_name"], dict(labels)["engine"]): v
        for (name, labels), v in samples(body).items()
        if name == "jobfleet_jobs_submitted_total" and v
    }
    assert submitted == {("ann", "gpu-pool", "PyTorch"): 1, ("bo", "", "MindSpore"): 1}
    assert training(body, "jobfleet_job_info", job_id="tj-a", job_type="GPU") == 1
    assert all(token.encode() not in body for token in tokens)


@pytest.mark.parametrize("source", ["endpoints.jupyter_lab.token", "algorithm.environments"])
def test_endpoints_and_the_environment_can_never_be_labels(source: str) -> None:
    with ModelArtsLiteSimulator() as sim:
        attribution = {"labels": {"leak": source}}
        target = sim.target_config("ma", resources=[TRAINING], attribution=attribution)
        with pytest.raises(ConfigError, match="can carry secrets"):
            parse_config({"targets": [target]})


# --- a walk over shifting pages ---------------------------------------------------------------


def test_jobs_submitted_or_deleted_between_pages_cost_no_other_job() -> None:
    """Offset paging shifts as jobs come and go during a walk: every job there when it began
    is read (the deleted ones too: they were listed), and the jobs submitted meanwhile come
    with the next poll."""
    now = frozen_now()
    with ModelArtsLiteSimulator(clock=lambda: now[0]) as sim:
        jobs = sim.training_jobs
        keys = [
            jobs.add_job(f"tj-{i:03d}", phase="Completed", create_time=now[0] - 3600 + i)
            for i in range(160)
        ]
        jobs.delete_between_pages([keys[120], keys[60]])  # each pulls later jobs back a place
        jobs.submit_between_pages(2)  # each pushes every job on a place
        with exporting(sim, now, per_job_series="all") as exporter:
            first = polled(exporter)
            now[0] += 30
            second = polled(exporter)
            new = {job["metadata"]["id"] for job in jobs.jobs()} - set(keys)

    def shown(body: bytes) -> set[str]:
        return {
            dict(labels)["job_id"]
            for (name, labels), _ in samples(body).items()
            if name == "jobfleet_job_status"
        }

    assert len(new) == 2 and shown(first) == set(keys)
    assert shown(second) >= set(keys) - {keys[120], keys[60]} | new
    assert value(first, "jobfleet_list_incomplete", resource=TRAINING) == 0


# --- what is sent -----------------------------------------------------------------------------


def test_training_filters_are_sent_and_windows_ask_by_creation_time() -> None:
    now = frozen_now()
    with ModelArtsLiteSimulator(clock=lambda: now[0]) as sim:
        pool = sim.pools.add_pool("gpu-pool", flavor=GPU_GB, nodes=1)
        sim.training_jobs.add_job("tj-mine", phase="Running", pool_id=pool, user_name="ann")
        sim.training_jobs.add_job("tj-other", phase="Running", user_name="ann")
        filters = {"pool_id": pool, "user_name": "ann"}
        with exporting(sim, now, training_filters=filters, per_job_series="all") as exporter:
            first = polled(exporter)
            now[0] += 30
            polled(exporter)  # incremental: a window over recent creations
        bodies = [json.loads(head.body) for head in sent(sim, "ListTrainingJobs")]
    assert training(first, "jobfleet_jobs", status="Running") == 1
    assert bodies[0]["filters"] == [
        {"key": "pool_id", "operator": "in", "value": [pool]},
        {"key": "user_name", "operator": "in", "value": ["ann"]},
    ]
    window = [f for f in bodies[-1]["filters"] if f["key"] == "create_time"]
    assert [f["operator"] for f in window] == ["between"]
    low, high = (int(v) for v in window[0]["value"])
    assert low <= 1000 * (now[0] - 30) - 600_000 and high > 1000 * now[0]


# How the exporter's search differs from the SDK's (both accepted): the SDK also signs its
# User-Agent, and it names the charset of the body it posts.
SDK_DIFFERS = [
    "signed only by the SDK: user-agent",
    "signed content-type: 'application/json' vs 'application/json;charset=utf-8'",
]


def test_the_exporters_search_against_the_sdks() -> None:
    now = frozen_now()
    with ModelArtsLiteSimulator(clock=lambda: now[0]) as sim:
        sim.training_jobs.add_job("tj-1", phase="Running", user_name="ann")
        with exporting(sim, now, training_filters={"user_name": "ann"}) as exporter:
            polled(exporter)
        (ours,) = sent(sim, "ListTrainingJobs")
        search = JobSearches(
            offset=0,
            limit=50,
            sort_by="create_time",
            order="desc",
            filters=[Filter(key="user_name", operator="in", value=["ann"])],
        )
        answer = sdk_client(sim).list_training_jobs(ListTrainingJobsRequest(body=search))
        theirs = sent(sim, "ListTrainingJobs")[-1]
    assert [item.metadata.id for item in answer.items] == ["tj-1"]
    assert ours.body == theirs.body  # byte for byte
    assert differences(ours, theirs) == SDK_DIFFERS
