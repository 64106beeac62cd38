"""Attribution labels: configured per backend, taken from the simulators' job fields over real
HTTP, bounded with ``other``, kept across a kill -9 restart, counted exactly."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from exporter.app import Exporter
from exporter.backends import ray, registry
from exporter.config.parse import Config, ConfigError, parse_config
from exporter.exposition.text import storable
from exporter.ledger import attribution as attribution_module
from exporter.ledger.attribution import Slots, reserved_labels
from exporter.ledger.job_ledger import JobLedger
from exporter.model import Job, Phase, status_pairs
from exporter.simulators.emr_serverless import EmrServerlessSimulator
from exporter.simulators.modelarts_lite import ModelArtsLiteSimulator
from exporter.simulators.ray import RaySimulator
from exporter.store import ledger_form
from exporter.store.identity import fingerprint

from .conformance import job_resources
from .helpers import (
    eventually,
    exporter_process,
    samples,
    simulated_fleet,
    stop_with_sigterm,
    value,
)
from .test_hostile_answers import RewritingProxy

RAY = {"backend": "ray", "url": "http://127.0.0.1:1", "name": "r"}
T0 = 1_800_000_000.0


def problems(config: dict) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_config(config)
    return err.value.problems


def series(body: bytes, name: str) -> dict[frozenset, float]:
    return {labels: v for (n, labels), v in samples(body).items() if n == name}


def labelled(body: bytes, name: str, label: str) -> dict[str, float]:
    """{label value: sum of the samples of ``name`` with it}."""
    out: dict[str, float] = {}
    for labels, v in series(body, name).items():
        found = dict(labels).get(label, "")
        out[found] = out.get(found, 0) + v
    return out


# --- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["status", "job", "type", "le", "reason", "target", "__team", "1x", "namespace", "pod"]
)
def test_label_names_that_would_collide_or_are_reserved_are_refused(name: str) -> None:
    config = {"defaults": {"attribution": {"labels": {name: "metadata.team"}}}, "targets": [RAY]}
    (line,) = problems(config)
    assert line.startswith("defaults.attribution.labels: ") and name in line


@pytest.mark.slow
def test_the_exporters_own_labels_are_reserved() -> None:
    """Every label name the exporter writes is one an attribution label may not take (the
    fleet runs the demo's attribution, whose labels are the only others)."""
    with simulated_fleet() as (exporter, advance):
        for _ in range(3):
            advance()
        body = exporter.exposition.body()
    used = {name for (_, labels) in samples(body) for name, _ in labels}
    attribution = {
        name
        for backend in registry.names()
        for name in registry.declaration(backend).demo_attribution.get("labels", {})
    }
    assert used - attribution <= reserved_labels()
    assert not attribution & reserved_labels()


@pytest.mark.parametrize(
    ("target", "source", "expected"),
    [
        (RAY, "runtime_env", "can carry secrets"),
        (RAY, "runtime_env.env_vars.TOKEN", "can carry secrets"),
        (RAY, "creatorName", "one of: entrypoint, type, metadata.<key>"),
        (RAY, "metadata.", "not an attribution field"),
    ],
)
def test_source_fields_come_from_the_backends_list(target: dict, source: str, expected: str):
    config = {"targets": [{**target, "attribution": {"labels": {"team": source}}}]}
    (line,) = problems(config)
    assert line.startswith("targets[0].attribution.labels.team: ") and expected in line


def test_emr_refuses_the_token_bearing_url_and_names_inherited_defaults() -> None:
    with EmrServerlessSimulator() as sim, ModelArtsLiteSimulator() as lite:
        emr = sim.target_config("e", attribution={"labels": {"link": "dashboardUrl"}})
        (line,) = problems({"targets": [emr]})
        assert "dashboardUrl can carry secrets" in line and "?token" not in line
        inherited = {
            "defaults": {"attribution": {"labels": {"team": "metadata.team"}}},
            "targets": [RAY, lite.target_config("m")],
        }
        (line,) = problems(inherited)
        assert line.startswith("targets[1].attribution.labels.team: metadata.team is not")
        assert line.endswith("one of: type, name (from defaults.attribution)")
        # a target's own attribution replaces the defaults' whole
        own = lite.target_config("m", attribution={"labels": {"kind": "type"}})
        config = parse_config({**inherited, "targets": [RAY, own]})
        assert [dict(t.attribution.labels) for t in config.targets] == [
            {"team": "metadata.team"},
            {"kind": "type"},
        ]


def test_histogram_labels_must_be_attribution_labels() -> None:
    attribution = {"labels": {"team": "metadata.team"}, "histograms": ["user"]}
    (line,) = problems({"targets": [{**RAY, "attribution": attribution}]})
    assert line == "targets[0].attribution: histograms: user is not in labels"


def test_attribution_settings_are_part_of_the_identity_only_when_set() -> None:
    def identity(attribution: dict | None) -> str:
        target = {**RAY} if attribution is None else {**RAY, "attribution": attribution}
        return fingerprint(parse_config({"targets": [target]}).targets[0])

    assert identity(None) == identity({"labels": {}})  # no labels: the earlier identity
    team = identity({"labels": {"team": "metadata.team"}})
    assert team not in (identity(None), identity({"labels": {"team": "metadata.owner"}}))
    assert team != identity({"labels": {"team": "metadata.team"}, "max_values": 5})
    both = {"team": "metadata.team", "user": "metadata.user"}
    swapped = {"user": "metadata.user", "team": "metadata.team"}
    assert identity({"labels": both}) != identity({"labels": swapped})  # values kept in order


# --- per backend, over HTTP ------------------------------------------------------------------


@pytest.mark.parametrize("flavour", ["ray", "openyuanrong"])
def test_ray_metadata_entrypoint_and_type_become_labels(flavour: str) -> None:
    with RaySimulator(flavour=flavour) as sim:
        labels = {"team": "metadata.team", "program": "entrypoint", "kind": "type"}
        config = parse_config({"targets": [sim.target_config("r", attribution={"labels": labels})]})
        exporter = Exporter(config)
        try:
            assert exporter.poll_all_once()  # the baseline: nothing yet
            # submitted after the baseline's second (openYuanrong's times are whole seconds)
            later = sim.clock() + 2
            sim.add_job("a1", status="RUNNING", metadata={"team": "vision"}, start_time=later)
            sim.add_job(
                "a2",
                status="RUNNING",
                metadata={"team": "nlp"},
                entrypoint="HF_TOKEN=s3cret https_proxy=http://u:p@proxy torchrun train.py",
                start_time=later,
            )
            sim.add_job(
                "a3", status="RUNNING", entrypoint="https://x?token=abc run", start_time=later
            )
            assert exporter.poll_all_once()
            sim.set_status("a1", "SUCCEEDED")
            sim.set_status("a2", "FAILED", error_type="JOB_ENTRYPOINT_COMMAND_ERROR")
            sim.set_status("a3", "FAILED", error_type="SOMETHING_NEW")
            assert exporter.poll_all_once()
            body = exporter.exposition.body()
        finally:
            exporter.close()
    assert b"s3cret" not in body and b"token" not in body
    vision = {"team": "vision", "program": "python", "kind": "SUBMISSION"}
    nlp = {"team": "nlp", "program": "torchrun", "kind": "SUBMISSION"}
    none = {"team": "", "program": "", "kind": "SUBMISSION"}
    assert value(body, "jobfleet_jobs_submitted_total", **vision) == 1
    assert value(body, "jobfleet_jobs_submitted_total", **nlp) == 1
    assert value(body, "jobfleet_jobs_finished_total", phase="succeeded", **vision) == 1
    assert (
        value(
            body,
            "jobfleet_jobs_finished_total",
            phase="failed",
            reason="JOB_ENTRYPOINT_COMMAND_ERROR",
            **nlp,
        )
        == 1
    )
    assert value(body, "jobfleet_jobs_finished_total", reason="other", **none) == 1
    assert value(body, "jobfleet_jobs", phase="succeeded", **vision) == 1
    # every reason of the vocabulary is there from 0, for each combination of values
    assert (
        value(body, "jobfleet_jobs_finished_total", reason="RUNTIME_ENV_SETUP_FAILURE", **vision)
        == 0
    )
    assert value(body, "jobfleet_jobs_finished_total") == 3


ENTRYPOINTS = {
    'API_KEY="sk-live 9f8e7d" python train.py': "python",
    "TOKEN='t0k 3nq7' torchrun x.py": "torchrun",
    "A=1 SECRET=\\ 5ecret python": "python",
    'PASSWORD="never closed python': "",
    'python -c "print(1)"': "python",
}


def test_the_program_of_an_entrypoint_is_never_a_part_of_a_quoted_assignment() -> None:
    """Over HTTP: an assignment whose value is quoted or escaped is one word, as the shell
    reads it; a part of it was taken for the program (a label value showing a secret's end)."""
    attribution = {"labels": {"program": "entrypoint"}}
    with _attributed_ray(attribution) as (sim, exporter):
        later = sim.clock() + 2
        for i, entrypoint in enumerate(ENTRYPOINTS):
            sim.add_job(f"j{i}", status="RUNNING", entrypoint=entrypoint, start_time=later)
        assert exporter.poll_all_once()
        body = exporter.exposition.body()
    assert labelled(body, "jobfleet_jobs_submitted_total", "program") == {
        "python": 3,
        "torchrun": 1,
        "": 1,
    }
    assert not any(part in body for part in (b"9f8e7d", b"3nq7", b"5ecret", b"closed"))


JOB_RESOURCES = job_resources()


@pytest.mark.parametrize(
    ("backend", "resource"), JOB_RESOURCES, ids=[f"{b}-{r}" for b, r in JOB_RESOURCES]
)
def test_every_failure_reason_a_backend_can_give_is_counted_from_zero(
    backend: str, resource: str
) -> None:
    """Each reason a failed job of a status can carry has its series at 0 from the start, so
    ``increase()`` sees its first failure: Ray's ``other`` (an error type it does not know)
    appeared only with its first job. For each list of jobs, from its own vocabulary; on a
    target with labels of its own (KubeRay's ``namespace``), from its first job of a namespace."""
    declaration = registry.declaration(backend).resource(resource)
    with registry.declaration(backend).simulator(backend) as sim:
        sim.job_resource(resource).add_running_job("first")
        target = sim.target_config("t", resources=[resource])
        exporter = Exporter(parse_config({"targets": [target]}))
        try:
            assert exporter.poll_all_once()
            body = exporter.exposition.body()
        finally:
            exporter.close()
    reasons = {
        (dict(labels)["status"], dict(labels).get("reason", ""))
        for (name, labels), _ in samples(body).items()
        if name == "jobfleet_jobs_finished_total"
    }
    for status, vocabulary in declaration.failure_reasons.items():
        assert {(status, reason) for reason in vocabulary} <= reasons, status
    # an error type Ray does not list is "other"
    if backend in ("ray", "openyuanrong") and resource == "jobs":
        assert ("FAILED", "other") in reasons


def test_emr_creator_name_and_queue_become_labels_and_carry_cu() -> None:
    with EmrServerlessSimulator() as sim:
        labels = {"user": "creatorName", "workload": "name", "queue_name": "resourceQueue"}
        target = sim.target_config("e", resources=["jobs"], attribution={"labels": labels})
        exporter = Exporter(parse_config({"targets": [target]}))
        try:
            assert exporter.poll_all_once()
            for key, creator in (("j1", "alice"), ("j2", "bob"), ("j3", "bob")):
                sim.add_job(key, name=f"etl-{key}", creator_name=creator, resource_queue="dev")
            assert exporter.poll_all_once()
            sim.set_job("j1", status="Succeeded", cu_hours=0.5)
            sim.set_job("j2", status="Timeout", cu_hours=0.25)
            sim.set_job("j3", status="Failed", cu_hours=0.25)
            assert exporter.poll_all_once()
            body = exporter.exposition.body()
        finally:
            exporter.close()
    bob = {"user": "bob", "queue_name": "dev"}
    assert value(body, "jobfleet_jobs_submitted_total", user="alice", workload="etl-j1") == 1
    assert value(body, "jobfleet_jobs_finished_total", reason="Timeout", **bob) == 1
    assert value(body, "jobfleet_jobs_finished_total", reason="Failed", **bob) == 1
    assert value(body, "jobfleet_cu_seconds_total", user="alice", resource_queue="dev") == 1800
    assert value(body, "jobfleet_cu_seconds_total", **bob) == 1800
    assert labelled(body, "jobfleet_jobs_submitted_total", "user") == {"alice": 1, "bob": 2}


@pytest.mark.slow
def test_modelarts_type_and_name_become_labels_and_abnormal_nodes_a_reason() -> None:
    with ModelArtsLiteSimulator() as sim:
        labels = {"kind": "type", "workload": "name"}
        exporter = Exporter(
            parse_config({"targets": [sim.target_config("m", attribution={"labels": labels})]})
        )
        try:
            assert exporter.poll_all_once()
            sim.add_job("m1", name="diagnosis", job_type="ASCEND_DIAGNOSIS")
            sim.add_job("m2", name="upgrade", job_type="SOFTWARE_UPGRADE")
            assert exporter.poll_all_once()
            sim.set_job("m1", status="FINISHED", abnormal_count=2)
            sim.set_job("m2", status="FINISHED")
            assert exporter.poll_all_once()
            body = exporter.exposition.body()
        finally:
            exporter.close()
    diagnosis = {"kind": "ASCEND_DIAGNOSIS", "workload": "diagnosis"}
    upgrade = {"kind": "SOFTWARE_UPGRADE", "workload": "upgrade"}
    assert value(body, "jobfleet_jobs_finished_total", reason="abnormal_nodes", **diagnosis) == 1
    assert value(body, "jobfleet_jobs_finished_total", phase="succeeded", **upgrade) == 1
    assert value(body, "jobfleet_jobs_submitted_total", **upgrade) == 1


# --- bounded ---------------------------------------------------------------------------------


def test_values_past_the_cap_are_other_and_counted_once_per_job() -> None:
    attribution = {"labels": {"team": "metadata.team"}, "max_values": 2, "histograms": ["team"]}
    with _attributed_ray(attribution) as (sim, exporter):
        for i, team in enumerate(["a", "b", "c", "d", "a", "c"]):
            sim.add_job(f"j{i}", status="PENDING", metadata={"team": team})
            if i == 1:
                assert exporter.poll_all_once()  # a and b take the two slots
        assert exporter.poll_all_once()
        for i in range(6):
            sim.set_status(f"j{i}", "RUNNING")
        assert exporter.poll_all_once()
        for i in range(6):
            sim.set_status(f"j{i}", "SUCCEEDED")
        assert exporter.poll_all_once() and exporter.poll_all_once()
        body = exporter.exposition.body()
    assert labelled(body, "jobfleet_jobs_finished_total", "team") == {"a": 2, "b": 1, "other": 3}
    assert value(body, "jobfleet_attribution_overflow_total", label="team") == 3  # c, d, c
    # the histograms carry the label: each observation once, under its value
    durations = labelled(body, "jobfleet_job_duration_seconds_count", "team")
    assert durations == {"a": 2, "b": 1, "other": 3}
    waits = labelled(body, "jobfleet_job_queue_wait_seconds_count", "team")
    assert waits == {"a": 2, "b": 1, "other": 3}


def test_a_value_too_long_or_unstorable_is_cleaned_and_stays_distinct() -> None:
    long_a, long_b = "t" * 300 + "a", "t" * 300 + "b"
    attribution = {"labels": {"team": "metadata.team"}}
    with _attributed_ray(attribution) as (sim, exporter):
        for key, team in (("x", long_a), ("y", long_b), ("z", "nul\x00team")):
            sim.add_job(key, status="RUNNING", metadata={"team": team})
        assert exporter.poll_all_once()
        body = exporter.exposition.body()
    teams = labelled(body, "jobfleet_jobs_submitted_total", "team")
    assert len(teams) == 3 and all(len(team) <= 256 and "\x00" not in team for team in teams)


HOSTILE_TEAMS: dict[str, object] = {
    "huge": "h" * 2**20,
    "newline": "a\nb",
    "quote": 'a"b',
    "backslash": "a\\b",
    "nul": "x\x00",
    "collides": "x",  # "x\x00" cleaned
    "number": 12.5,
    "integer": 7,
    "object": {"a": 1},
    "list": [1],
    "null": None,
    "boolean": True,
}


def test_hostile_values_become_distinct_storable_labels_or_empty() -> None:
    """Over HTTP, every kind of value a job's metadata can hold: the exposition stays valid,
    each value at most 256 characters, distinct values distinct, non-text values empty."""
    attribution = {"labels": {"team": "metadata.team"}}
    with _attributed_ray(attribution) as (sim, exporter):
        later = sim.clock() + 2
        for key, team in HOSTILE_TEAMS.items():
            sim.add_job(key, status="RUNNING", metadata={"team": team}, start_time=later)
        assert exporter.poll_all_once()
        body = exporter.exposition.body()
    teams = labelled(body, "jobfleet_jobs_submitted_total", "team")  # parsed by client_python
    assert {"a\nb", 'a"b', "a\\b", "x", "12.5", "7"} <= teams.keys()
    assert teams[""] == 4  # object, list, null, boolean: no text
    assert all(len(team) <= 256 and "\x00" not in team for team in teams)
    assert len(teams) == 9 and sum(teams.values()) == len(HOSTILE_TEAMS)


def test_a_value_that_is_literally_other_takes_no_slot() -> None:
    attribution = {"labels": {"team": "metadata.team"}, "max_values": 2}
    with _attributed_ray(attribution) as (sim, exporter):
        later = sim.clock() + 2
        for key, team in (("j1", "other"), ("j2", "a"), ("j3", "b"), ("j4", "c")):
            sim.add_job(key, status="RUNNING", metadata={"team": team}, start_time=later)
            assert exporter.poll_all_once()  # one value at a time, in this order
        body = exporter.exposition.body()
    assert labelled(body, "jobfleet_jobs_submitted_total", "team") == {"a": 1, "b": 1, "other": 2}
    assert value(body, "jobfleet_attribution_overflow_total", label="team") == 1  # c alone


@pytest.mark.slow
def test_lookups_of_long_values_hold_bounded_memory() -> None:
    """Jobs come and go, each with a new 100 KB value: what the lookups remember stays small
    (it held every value whole: about 95 MiB for these 1,000)."""
    slots = Slots(("team",), 5)
    tracemalloc.start()
    try:
        for i in range(1000):
            raw = (f"{i:06d}" + "v" * 100_000,)
            slots.admit(raw, new_job=True)
            slots.lookup(raw)
            del raw
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert held < 2 * 2**20
    assert slots.overflow == {"team": 995}


@pytest.mark.slow
def test_fifty_thousand_distinct_values_cost_linear_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """A poll listing 50,000 jobs of distinct values over HTTP: the cap holds, the overflow is
    counted once per job, and values are cleaned a bounded number of times per job and label
    (work in proportion to the jobs, not quadratic), at the first poll and the next."""
    jobs, cleaned = 50_000, [0]

    def counted(text: str, *rest: int) -> str:
        cleaned[0] += 1
        return storable(text, *rest)

    monkeypatch.setattr(attribution_module, "storable", counted)
    attribution = {"labels": {"team": "metadata.team"}, "max_values": 50}
    with _attributed_ray(attribution, resources=["jobs"]) as (sim, exporter):
        later = sim.clock() + 2
        for i in range(jobs):
            sim.add_job(f"j{i}", status="RUNNING", metadata={"team": f"t{i}"}, start_time=later)
        per_poll = []
        for _ in range(2):
            cleaned[0] = 0
            assert exporter.poll_all_once()
            per_poll.append(cleaned[0])
        body = exporter.exposition.body()
    assert all(n <= 2 * jobs for n in per_poll), per_poll  # an admit and a lookup per job
    assert len(labelled(body, "jobfleet_jobs_submitted_total", "team")) == 51  # 50 and other
    assert value(body, "jobfleet_attribution_overflow_total", label="team") == jobs - 50


# --- across a kill -9 restart ----------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("backend", registry.names())
def test_slots_and_counts_survive_a_kill_9_restart(tmp_path: Path, backend: str) -> None:
    """Two slots, taken by a and b; after kill -9, with a and b gone from the list, a new
    value c still finds them taken: the slots came from the state file, not from the list.
    The label reads the job's name (the field the demo's ``workload`` label reads)."""
    state, config_path = tmp_path / "state.db", tmp_path / "config.yaml"
    declaration = registry.declaration(backend)
    source = declaration.demo_attribution["labels"]["workload"]
    attribution = {"labels": {"workload": source}, "max_values": 2}
    with declaration.simulator(backend, seed=5) as sim:
        target = sim.target_config(
            "t", resources=["jobs"], poll_interval="200ms", attribution=attribution
        )
        config_path.write_text(yaml.safe_dump({"state_file": str(state), "targets": [target]}))

        def scrape(base: str) -> bytes:
            return httpx.get(base + "/metrics", timeout=5).content

        def finished_by_workload(base: str) -> dict[str, float]:
            return labelled(scrape(base), "jobfleet_jobs_finished_total", "workload")

        with exporter_process("--config.file", str(config_path)) as (process, base):
            assert eventually(lambda: b"jobfleet_poll_last_success" in scrape(base), 20)
            sim.add_running_job("job-a", name="a")
            sim.add_running_job("job-b", name="b")
            assert eventually(lambda: finished_by_workload(base).keys() == {"a", "b"}, 20)
            sim.finish_job("job-a")
            sim.finish_job("job-b")
            assert eventually(lambda: finished_by_workload(base) == {"a": 1, "b": 1}, 20)
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        sim.remove_job("job-a")
        sim.remove_job("job-b")
        sim.add_running_job("job-c", name="c")
        with exporter_process("--config.file", str(config_path)) as (process, base):
            assert eventually(lambda: "other" in finished_by_workload(base), 20)
            sim.finish_job("job-c")
            expected = {"a": 1, "b": 1, "other": 1}
            assert eventually(lambda: finished_by_workload(base) == expected, 20)
            body = scrape(base)
    assert value(body, "jobfleet_attribution_overflow_total", label="workload") == 1


def _no_value_a_job_can_have(counts: dict) -> None:
    counts["attribution"]["values"]["team"].append("x\x00")


def _other_holding_a_slot(counts: dict) -> None:
    counts["attribution"]["values"]["team"].append("other")


def _counts_under_values_holding_no_slot(counts: dict) -> None:
    counts["submitted"] += [[[f"bogus{i}"], 1] for i in range(1000)]


def _histograms_of_another_width(counts: dict) -> None:
    counts["queue_wait"] = [[["a", "b"], wait] for _, wait in counts["queue_wait"]]


@pytest.mark.slow
@pytest.mark.parametrize(
    "corrupt",
    [
        _no_value_a_job_can_have,
        _other_holding_a_slot,
        _counts_under_values_holding_no_slot,
        _histograms_of_another_width,
    ],
)
def test_corrupt_saved_slots_start_the_target_clean(tmp_path: Path, corrupt) -> None:
    """A state file whose slots or labelled counts this configuration could not have written:
    the target says so in the log and starts clean, the exporter runs on, no saved series of
    it is served."""
    state, config_path = tmp_path / "state.db", tmp_path / "config.yaml"
    attribution = {"labels": {"team": "metadata.team"}, "max_values": 3, "histograms": ["team"]}
    with RaySimulator() as sim:
        target = sim.target_config(
            "r", resources=["jobs"], poll_interval="200ms", attribution=attribution
        )
        config_path.write_text(yaml.safe_dump({"state_file": str(state), "targets": [target]}))
        sim.add_job("j", status="RUNNING", metadata={"team": "a"})

        def scrape(base: str) -> bytes:
            return httpx.get(base + "/metrics", timeout=5).content

        with exporter_process("--config.file", str(config_path)) as (process, base):
            assert eventually(lambda: b'team="a"' in scrape(base), 20)
            stop_with_sigterm(process)
        with sqlite3.connect(state) as db:
            (text,) = db.execute("SELECT counts FROM targets WHERE name = 'r'").fetchone()
            counts = json.loads(text)
            corrupt(counts)
            db.execute("UPDATE targets SET counts = ? WHERE name = 'r'", (json.dumps(counts),))
        db.close()
        with exporter_process("--config.file", str(config_path)) as (process, base):
            assert eventually(lambda: b'team="a"' in scrape(base), 20)  # polled afresh
            body = scrape(base)
            log = stop_with_sigterm(process)
    assert b"saved state unusable" in log and b"Traceback" not in log
    assert not {team for team in labelled(body, "jobfleet_jobs_submitted_total", "team")} - {"a"}
    assert value(body, "jobfleet_jobs_submitted_total") == 0  # a new baseline: j was there


def test_a_ledger_restores_its_labelled_counts_and_slots_exactly() -> None:
    def ledger(labels: tuple[str, ...] = ("team", "user")) -> JobLedger:
        return JobLedger(
            status_pairs(ray.STATUSES),
            failure_reasons=ray.FAILURE_REASONS,
            slots=Slots(labels, 2),
            histogram_labels=labels[:1],
        )

    def job(key: str, status: str, team: str, end: float | None = None) -> Job:
        phase = ray.STATUSES[status]
        reason = "RUNTIME_ENV_SETUP_FAILURE" if phase is Phase.FAILED else ""
        return Job(
            key,
            key,
            status,
            phase,
            submit_time=T0 + 1,
            end_time=end,
            attribution=(team, "u"),
            reason=reason,
        )

    first = ledger()
    first.apply([], T0)
    first.apply([job(k, "PENDING", k) for k in "abc"], T0 + 10)
    first.apply([job(k, "RUNNING", k) for k in "abc"], T0 + 20)
    first.apply([job("a", "SUCCEEDED", "a", T0 + 25), job("c", "FAILED", "c", T0 + 26)], T0 + 30)
    saved = json.loads(json.dumps(ledger_form.to_state(first)))
    again = ledger()
    ledger_form.restore(again, saved)
    assert ledger_form.to_state(again) == saved
    assert again.finished[(Phase.FAILED, "FAILED", "RUNTIME_ENV_SETUP_FAILURE", ("other", "u"))]
    assert again.slots.overflow == {"team": 1, "user": 0}
    with pytest.raises(ValueError, match="attribution"):
        ledger_form.restore(
            ledger(("owner",)), saved
        )  # saved for other labels: that target starts clean


def test_a_lookup_follows_the_slots_as_they_fill() -> None:
    slots = Slots(("team",), 1)
    assert slots.lookup(("a",)) == ("other",)  # holds no slot yet
    assert slots.admit(("a",), new_job=True) == ("a",)
    assert slots.lookup(("a",)) == ("a",)  # not the answer remembered before
    assert slots.admit(("b",), new_job=True) == ("other",)
    assert slots.lookup(("b",)) == slots.lookup(("b",)) == ("other",)
    assert (slots.lookup(("",)), slots.overflow) == (("",), {"team": 1})


def test_a_reload_keeps_counting_unless_the_attribution_changes(tmp_path: Path) -> None:
    """Same attribution: the counts go on. Other attribution: a new baseline, the jobs already
    finished are remembered, not counted again under the new labels."""
    with RaySimulator() as sim:
        by_team = {"labels": {"team": "metadata.team"}}
        by_owner = {"labels": {"owner": "metadata.owner"}}
        current = [parse_config({"targets": [sim.target_config("r", attribution=by_team)]})]
        exporter = Exporter(current[0], lambda: current[0])
        try:
            assert exporter.poll_all_once()
            sim.add_job("a", status="RUNNING", metadata={"team": "t1", "owner": "o1"})
            assert exporter.poll_all_once()
            sim.set_status("a", "SUCCEEDED")
            assert exporter.poll_all_once()
            current[0] = parse_config(
                {"targets": [sim.target_config("r", poll_interval="7s", attribution=by_team)]}
            )
            assert exporter.reload()[0]
            sim.add_job("b", status="SUCCEEDED", metadata={"team": "t1", "owner": "o1"})
            assert exporter.poll_all_once()
            kept = exporter.exposition.body()
            current[0] = parse_config({"targets": [sim.target_config("r", attribution=by_owner)]})
            assert exporter.reload()[0]
            assert exporter.poll_all_once()
            sim.add_job("c", status="FAILED", metadata={"team": "t1", "owner": "o1"})
            assert exporter.poll_all_once()
            changed = exporter.exposition.body()
        finally:
            exporter.close()
    assert labelled(kept, "jobfleet_jobs_finished_total", "team") == {"t1": 2}
    assert labelled(changed, "jobfleet_jobs_finished_total", "owner") == {"o1": 1}  # c alone
    assert not [labels for (_, labels) in samples(changed) if "team" in dict(labels)]


def test_a_poll_in_flight_across_an_attribution_reload_publishes_and_saves_nothing(
    tmp_path: Path,
) -> None:
    """A poll whose answer is held while the attribution changes: when it ends, nothing of it
    is published or saved under the old labels; the new labels count from their baseline."""
    arrived, release = threading.Event(), threading.Event()
    holding = [False]

    def held(body: bytes) -> bytes:
        if holding[0]:
            arrived.set()
            assert release.wait(20)
        return body

    with RaySimulator() as sim, RewritingProxy(sim.url, held) as proxy:
        state = tmp_path / "state.db"

        def config(labels: dict) -> Config:
            target = {**sim.target_config("r", resources=["jobs"]), "url": proxy.url}
            target["attribution"] = {"labels": labels}
            return parse_config({"state_file": str(state), "targets": [target]})

        current = [config({"team": "metadata.team"})]
        exporter = Exporter(current[0], lambda: current[0])
        try:
            assert exporter.poll_all_once()
            later = sim.clock() + 2
            sim.add_job(
                "a", status="RUNNING", metadata={"team": "t1", "owner": "o1"}, start_time=later
            )
            assert exporter.poll_all_once()
            old = exporter.pollers[0]
            holding[0] = True
            in_flight = threading.Thread(target=old.poll, args=("jobs",))
            in_flight.start()
            assert arrived.wait(20)
            sim.set_status("a", "SUCCEEDED")  # the held answer still lists a as running
            current[0] = config({"owner": "metadata.owner"})
            assert exporter.reload()[0]
            holding[0] = False
            release.set()
            in_flight.join(20)
            assert not in_flight.is_alive()
            assert exporter.poll_all_once()
            sim.add_job("b", status="FAILED", metadata={"owner": "o1"}, start_time=sim.clock() + 2)
            assert exporter.poll_all_once()
            body = exporter.exposition.body()
            saved = exporter.state.restore("r", fingerprint(current[0].targets[0]))
        finally:
            exporter.close()
    assert not [labels for (_, labels) in samples(body) if "team" in dict(labels)]
    assert labelled(body, "jobfleet_jobs_finished_total", "owner") == {"o1": 1}  # b alone
    assert saved is not None and set(saved["attribution"]["values"]) == {"owner"}


@contextlib.contextmanager
def _attributed_ray(
    attribution: dict, **settings: object
) -> Iterator[tuple[RaySimulator, Exporter]]:
    """A Ray simulator, and an exporter polling it with ``attribution`` past its baseline poll
    (jobs added later count as submitted)."""
    with RaySimulator() as sim:
        target = sim.target_config("r", attribution=attribution, **settings)
        exporter = Exporter(parse_config({"targets": [target]}))
        try:
            assert exporter.poll_all_once()
            yield sim, exporter
        finally:
            exporter.close()
