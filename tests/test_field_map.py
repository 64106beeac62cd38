"""Field maps: a declared record -> Job mapping, compiled into one parser (backends.kit)."""

from __future__ import annotations

import json

import msgspec
import pytest

from exporter.backends.kit.extras import Extras, ExtraValue
from exporter.backends.kit.field_map import FieldMap, Reason, Status, Value
from exporter.backends.kit.fields import (
    number,
    parse_epoch,
    parse_quantity,
    parse_time,
    read_items,
    text,
    word,
)
from exporter.http.decode import Scalar, TypedRecord
from exporter.model import Phase

# A Kubernetes RayJob: the job's status and its deployment's status together give the phase.
RAYJOB_PHASES = {
    ("PENDING", "Initializing"): Phase.PENDING,
    ("", "Initializing"): Phase.PENDING,
    ("RUNNING", "Running"): Phase.RUNNING,
    ("SUCCEEDED", "Complete"): Phase.SUCCEEDED,
    ("FAILED", "Complete"): Phase.FAILED,
    ("FAILED", "Failed"): Phase.FAILED,
    ("", "Failed"): Phase.FAILED,  # the cluster never came up: the job failed, unstarted
    ("STOPPED", "Suspended"): Phase.CANCELLED,
}
REASONS = ("DeadlineExceeded", "AppFailed", "SubmissionFailed")
RAYJOB = FieldMap(
    id=("metadata.uid", "status.jobId"),
    name=("metadata.name",),
    status=Status(("status.jobStatus", "status.jobDeploymentStatus"), RAYJOB_PHASES),
    job_type="RayJob",
    times={
        "submit": Value("metadata.creationTimestamp", parse_time),
        "start": Value("status.startTime", parse_epoch),
        "end": Value("status.endTime", parse_time),
    },
    run="submit",
    values={"cpu": Value("spec.cpu", parse_quantity, minimum=0, maximum=1e6)},
    extras=Extras((ExtraValue("cpu"),)),
    labels={"spec.queue": "queue", "spec.shutdown": "shutdown"},
    attribution={"spec.entrypoint": text},
    keyed=("metadata.labels.",),
    secret=("spec.runtimeEnvYAML",),
    reason=Reason("status.reason", REASONS),
)


def rayjob(job_status: str = "RUNNING", deployment: str = "Running", **status: object) -> dict:
    return {
        "metadata": {
            "uid": "4f1c",
            "name": "train",
            "creationTimestamp": "2026-01-02T03:04:05Z",
            "labels": {"team": "vision", "app.kubernetes.io/name": "trainer"},
        },
        "spec": {"queue": "gpu", "cpu": "1500m", "entrypoint": "python train.py"},
        "status": {"jobStatus": job_status, "jobDeploymentStatus": deployment, **status},
    }


class RayJobMeta(TypedRecord):
    uid: Scalar = None
    name: Scalar = None
    creationTimestamp: Scalar = None
    labels: dict[str, Scalar] | None = None


class RayJobSpec(TypedRecord):
    queue: Scalar = None
    cpu: Scalar = None
    entrypoint: Scalar = None
    shutdown: Scalar = None


class RayJobStatus(TypedRecord):
    jobId: Scalar = None
    jobStatus: Scalar = None
    jobDeploymentStatus: Scalar = None
    startTime: Scalar = None
    endTime: Scalar = None
    reason: Scalar = None


class RayJobRecord(TypedRecord):
    metadata: RayJobMeta | None = None
    spec: RayJobSpec | None = None
    status: RayJobStatus | None = None


def typed(item: dict) -> RayJobRecord:
    return msgspec.json.decode(json.dumps(item).encode(), type=RayJobRecord)


def test_nested_paths_read_the_job() -> None:
    job = RAYJOB.parser()(rayjob())
    assert (job.key, job.name, job.job_type) == ("4f1c", "train", "RayJob")
    assert (job.status, job.phase) == ("RUNNING", Phase.RUNNING)
    assert job.extra_labels == (("queue", "gpu"),)  # an empty label value is left out


@pytest.mark.parametrize(
    ("job_status", "deployment", "status", "phase"),
    [
        ("", "Failed", "Failed", Phase.FAILED),
        ("FAILED", "Complete", "FAILED", Phase.FAILED),
        ("", "Initializing", "Initializing", Phase.PENDING),
        ("SUCCEEDED", "Complete", "SUCCEEDED", Phase.SUCCEEDED),
        ("RUNNING", "Suspending", "RUNNING", Phase.UNKNOWN),  # a pair the table lacks
        ("", "", "UNKNOWN", Phase.UNKNOWN),
    ],
)
def test_two_status_fields_give_one_phase(
    job_status: str, deployment: str, status: str, phase: Phase
) -> None:
    job = RAYJOB.parser()(rayjob(job_status, deployment))
    assert (job.status, job.phase) == (status, phase)


def test_a_phase_function_of_the_status_and_a_value_field() -> None:
    def finished(status: str, abnormal: int | None) -> Phase:
        if status != "FINISHED":
            return Phase.UNKNOWN
        return Phase.FAILED if abnormal else Phase.SUCCEEDED

    fields = FieldMap(
        id=("id",),
        status=Status("state", finished, upper=True, uses=("abnormal_nodes",)),
        values={"abnormal_nodes": Value("bad", number, minimum=0, integer=True)},
        times={"end": Value("updated", parse_epoch, terminal_only=True)},
        reason=Reason(fixed="abnormal_nodes"),
        extras=Extras((ExtraValue("abnormal_nodes"),)),
    )
    parse = fields.parser()
    failed = parse({"id": 1, "state": "finished", "bad": "2.0", "updated": 1755484077})
    assert (failed.status, failed.phase, failed.values) == ("FINISHED", Phase.FAILED, (2,))
    assert (failed.reason, failed.end_time) == ("abnormal_nodes", 1755484077.0)
    unknown = parse({"id": 1, "state": "busy", "bad": -1, "updated": 1755484077})
    assert (unknown.phase, unknown.values, unknown.end_time) == (Phase.UNKNOWN, (None,), None)


def test_values_land_in_the_declared_order_and_one_not_mapped_is_unset() -> None:
    fields = FieldMap(
        id=("id",),
        status=Status("s", {}),
        values={"gpus": Value("g", number), "nodes": Value("n", number)},
        extras=Extras((ExtraValue("nodes"), ExtraValue("queue_hours"), ExtraValue("gpus"))),
    )
    assert fields.parser()({"id": 1, "g": 8, "n": "2"}).values == (2.0, None, 8.0)
    assert FieldMap(id=("id",), status=Status("s", {})).parser()({"id": 1}).values == ()


def test_the_first_non_empty_id_wins_and_no_id_skips_the_item() -> None:
    parse = RAYJOB.parser()
    item = rayjob()
    item["metadata"]["uid"] = ""
    item["status"]["jobId"] = 42
    assert parse(item).key == "42"
    del item["status"]["jobId"]
    assert parse(item) is None


def test_name_falls_back_to_the_id() -> None:
    item = rayjob()
    item["metadata"]["name"] = None
    assert RAYJOB.parser()(item).name == "4f1c"


def test_rfc3339_and_epoch_millisecond_times() -> None:
    item = rayjob(startTime=1767323046500, endTime="2026-01-02T04:04:05.25+01:00")
    job = RAYJOB.parser()(item)
    assert job.submit_time == 1767323045.0  # 2026-01-02T03:04:05Z
    assert job.run == job.submit_time
    assert job.start_time == 1767323046.5
    assert job.end_time == 1767323045.25
    item["metadata"]["creationTimestamp"] = "2026-01-02T03:04:05"  # no offset: unset
    assert RAYJOB.parser()(item).submit_time is None


@pytest.mark.parametrize(
    ("cpu", "read"), [("1500m", 1.5), ("2", 2.0), ("1k", 1000.0), ("-1", None), ("2M", None)]
)
def test_quantities_within_bounds(cpu: str, read: float | None) -> None:
    item = rayjob()
    item["spec"]["cpu"] = cpu
    assert RAYJOB.parser()(item).values == (read,)


def test_attribution_reads_named_and_keyed_sources() -> None:
    sources = ("metadata.labels.team", "spec.entrypoint", "metadata.labels.app.kubernetes.io/name")
    job = RAYJOB.parser(sources)(rayjob())
    assert job.attribution == ("vision", "python train.py", "trainer")
    assert RAYJOB.source_fields.fields == ("spec.entrypoint",)


@pytest.mark.parametrize("source", ["spec.runtimeEnvYAML", "spec.runtimeEnvYAML.x", "spec.queue"])
def test_a_secret_or_unoffered_source_is_never_read(source: str) -> None:
    with pytest.raises(ValueError, match=source):
        RAYJOB.parser((source,))


@pytest.mark.parametrize(
    ("job_status", "reason", "expected"),
    [
        ("FAILED", "AppFailed", "AppFailed"),
        ("FAILED", "OOMKilled", "other"),
        ("FAILED", None, ""),
        ("RUNNING", "AppFailed", ""),  # only a failed job has a reason
    ],
)
def test_failure_reason_from_a_bounded_vocabulary(
    job_status: str, reason: str | None, expected: str
) -> None:
    deployment = "Complete" if job_status == "FAILED" else "Running"
    assert RAYJOB.parser()(rayjob(job_status, deployment, reason=reason)).reason == expected


def test_reason_is_the_status_by_default() -> None:
    fields = FieldMap(id=("id",), status=Status("s", {"Timeout": Phase.FAILED}), reason=Reason())
    assert fields.parser()({"id": "a", "s": "Timeout"}).reason == "Timeout"


def test_a_typed_record_and_a_dict_give_the_same_job() -> None:
    item = rayjob("", "Failed", startTime="1767323046", reason="DeadlineExceeded")
    item["spec"]["shutdown"] = "true"
    parse = RAYJOB.parser(("metadata.labels.team",))
    from_dict, from_record = parse(item), parse(typed(item))
    assert from_dict == from_record
    assert from_record.extra_labels == (("queue", "gpu"), ("shutdown", "true"))
    assert from_record.reason == "DeadlineExceeded"


def test_label_tuples_are_shared_between_jobs() -> None:
    parse = RAYJOB.parser()
    one, two = rayjob(), rayjob()
    two["metadata"]["uid"] = "5a2d"
    assert parse(one).extra_labels is parse(typed(two)).extra_labels


def test_items_are_read_one_by_one_and_a_bad_one_is_skipped() -> None:
    def strict(status: str) -> Phase:
        if status == "BROKEN":
            raise ValueError("no such status")
        return Phase.RUNNING

    fields = FieldMap(id=("id",), status=Status("status", strict))
    items = [
        {"id": "a", "status": "ok"},
        "garbage",
        {"id": "b", "status": "BROKEN"},  # the parser raises: this item alone is skipped
        {"status": "ok"},  # no id
        {"id": "c", "nested": {"deep": [1]}},
    ]
    jobs, skipped = read_items(fields.parser(), items)
    assert [job.key for job in jobs] == ["a", "c"]
    assert skipped == 3


def test_a_step_through_a_non_record_reads_as_unset() -> None:
    item = rayjob()
    item["metadata"] = ["not", "an", "object"]
    item["status"]["jobId"] = "j"
    job = RAYJOB.parser(("metadata.labels.team",))(item)
    assert (job.key, job.name, job.submit_time, job.attribution) == ("j", "j", None, ("",))


def test_job_type_from_a_path_with_a_default_and_a_bound() -> None:
    fields = FieldMap(
        id=("id",), status=Status("s", {}), job_type=Value("kind", word, default="OTHER")
    )
    assert fields.parser()({"id": 1}).job_type == "OTHER"
    assert fields.parser(job_type=str.lower)({"id": 1, "kind": "Train"}).job_type == "train"


@pytest.mark.parametrize(
    "broken",
    [
        {"times": {"finish": Value("t", parse_epoch)}},
        {"run": "start"},
        {"values": {"key": Value("k")}},
        {"values": {"no_such_attribute": Value("k")}},
        {"status": Status("s", {}, uses=("cu_hours",))},
        {"attribution": {"env.token": text}, "secret": ("env",)},
        {"id": ()},
    ],
)
def test_a_map_that_cannot_be_applied_is_refused(broken: dict) -> None:
    with pytest.raises(ValueError, match="field map"):
        FieldMap(**{"id": ("id",), "status": Status("s", {}), **broken})
