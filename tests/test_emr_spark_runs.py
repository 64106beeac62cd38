"""EMR Serverless Spark job runs (ListJobRuns) as the ``spark_runs`` job resource: each state's
phase, what a run's fields become, the runs' usage counted, and a poll's requests, against the
simulator."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from exporter.app import Exporter
from exporter.backends.emr_serverless.declaration import SPARK_RUNS
from exporter.backends.emr_serverless.spark_runs import (
    REASON_CAP,
    SparkRunItem,
    SparkRunParser,
    decode_run_page,
)
from exporter.backends.emr_serverless.target import EmrServerlessTarget
from exporter.config.parse import parse_config
from exporter.config.types import ConfigError
from exporter.ledger.job_ledger import JobLedger
from exporter.model import Job, Phase
from exporter.simulators.emr_serverless import EmrServerlessSimulator
from exporter.simulators.emr_serverless.spark_run import MB_PER_CU, STATES
from exporter.store import ledger_form
from exporter.store.identity import fingerprint

from .helpers import exporter_on_clock, on_clock, samples, value
from .helpers import polled as polled_resources

T0 = 1_800_000_000.0
SPARK = "spark_runs"


@contextlib.contextmanager
def exporting(
    sim: EmrServerlessSimulator, now: list[float], *, state: Path | None = None, **settings: Any
) -> Iterator[Exporter]:
    """An exporter of one target polling ``sim`` on the clock ``now`` (its Spark job runs
    alone, unless ``resources`` says otherwise)."""
    settings = {"resources": [SPARK], "requests_per_second": 1000, **settings}
    config: dict[str, Any] = {"targets": [sim.target_config("emr", **settings)]}
    if state is not None:
        config["state_file"] = str(state)
    with exporter_on_clock(config, now) as exporter:
        yield exporter


def polled(exporter: Exporter, *resources: str) -> bytes:
    """Poll ``resources`` (the Spark job runs when none is named); the exposition then."""
    return polled_resources(exporter, *(resources or (SPARK,)))


def run_requests(sim: EmrServerlessSimulator) -> list[dict[str, str]]:
    return [query for action, query in sim.requests if action == "ListJobRuns"]


def spark(body: bytes, name: str, **labels: str) -> float:
    """The sum of the Spark job runs' samples of ``name`` with ``labels``."""
    return value(body, name, resource=SPARK, **labels)


def ray(body: bytes, name: str) -> float:
    """The sum of the Ray jobs' samples of ``name``: those without a ``resource`` label."""
    return sum(
        v
        for (n, labels), v in samples(body).items()
        if n == name and "resource" not in dict(labels)
    )


# --- a run's fields -------------------------------------------------------------------------


def test_each_state_has_its_phase_and_a_failed_cancellation_runs_on() -> None:
    now = [T0]
    with EmrServerlessSimulator(clock=lambda: now[0]) as sim:
        for state in STATES:
            sim.spark_runs.add_run(f"jr-{state}", state=state, submit_time=now[0] - 60)
        with exporting(sim, now, per_job_series="all") as exporter:
            body = polled(exporter)
            now[0] += 100
            held = sim.spark_runs.runs()
    phases = {
        dict(labels)["job_id"]: (dict(labels)["phase"], dict(labels)["status"])
        for (name, labels), _ in samples(body).items()
        if name == "jobfleet_job_status"
    }
    assert phases == {
        "jr-Submitted": ("pending", "Submitted"),
        "jr-Pending": ("pending", "Pending"),
        "jr-Running": ("running", "Running"),
        "jr-Cancelling": ("running", "Cancelling"),
        "jr-CancelFailed": ("running", "CancelFailed"),
        "jr-Success": ("succeeded", "Success"),
        "jr-Failed": ("failed", "Failed"),
        "jr-Cancelled": ("cancelled", "Cancelled"),
    }
    # a run whose cancellation failed holds its resources and uses more: it runs
    usage = {run["jobRunId"]: run["vcoreSeconds"] for run in held}
    assert usage["jr-CancelFailed"] == usage["jr-Running"] > 0 == usage["jr-Cancelled"]
    for status in STATES:  # each known state is counted from 0
        assert spark(body, "jobfleet_jobs", status=status) == 1


def test_tags_type_queue_and_failure_code_become_labels_and_secrets_stay_unread() -> None:
    now = [T0]
    with EmrServerlessSimulator(clock=lambda: now[0]) as sim:
        runs = sim.spark_runs
        attribution = {"labels": {"team": "tags.team", "owner": "creator", "kind": "codeType"}}
        with exporting(sim, now, per_job_series="all", attribution=attribution) as exporter:
            polled(exporter)  # the baseline
            now[0] += 30
            bi = runs.add_run("jr-bi", tags={"team": "bi", "cost": "x"}, code_type="SQL")
            runs.add_run("jr-ml", tags={"team": "ml"}, code_type="SPARK_SUBMIT", queue="dev")
            runs.add_run("jr-none", code_type="PYTHON", creator="2001")
            now[0] += 30
            runs.set_run(bi, "Failed")
            body = polled(exporter)
            ui_tokens = [run["webUI"] for run in runs.runs()]
    submitted = {
        (dict(labels)["team"], dict(labels)["owner"], dict(labels)["kind"]): v
        for (name, labels), v in samples(body).items()
        if name == "jobfleet_jobs_submitted_total" and v
    }
    assert submitted == {
        ("bi", "1509789347011222", "SQL"): 1,
        ("ml", "1509789347011222", "SPARK_SUBMIT"): 1,
        ("", "2001", "PYTHON"): 1,
    }
    # the job type is the vendor's vocabulary of code types; the queue is resourceQueueId
    assert spark(body, "jobfleet_job_info", job_id="jr-ml", job_type="other") == 1
    assert spark(body, "jobfleet_job_info", job_id="jr-bi", job_type="SQL") == 1
    assert spark(body, "jobfleet_job_info", job_id="jr-ml", resource_queue="dev") == 1
    assert spark(body, "jobfleet_jobs_by_type", job_type="PYTHON") == 1
    failed = spark(body, "jobfleet_jobs_finished_total", team="bi", reason="ERR-100000")
    assert failed == 1
    assert all(token.encode() not in body for token in ui_tokens)
    assert b"oss://" not in body and b"driverStdOut" not in body


@pytest.mark.parametrize("source", ["webUI", "log.driverStdOut", "log"])
def test_the_web_ui_and_the_log_paths_can_never_be_labels(source: str) -> None:
    with EmrServerlessSimulator() as sim:
        target = sim.target_config(
            "emr", resources=[SPARK], attribution={"labels": {"leak": source}}
        )
        with pytest.raises(ConfigError, match="can carry secrets"):
            parse_config({"targets": [target]})


def test_labels_of_a_target_polling_both_lists_must_be_fields_of_both() -> None:
    with EmrServerlessSimulator() as sim:
        ray_only = {"labels": {"user": "creatorName"}}
        both = sim.target_config("emr", resources=["jobs", SPARK], attribution=ray_only)
        with pytest.raises(ConfigError, match=r"creatorName.*\(of its spark_runs\)"):
            parse_config({"targets": [both]})
        jobs = sim.target_config("emr", resources=["jobs"], attribution=ray_only)
        exporter = Exporter(parse_config({"targets": [jobs]}))  # its Ray jobs alone: fine
        try:
            assert exporter.poll_all_once()
        finally:
            exporter.close()


def test_a_label_reads_the_field_each_list_names_it_by() -> None:
    """``owner`` is ``creatorName`` of a Ray job and ``creator`` of a Spark run; ``kind`` is a
    field of the runs alone, empty on the Ray jobs' series."""
    now = [T0]
    per_list = {
        "owner": {"jobs": "creatorName", SPARK: "creator"},
        "kind": {SPARK: "codeType"},
        "workload": "name",
    }
    with EmrServerlessSimulator(clock=lambda: now[0]) as sim:
        resources = ["jobs", SPARK]
        attribution = {"labels": per_list}
        with exporting(sim, now, resources=resources, attribution=attribution) as exporter:
            polled(exporter, *resources)  # the baseline
            now[0] += 30
            sim.add_job("rj-1", name="train", creator_name="Alice", submit_time=now[0] - 5)
            sim.spark_runs.add_run("jr-1", name="etl", creator="2001", code_type="SQL")
            body = polled(exporter, *resources)
    submitted = {
        tuple(dict(labels).get(key, "") for key in ("resource", "owner", "kind", "workload")): v
        for (name, labels), v in samples(body).items()
        if name == "jobfleet_jobs_submitted_total" and v
    }
    assert submitted == {("", "Alice", "", "train"): 1, (SPARK, "2001", "SQL", "etl"): 1}
    assert ray(body, "jobfleet_jobs_submitted_total") == 1


def test_a_label_given_per_list_changes_the_identity_of_only_the_lists_it_reads_anew() -> None:
    """The counts of a list go on while the fields its labels read stay the same."""

    def identities(labels: dict[str, Any]) -> tuple[str, str]:
        attribution = {"labels": labels}
        given = sim.target_config("e", resources=["jobs", SPARK], attribution=attribution)
        target = parse_config({"targets": [given]}).targets[0]
        return fingerprint(target, "jobs"), fingerprint(target, SPARK)

    with EmrServerlessSimulator() as sim:
        plain = identities({"team": "name"})
        assert identities({"team": {"jobs": "name", SPARK: "name"}}) == plain
        jobs, runs = identities({"team": {"jobs": "name", SPARK: "creator"}})
    assert jobs == plain[0] and runs != plain[1]


@pytest.mark.parametrize(
    ("labels", "problem"),
    [
        ({"owner": {"clusters": "name"}}, r"labels\.owner\.clusters: not a list of jobs of this "),
        ({"owner": {SPARK: "creatorName"}}, r"labels\.owner\.spark_runs: creatorName is not an "),
        ({"owner": {}}, r"owner: must name a source field, or one per list of jobs"),
        ({"owner": {"Jobs": "name"}}, r"owner\.Jobs: is not the name of a list of jobs"),
        ({"owner": {"jobs": ""}}, r"owner\.jobs: must name a source field"),
    ],
)
def test_a_label_given_per_list_names_lists_and_fields_of_this_backend(
    labels: dict[str, Any], problem: str
) -> None:
    with EmrServerlessSimulator() as sim:
        target = sim.target_config("emr", resources=["jobs", SPARK], attribution={"labels": labels})
        with pytest.raises(ConfigError, match=problem):
            parse_config({"targets": [target]})


def items(*runs: dict[str, Any]) -> list[Any]:
    """The runs as the typed decoder reads them, and as the generic reader does."""
    body = json.dumps({"jobRuns": list(runs), "nextToken": "", "totalCount": len(runs)})
    typed = decode_run_page(body.encode()).jobRuns
    assert all(isinstance(item, SparkRunItem) for item in typed)
    return [*typed, *json.loads(body)["jobRuns"]]


def test_a_failed_runs_reason_is_its_code_and_only_failed_runs_have_one() -> None:
    parse = SparkRunParser()
    codes = [f"ERR-{i:06d}" for i in range(REASON_CAP + 1)]
    failed = [
        {"jobRunId": f"jr-{code}", "state": "Failed", "stateChangeReason": {"code": code}}
        for code in codes
    ]
    assert [parse(item).reason for item in items(*failed)] == codes * 2  # the ledger bounds them
    quiet = {"jobRunId": "jr-1", "state": "Failed", "stateChangeReason": {"code": ""}}
    other = {"jobRunId": "jr-2", "state": "Cancelled", "stateChangeReason": {"code": "E"}}
    assert [parse(item).reason for item in items(quiet, other)] == ["", "", "", ""]


def test_failure_codes_are_bounded_per_target_and_a_restart_admits_no_more() -> None:
    """The first ``REASON_CAP`` codes are the target's reasons, later ones ``other``; the
    codes admitted are read back from the saved counts, so a restart cannot admit others."""

    def failed(code: str, at: float) -> Job:
        return Job(
            f"jr-{code}",
            code,
            "Failed",
            Phase.FAILED,
            submit_time=at - 60,
            end_time=at,
            reason=code,
        )

    def reasons(ledger: JobLedger) -> dict[str, int]:
        return {reason: n for (_, status, reason, _), n in ledger.finished.items() if n}

    def new_ledger() -> JobLedger:
        return JobLedger(
            SPARK_RUNS.known_pairs,
            failure_reasons=SPARK_RUNS.failure_reasons,
            open_reasons=SPARK_RUNS.open_reasons,
        )

    ledger = new_ledger()
    ledger.apply([], T0)  # the baseline
    codes = [f"ERR-{i:03d}" for i in range(REASON_CAP + 5)]
    first = [failed(code, T0 + 10) for code in codes[: REASON_CAP - 2]]
    ledger.apply(first, T0 + 20)
    restarted = new_ledger()
    ledger_form.restore(restarted, json.loads(json.dumps(ledger_form.to_state(ledger))))
    later = [failed(code, T0 + 30) for code in codes[REASON_CAP - 2 :]]
    restarted.apply([*first, *later], T0 + 40)
    assert reasons(restarted) == {**dict.fromkeys(codes[:REASON_CAP], 1), "other": 5}
    restarted.apply([*first, *later, failed(codes[0] + "-again", T0 + 45)], T0 + 50)
    assert reasons(restarted)["other"] == 6


def test_a_tag_is_read_by_its_key_from_the_list_whichever_reader_read_it() -> None:
    parse = SparkRunParser(("tags.team", "tags.env", "name"))
    run = {
        "jobRunId": "jr-1",
        "name": "etl",
        "state": "Running",
        "tags": [{"key": "team", "value": "bi"}, {"key": "team", "value": "ml"}],
    }
    odd = {"jobRunId": "jr-2", "state": "Running", "tags": [{"key": "env", "value": "prod"}, 7]}
    for item in items(run):
        job = parse(item)
        assert (job.attribution, job.phase) == (("ml", "", "etl"), Phase.RUNNING)
    assert parse(odd).attribution == ("", "prod", "")  # an element that is no tag is left out


# --- usage ------------------------------------------------------------------------------------


def test_cu_vcore_and_memory_seconds_are_counted_by_queue_after_the_baseline() -> None:
    now = [T0]
    with EmrServerlessSimulator(clock=lambda: now[0]) as sim:
        runs = sim.spark_runs
        old = runs.add_run("jr-old", submit_time=now[0] - 600, vcores=8, memory_mb=16384)
        runs.set_run(old, "Running")
        sim.add_job("rj-ray", status="Running", cu_hours=1.0, resource_queue="ray-q")
        with exporting(sim, now, resources=["jobs", SPARK], per_job_series="all") as exporter:
            polled(exporter, "jobs", SPARK)  # the baseline: jr-old's use so far is not counted
            now[0] += 60
            new = runs.add_run("jr-new", queue="dev", vcores=2, memory_mb=3 * MB_PER_CU)
            now[0] += 90
            runs.set_run(new, "Success")
            now[0] += 30
            body = polled(exporter, "jobs", SPARK)
    # jr-old ran 180 s since the baseline with 8 vcores and 16 GiB (8 CU); jr-new 90 s with 2
    # vcores and 12 GiB (3 CU)
    assert spark(body, "jobfleet_vcore_seconds_total", resource_queue="root_queue") == 8 * 180
    assert spark(body, "jobfleet_vcore_seconds_total", resource_queue="dev") == 2 * 90
    gib = 2.0**30
    assert spark(body, "jobfleet_memory_byte_seconds_total", resource_queue="dev") == (
        12 * gib * 90
    )
    assert spark(body, "jobfleet_memory_byte_seconds_total", resource_queue="root_queue") == (
        16 * gib * 180
    )
    cu = spark(body, "jobfleet_cu_seconds_total", resource_queue="dev")
    assert cu == pytest.approx(3 * 90, abs=0.01)
    assert spark(body, "jobfleet_job_cu_seconds", job_id="jr-old") == pytest.approx(8 * 180)
    # the Ray jobs' CU stay apart, without a resource label
    ray = [
        labels
        for (name, labels), _ in samples(body).items()
        if name == "jobfleet_cu_seconds_total" and dict(labels)["resource_queue"] == "ray-q"
    ]
    assert ray and all("resource" not in dict(labels) for labels in ray)


# --- requests ---------------------------------------------------------------------------------


def test_spark_runs_are_polled_only_when_named() -> None:
    assert EmrServerlessTarget.model_fields["resources"].default == ("jobs", "clusters")
    now = [T0]
    with EmrServerlessSimulator(clock=lambda: now[0]) as sim:
        sim.spark_runs.add_run("jr-1")
        target = sim.target_config("emr", requests_per_second=1000)
        exporter = Exporter(parse_config({"targets": [target]}))
        on_clock(exporter.pollers[0], lambda: now[0])
        try:
            assert exporter.poll_all_once()
            assert exporter.pollers[0].target.resources == ("jobs", "clusters")
        finally:
            exporter.close()
        assert run_requests(sim) == []


def test_steady_polls_ask_for_recent_runs_and_active_ones_by_id() -> None:
    now = [T0]
    with EmrServerlessSimulator(clock=lambda: now[0]) as sim:
        runs = sim.spark_runs
        lost, ending = (runs.add_run(f"jr-a{i}", submit_time=T0 - 9000 + i) for i in range(2))
        for i in range(350):
            runs.add_run(f"jr-{i:03d}", state="Success", submit_time=T0 - 8000 + 20 * i)
        with exporting(sim, now, full_list_interval="10m") as exporter:
            polled(exporter)
            walk = run_requests(sim)
            sim.requests.clear()
            now[0] += 30
            fresh = runs.add_run("jr-fresh", state="Submitted")
            runs.set_run(ending, "Failed")
            runs.remove_job(lost)
            body = polled(exporter)
            steady = run_requests(sim)
            sim.requests.clear()
            now[0] += 600
            polled(exporter)
            again = run_requests(sim)
    assert walk == [{"maxResults": "100"}] + [
        {"maxResults": "100", "nextToken": query["nextToken"]} for query in walk[1:]
    ]
    assert len(walk) == 4
    newest = T0 - 8000 + 20 * 349
    window = {"endTime": int((T0 + 30 + 86400) * 1000), "startTime": int((newest - 600) * 1000)}
    assert steady == [
        {"maxResults": "100", "startTime": json.dumps(window, separators=(",", ":"))},
        {"maxResults": "100", "jobRunId": "jr-a0"},
        {"maxResults": "100", "jobRunId": "jr-a1"},
    ]
    assert len(again) == 4  # a full walk every full_list_interval
    assert spark(body, "jobfleet_jobs_finished_total", status="Failed") == 1
    assert spark(body, "jobfleet_jobs_submitted_total") == 1
    assert spark(body, "jobfleet_jobs", status="Submitted") == 1 and fresh
    assert spark(body, "jobfleet_jobs", phase="running") == 0  # jr-a0 is gone


def test_a_page_token_refused_mid_walk_begins_the_walk_again() -> None:
    now = [T0]
    with EmrServerlessSimulator(clock=lambda: now[0]) as sim:
        for i in range(250):
            sim.spark_runs.add_run(f"jr-{i:03d}", state="Success", submit_time=T0 - 9000 + i)
        sim.spark_runs.expire_between_pages(1)
        with exporting(sim, now) as exporter:
            body = polled(exporter)
            once = run_requests(sim)
            sim.spark_runs.expire_between_pages(10)  # every later page: the walk gives up
            now[0] += 4000
            again = polled(exporter)
    assert ["nextToken" in query for query in once] == [False, True, False, True, True]
    assert spark(body, "jobfleet_jobs", status="Success") == 250
    assert spark(body, "jobfleet_list_incomplete") == 0
    assert spark(body, "jobfleet_poll_errors_total") == 0
    assert spark(again, "jobfleet_list_incomplete") == 1
    assert spark(again, "jobfleet_poll_errors_total") == 0


def test_spark_filters_go_on_every_request_and_name_the_runs_counts_alone(tmp_path: Path) -> None:
    now = [T0]
    state = tmp_path / "state.db"
    filters = {"resource_queue_id": "dev", "creator": "2001", "name": "nightly run"}
    kept = {"queue": "dev", "creator": "2001", "name": "nightly run"}
    with EmrServerlessSimulator(clock=lambda: now[0]) as sim:
        runs = sim.spark_runs
        runs.add_run("jr-kept", submit_time=T0 - 5000, **kept)
        for i in range(250):
            runs.add_run(f"jr-{i:03d}", state="Success", submit_time=T0 - 4000 + i, **kept)
        runs.add_run("jr-other", queue="dev", creator="2001", name="other")
        both = {"resources": ["jobs", SPARK], "region": "cn-hangzhou"}
        with exporting(sim, now, state=state, **both) as exporter:
            polled(exporter, "jobs", SPARK)
            now[0] += 30
            sim.add_job("rj-1", status="Running")
            runs.add_run("jr-new", **kept)
            first = polled(exporter, "jobs", SPARK)
        sim.requests.clear()
        now[0] += 30
        with exporting(sim, now, state=state, spark_filters=filters, **both) as exporter:
            body = polled(exporter, "jobs", SPARK)
            now[0] += 30
            polled(exporter, SPARK)  # a window, and the run active from before it by id
        sent = run_requests(sim)
    assert spark(first, "jobfleet_jobs_submitted_total") == 1
    assert spark(first, "jobfleet_jobs", status="Running") == 3  # with jr-other
    # another view of the runs: a new baseline for them; the Ray jobs' counts go on
    assert spark(body, "jobfleet_jobs_submitted_total") == 0
    assert ray(body, "jobfleet_jobs_submitted_total") == 1
    assert spark(body, "jobfleet_jobs", status="Running") == 2  # jr-kept and jr-new
    assert spark(body, "jobfleet_jobs", status="Success") == 250
    wanted = {"resourceQueueId": "dev", "creator": "2001", "name": "nightly run"}
    assert all(wanted.items() <= query.items() for query in sent)
    assert all(query["regionId"] == "cn-hangzhou" for query in sent)
    assert [("nextToken" in query, query.get("jobRunId")) for query in sent] == [
        (False, None),
        (True, None),
        (True, None),
        (False, None),
        (False, "jr-kept"),
    ]
