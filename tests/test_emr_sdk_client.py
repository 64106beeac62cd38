"""The official SDK (``alibabacloud-emr-serverless-spark20230808``) as a real client of the EMR
simulator: every operation it sends is accepted (the simulator checks its signature), its
models read every field back, and what it sends is compared with what the exporter sends."""

from __future__ import annotations

import json
import time

import pytest
from alibabacloud_emr_serverless_spark20230808 import models
from alibabacloud_tea_openapi.exceptions import AlibabaCloudException

from exporter.app import Exporter
from exporter.config.parse import parse_config
from exporter.simulators.emr_serverless import EmrServerlessSimulator
from exporter.simulators.emr_serverless.spark_run import STATES

from .sdk_capture import differences, model_keys, sdk_client, sent, unread

# Fields the List operation leaves out: the SDK's own model says so of the job run's two
NOT_LISTED = frozenset({"configuration_overrides", "job_driver"})
# What a job run answer leaves unset, and why: a run not ended has no end time
RUNNING_UNSET = frozenset({"end_time"})


def frozen_now() -> list[float]:
    """A fake clock at the real time: the SDK dates its requests by the real clock, and the
    simulator refuses a date 15 minutes off its own."""
    return [float(int(time.time()))]


def run_ids(answer: models.ListJobRunsResponse) -> list[str]:
    return [run.job_run_id for run in answer.body.job_runs]


# --- every operation, every field -------------------------------------------------------------


def test_ray_jobs_and_clusters_through_the_sdk_carry_every_field_of_its_models() -> None:
    now = frozen_now()
    with EmrServerlessSimulator(clock=lambda: now[0]) as sim:
        sim.add_job("rj-1", name="nightly run", status="Running", submit_time=now[0] - 120)
        sim.add_job("rj-2", status="Succeeded", submit_time=now[0] - 600)
        sim.add_cluster("ray-1", worker_groups=2)
        client = sdk_client(sim)
        window = models.ListRayJobRequestSubmitTime(
            start_time=int(now[0] - 300) * 1000, end_time=int(now[0]) * 1000
        )
        jobs = client.list_ray_job(
            sim.workspace_id,
            models.ListRayJobRequest(
                page_num=1, page_size=20, name="nightly run", submit_time=window
            ),
        )
        clusters = client.list_ray_cluster(
            sim.workspace_id, models.ListRayClusterRequest(page_num=1, page_size=100)
        )
    (job,) = jobs.body.ray_jobs
    assert (job.submission_id, jobs.body.total_count) == ("rj-1", 1)
    assert job.duration == 120  # seconds since it started: it runs
    assert unread(job, RUNNING_UNSET) == []
    (cluster,) = clusters.body.ray_clusters
    assert unread(cluster) == []
    assert (cluster.user_id, cluster.modifier, cluster.instance_id[:6]) == (
        "1234567890",
        "202077646755123991",
        "ray-1-",
    )
    shown = sim.list_jobs({"submissionId": "rj-1"})["rayJobs"][0]
    assert set(shown) == model_keys(models.ListRayJobResponseBodyRayJobs)
    assert set(sim.list_clusters({})["rayClusters"][0]) == model_keys(
        models.ListRayClusterResponseBodyRayClusters
    )


def test_job_runs_through_the_sdk_carry_every_field_its_model_reads() -> None:
    now = frozen_now()
    with EmrServerlessSimulator(clock=lambda: now[0]) as sim:
        runs = sim.spark_runs
        done = runs.add_run(name="etl", state="Running", tags={"team": "bi"}, code_type="SQL")
        now[0] += 90
        runs.set_run(done, "Failed")
        running = runs.add_run(name="etl", state="Running")
        answer = sdk_client(sim).list_job_runs(sim.workspace_id, models.ListJobRunsRequest())
    by_id = {run.job_run_id: run for run in answer.body.job_runs}
    assert unread(by_id[done], NOT_LISTED) == []
    assert unread(by_id[running], NOT_LISTED | RUNNING_UNSET) == []
    failed = by_id[done]
    assert (failed.state, failed.code_type, failed.tags[0].to_map()) == (
        "Failed",
        "SQL",
        {"key": "team", "value": "bi"},
    )
    assert failed.state_change_reason.code == "ERR-100000"
    assert failed.end_time - failed.submit_time == 90_000
    assert (failed.vcore_seconds, failed.mb_seconds) == (4 * 90, 16384 * 90)
    assert failed.cu_hours == pytest.approx(4 * 90 / 3600)
    assert (answer.body.total_count, answer.body.max_results, answer.body.next_token) == (2, 20, "")
    listed = set(sim.spark_runs.runs()[0]) | {"configurationOverrides", "jobDriver"}
    assert listed == model_keys(models.ListJobRunsResponseBodyJobRuns)


def test_queues_through_the_sdk_with_a_queue_near_its_maximum_and_runs_waiting() -> None:
    now = frozen_now()
    with EmrServerlessSimulator(clock=lambda: now[0]) as sim:
        sim.queues.add_queue("etl_queue", max_cpu=16, max_memory_gi=64, min_cpu=4, min_memory_gi=16)
        sim.queues.add_queue(
            "prod_gpu",
            max_cpu=32,
            max_memory_gi=128,
            gpus=4,
            environments=("production",),
            gpu_spec=("ecs.gn7i-c8g1.2xlarge",),
            gpu_machines=1,
        )
        for _ in range(3):
            sim.spark_runs.add_run(state="Running", queue="etl_queue", vcores=4, memory_mb=16384)
        for _ in range(2):
            sim.spark_runs.add_run(state="Pending", queue="etl_queue", vcores=4, memory_mb=16384)
        sim.spark_runs.add_run(state="Success", queue="etl_queue", vcores=8, memory_mb=32768)
        sim.queues.set_use("etl_queue", cpu=2, memory_gi=4)
        client = sdk_client(sim)
        dev = client.list_workspace_queues(
            sim.workspace_id,
            models.ListWorkspaceQueuesRequest(region_id="cn-hangzhou", environment="dev"),
        )
        every = client.list_workspace_queues(sim.workspace_id, models.ListWorkspaceQueuesRequest())
        assert sim.queues.usage("etl_queue") == (14, 53248, 2)
    (queue,) = dev.body.queues
    assert queue.queue_name == "etl_queue" and dev.body.total_count == 1
    assert json.loads(queue.used_resource) == {"cpu": "14", "memory": "52Gi"}
    assert json.loads(queue.max_resource) == {"cpu": "16", "memory": "64Gi"}
    assert json.loads(queue.min_resource) == {"cpu": "4", "memory": "16Gi"}
    assert (queue.queue_status, queue.queue_type) == ("RUNNING", "instance")
    assert queue.queue_category == "CPU"
    assert unread(queue) == []
    gpu = next(q for q in every.body.queues if q.queue_name == "prod_gpu")
    assert json.loads(gpu.max_resource)["gpu"] == "4" and gpu.queue_category == "GPU"
    assert (gpu.gpu_spec, gpu.gpu_machine_num) == (["ecs.gn7i-c8g1.2xlarge"], 1)
    assert unread(gpu) == []


# --- ListJobRuns: filters and pages ---------------------------------------------------------


def many_runs(sim: EmrServerlessSimulator, now: float) -> dict[str, dict]:
    """45 runs a minute apart, in every state, in two queues: id -> what the test knows."""
    states = (*STATES, "Running")
    made = {}
    for i in range(45):
        state, queue = states[i % len(states)], ("root_queue", "dev_queue")[i % 2]
        submit = now - 3600 + 60 * i
        key = sim.spark_runs.add_run(
            f"jr-{i:03d}",
            name=f"job-{i % 4}",
            state=state,
            submit_time=submit,
            queue=queue,
            tags={"team": "bi" if i % 3 else "ml"},
        )
        made[key] = {
            "state": state,
            "queue": queue,
            "submit": submit,
            "team": "bi" if i % 3 else "ml",
        }
    return made


def test_job_runs_page_by_token_under_filters_as_the_sdk_encodes_them() -> None:
    now = frozen_now()
    with EmrServerlessSimulator(clock=lambda: now[0]) as sim:
        made = many_runs(sim, now[0])
        client = sdk_client(sim)
        window = models.ListJobRunsRequestStartTime(
            start_time=int(now[0] - 3000) * 1000, end_time=int(now[0] - 600) * 1000
        )
        request = models.ListJobRunsRequest(
            max_results=4,
            states=["Running", "Pending", "CancelFailed"],
            start_time=window,
            resource_queue_id="root_queue",
            tags=[models.ListJobRunsRequestTags(key="team", value="bi")],
        )
        pages = [client.list_job_runs(sim.workspace_id, request)]
        while pages[-1].body.next_token:
            request.next_token = pages[-1].body.next_token
            pages.append(client.list_job_runs(sim.workspace_id, request))
        (query, *_) = [q for action, q in sim.requests if action == "ListJobRuns"]
    expected = [
        key
        for key, run in sorted(made.items(), key=lambda item: -item[1]["submit"])
        if run["state"] in ("Running", "Pending", "CancelFailed")
        and now[0] - 3000 <= run["submit"] <= now[0] - 600
        and run["queue"] == "root_queue"
        and run["team"] == "bi"
    ]
    listed = [key for page in pages for key in run_ids(page)]
    assert len(expected) > 4 and listed == expected  # newest first, each once
    assert {page.body.total_count for page in pages} == {len(expected)}
    assert [len(run_ids(page)) for page in pages[:-1]] == [4] * (len(pages) - 1)
    assert json.loads(query["states"]) == ["Running", "Pending", "CancelFailed"]
    assert json.loads(query["startTime"]) == {
        "endTime": window.end_time,
        "startTime": window.start_time,
    }
    assert json.loads(query["tags"]) == [{"key": "team", "value": "bi"}]


FILTERS = {  # an SDK parameter, its value, and which runs it keeps (given now, in ms)
    "name": ("name", "job-2", lambda run, now_ms: run["name"] == "job-2"),
    "id": ("job_run_id", "jr-007", lambda run, now_ms: run["jobRunId"] == "jr-007"),
    "creator": ("creator", "1509789347011222", lambda run, now_ms: True),
    "other creator": ("creator", "someone-else", lambda run, now_ms: False),
    "min duration": (
        "min_duration",
        30 * 60 * 1000,  # from submission to the end, or to now
        lambda run, now_ms: (run["endTime"] or now_ms) - run["submitTime"] >= 30 * 60 * 1000,
    ),
}


@pytest.mark.parametrize(("param", "value", "keeps"), FILTERS.values(), ids=FILTERS.keys())
def test_job_run_filters(param: str, value: object, keeps) -> None:
    now = frozen_now()
    with EmrServerlessSimulator(clock=lambda: now[0]) as sim:
        many_runs(sim, now[0])
        answer = sdk_client(sim).list_job_runs(
            sim.workspace_id, models.ListJobRunsRequest(max_results=100, **{param: value})
        )
        truth = sim.spark_runs.runs()
    kept = sorted(run["jobRunId"] for run in truth if keeps(run, now[0] * 1000))
    assert sorted(run_ids(answer)) == kept
    assert 0 < len(kept) < len(truth) or value in ("1509789347011222", "someone-else")


def test_end_time_range_lists_runs_that_ended_in_it() -> None:
    now = frozen_now()
    with EmrServerlessSimulator(clock=lambda: now[0]) as sim:
        early = sim.spark_runs.add_run(state="Running")
        late = sim.spark_runs.add_run(state="Running")
        sim.spark_runs.add_run(state="Running")  # never ends
        now[0] += 60
        sim.spark_runs.set_run(early, "Success")
        now[0] += 60
        sim.spark_runs.set_run(late, "Cancelled")
        window = models.ListJobRunsRequestEndTime(
            start_time=int(now[0] - 30) * 1000, end_time=int(now[0]) * 1000
        )
        answer = sdk_client(sim).list_job_runs(
            sim.workspace_id, models.ListJobRunsRequest(end_time=window)
        )
    assert run_ids(answer) == [late]


def test_runs_submitted_or_deleted_during_a_walk_neither_shift_nor_repeat_the_rest() -> None:
    now = frozen_now()
    with EmrServerlessSimulator(clock=lambda: now[0]) as sim:
        for i in range(9):
            sim.spark_runs.add_run(f"jr-{i:02d}", submit_time=now[0] - 100 + i)
        client = sdk_client(sim)
        request = models.ListJobRunsRequest(max_results=3)
        first = client.list_job_runs(sim.workspace_id, request)
        sim.spark_runs.add_run("jr-new")  # newest: belongs before the first page
        sim.spark_runs.delete_between_pages(["jr-05"])  # on the second page
        request.next_token = first.body.next_token
        second = client.list_job_runs(sim.workspace_id, request)
    assert run_ids(first) == ["jr-08", "jr-07", "jr-06"]
    assert run_ids(second) == ["jr-04", "jr-03", "jr-02"]
    assert second.body.total_count == 9  # jr-new in, jr-05 out


def error_of(call) -> AlibabaCloudException:
    with pytest.raises(AlibabaCloudException) as caught:
        call()
    return caught.value


def test_unknown_expired_or_foreign_tokens_are_invalid_parameters() -> None:
    now = frozen_now()
    with EmrServerlessSimulator(clock=lambda: now[0]) as sim:
        many_runs(sim, now[0])
        client = sdk_client(sim)
        first = client.list_job_runs(sim.workspace_id, models.ListJobRunsRequest(max_results=5))
        token = first.body.next_token

        def page(**more):
            request = models.ListJobRunsRequest(max_results=5, next_token=token, **more)
            return client.list_job_runs(sim.workspace_id, request)

        assert len(run_ids(page())) == 5  # good, and good again: a token is not used up
        foreign = error_of(lambda: page(name="job-1"))  # issued for other filters
        unknown = error_of(
            lambda: client.list_job_runs(
                sim.workspace_id, models.ListJobRunsRequest(next_token="bm90LWEtdG9rZW4")
            )
        )
        now[0] += sim.spark_runs.tokens.lifetime + 1
        expired = error_of(page)
        now[0] -= sim.spark_runs.tokens.lifetime + 1
        fresh = client.list_job_runs(sim.workspace_id, models.ListJobRunsRequest(max_results=5))
        token = fresh.body.next_token
        sim.spark_runs.expire_tokens()
        dropped = error_of(page)
    for err in (foreign, unknown, expired, dropped):
        assert (err.status_code, err.code) == (400, "InvalidParameter")


def test_usage_grows_while_a_run_holds_resources_and_only_then() -> None:
    now = frozen_now()
    with EmrServerlessSimulator(clock=lambda: now[0]) as sim:
        runs, client = sim.spark_runs, sdk_client(sim)
        key = runs.add_run(state="Pending", vcores=8, memory_mb=32768)

        def usage() -> tuple[int, int, float]:
            (run,) = client.list_job_runs(
                sim.workspace_id, models.ListJobRunsRequest()
            ).body.job_runs
            return run.vcore_seconds, run.mb_seconds, run.cu_hours

        readings = [usage()]
        now[0] += 30
        readings.append(usage())  # still pending
        runs.set_run(key, "Running")
        now[0] += 60
        readings.append(usage())
        runs.set_run(key, "Cancelling")
        now[0] += 10
        readings.append(usage())
        runs.set_run(key, "Cancelled")
        now[0] += 300
        readings.append(usage())
    assert readings == [
        (0, 0, 0.0),
        (0, 0, 0.0),
        (8 * 60, 32768 * 60, pytest.approx(8 * 60 / 3600, abs=1e-6)),
        (8 * 70, 32768 * 70, pytest.approx(8 * 70 / 3600, abs=1e-6)),
        (8 * 70, 32768 * 70, pytest.approx(8 * 70 / 3600, abs=1e-6)),
    ]


# --- what the SDK sends, against what the exporter sends --------------------------------------

# How the exporter's ListRayJob request differs from the SDK's for the same page (the same
# parameters, both accepted): the SDK sends the query form-encoded, a space as "+", where ours
# is the canonical form it signs ("%20"), and the SDK signs three headers more. Neither matters
# to the gateway, which decodes the query and checks whatever SignedHeaders lists.
FINDINGS = [
    "query on the wire: 'name=nightly%20run&pageNum=1&pageSize=100' vs "
    "'name=nightly+run&pageNum=1&pageSize=100'",
    "signed only by the SDK: accept",
    "signed only by the SDK: user-agent",
    "signed only by the SDK: x-acs-credentials-provider",
]


def sdk_ray_job_request(pairs: list[tuple[str, str]]) -> models.ListRayJobRequest:
    """The SDK's request for the parameters of one of ours."""
    query = dict(pairs)
    window = json.loads(query.get("submitTime", "null"))
    return models.ListRayJobRequest(
        page_num=int(query["pageNum"]),
        page_size=int(query["pageSize"]),
        name=query.get("name"),
        submission_id=query.get("submissionId"),
        task_biz_id=query.get("taskBizId"),
        submit_time=None
        if window is None
        else models.ListRayJobRequestSubmitTime(window["startTime"], window["endTime"]),
    )


def test_the_exporters_list_ray_job_request_against_the_sdks() -> None:
    now = frozen_now()
    with EmrServerlessSimulator(clock=lambda: now[0]) as sim:
        sim.add_job("rj-1", name="nightly run", status="Running")
        target = sim.target_config(
            "emr", resources=["jobs"], requests_per_second=1000, filters={"name": "nightly run"}
        )
        exporter = Exporter(parse_config({"targets": [target]}))
        assert exporter.poll_all_once()
        exporter.close()
        (ours,) = sent(sim, "ListRayJob")
        answer = sdk_client(sim).list_ray_job(sim.workspace_id, sdk_ray_job_request(ours.pairs()))
        theirs = sent(sim, "ListRayJob")[-1]
    assert [job.submission_id for job in answer.body.ray_jobs] == ["rj-1"]
    mine, sdks = ours.comparable(), theirs.comparable()
    assert (mine["method"], mine["path"], mine["query"]) == (
        sdks["method"],
        sdks["path"],
        sdks["query"],
    )
    shared = mine["signed"].keys() & sdks["signed"].keys()
    assert shared == {"host", "x-acs-action", "x-acs-version", "x-acs-content-sha256"}
    assert {k: mine["signed"][k] for k in shared} == {k: sdks["signed"][k] for k in shared}
    assert differences(ours, theirs) == FINDINGS
