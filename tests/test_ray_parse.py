import json

import pytest

from exporter.backends.kit.fields import parse_epoch
from exporter.backends.ray import (
    RayJobItem,
    decode_job_list,
    parse_cluster,
    parse_job,
    parse_jobs,
)
from exporter.errors import PollError
from exporter.http.decode import UndecodableJson, decode_json
from exporter.model import Phase

from .helpers import RAY_TESTDATA, vendor_example


def load(name: str):
    return json.loads((RAY_TESTDATA / name).read_text())


def seed_example() -> list:
    """openYuanrong's documented "Query list successful" example."""
    return vendor_example("openyuanrong-query-job-list.json")


def test_openyuanrong_seed_example_parses_to_epoch_seconds_and_status() -> None:
    listing = parse_jobs(seed_example())
    assert listing.skipped == 0
    (job,) = listing.items
    assert job.key == "app-fe4ee1e5-d24f-4236-be15-7654e3c2229b"
    assert (job.status, job.phase, job.job_type) == ("SUCCEEDED", Phase.SUCCEEDED, "SUBMISSION")
    assert job.submit_time == 1755484077.0
    assert job.end_time == 1755484140.0
    assert job.extra_labels == ()  # error_type "" is unset


def test_real_ray_listing_statuses_identities_and_drivers() -> None:
    jobs = {job.key: job for job in parse_jobs(load("jobs_final.json")).items}
    assert {k: (j.status, j.phase) for k, j in jobs.items()} == {
        "job-ok-ray": ("SUCCEEDED", Phase.SUCCEEDED),
        "job-ok-plain": ("SUCCEEDED", Phase.SUCCEEDED),
        "job-sleep": ("STOPPED", Phase.CANCELLED),
        "job-fail": ("FAILED", Phase.FAILED),
        "03000000": ("SUCCEEDED", Phase.SUCCEEDED),
        "04000000": ("SUCCEEDED", Phase.SUCCEEDED),
    }
    assert jobs["03000000"].job_type == "DRIVER"
    assert jobs["job-fail"].extra_labels == (("error_type", "JOB_ENTRYPOINT_COMMAND_ERROR"),)
    assert jobs["job-ok-ray"].submit_time == pytest.approx(1795351372.276)
    assert jobs["job-ok-ray"].end_time == pytest.approx(1795351377.386)


def test_running_and_pending_jobs_have_no_end_time() -> None:
    running = parse_job(load("job_sleep_running.json"))
    pending = parse_job(load("job_pending.json"))
    assert (running.phase, running.end_time) == (Phase.RUNNING, None)
    assert (pending.phase, pending.end_time) == (Phase.PENDING, None)
    assert pending.submit_time == pytest.approx(1795351482.758)


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [
        (1795351372276, 1795351372.276),
        ("1795351372276", 1795351372.276),
        ("1755484077", 1755484077.0),
        (1755484077, 1755484077.0),
        (1755484077.5, 1755484077.5),
        (" 1755484077 ", 1755484077.0),
        (None, None),
        ("", None),
        (0, None),
        ("0", None),
        (-5, None),
        ("soon", None),
        (True, None),
        (float("nan"), None),
        ([], None),
    ],
)
def test_epoch_rule(raw: object, seconds: float | None) -> None:
    assert parse_epoch(raw) == seconds


def test_driver_end_time_zero_is_unset_and_unknown_keys_ignored() -> None:
    job = parse_job(
        {
            "type": "DRIVER",
            "job_id": "05000000",
            "submission_id": None,
            "status": "RUNNING",
            "start_time": 1795351397797,
            "end_time": 0,
            "retry_policy": {"max": 3},
            "attempt_number": 2,
        }
    )
    assert (job.key, job.job_type, job.end_time) == ("05000000", "DRIVER", None)


def test_unusable_items_are_skipped_and_counted() -> None:
    listing = parse_jobs([{"status": "RUNNING"}, "garbage", None, {"job_id": "01000000"}])
    assert [job.key for job in listing.items] == ["01000000"]
    assert listing.skipped == 3
    (job,) = listing.items
    assert (job.status, job.phase) == ("UNKNOWN", Phase.UNKNOWN)


def test_unknown_status_is_kept_with_phase_unknown() -> None:
    job = parse_job({"submission_id": "x", "status": "RETRYING"})
    assert (job.status, job.phase) == ("RETRYING", Phase.UNKNOWN)


def test_job_name_from_metadata() -> None:
    job = parse_job({"submission_id": "raysubmit_1", "metadata": {"job_name": "nightly-etl"}})
    assert job.name == "nightly-etl"


@pytest.mark.parametrize("payload", [{"jobs": []}, "[]", None, 3])
def test_non_array_listing_is_a_parse_error(payload: object) -> None:
    with pytest.raises(PollError) as err:
        parse_jobs(payload)
    assert err.value.reason == "parse"


def test_cluster_from_real_responses_counts_dead_worker() -> None:
    cluster = parse_cluster(
        "t",
        load("version.json"),
        load("v0_nodes_with_dead.json"),
        load("cluster_status_with_dead.json"),
    )
    head, worker = cluster.groups
    assert (head.role, head.nodes_alive, head.nodes_dead, head.cpu_cores) == ("head", 1, 0, 1.0)
    assert head.memory_bytes == 17362323866.0
    assert (worker.nodes_alive, worker.nodes_dead, worker.cpu_cores) == (0, 1, 0.0)
    assert cluster.key == "session_2026-11-22_12-42-11_948346_7188"
    assert cluster.cpu_used == 0.0
    assert cluster.memory_used_bytes == 0.0
    assert cluster.gpus_used is None
    assert cluster.info_labels == (("version", "2.60.0"),)
    assert cluster.created_time == pytest.approx(1795352875.721)


def test_cluster_without_node_list_is_a_parse_error() -> None:
    with pytest.raises(PollError) as err:
        parse_cluster("t", None, {"data": {}}, {})
    assert err.value.reason == "parse"


TYPED_QUIRKS = [
    b'[{"submission_id": "a", "status": "running", "start_time": 1700000000123, "end_time": 0}]',
    b'[{"job_id": "02000000", "start_time": "1700000000.5", "end_time": "", "type": null}]',
    b'[{"submission_id": 7, "start_time": 1700000000, "metadata": {"job_name": 3}}, {}]',
    b'[{"submission_id": "b", "error_type": "USER", "metadata": null, "extra": [1, {"x": 2}]}]',
]
LENIENT_QUIRKS = [
    b'[{"submission_id": "d\xff", "status": "RUNNING"}]',  # bad UTF-8
    b'[{"submission_id": "e", "start_time": NaN, "end_time": 1e999}]',
    b'[{"submission_id": "f", "metadata": "not an object"}, 3, null]',
    b'\xef\xbb\xbf[{"submission_id": "g"}]',
]


@pytest.mark.parametrize("body", TYPED_QUIRKS + LENIENT_QUIRKS)
def test_typed_decoding_reads_every_quirk_as_the_generic_tree_does(body: bytes) -> None:
    typed = decode_job_list(body)
    assert isinstance(typed[0], RayJobItem) == (body in TYPED_QUIRKS)  # else the lenient path
    assert parse_jobs(typed) == parse_jobs(decode_json(body))


def test_typed_decoding_of_a_document_that_is_no_job_list() -> None:
    with pytest.raises(PollError, match="JSON dict"):
        parse_jobs(decode_job_list(b'{"jobs": []}'))
    with pytest.raises(UndecodableJson, match="nested too deep"):
        decode_job_list(b'[{"metadata": {"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}]")


def test_typed_decoding_reads_huge_numbers_as_unset() -> None:
    body = b'[{"submission_id": ' + b"9" * 60 + b', "job_id": "c", "start_time": ' + b"9" * 60
    (job,) = parse_jobs(decode_job_list(body + b"}]")).items
    assert (job.key, job.submit_time, job.run) == ("c", None, None)
