"""Job resources: a backend that lists two kinds of job (its ``jobs``, and ``batches``) and a
snapshot (``pools``), declared by tests (tests/pair_backend.py). Each list of jobs is counted
in a ledger of its own: its own baseline and counts, saved apart in the state file and restored
exactly, its series marked ``resource`` unless it is ``jobs``, polled and failing
independently; a state file saved with one ledger per target loads into ``jobs``."""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml

from exporter.app import Exporter
from exporter.backends import registry
from exporter.backends.kit.extras import Extras, ExtraValue
from exporter.backends.kit.resources import JobResource, SnapshotResource
from exporter.config.parse import load_config, parse_config
from exporter.config.types import ConfigError
from exporter.exposition.declared import families
from exporter.exposition.families import JOB
from exporter.exposition.family import Family
from exporter.store.rows import read_state

from .conformance import run_conformance
from .flows_backend import FLOW_PAIRS, FlowBackend
from .helpers import ROOT, exporter_on_clock, on_clock, polled, samples
from .pair_backend import PAIR, PairServer, PairTarget, render_pools

T0 = 1_800_000_000.0
LEGACY = ROOT / "tests" / "data" / "state" / "flowpair-one-ledger"


@pytest.fixture
def pair() -> Iterator[registry.BackendDeclaration]:
    registry.register(PAIR)
    try:
        yield PAIR
    finally:
        registry.unregister(PAIR)


def of(body: bytes, name: str, resource: str | None, **labels: str) -> float | None:
    """The sum of ``name``'s samples with ``labels`` of job resource ``resource`` (None: of
    ``jobs``, whose samples have no ``resource`` label); None when there is none."""
    found = [
        v
        for (n, ls), v in samples(body).items()
        if n == name and set(labels.items()) <= ls and dict(ls).get("resource") == resource
    ]
    return sum(found) if found else None


COUNTERS = ("jobfleet_jobs_submitted_total", "jobfleet_jobs_finished_total")


def counters(body: bytes) -> dict[tuple[str, frozenset], float]:
    return {(n, ls): v for (n, ls), v in samples(body).items() if n in COUNTERS}


# --- counting ---------------------------------------------------------------------------------


def test_each_list_of_jobs_is_counted_on_its_own_baseline_and_only_another_carries_resource(
    pair: registry.BackendDeclaration,
) -> None:
    now = [T0]
    with PairServer(clock=lambda: now[0]) as api:
        api.submit_job("f-old", running=True)
        api.batches.submit_job("b-old", running=True)
        config = {"targets": [api.target_config("pair", per_job_series="all")]}
        with exporter_on_clock(config, now) as exporter:
            polled(exporter, "jobs", "pools")
            now[0] += 30
            api.submit_job("f-1", running=True)  # after the jobs' baseline: counted
            api.batches.submit_job("b-1", running=True)  # before the batches': not counted
            polled(exporter, "batches")
            now[0] += 30
            api.batches.submit_job("b-2")
            api.batches.end_job("b-1", "failed")
            api.end_job("f-old", "succeeded")
            body = polled(exporter, "jobs", "batches")

    assert of(body, "jobfleet_jobs_submitted_total", None) == 1
    assert of(body, "jobfleet_jobs_submitted_total", "batches") == 1
    assert of(body, "jobfleet_jobs_finished_total", None, status="Passed") == 1
    assert of(body, "jobfleet_jobs_finished_total", "batches", status="Passed") == 0
    assert of(body, "jobfleet_jobs_finished_total", "batches", status="Failed") == 1
    # each list's own status table: Held is a status of batches only, counted from 0
    assert of(body, "jobfleet_jobs", "batches", phase="pending", status="Held") == 0
    assert of(body, "jobfleet_jobs", None, status="Held") is None
    assert of(body, "jobfleet_job_status", "batches", job_id="b-2", status="Queued") == 1
    # every series a ledger renders: of jobs without resource, of batches with it, never mixed
    ledger_families = {name for name, family in families().items() if "resource" in family.optional}
    shown: dict[str | None, set[str]] = {None: set(), "batches": set()}
    for (name, labels), _ in samples(body).items():
        if name.removesuffix("_bucket").removesuffix("_count").removesuffix("_sum") in (
            ledger_families
        ):
            labels = dict(labels)
            shown[labels.get("resource")].add(labels.get("job_id", ""))
    assert shown == {None: {"", "f-old", "f-1"}, "batches": {"", "b-old", "b-1", "b-2"}}
    assert of(body, "jobfleet_flowpair_pools", None, state="ready") == 2
    assert of(body, "jobfleet_target_up", "pools") == 1


def test_restarts_from_the_state_file_keep_each_list_of_jobs_exactly(
    pair: registry.BackendDeclaration, tmp_path: Path
) -> None:
    now, state = [T0], tmp_path / "state.db"
    with PairServer(clock=lambda: now[0]) as api:
        config = {"state_file": str(state), "targets": [api.target_config("pair")]}
        api.submit_job("f-1", running=True)
        api.batches.submit_job("b-1", running=True)
        with exporter_on_clock(config, now) as exporter:
            polled(exporter, "jobs", "batches")
            now[0] += 30
            api.submit_job("f-2", running=True)
            api.batches.submit_job("b-2", running=True)
            api.end_job("f-1", "succeeded")
            api.batches.end_job("b-1", "cancelled")
            before = polled(exporter, "jobs", "batches")
        now[0] += 30
        api.end_job("f-2", "failed")  # while the exporter is down
        api.batches.end_job("b-2", "succeeded")
        with exporter_on_clock(config, now) as exporter:
            restarted = exporter.exposition.body()
            assert exporter.pollers[0].backend.resumed == {"jobs": {"f-2"}, "batches": {"b-2"}}
            after = polled(exporter, "jobs", "batches")

    assert counters(restarted) == counters(before)
    assert of(before, "jobfleet_jobs_submitted_total", "batches") == 1
    assert of(after, "jobfleet_jobs_finished_total", None) == 2
    assert of(after, "jobfleet_jobs_finished_total", None, status="Failed") == 1
    assert of(after, "jobfleet_jobs_finished_total", "batches") == 2
    assert of(after, "jobfleet_jobs_finished_total", "batches", status="Passed") == 1
    assert set(read_state(state)["targets"]) == {"pair", "pair/batches"}
    saves = [n for n, _ in samples(after) if n == "jobfleet_state_last_save_timestamp_seconds"]
    assert len(saves) == 1  # one series per target, however many ledgers it saves


def test_a_state_file_saved_with_one_ledger_per_target_loads_into_jobs(
    pair: registry.BackendDeclaration, tmp_path: Path
) -> None:
    """Saved by the exporter before targets had other lists of jobs (tests/data/README.md)."""
    legacy = json.loads(LEGACY.with_suffix(".json").read_text())
    state = tmp_path / "state.db"
    shutil.copyfile(LEGACY.with_suffix(".db"), state)
    now = [legacy["clock"] + 30]
    with PairServer(clock=lambda: now[0]) as api:
        api.flows, api.used = legacy["flows"], set(legacy["flows"])
        target = api.target_config("pair", resources=["jobs", "batches"])
        with exporter_on_clock({"state_file": str(state), "targets": [target]}, now) as exporter:
            restored = exporter.exposition.body()
            assert exporter.pollers[0].backend.resumed == {"jobs": {"f-3"}}
            polled(exporter, "jobs", "batches")
            now[0] += 30
            api.end_job("f-3", "succeeded")
            api.batches.submit_job("b-1", running=True)
            after = polled(exporter, "jobs", "batches")

    counted = legacy["counted"]
    finished = {
        f"{dict(labels)['phase']}/{dict(labels)['status']}": v
        for (name, labels), v in samples(restored).items()
        if name == "jobfleet_jobs_finished_total" and v
    }
    assert finished == counted["finished_total"]
    assert of(restored, "jobfleet_jobs_submitted_total", None) == counted["submitted_total"]
    assert of(restored, "jobfleet_jobs_submitted_total", "batches") is None  # no baseline yet
    assert of(after, "jobfleet_jobs_finished_total", None, status="Passed") == 2
    assert of(after, "jobfleet_jobs_submitted_total", None) == counted["submitted_total"]
    assert of(after, "jobfleet_jobs_submitted_total", "batches") == 1


def test_a_list_of_jobs_dropped_and_added_back_by_reloads_keeps_its_counts(
    pair: registry.BackendDeclaration, tmp_path: Path
) -> None:
    now, state, path = [T0], tmp_path / "state.db", tmp_path / "config.yaml"
    with PairServer(clock=lambda: now[0]) as api:

        def configure(resources: list[str]) -> None:
            target = api.target_config("pair", resources=resources)
            path.write_text(yaml.safe_dump({"state_file": str(state), "targets": [target]}))

        def reloaded(resources: list[str]) -> Exporter:
            configure(resources)
            assert exporter.reload()[0]
            on_clock(exporter.pollers[0], lambda: now[0])
            return exporter

        configure(["jobs", "batches"])
        exporter = Exporter(load_config(path), lambda: load_config(path))
        try:
            on_clock(exporter.pollers[0], lambda: now[0])
            api.batches.submit_job("b-1", running=True)
            polled(exporter, "jobs", "batches")
            now[0] += 30
            api.submit_job("f-1", running=True)
            api.batches.submit_job("b-2", running=True)
            api.batches.end_job("b-1", "failed")
            before = polled(exporter, "jobs", "batches")
            dropped = polled(reloaded(["jobs"]), "jobs")
            saved = read_state(state)["targets"]
            back = reloaded(["jobs", "batches"]).exposition.body()
            again = polled(exporter, "jobs", "batches")
        finally:
            exporter.close()

    assert of(dropped, "jobfleet_jobs_submitted_total", "batches") is None
    assert of(dropped, "jobfleet_target_up", "batches") is None
    assert of(dropped, "jobfleet_jobs_submitted_total", None) == 1
    assert saved["pair/batches"]["absent_since"] is not None  # forgotten after forget_after
    assert saved["pair"]["absent_since"] is None
    assert counters(back) == counters(before) == counters(again)


def test_a_failing_list_leaves_the_other_counting_and_up(pair: registry.BackendDeclaration) -> None:
    now = [T0]
    with (
        PairServer(clock=lambda: now[0]) as api,
        exporter_on_clock({"targets": [api.target_config("pair")]}, now) as exporter,
    ):
        before = polled(exporter, "jobs", "batches")
        now[0] += 30
        api.submit_job("f-1", running=True)
        api.batches.submit_job("b-1", running=True)
        api.batches.fail_job_lists(1)
        assert not exporter.pollers[0].poll("batches")
        after = polled(exporter, "jobs")

    assert of(after, "jobfleet_target_up", "batches") == 0
    assert of(after, "jobfleet_target_up", "jobs") == 1
    assert of(after, "jobfleet_poll_errors_total", "batches") == 1
    assert of(after, "jobfleet_poll_errors_total", "jobs") == 0
    assert of(after, "jobfleet_jobs_submitted_total", None) == 1
    assert of(after, "jobfleet_jobs_submitted_total", "batches") == 0
    assert of(before, "jobfleet_jobs_submitted_total", "batches") == 0


# --- configuration and declaration ------------------------------------------------------------


def test_an_unknown_resource_is_a_configuration_error_naming_the_valid_ones(
    pair: registry.BackendDeclaration,
) -> None:
    target = {"name": "t", "backend": "flowpair", "url": "http://127.0.0.1:1"}
    with pytest.raises(ConfigError) as refused:
        parse_config({"targets": [{**target, "resources": ["jobs", "queues"]}]})
    assert refused.value.problems == [
        "targets[0].resources[1]: Input should be 'jobs', 'batches' or 'pools'"
    ]
    with pytest.raises(ConfigError) as refused:
        parse_config({"targets": [{**target, "resources": []}]})
    assert refused.value.problems == [
        "targets[0].resources: must name at least one of: jobs, batches, pools"
    ]


def test_attribution_labels_read_a_field_of_every_list_of_jobs_polled(
    pair: registry.BackendDeclaration,
) -> None:
    now, attribution = [T0], {"labels": {"workload": "meta.name"}}
    with PairServer(clock=lambda: now[0]) as api:
        with pytest.raises(ConfigError) as refused:
            parse_config({"targets": [api.target_config("pair", attribution=attribution)]})
        assert refused.value.problems == [
            "targets[0].attribution.labels.workload: this backend offers no attribution fields"
        ]
        target = api.target_config("pair", resources=["batches"], attribution=attribution)
        with exporter_on_clock({"targets": [target]}, now) as exporter:
            polled(exporter, "batches")
            now[0] += 30
            api.batches.submit_job("b-1", running=True, name="nightly")
            body = polled(exporter, "batches")
    assert of(body, "jobfleet_jobs_submitted_total", "batches", workload="nightly") == 1


class _Queues(PairTarget):
    resources: tuple[Literal["jobs", "queues"], ...] = ("jobs",)  # type: ignore[assignment]


class _JobsOnly(PairTarget):
    resources: tuple[Literal["jobs", "batches"], ...] = ("jobs",)  # type: ignore[assignment]


COST = Family("jobfleet_flowpair_batch_cost", "gauge", "Cost of a batch.", JOB)  # no resource
COSTED = JobResource("batches", FLOW_PAIRS, extras=Extras((ExtraValue("cost", gauge=COST),)))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"target": _Queues}, "resources may name 'queues', which it does not declare"),
        ({"target": _JobsOnly}, "resource 'pools' is not one its targets' resources may name"),
        ({"client": FlowBackend}, "FlowBackend has no method list_batches to list a resource"),
        (
            {"resources": (COSTED, PAIR.resources[1])},
            "jobfleet_flowpair_batch_cost is rendered from job resource 'batches': it must "
            "declare the label resource",
        ),
        (
            {"resources": (*PAIR.resources, SnapshotResource("clusters", render_pools))},
            "resource name 'clusters': lower-case letters, digits and _, not jobs or clusters",
        ),
    ],
    ids=["undeclared", "not-nameable", "no-method", "unmarked-family", "shared-name"],
)
def test_a_declaration_of_resources_that_cannot_work_is_refused(
    change: dict[str, Any], message: str
) -> None:
    with pytest.raises(TypeError) as refused:
        registry.register(dataclasses.replace(PAIR, **change))
    assert message in str(refused.value)
    assert "flowpair" not in registry.names()


@pytest.mark.slow
@pytest.mark.parametrize("jitter", [False, True], ids=["exact-times", "jittered-times"])
def test_the_second_list_of_jobs_passes_the_conformance_suite(
    pair: registry.BackendDeclaration, tmp_path: Path, jitter: bool
) -> None:
    run_conformance("flowpair", tmp_path, jitter=jitter, resource="batches")
