"""EMR Serverless Spark resource queues (the ``queues`` resource): ListWorkspaceQueues and the
runs waiting in each queue, polled from the simulator over HTTP, as the SDK sends them, and
read leniently when an answer is broken or hostile."""

from __future__ import annotations

import json
import time

import pytest
from alibabacloud_emr_serverless_spark20230808 import models

from exporter.app import Exporter
from exporter.backends.emr_serverless.queue_records import parse_queue, read_amounts
from exporter.config.parse import parse_config
from exporter.simulators.emr_serverless import EmrServerlessSimulator

from .helpers import promtool_check_metrics, samples, value
from .sdk_capture import differences, sdk_client, sent

GIB = 2**30


def frozen_now() -> list[float]:
    """A fake clock at the real time: the SDK dates its requests by the real clock."""
    return [float(int(time.time()))]


def queues_exporter(sim: EmrServerlessSimulator, **settings: object) -> Exporter:
    target = sim.target_config(
        "emr", resources=["queues"], timeout="20s", requests_per_second=1000, **settings
    )
    return Exporter(parse_config({"targets": [target]}))


def polled(sim: EmrServerlessSimulator, **settings: object) -> bytes:
    """The exposition after one poll of the simulator's queues."""
    exporter = queues_exporter(sim, **settings)
    try:
        exporter.poll_all_once()
        return exporter.exposition.body()
    finally:
        exporter.close()


def series(body: bytes, name: str, *keys: str) -> dict[tuple[str, ...], float]:
    """The samples of family ``name``, by the values of their labels ``keys`` ("": none)."""
    return {
        tuple(dict(labels).get(key, "") for key in keys): v
        for (sample, labels), v in samples(body).items()
        if sample == name
    }


def amounts(body: bytes, name: str) -> dict[tuple[str, ...], float]:
    """A family of amounts, by (queue, resource kind)."""
    return series(body, name, "resource_queue", "resource_kind")


def busy_workspace(sim: EmrServerlessSimulator) -> None:
    """A CPU queue near its maximum with runs waiting, and an idle GPU queue."""
    sim.queues.add_queue("etl_queue", max_cpu=16, max_memory_gi=64, min_cpu=4, min_memory_gi=16)
    sim.queues.add_queue(
        "prod_gpu", max_cpu=32, max_memory_gi=128, gpus=4, environments=("production",)
    )
    runs = sim.spark_runs
    for _ in range(3):
        runs.add_run(state="Running", queue="etl_queue", vcores=4, memory_mb=16384)
    runs.add_run(state="Pending", queue="etl_queue", vcores=4, memory_mb=16384)
    runs.add_run(state="Submitted", queue="etl_queue", vcores=4, memory_mb=16384)
    runs.add_run(state="Success", queue="etl_queue", vcores=8, memory_mb=32768)
    runs.add_run(state="Cancelling", queue="prod_gpu", vcores=2, memory_mb=8192)
    sim.queues.set_use("etl_queue", cpu=2, memory_gi=4)


# --- what a poll shows ----------------------------------------------------------------------


def test_capacity_use_status_and_waiting_runs_of_each_queue() -> None:
    with EmrServerlessSimulator() as sim:
        busy_workspace(sim)
        body = polled(sim)
    assert amounts(body, "jobfleet_queue_resource_max") == {
        ("etl_queue", "cpu"): 16,
        ("etl_queue", "memory"): 64 * GIB,
        ("prod_gpu", "cpu"): 32,
        ("prod_gpu", "memory"): 128 * GIB,
        ("prod_gpu", "gpu"): 4,
    }
    assert amounts(body, "jobfleet_queue_resource_min") == {
        ("etl_queue", "cpu"): 4,
        ("etl_queue", "memory"): 16 * GIB,
        ("prod_gpu", "cpu"): 0,
        ("prod_gpu", "memory"): 0,
        ("prod_gpu", "gpu"): 0,
    }
    assert amounts(body, "jobfleet_queue_resource_used") == {
        ("etl_queue", "cpu"): 3 * 4 + 2,  # three running runs, and what it uses besides
        ("etl_queue", "memory"): 52 * GIB,
        ("prod_gpu", "cpu"): 2,  # a run cancelling still holds its resources
        ("prod_gpu", "memory"): 8 * GIB,
        ("prod_gpu", "gpu"): 0,
    }
    waiting = series(body, "jobfleet_queue_jobs_waiting", "resource_queue")
    assert waiting == {("etl_queue",): 2, ("prod_gpu",): 0}  # Pending and Submitted
    assert series(body, "jobfleet_queue_status", "resource_queue", "status") == {
        ("etl_queue", "RUNNING"): 1,
        ("prod_gpu", "RUNNING"): 1,
    }
    info = ("resource_queue", "queue_type", "queue_category", "payment_type", "environments")
    assert series(body, "jobfleet_queue_info", *info) == {
        ("etl_queue", "instance", "CPU", "PayAsYouGo", "dev,production"): 1,
        ("prod_gpu", "instance", "GPU", "PayAsYouGo", "production"): 1,
    }
    assert value(body, "jobfleet_target_up", resource="queues") == 1
    assert value(body, "jobfleet_list_incomplete", resource="queues") == 0
    lint = promtool_check_metrics(body)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_a_status_beyond_the_documented_one_is_shown_beside_it_and_odd_items_skipped() -> None:
    with EmrServerlessSimulator() as sim:
        sim.queues.add_queue("q", max_cpu=8, max_memory_gi=32, status="UPDATING")
        sim.queues.add_queue("nameless", max_cpu=8, max_memory_gi=32)
        sim.queues.answer_fields("nameless", queueName="")
        sim.queues.add_queue("twin", max_cpu=2, max_memory_gi=8)
        sim.queues.answer_fields("twin", queueName="q")  # listed after the first q
        body = polled(sim)
    assert series(body, "jobfleet_queue_status", "resource_queue", "status") == {
        ("q", "RUNNING"): 0,
        ("q", "UPDATING"): 1,
    }
    assert amounts(body, "jobfleet_queue_resource_max")[("q", "cpu")] == 8  # the first q
    assert value(body, "jobfleet_list_items_skipped_total", resource="queues") == 2


def test_runs_waiting_are_walked_page_by_page_and_counted_by_queue() -> None:
    with EmrServerlessSimulator() as sim:
        sim.queues.add_queue("a", max_cpu=8, max_memory_gi=32)
        sim.queues.add_queue("b", max_cpu=8, max_memory_gi=32)
        for i in range(230):
            state = ("Submitted", "Pending", "Running", "Failed")[i % 4]
            sim.spark_runs.add_run(state=state, queue="b" if i % 3 == 0 else "a")
        body = polled(sim)
        runs = [query for action, query in sim.requests if action == "ListJobRuns"]
    waiting = [
        "b" if i % 3 == 0 else "a" for i in range(230) if i % 4 in (0, 1)
    ]  # Submitted or Pending
    assert series(body, "jobfleet_queue_jobs_waiting", "resource_queue") == {
        ("a",): waiting.count("a"),
        ("b",): waiting.count("b"),
    }
    assert len(runs) == 2  # 115 waiting runs, 100 a page
    assert "nextToken" not in runs[0] and runs[1]["nextToken"]
    assert {json.dumps(json.loads(q["states"])) for q in runs} == {'["Submitted", "Pending"]'}


def test_a_page_token_refused_mid_walk_begins_the_waiting_walk_again() -> None:
    with EmrServerlessSimulator() as sim:
        sim.queues.add_queue("a", max_cpu=8, max_memory_gi=32)
        for _ in range(150):
            sim.spark_runs.add_run(state="Pending", queue="a")
        sim.spark_runs.expire_between_pages(1)
        body = polled(sim)
        runs = [query for action, query in sim.requests if action == "ListJobRuns"]
    assert value(body, "jobfleet_target_up", resource="queues") == 1
    assert value(body, "jobfleet_queue_jobs_waiting", resource_queue="a") == 150
    assert ["nextToken" in query for query in runs] == [False, True, False, True]


def test_a_walk_stopped_at_the_page_cap_marks_the_listing_incomplete() -> None:
    with EmrServerlessSimulator() as sim:
        sim.queues.add_queue("a", max_cpu=8, max_memory_gi=32)
        for _ in range(101):
            sim.spark_runs.add_run(state="Pending", queue="a")
        body = polled(sim, max_pages=1)
    assert value(body, "jobfleet_list_incomplete", resource="queues") == 1
    assert value(body, "jobfleet_queue_jobs_waiting", resource_queue="a") == 100  # what came


@pytest.mark.parametrize(
    ("envelope", "complete"),
    [
        ({"nextToken": "more"}, False),
        ({"totalCount": 3}, False),
        ({"totalCount": 2, "nextToken": ""}, True),
        ({"totalCount": None}, True),
    ],
)
def test_an_answer_that_says_it_holds_part_of_the_queues_marks_the_listing_incomplete(
    envelope: dict, complete: bool
) -> None:
    with EmrServerlessSimulator() as sim:
        sim.queues.add_queue("a", max_cpu=8, max_memory_gi=32)
        sim.queues.add_queue("b", max_cpu=8, max_memory_gi=32)
        sim.queues.answer_envelope(**envelope)
        body = polled(sim)
    assert value(body, "jobfleet_list_incomplete", resource="queues") == (not complete)
    assert len(series(body, "jobfleet_queue_jobs_waiting", "resource_queue")) == 2


def test_listjobruns_refused_fails_the_poll_and_keeps_the_last_queues() -> None:
    with EmrServerlessSimulator() as sim:
        sim.queues.add_queue("a", max_cpu=8, max_memory_gi=32)
        exporter = queues_exporter(sim)
        try:
            assert exporter.poll_all_once()
            sim.spark_runs.fail_lists(1, status=403, code="Forbidden.RAM")
            assert not exporter.poll_all_once()
            body = exporter.exposition.body()
        finally:
            exporter.close()
    assert value(body, "jobfleet_target_up", resource="queues") == 0
    assert value(body, "jobfleet_poll_errors_total", resource="queues", reason="auth") == 1
    assert value(body, "jobfleet_queue_resource_max", resource_kind="cpu") == 8


# --- what is sent -----------------------------------------------------------------------------

# How the exporter's requests differ from the SDK's for the same call (both accepted): the SDK
# signs three headers more, which the gateway checks as SignedHeaders lists them.
SDK_SIGNS_MORE = [
    "signed only by the SDK: accept",
    "signed only by the SDK: user-agent",
    "signed only by the SDK: x-acs-credentials-provider",
]


def test_the_exporters_requests_against_the_sdks() -> None:
    now = frozen_now()
    with EmrServerlessSimulator(clock=lambda: now[0]) as sim:
        sim.queues.add_queue("a", max_cpu=8, max_memory_gi=32)
        sim.queues.add_queue("p", max_cpu=8, max_memory_gi=32, environments=("production",))
        sim.spark_runs.add_run(state="Pending", queue="a")
        body = polled(sim, region="cn-hangzhou", queue_environment="dev")
        (our_queues,), (our_runs,) = sent(sim, "ListWorkspaceQueues"), sent(sim, "ListJobRuns")
        client = sdk_client(sim)
        queues = client.list_workspace_queues(
            sim.workspace_id,
            models.ListWorkspaceQueuesRequest(region_id="cn-hangzhou", environment="dev"),
        )
        runs = client.list_job_runs(
            sim.workspace_id,
            models.ListJobRunsRequest(
                max_results=100, region_id="cn-hangzhou", states=["Submitted", "Pending"]
            ),
        )
        sdk_queues, sdk_runs = sent(sim, "ListWorkspaceQueues")[-1], sent(sim, "ListJobRuns")[-1]
    assert [queue.queue_name for queue in queues.body.queues] == ["a"]
    assert len(runs.body.job_runs) == 1
    assert our_queues.pairs() == [("environment", "dev"), ("regionId", "cn-hangzhou")]
    assert set(series(body, "jobfleet_queue_info", "resource_queue")) == {("a",)}  # dev's alone
    assert differences(our_queues, sdk_queues) == SDK_SIGNS_MORE
    assert differences(our_runs, sdk_runs) == SDK_SIGNS_MORE
    for ours in (our_queues, our_runs):
        signed = ours.signed()
        assert signed["x-acs-version"] == "2023-08-08"
        assert signed["x-acs-action"] == ours.header("x-acs-action")


def test_without_a_region_no_region_parameter_is_sent() -> None:
    with EmrServerlessSimulator() as sim:
        sim.queues.add_queue("a", max_cpu=8, max_memory_gi=32)
        polled(sim)
        (queues,), (runs,) = sent(sim, "ListWorkspaceQueues"), sent(sim, "ListJobRuns")
    assert queues.pairs() == []
    assert [name for name, _ in runs.pairs()] == ["maxResults", "states"]


# --- broken and hostile answers --------------------------------------------------------------

HOSTILE = {  # maxResource as sent -> the amounts read, and what is left out
    "not JSON": ('{"cpu":"4",', {}, [""]),
    "a JSON list": ('["cpu", "4"]', {}, [""]),
    "a JSON string": ('"16"', {}, [""]),
    "nested too deep": ("[" * 5000 + "]" * 5000, {}, [""]),
    "too long": (json.dumps({"cpu": "4", "pad": "x" * 5000}), {}, [""]),
    "no quantity": ('{"cpu":"four","memory":"8Gi"}', {"memory": 8 * GIB}, ["cpu"]),
    "negative": ('{"cpu":"-2","memory":"1Gi"}', {"memory": GIB}, ["cpu"]),
    "a boolean": ('{"cpu":true,"gpu":"2"}', {"gpu": 2}, ["cpu"]),
    "beyond 2^63": ('{"memory":"9999999Ei","cpu":"1"}', {"cpu": 1}, ["memory"]),
    "a long amount": (json.dumps({"cpu": "1" * 100}), {}, ["cpu"]),
    "millicores": ('{"cpu":"500m","memory":"512Mi"}', {"cpu": 0.5, "memory": 2**29}, []),
    "an object, not a string": ({"cpu": 3, "memory": "1G"}, {"cpu": 3, "memory": 1e9}, []),
    "empty and null amounts": ('{"cpu":"","memory":null,"gpu":"1"}', {"gpu": 1}, []),
    "unknown kinds": ('{"cpu":"2","nvidia.com/gpu":"x"}', {"cpu": 2}, []),
}


@pytest.mark.parametrize(("sent_value", "amounts", "unreadable"), HOSTILE.values(), ids=HOSTILE)
def test_resource_strings_are_read_leniently(sent_value, amounts, unreadable) -> None:
    assert read_amounts(sent_value) == (amounts, unreadable)


def test_a_malformed_resource_value_is_a_counted_skip_never_a_failed_poll() -> None:
    with EmrServerlessSimulator() as sim:
        sim.queues.add_queue("a", max_cpu=8, max_memory_gi=32)
        sim.queues.add_queue("b", max_cpu=4, max_memory_gi=16)
        sim.queues.answer_fields(
            "a",
            maxResource='{"cpu":"lots","memory":"32Gi"}',
            usedResource="{not json",
            environments=["dev", 7, None, {"x": 1}],
            queueType=["instance"],
        )
        body = polled(sim)
    assert value(body, "jobfleet_target_up", resource="queues") == 1
    assert value(body, "jobfleet_list_items_skipped_total", resource="queues") == 2
    assert amounts(body, "jobfleet_queue_resource_max") == {
        ("a", "memory"): 32 * GIB,
        ("b", "cpu"): 4,
        ("b", "memory"): 16 * GIB,
    }
    assert set(amounts(body, "jobfleet_queue_resource_used")) == {("b", "cpu"), ("b", "memory")}
    info = ("resource_queue", "queue_type", "queue_category", "environments")
    assert ("a", "", "CPU", "7,dev") in series(body, "jobfleet_queue_info", *info)


def test_items_that_are_no_queue_are_skipped() -> None:
    assert [parse_queue(item) for item in (None, 7, "q", [], {"queueName": ""}, {})] == [None] * 6
    queue = parse_queue({"queueName": "q"})
    assert (queue.name, queue.status, queue.info, queue.unreadable) == ("q", "UNKNOWN", (), ())
    assert queue.amounts == {"max": {}, "min": {}, "used": {}}
