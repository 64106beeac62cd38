"""The official SDK (``huaweicloudsdkmodelarts`` 3.1.219) as a real client of the ModelArts
simulator's training jobs, stages, pools, pool statistics and pool nodes: every request it
sends is accepted (the simulator checks its signature, over a search's body too), its models
read every field back, and what it sends is pinned down, against what the exporter sends."""

from __future__ import annotations

import json
import time

import pytest
from huaweicloudsdkcore.exceptions.exceptions import ServiceResponseException
from huaweicloudsdkmodelarts.v1 import (
    Filter,
    JobResponse,
    JobSearches,
    ListPoolNodesRequest,
    ListPoolsRequest,
    ListTagFilter,
    ListTrainingJobsRequest,
    ListTrainingJobStagesRequest,
    ShowPoolStatisticsRequest,
)

from exporter.backends.modelarts_lite.api import open_client
from exporter.config.parse import parse_config
from exporter.polling.health import ApiStats
from exporter.simulators.modelarts_lite import ModelArtsLiteSimulator

from .sdk_capture import differences
from .sdk_capture_modelarts import (
    SentRequest,
    model_keys,
    sdk_client,
    sent,
    unread,
)

# What a search leaves out of a custom job, and why: training_render's docstring
NOT_ANSWERED = frozenset(
    {
        "tasks",
        "ftjob_config",
        "algorithm.id",
        "algorithm.subscription_id",
        "algorithm.item_version_id",
        "algorithm.autosearch_config_path",
        "algorithm.autosearch_framework_path",
        "algorithm.policies",
        "algorithm.inputs[].remote.dataset",
        "spec.resource.pool_group_id",
        "spec.resource.main_container_customized_flavor",
        "spec.asset_model",
        "status.retention_time",
    }
)
GPU_JOB = NOT_ANSWERED | {"spec.resource.flavor_detail.flavor_info.npu"}
CPU_JOB = GPU_JOB | {"spec.resource.flavor_detail.flavor_info.gpu"}
# A node reports the cards of its own kind only
GPU_NODE = frozenset(
    f"status.{part}.huawei.com/ascend-{kind}"
    for part in ("resources", "availableResources")
    for kind in ("snt3", "snt9")
) | {"metadata.annotations.os.modelarts/npu-topology-placement"}
GPU_GB, NPU = "modelarts.vm.gpu.8v100nv32", "modelarts.bm.npu.arm.8snt9b3.d"
JOB_4X = "modelarts.pool.visual.4xlarge"


def frozen_now() -> list[float]:
    """A fake clock at the real time: the SDK dates its requests by the real clock, and the
    simulator refuses a date 15 minutes off its own."""
    return [float(int(time.time()))]


def searched(client, **body: object):
    return client.list_training_jobs(ListTrainingJobsRequest(body=JobSearches(**body)))


def ids(answer) -> list[str]:
    return [item.metadata.id for item in answer.items]


# --- training jobs --------------------------------------------------------------------------


def test_training_jobs_through_the_sdk_carry_every_field_of_its_models() -> None:
    now = frozen_now()
    with ModelArtsLiteSimulator(clock=lambda: now[0]) as sim:
        pool = sim.pools.add_pool("gpu-pool", flavor=GPU_GB, nodes=2)
        jobs = sim.training_jobs
        ran = jobs.add_job(
            "tj-ran", phase="Running", pool_id=pool, node_count=2, flavor_id=JOB_4X, tags={}
        )
        now[0] += 100
        jobs.end_job(ran, "failed")
        waiting = jobs.add_job("tj-waiting", name="nightly")  # on the public pool
        host = sim.pools.nodes(pool)[0]["status"]["privateIp"]
        client = sdk_client(sim)
        every = searched(client, limit=50)
        on_host = searched(client, host_ips=[host])
    by_id = {item.metadata.id: item for item in every.items}
    assert (every.total, every.count, every.offset, every.limit) == (2, 2, 0, 50)
    assert [field for field in unread(every) if not field.startswith("items[]")] == []
    failed, pending = by_id[ran], by_id[waiting]
    assert unread(failed, GPU_JOB | {"status.task_ips"}) == []
    assert unread(pending, CPU_JOB | {"status.task_ips", "status.start_time"}) == []
    assert (failed.status.phase, failed.status.secondary_phase) == ("Failed", "Failed")
    assert (pending.status.phase, pending.status.secondary_phase) == ("Pending", "Queuing")
    assert failed.metadata.create_time == int(now[0] - 100) * 1000  # epoch ms
    assert (failed.status.start_time, failed.status.duration) == (
        failed.metadata.create_time,
        100_000,
    )
    assert (
        failed.status.running_records[0].end_at - failed.status.running_records[0].start_at == 100
    )
    resource = failed.spec.resource
    assert (resource.pool_id, resource.pool_name, resource.node_count) == (pool, "gpu-pool", 2)
    assert resource.flavor_detail.flavor_info.gpu.unit_num == 4
    held = resource.main_container_allocated_resources
    assert (held.cpu_core_num, held.mem_size, held.accelerator_num) == (32.0, 256.0, 4.0)
    (shown,) = on_host.items
    assert [(ip.task, ip.host_ip) for ip in shown.status.task_ips] == [
        ("worker-0", host),
        ("worker-1", host),  # first fit: both replicas of 4 cards on the first 8-card node
    ]
    assert set(jobs.jobs()[0]) == model_keys(JobResponse) - {"tasks", "ftjob_config"}


PHASES = ("Running", "Pending", "Completed", "Failed", "Terminated", "Creating")


def many_jobs(sim: ModelArtsLiteSimulator, now: float) -> dict[str, dict]:
    """23 jobs a minute apart in every phase, three names, two users: id -> what we know."""
    made = {}
    for i in range(23):
        phase, created = PHASES[i % len(PHASES)], now - 3600 + 60 * i
        key = sim.training_jobs.add_job(
            f"tj-{i:02d}",
            name=f"job-{i % 3}",
            phase=phase,
            create_time=created,
            user_name=("alice", "bob")[i % 2],
            tags={"team": "ml" if i % 4 else "bi"},
        )
        made[key] = {"phase": phase, "created": created, "name": f"job-{i % 3}", "i": i}
    return made


def test_a_search_pages_by_offset_under_filters_as_the_sdk_encodes_them() -> None:
    now = frozen_now()
    with ModelArtsLiteSimulator(clock=lambda: now[0]) as sim:
        made = many_jobs(sim, now[0])
        low, high = int(now[0] - 3300) * 1000, int(now[0] - 900) * 1000
        body = JobSearches(
            limit=3,
            order="asc",
            filters=[
                Filter(key="phase", operator="in", value=["Running", "Pending"]),
                Filter(key="create_time", operator="between", value=[str(low), str(high)]),
            ],
        )
        client, pages = sdk_client(sim), []
        while not pages or len(pages[-1].items) == 3:
            body.offset = len(pages)  # the page's number, from 0
            pages.append(client.list_training_jobs(ListTrainingJobsRequest(body=body)))
    expected = [
        key
        for key, job in sorted(made.items(), key=lambda item: item[1]["created"])
        if job["phase"] in ("Running", "Pending") and low <= job["created"] * 1000 <= high
    ]
    assert len(expected) > 3 and [key for page in pages for key in ids(page)] == expected
    assert {(page.count, page.total, page.order) for page in pages} == {(len(expected), 23, "asc")}


FILTERS = {  # the search body's filters, and which of many_jobs they keep
    "name like": ({"filters": [Filter("name", "like", ["-1"])]}, lambda j: j["name"] == "job-1"),
    "phase not": (
        {"filters": [Filter("phase", "not", ["Completed", "Failed", "Terminated"])]},
        lambda j: j["phase"] in ("Running", "Pending", "Creating"),
    ),
    "user": ({"filters": [Filter("user_name", "in", ["bob"])]}, lambda j: j["i"] % 2 == 1),
    "tag": ({"tags": [ListTagFilter("team", ["bi"])]}, lambda j: j["i"] % 4 == 0),
    "tag key": ({"tags": [ListTagFilter("team")]}, lambda j: True),
    "ftjob": ({"train_type": "ftjob"}, lambda j: False),
}


@pytest.mark.parametrize(("body", "keeps"), FILTERS.values(), ids=FILTERS.keys())
def test_search_filters(body: dict, keeps) -> None:
    now = frozen_now()
    with ModelArtsLiteSimulator(clock=lambda: now[0]) as sim:
        made = many_jobs(sim, now[0])
        answer = searched(sdk_client(sim), limit=50, sort_by="name", **body)
    kept = sorted((key for key, job in made.items() if keeps(job)), key=lambda k: made[k]["name"])
    assert [made[key]["name"] for key in ids(answer)] == [made[key]["name"] for key in kept][::-1]
    assert sorted(ids(answer)) == sorted(kept) and answer.count == len(kept)


def test_stages_through_the_sdk_follow_the_job() -> None:
    now = frozen_now()
    with ModelArtsLiteSimulator(clock=lambda: now[0]) as sim:
        created, client = int(now[0]) * 1000, sdk_client(sim)
        key = sim.training_jobs.add_job("tj-1")

        def stages() -> list[tuple[str, int, str, str | None]]:
            answer = client.list_training_job_stages(ListTrainingJobStagesRequest(key))
            (record,) = answer.running_records
            assert (answer.total_count, record.record_order) == (1, 1)
            assert unread(record, frozenset({"stages[].end_time"})) == []
            return [(s.name, s.stage_order, s.start_time, s.end_time) for s in record.stages]

        waiting = stages()
        now[0] += 20
        sim.training_jobs.start_job(key)
        now[0] += 10
        running = stages()
        now[0] += 70
        sim.training_jobs.end_job(key, "succeeded")
        ended = stages()
    at = [str(created + ms) for ms in (0, 20_000, 25_000, 100_000)]
    assert waiting == [("scheduling", 1, at[0], None)]
    assert running == [
        ("scheduling", 1, at[0], at[1]),
        ("preparing", 2, at[1], at[2]),
        ("running", 3, at[2], None),
    ]
    assert ended == [*running[:2], ("running", 3, at[2], at[3]), ("end", 4, at[3], at[3])]


# --- pools ----------------------------------------------------------------------------------


def test_pools_statistics_and_nodes_through_the_sdk() -> None:
    now = frozen_now()
    with ModelArtsLiteSimulator(clock=lambda: now[0]) as sim:
        pools = sim.pools
        gpu = pools.add_pool("gpu-pool", flavor=GPU_GB, nodes=3)
        abnormal = pools.nodes(gpu)[2]["metadata"]["name"]
        pools.set_node(gpu, abnormal, "Abnormal")
        pools.add_nodes(gpu, 1, phase="Creating")
        npu = pools.add_pool("npu-pool", flavor=NPU, nodes=1, labels={"team": "ml"})
        pools.add_pool("new-pool", phase="Creating", nodes=0)
        broken = pools.add_pool("broken-pool", phase="Error", nodes=0)
        pools.add_pool("unpaid-pool", unpaid=True, nodes=1)
        sim.training_jobs.add_job(phase="Running", pool_id=gpu)  # a whole node
        client = sdk_client(sim)
        listed = client.list_pools(ListPoolsRequest())
        failed = client.list_pools(ListPoolsRequest(status="failed"))
        labelled = client.list_pools(ListPoolsRequest(label_selector="team=ml,!absent"))
        statistics = client.show_pool_statistics(ShowPoolStatisticsRequest(workspace_id="0"))
        pages = [client.list_pool_nodes(ListPoolNodesRequest(pool_name=gpu, limit=3))]
        token = pages[0].metadata._continue
        pages.append(client.list_pool_nodes(ListPoolNodesRequest(pool_name=gpu, _continue=token)))
    assert [pool.metadata.labels.os_modelarts_name for pool in listed.items] == [
        "gpu-pool",
        "npu-pool",
        "new-pool",
        "unpaid-pool",
    ]
    assert [p.metadata.name for p in failed.items + labelled.items] == [broken, npu]
    gpu_pool = listed.items[0]
    assert unread(gpu_pool) == [] and unread(listed.items[1]) == []
    counts = gpu_pool.status.resources
    assert (counts.available.count, counts.abnormal.count, counts.creating.count) == (2, 1, 1)
    assert (gpu_pool.spec.resources[0].flavor, gpu_pool.spec.resources[0].count) == (GPU_GB, 4)
    status = statistics.statistics.status
    assert (status.created, status.creating, status.failed, status.pending) == (2, 1, 1, 1)
    nodes = pages[0].items + pages[1].items
    assert [page.metadata.remaining_item_count for page in pages] == [1, 0]
    assert [len(page.items) for page in pages] == [3, 1] and pages[1].metadata._continue == ""
    assert [n.status.phase for n in nodes] == ["Available", "Available", "Abnormal", "Creating"]
    assert all(unread(node, GPU_NODE) == [] for node in nodes)
    free = [node.status.available_resources.nvidia_com_gpu for node in nodes]
    assert free == ["0", "8", "0", "0"]  # the job holds the first; only Available nodes take jobs
    assert nodes[0].status.resources.memory == "512Gi"


# --- errors ---------------------------------------------------------------------------------


def error_of(call) -> ServiceResponseException:
    with pytest.raises(ServiceResponseException) as caught:
        call()
    return caught.value


def test_errors_reach_the_sdk_in_huaweis_shape() -> None:
    with ModelArtsLiteSimulator() as sim:
        client, jobs = sdk_client(sim), sim.training_jobs
        jobs.fail_job_lists(1)
        jobs.fail_lists(1, 503, "ModelArts.0001")
        found = [error_of(lambda: searched(client)) for _ in range(2)]
        found.append(error_of(lambda: searched(client, limit=51)))
        found.append(
            error_of(lambda: client.list_training_job_stages(ListTrainingJobStagesRequest("x")))
        )
        found.append(
            error_of(lambda: client.list_pool_nodes(ListPoolNodesRequest(pool_name="pool-x")))
        )
        sim.secret_key = "another-secret"
        found.append(error_of(lambda: searched(client)))
    assert [(err.status_code, err.error_code) for err in found] == [
        (429, "APIG.0308"),
        (503, "ModelArts.0001"),
        (400, "ModelArts.0101"),
        (404, "ModelArts.0104"),
        (404, "ModelArts.0104"),
        (401, "APIG.0301"),
    ]
    assert all(len(err.request_id) == 32 for err in found)


# --- what the SDK sends, against what the exporter sends --------------------------------------

SIGNED = {"content-type", "host", "user-agent", "x-project-id"}  # and x-sdk-date


def test_what_the_sdk_sends_for_each_operation() -> None:
    with ModelArtsLiteSimulator() as sim:
        pool = sim.pools.add_pool("gpu-pool", nodes=3)
        key, client = sim.training_jobs.add_job("tj-1"), sdk_client(sim)
        searched(
            client, offset=1, limit=3, order="asc", filters=[Filter("phase", "in", ["Running"])]
        )
        client.list_training_job_stages(ListTrainingJobStagesRequest(key))
        client.list_pools(
            ListPoolsRequest(workspace_id="0", label_selector="a b", status="created")
        )
        client.show_pool_statistics(ShowPoolStatisticsRequest(workspace_id="0"))
        client.list_pool_nodes(ListPoolNodesRequest(pool_name=pool, limit=2))
        requests = [SentRequest.of(head) for head in sim.heads]
    pid = sim.project_id
    assert [(r.operation, r.method, r.path, r.query, r.body) for r in requests] == [
        (
            "ListTrainingJobs",
            "POST",
            f"/v2/{pid}/training-job-searches",
            "",
            b'{"offset": 1, "limit": 3, "order": "asc", '
            b'"filters": [{"key": "phase", "operator": "in", "value": ["Running"]}]}',
        ),
        ("ListTrainingJobStages", "GET", f"/v2/{pid}/training-jobs/{key}/stages", "", b""),
        (
            "ListPools",
            "GET",
            f"/v2/{pid}/pools",
            "labelSelector=a%20b&status=created&workspaceId=0",
            b"",
        ),
        ("ShowPoolStatistics", "GET", f"/v2/{pid}/statistics/pools", "workspaceId=0", b""),
        ("ListPoolNodes", "GET", f"/v2/{pid}/pools/{pool}/nodes", "limit=2", b""),
    ]
    for request in requests:
        signed = request.comparable()["signed"]
        assert signed.keys() == SIGNED and signed["x-project-id"] == pid
        json_type = (
            "application/json;charset=utf-8" if request.method == "POST" else "application/json"
        )
        assert signed["content-type"] == json_type


# How the exporter's requests differ from the SDK's for the same search and the same pool list
# (all accepted): the SDK also signs its User-Agent, and it names the charset of a POST's body.
FINDINGS = {
    "ListTrainingJobs": [
        "signed only by the SDK: user-agent",
        "signed content-type: 'application/json' vs 'application/json;charset=utf-8'",
    ],
    "ListPools": ["signed only by the SDK: user-agent"],
}


def test_the_exporters_search_and_pool_list_against_the_sdks() -> None:
    with ModelArtsLiteSimulator() as sim:
        sim.training_jobs.add_job("tj-1")
        target = parse_config({"targets": [sim.target_config("ma")]}).targets[0]
        api = open_client(target, ApiStats())
        search = {"offset": 0, "limit": 3, "order": "asc"}  # in the SDK model's key order
        try:
            api.post_json_dated(
                f"/v2/{sim.project_id}/training-job-searches",
                "ListTrainingJobs",
                deadline=time.monotonic() + 10,
                body=json.dumps(search).encode(),  # the SDK's form: json.dumps, its separators
            )
            api.get_json(
                f"/v2/{sim.project_id}/pools",
                "ListPools",
                deadline=time.monotonic() + 10,
                params={"status": "created", "labelSelector": "team=ml"},
            )
        finally:
            api.close()
        client = sdk_client(sim)
        searched(client, **search)
        client.list_pools(ListPoolsRequest(status="created", label_selector="team=ml"))
        found = {op: differences(*sent(sim, op)) for op in FINDINGS}
    assert found == FINDINGS
