"""ModelArts resource pools (the ``pools`` resource): ListPools, ShowPoolStatistics and each
pool's ListPoolNodes walked by ``limit``/``continue``, with the training jobs waiting for each
pool, polled from the simulator over HTTP as the SDK sends them, and read leniently when an
answer is broken or hostile."""

from __future__ import annotations

import json
from typing import Any

import pytest
from huaweicloudsdkmodelarts.v1 import (
    Filter,
    JobSearches,
    ListPoolNodesRequest,
    ListPoolsRequest,
    ListTrainingJobsRequest,
    ShowPoolStatisticsRequest,
)

from exporter.app import Exporter
from exporter.backends.modelarts_lite.pool_records import (
    parse_counts,
    parse_node,
    parse_pool,
    read_resources,
)
from exporter.config.parse import parse_config
from exporter.config.types import ConfigError
from exporter.simulators.modelarts_lite import ModelArtsLiteSimulator
from exporter.simulators.modelarts_lite.common import ApiError

from .helpers import promtool_check_metrics, value
from .sdk_capture import differences
from .sdk_capture_modelarts import sdk_client, sent
from .test_emr_queues import frozen_now, series

GIB = 2**30
GPU = "modelarts.vm.gpu.8v100nv32"  # 64 cores, 512 GiB, 8 GPUs a node
CPU = "modelarts.vm.cpu.16u64g.d"  # 16 cores, 64 GiB
NPU = "modelarts.bm.npu.arm.8snt9b3.d"  # 192 cores, 1536 GiB, 8 NPUs


def pools_exporter(sim: ModelArtsLiteSimulator, **settings: object) -> Exporter:
    settings = {"resources": ["pools"], "timeout": "20s", "requests_per_second": 1000, **settings}
    return Exporter(parse_config({"targets": [sim.target_config("ma", **settings)]}))


def polled(sim: ModelArtsLiteSimulator, **settings: object) -> bytes:
    """The exposition after one poll of the simulator's pools."""
    exporter = pools_exporter(sim, **settings)
    try:
        exporter.poll_all_once()
        return exporter.exposition.body()
    finally:
        exporter.close()


def amounts(body: bytes, name: str) -> dict[tuple[str, ...], float]:
    """A family of amounts, by (pool, resource kind)."""
    return series(body, name, "resource_pool", "resource_kind")


def node_counts(body: bytes, pool: str) -> dict[str, float]:
    """The nodes of ``pool`` by status, those of none left out."""
    shown = series(body, "jobfleet_pool_nodes", "resource_pool", "status")
    return {status: n for (name, status), n in shown.items() if name == pool and n}


def pools_up(body: bytes) -> tuple[float, float]:
    """(up, incomplete) of the pools resource."""
    return (
        value(body, "jobfleet_target_up", resource="pools"),
        value(body, "jobfleet_list_incomplete", resource="pools"),
    )


# --- what a poll shows ----------------------------------------------------------------------


def test_capacity_allocation_nodes_status_and_waiting_jobs_of_each_pool() -> None:
    with ModelArtsLiteSimulator() as sim:
        gpu = sim.pools.add_pool("gpu-pool", flavor=GPU, nodes=3, scope=("Train",))
        cpu = sim.pools.add_pool("cpu-pool", flavor=CPU, nodes=2, pool_type="Logical")
        npu = sim.pools.add_pool("npu-pool", flavor=NPU, nodes=1)
        (sick,) = sim.pools.add_nodes(gpu, 1, phase="Abnormal")
        jobs = sim.training_jobs
        jobs.add_job("tj-run", phase="Running", pool_id=gpu, node_count=2)
        jobs.add_job("tj-wait", phase="Pending", pool_id=gpu, node_count=1)
        jobs.add_job("tj-new", phase="Creating", pool_id=gpu, node_count=1)
        jobs.add_job("tj-cpu", phase="Pending", pool_id=cpu, flavor_id=CPU, node_count=1)
        jobs.add_job("tj-done", phase="Completed", pool_id=npu)
        jobs.add_job("tj-public", phase="Pending")  # the public pool: no pool of the project's
        sim.pools.add_pool("broken", flavor=CPU, nodes=0, phase="Error")  # failed: not listed
        body = polled(sim)
    assert pools_up(body) == (1, 0)
    assert amounts(body, "jobfleet_pool_resource_capacity") == {
        (gpu, "cpu"): 3 * 64,  # the Abnormal node takes no jobs: no capacity
        (gpu, "memory"): 3 * 512 * GIB,
        (gpu, "gpu"): 3 * 8,
        (cpu, "cpu"): 2 * 16,
        (cpu, "memory"): 2 * 64 * GIB,
        (npu, "cpu"): 192,
        (npu, "memory"): 1536 * GIB,
        (npu, "npu"): 8,
    }
    allocated = amounts(body, "jobfleet_pool_resource_allocated")
    assert {key: v for key, v in allocated.items() if key[0] == gpu} == {
        (gpu, "cpu"): 2 * 64,  # two replicas of a whole node each
        (gpu, "memory"): 2 * 512 * GIB,
        (gpu, "gpu"): 2 * 8,
    }
    assert {v for key, v in allocated.items() if key[0] != gpu} == {0}
    waiting = series(body, "jobfleet_pool_jobs_waiting", "resource_pool")
    assert waiting == {(gpu,): 2, (cpu,): 1, (npu,): 0}  # Pending and Creating
    assert node_counts(body, gpu) == {"Available": 3, "Abnormal": 1}
    assert len(series(body, "jobfleet_pool_nodes", "resource_pool", "status")) == 3 * 5
    assert sick.startswith("gpu-pool-node")
    info = ("resource_pool", "display_name", "pool_type", "scope", "flavor")
    assert series(body, "jobfleet_pool_info", *info) == {
        (gpu, "gpu-pool", "Dedicate", "Train", GPU): 1,
        (cpu, "cpu-pool", "Logical", "Infer,Notebook,Train", CPU): 1,
        (npu, "npu-pool", "Dedicate", "Infer,Notebook,Train", NPU): 1,
    }
    statuses = series(body, "jobfleet_pool_status", "resource_pool", "status")
    assert {key for key, v in statuses.items() if v} == {(p, "Running") for p in (gpu, cpu, npu)}
    assert len(statuses) == 3 * 5  # every documented phase, from 0
    assert series(body, "jobfleet_pools", "status") == {
        ("created",): 3,
        ("creating",): 0,
        ("failed",): 1,
        ("pending",): 0,
    }
    assert sim.secret_key.encode() not in body and sim.access_key.encode() not in body
    lint = promtool_check_metrics(body)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_a_phase_beyond_the_documented_ones_is_shown_beside_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with ModelArtsLiteSimulator() as sim:
        pool = sim.pools.add_pool("p", flavor=CPU, nodes=1)
        listed = sim.pools.list_pools

        def upgrading(query: dict[str, str]) -> dict[str, Any]:
            answer = listed(query)
            answer["items"][0]["status"]["phase"] = "Upgrading"  # a phase no SDK names
            return answer

        monkeypatch.setattr(sim.pools, "list_pools", upgrading)
        body = polled(sim)
    statuses = series(body, "jobfleet_pool_status", "resource_pool", "status")
    assert statuses[(pool, "Upgrading")] == 1
    assert sum(statuses.values()) == 1 and len(statuses) == 6


def test_a_pools_nodes_are_walked_page_by_page() -> None:
    with ModelArtsLiteSimulator() as sim:
        pool = sim.pools.add_pool("big", flavor=CPU, nodes=1101)
        body = polled(sim)
        pages = [dict(r.pairs()) for r in sent(sim, "ListPoolNodes")]
    assert node_counts(body, pool) == {"Available": 1101}
    assert amounts(body, "jobfleet_pool_resource_capacity")[(pool, "cpu")] == 1101 * 16
    assert [page["limit"] for page in pages] == ["500"] * 3
    assert "continue" not in pages[0] and pages[1]["continue"] != pages[2]["continue"]
    assert pools_up(body) == (1, 0)


def test_an_expired_page_token_begins_the_node_walk_again_once() -> None:
    with ModelArtsLiteSimulator() as sim:
        pool = sim.pools.add_pool("big", flavor=CPU, nodes=600)
        sim.pools.expire_tokens(1)
        body = polled(sim)
        tokens = ["continue" in dict(r.pairs()) for r in sent(sim, "ListPoolNodes")]
    assert tokens == [False, True, False, True]  # refused with 410, begun again, walked whole
    assert node_counts(body, pool) == {"Available": 600}
    assert pools_up(body) == (1, 0)


def test_a_token_refused_again_leaves_the_listing_incomplete_with_the_nodes_read() -> None:
    with ModelArtsLiteSimulator() as sim:
        pool = sim.pools.add_pool("big", flavor=CPU, nodes=600)
        sim.pools.expire_tokens(2)
        body = polled(sim)
        tokens = ["continue" in dict(r.pairs()) for r in sent(sim, "ListPoolNodes")]
    assert tokens == [False, True, False, True]  # one restart, no more
    assert pools_up(body) == (1, 1)
    assert node_counts(body, pool) == {"Available": 500}  # the first page's


def test_a_node_walk_stopped_at_the_page_cap_marks_the_listing_incomplete() -> None:
    with ModelArtsLiteSimulator() as sim:
        pool = sim.pools.add_pool("big", flavor=CPU, nodes=501)
        body = polled(sim, max_node_pages=1)
        walked = len(sent(sim, "ListPoolNodes"))
    assert walked == 1
    assert pools_up(body) == (1, 1)
    assert node_counts(body, pool) == {"Available": 500}


def test_a_refused_node_list_fails_the_poll_and_keeps_the_last_pools() -> None:
    with ModelArtsLiteSimulator() as sim:
        pool = sim.pools.add_pool("p", flavor=CPU, nodes=1)
        exporter = pools_exporter(sim)
        try:
            assert exporter.poll_all_once()
            sim.faults.add(1, ApiError(403, "ModelArts.0203", "no permission"), "ListPoolNodes")
            assert not exporter.poll_all_once()
            body = exporter.exposition.body()
        finally:
            exporter.close()
    assert value(body, "jobfleet_target_up", resource="pools") == 0
    assert value(body, "jobfleet_poll_errors_total", resource="pools", reason="auth") == 1
    assert value(body, "jobfleet_pool_resource_capacity", resource_pool=pool) > 0


# --- what is sent -----------------------------------------------------------------------------

# How the exporter's requests differ from the SDK's for the same calls (all accepted): the SDK
# also signs its User-Agent, and it names the charset of the body it posts.
SDK_DIFFERS = ["signed only by the SDK: user-agent"]
SEARCH_DIFFERS = [
    *SDK_DIFFERS,
    "signed content-type: 'application/json' vs 'application/json;charset=utf-8'",
]


def test_the_exporters_requests_against_the_sdks() -> None:
    now = frozen_now()
    with ModelArtsLiteSimulator(clock=lambda: now[0]) as sim:
        pool = sim.pools.add_pool("p", flavor=CPU, nodes=2)
        sim.training_jobs.add_job("tj-1", phase="Pending", pool_id=pool, flavor_id=CPU)
        body = polled(sim, training_filters={"user_name": "someone-else"})
        operations = ("ListPools", "ListPoolNodes", "ShowPoolStatistics", "ListTrainingJobs")
        ours = {operation: sent(sim, operation) for operation in operations}
        client = sdk_client(sim)
        pools = client.list_pools(ListPoolsRequest())
        nodes = client.list_pool_nodes(ListPoolNodesRequest(pool_name=pool, limit=500))
        statistics = client.show_pool_statistics(ShowPoolStatisticsRequest())
        search = JobSearches(
            offset=0,
            limit=50,
            sort_by="create_time",
            order="desc",
            filters=[Filter(key="phase", operator="in", value=["Creating", "Pending"])],
        )
        jobs = client.list_training_jobs(ListTrainingJobsRequest(body=search))
        theirs = {operation: sent(sim, operation)[-1] for operation in operations}
    assert all(len(requests) == 1 for requests in ours.values())
    assert [item.metadata.name for item in pools.items] == [pool]
    assert len(nodes.items) == 2 and statistics.statistics.status.created == 1
    assert [item.metadata.id for item in jobs.items] == ["tj-1"]
    found = {op: differences(ours[op][0], theirs[op]) for op in operations}
    assert found == {
        "ListPools": SDK_DIFFERS,
        "ListPoolNodes": SDK_DIFFERS,
        "ShowPoolStatistics": SDK_DIFFERS,
        "ListTrainingJobs": SEARCH_DIFFERS,
    }
    assert ours["ListTrainingJobs"][0].body == theirs["ListTrainingJobs"].body  # byte for byte
    # the training filters choose the jobs tracked, not the jobs a pool is full for
    assert value(body, "jobfleet_pool_jobs_waiting", resource_pool=pool) == 1


# --- broken and hostile answers --------------------------------------------------------------

HOSTILE = {  # status.resources as sent -> the amounts read, and the kinds left out
    "quantities": (
        {"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": "2"},
        {"cpu": 8, "memory": 32 * GIB, "gpu": 2},
        [],
    ),
    "ascend cards": ({"huawei.com/ascend-snt9": "8", "cpu": "500m"}, {"npu": 8, "cpu": 0.5}, []),
    "no quantity": ({"cpu": "lots", "memory": "1Gi"}, {"memory": GIB}, ["cpu"]),
    "negative": ({"cpu": "-2"}, {}, ["cpu"]),
    "a boolean": ({"cpu": True, "nvidia.com/gpu": "1"}, {"gpu": 1}, ["cpu"]),
    "beyond 2^63": ({"memory": "9999999Ei"}, {}, ["memory"]),
    "a nested object": ({"cpu": {"n": 1}}, {}, ["cpu"]),
    "empty and null": ({"cpu": "", "memory": None}, {}, []),
    "unknown keys": ({"example.com/fpga": "x", "pods": "110"}, {}, []),
    "no object": ("cpu=8", {}, []),
    "a list": ([{"cpu": "8"}], {}, []),
}


@pytest.mark.parametrize(("sent_value", "expected", "unreadable"), HOSTILE.values(), ids=HOSTILE)
def test_node_resources_are_read_leniently(
    sent_value: Any, expected: dict, unreadable: list
) -> None:
    assert read_resources(sent_value) == (expected, unreadable)


def test_items_that_are_no_pool_or_node_are_skipped() -> None:
    broken = (None, 7, "p", [], {}, {"metadata": None}, {"metadata": {"name": ""}})
    assert [parse_pool(item) for item in broken] == [None] * len(broken)
    assert [parse_node(item) for item in broken] == [None] * len(broken)
    pool = parse_pool({"metadata": {"name": "p"}, "spec": {"scope": "Train", "resources": 5}})
    assert (pool.name, pool.status, pool.info) == ("p", "Unknown", ())
    node = parse_node({"metadata": {"name": "n"}, "status": {"resources": {"cpu": "x"}}})
    assert (node.phase, node.capacity, node.unreadable) == ("Unknown", {}, ("resources.cpu",))


def test_pool_statistics_are_read_leniently() -> None:
    counts, bad = parse_counts({"statistics": {"status": {"created": 2, "failed": "x"}}})
    assert [(c.category, c.count) for c in counts] == [("created", 2)] and bad == 1
    assert parse_counts({"statistics": None}) == ([], 1)
    assert parse_counts([]) == ([], 1)


def broken_answers(sim: ModelArtsLiteSimulator, monkeypatch: pytest.MonkeyPatch) -> str:
    """A pool list with unusable items and a duplicate, node pages with unusable items and
    values, and statistics with a count that is none; the good pool's id."""
    good = sim.pools.add_pool("good", flavor=CPU, nodes=2)
    listed = sim.pools.list_pools

    def pools(query: dict[str, str]) -> dict[str, Any]:
        answer = listed(query)
        item = answer["items"][0]
        answer["items"] += [None, 7, {"metadata": {"name": ""}}, json.loads(json.dumps(item))]
        return answer

    nodes = sim.pools.list_nodes

    def node_page(name: str, query: dict[str, str]) -> dict[str, Any]:
        answer = nodes(name, query)
        answer["items"][0]["status"]["resources"]["cpu"] = "many"
        answer["items"] += ["node", {"metadata": {}}]
        return answer

    monkeypatch.setattr(sim.pools, "list_pools", pools)
    monkeypatch.setattr(sim.pools, "list_nodes", node_page)
    monkeypatch.setattr(
        sim.pools,
        "statistics",
        lambda query: {"statistics": {"status": {"created": 1, "failed": -1}}},
    )
    return good


def test_malformed_answers_are_counted_skips_never_a_failed_poll(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with ModelArtsLiteSimulator() as sim:
        good = broken_answers(sim, monkeypatch)
        body = polled(sim)
    assert pools_up(body) == (1, 0)
    # 3 unusable pools and a duplicate, 2 unusable nodes, 1 value and 1 count unusable
    assert value(body, "jobfleet_list_items_skipped_total", resource="pools") == 4 + 2 + 1 + 1
    assert amounts(body, "jobfleet_pool_resource_capacity") == {
        (good, "cpu"): 16,  # the other node's cpu is no quantity: left out
        (good, "memory"): 2 * 64 * GIB,
    }
    assert series(body, "jobfleet_pools", "status") == {("created",): 1}
    assert "resources.cpu" in caplog.text and sim.secret_key not in caplog.text


def test_pools_are_polled_only_when_named_and_the_node_page_cap_is_checked() -> None:
    with ModelArtsLiteSimulator() as sim:
        sim.pools.add_pool("p", flavor=CPU, nodes=1)
        body = polled(sim, resources=["jobs"])
        assert sent(sim, "ListPools") == []
        with pytest.raises(ConfigError, match="max_node_pages"):
            parse_config({"targets": [sim.target_config("ma", max_node_pages=0)]})
    assert b"jobfleet_pool_" not in body


def test_an_answer_without_a_pool_list_fails_the_poll_as_a_parse_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with ModelArtsLiteSimulator() as sim:
        monkeypatch.setattr(sim.pools, "list_pools", lambda query: {"items": "none"})
        body = polled(sim)
    assert value(body, "jobfleet_target_up", resource="pools") == 0
    assert value(body, "jobfleet_poll_errors_total", resource="pools", reason="parse") == 1
