"""Every registered backend's simulator keeps the job contract the conformance suite drives
it by (exporter/simulators/base.py), for each of its lists of jobs (``job_resource``): what it
records as shown is what polls were answered."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.backends import registry
from exporter.backends.kit import resources
from exporter.model import Phase
from exporter.simulators.base import OUTCOMES, JobResource

from .conformance import job_resources
from .exactness_harness import T0, Exporting

JOB_RESOURCES = job_resources()
IDS = [f"{backend}-{resource}" for backend, resource in JOB_RESOURCES]


def shown_by_poll(sim: JobResource, exporting: Exporting) -> tuple[bool, dict[str, str]]:
    """Poll once: whether it succeeded, and each job the answers showed, with its status."""
    mark = sim.answers_shown()
    ok = exporting.poll()
    return ok, {key: status for answer in sim.shown_since(mark) for key, status in answer.jobs}


@pytest.mark.parametrize(("backend", "resource"), JOB_RESOURCES, ids=IDS)
def test_the_record_shows_what_polls_were_answered_and_failures_show_nothing(
    backend: str, resource: str, tmp_path: Path
) -> None:
    declared = registry.declaration(backend).resource(resource)
    assert isinstance(declared, resources.JobResource)
    now = [float(T0)]
    with registry.declaration(backend).simulator(backend, clock=lambda: now[0]) as api:
        sim = api.job_resource(resource)
        ended = {outcome: sim.submit_job(f"end-{outcome}", running=True) for outcome in OUTCOMES}
        waiting = sim.submit_job("waiting")
        now[0] += 10
        statuses = {sim.end_job(key, outcome): outcome for outcome, key in ended.items()}
        target = api.target_config(backend, resources=[resource])
        exporting = Exporting(target, tmp_path / "state.json", lambda: now[0], resource)
        exporting.start()
        try:
            ok, shown = shown_by_poll(sim, exporting)
            assert ok
            assert sorted(shown) == sorted([*ended.values(), waiting])
            for outcome, key in ended.items():  # each end shown in a status of its phase
                assert (Phase(outcome), shown[key]) in declared.known_pairs
            assert {shown[key] for key in ended.values()} == set(statuses)
            first = "pending" if sim.HAS_PENDING else "running"
            assert (Phase(first), shown[waiting]) in declared.known_pairs
            sim.fail_job_lists(1)
            now[0] += 30
            assert shown_by_poll(sim, exporting) == (False, {})
            sim.remove_job(ended["failed"])
            now[0] += 600  # past any backoff a throttling answer asked for
            ok, shown = shown_by_poll(sim, exporting)
        finally:
            exporting.stop()
    assert ok
    if sim.ANSWERS_CHANGES:  # a watch: the deletion alone, the job in its last state
        failed = next(status for status, outcome in statuses.items() if outcome == "failed")
        assert shown == {ended["failed"]: failed}
    else:
        assert ended["failed"] not in shown and waiting in shown


@pytest.mark.parametrize(("backend", "resource"), JOB_RESOURCES, ids=IDS)
def test_an_id_comes_back_only_where_the_api_reuses_ids(backend: str, resource: str) -> None:
    with registry.declaration(backend).simulator(backend) as api:
        sim = api.job_resource(resource)
        key = sim.submit_job("once", running=True)
        with pytest.raises(ValueError):
            sim.submit_job(key)  # listed now: taken everywhere
        sim.end_job(key, "succeeded")
        sim.remove_job(key)
        if sim.REUSES_IDS:
            assert sim.submit_job(key) == key
        else:
            with pytest.raises(ValueError):
                sim.submit_job(key)
