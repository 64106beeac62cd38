"""Listings that cannot lose a job: pages that move, ties, partial answers, other clocks."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator

from exporter.app import Exporter
from exporter.config.parse import parse_config
from exporter.ledger.job_ledger import JobLedger
from exporter.polling.poller import TargetPoller
from exporter.simulators.emr_serverless import EmrServerlessSimulator
from exporter.simulators.modelarts_lite import ModelArtsLiteSimulator
from exporter.simulators.ray import RaySimulator

from .helpers import on_clock

T0 = float(int(time.time()))


@contextlib.contextmanager
def polling(target: dict, now: list[float]) -> Iterator[TargetPoller]:
    exporter = Exporter(parse_config({"targets": [target]}))
    poller = exporter.pollers[0]
    on_clock(poller, lambda: now[0])
    try:
        yield poller
    finally:
        exporter.close()


def emr_target(sim: EmrServerlessSimulator) -> dict:
    return sim.target_config("emr", resources=["jobs"], requests_per_second=1000)


def jobs(poller: TargetPoller) -> JobLedger:
    return poller.counted["jobs"].ledger


def listed(poller: TargetPoller) -> set[str]:
    return set(jobs(poller).tracked)


def windows(sim: EmrServerlessSimulator) -> list[dict]:
    return [
        json.loads(query["submitTime"])
        for action, query in sim.requests
        if action == "ListRayJob" and "submitTime" in query
    ]


def finished(poller: TargetPoller) -> int:
    return sum(jobs(poller).finished.values())


def test_emr_job_deleted_between_pages_costs_no_other_job() -> None:
    now = [T0]
    with EmrServerlessSimulator(clock=lambda: now[0]) as sim:
        keys = [
            sim.add_job(f"rj-{i:04d}", status="Succeeded", submit_time=T0 - 3600 + i)
            for i in range(250)
        ]
        sim.delete_between_pages([keys[200]])  # on page 1: the rest moves up one place
        with polling(emr_target(sim), now) as poller:
            assert poller.poll("jobs")
            assert listed(poller) >= set(keys) - {keys[200]}
            assert poller.health["jobs"].incomplete is False


def test_emr_ties_in_any_order_are_all_read() -> None:
    now = [T0]
    with EmrServerlessSimulator(clock=lambda: now[0], seed=7) as sim:
        sim.shuffle_ties = True
        keys = [
            sim.add_job(f"rj-{i:04d}", status="Succeeded", submit_time=T0 - 60) for i in range(250)
        ]
        keys += [
            sim.add_job(f"rj-new-{i}", status="Succeeded", submit_time=T0 - i) for i in range(30)
        ]
        with polling(emr_target(sim), now) as poller:
            assert poller.poll("jobs")
            assert listed(poller) == set(keys)
            assert poller.health["jobs"].incomplete is False


def test_emr_empty_first_answer_is_walked_again_and_counts_no_old_job() -> None:
    now = [T0]
    with EmrServerlessSimulator(clock=lambda: now[0]) as sim:
        for i in range(300):
            sim.add_job(f"rj-{i:04d}", status="Succeeded", submit_time=T0 - 86400 + i)
        sim.empty_answers(1)
        with polling(emr_target(sim), now) as poller:
            assert poller.poll("jobs")  # the baseline: empty
            now[0] += 30
            assert poller.poll("jobs")  # an empty walk is taken again: the old jobs come
            assert len(listed(poller)) == 300 and not windows(sim)
            now[0] += 30
            assert poller.poll("jobs")
            starts = {window["startTime"] for window in windows(sim)}
            assert starts == {(T0 - 86400 + 299 - 600) * 1000}
            assert finished(poller) == 0 and jobs(poller).submitted[()] == 0  # all ended before


def test_emr_cloud_clock_ahead_and_late_listing_hide_no_job() -> None:
    now = [T0]
    with EmrServerlessSimulator(clock=lambda: now[0]) as sim:
        sim.clock_skew = 720.0  # the cloud's clock 12 minutes ahead of ours
        sim.add_job("rj-old", status="Running")
        with polling(emr_target(sim), now) as poller:
            assert poller.poll("jobs")
            now[0] += 30
            sim.add_job("rj-new", status="Running")  # submitted on the cloud's clock
            late = sim.add_job("rj-late", status="Submitted", visible_delay=500)
            assert poller.poll("jobs")
            assert "rj-new" in listed(poller) and late not in listed(poller)
            now[0] += 500
            sim.set_job(late, status="Succeeded")
            assert poller.poll("jobs")
            assert late in listed(poller)
            assert (jobs(poller).submitted[()], finished(poller)) == (2, 1)
            assert all(w["endTime"] > (now[0] + 720) * 1000 for w in windows(sim))


def test_emr_lookback_grows_after_a_job_listed_late(caplog) -> None:
    """A job listed 20 minutes after its submitTime, while newer jobs move the window on, is
    found by the next full walk; from then on the window looks back far enough to find the
    next such job at the first poll after it is listed."""
    now = [T0]
    with EmrServerlessSimulator(clock=lambda: now[0]) as sim:
        sim.add_job("rj-old", status="Succeeded", submit_time=T0 - 60)
        target = emr_target(sim) | {"poll_interval": "30s", "full_list_interval": "1h"}

        def walks() -> int:
            return sum(
                1
                for action, query in sim.requests
                if action == "ListRayJob"
                and str(query.get("pageNum")) == "1"
                and not {"submitTime", "submissionId"} & set(query)
            )

        with polling(target, now) as poller:
            assert poller.poll("jobs")
            walks_before = walks()

            def poll_until_listed(key: str, visible_at: float) -> float:
                """Poll every 30 s while a new job is submitted each minute; when was ``key``
                first listed."""
                for step in range(240):
                    now[0] += 30
                    if step % 2 == 0:
                        sim.add_job(f"rj-stream-{now[0]:.0f}", status="Succeeded")
                    assert poller.poll("jobs")
                    if key in listed(poller):
                        return now[0] - visible_at
                raise AssertionError(f"{key} never listed")

            first = sim.add_job("rj-late-1", status="Running", visible_delay=1200)
            waited = poll_until_listed(first, now[0] + 1200)
            assert walks() == walks_before + 1  # found by the next full walk, not by a window
            assert waited > 30
            assert "listed more than 600s after their submitTime" in caplog.text

            second = sim.add_job("rj-late-2", status="Running", visible_delay=1200)
            assert poll_until_listed(second, now[0] + 1200) <= 30  # the first poll after
            assert jobs(poller).submitted[()] >= 2 + 40


def test_modelarts_partial_list_keeps_an_old_active_job_and_counts_it() -> None:
    now = [T0]
    with ModelArtsLiteSimulator(page_limit=3, clock=lambda: now[0]) as sim:
        old = sim.add_job(create_at=T0 - 7200)  # PROCESSING, beyond the answered part
        for i in range(5):
            sim.add_job(status="FINISHED", create_at=T0 - 60 + i)
        target = sim.target_config("ma", resources=["jobs"], requests_per_second=1000)
        with polling(target, now) as poller:
            assert poller.poll("jobs")
            assert old in listed(poller)
            now[0] += 30
            sim.set_job(old, status="FINISHED")
            assert poller.poll("jobs")
            assert (finished(poller), jobs(poller).submitted[()]) == (1, 0)


def test_ray_ids_reused_after_a_head_restart_are_new_jobs() -> None:
    now = [T0]
    with RaySimulator(clock=lambda: now[0]) as sim:
        sim.add_job(type="DRIVER", status="SUCCEEDED")
        sim.add_job("my-job", status="SUCCEEDED")
        with polling(sim.target_config("ray", resources=["jobs"]), now) as poller:
            assert poller.poll("jobs")
            now[0] += 120  # a new run: submitted more than RUN_TOLERANCE after the old one
            sim.restart_head()
            assert sim.add_job(type="DRIVER", status="RUNNING") == "02000000"
            sim.add_job("my-job", status="RUNNING")
            assert poller.poll("jobs")
            now[0] += 30
            sim.set_status("02000000", "SUCCEEDED")
            sim.set_status("my-job", "FAILED")
            assert poller.poll("jobs")
            assert (jobs(poller).submitted[()], finished(poller)) == (2, 2)


def test_modelarts_restart_follows_unfinished_jobs_a_partial_list_lacks(tmp_path) -> None:
    now = [T0]
    with ModelArtsLiteSimulator(page_limit=3, clock=lambda: now[0]) as sim:
        old = sim.add_job(create_at=T0 - 7200)
        for i in range(5):
            sim.add_job(status="FINISHED", create_at=T0 - 60 + i)
        target = sim.target_config("ma", resources=["jobs"], requests_per_second=1000)
        config = {"state_file": str(tmp_path / "state.json"), "targets": [target]}
        first = Exporter(parse_config(config))
        on_clock(first.pollers[0], lambda: now[0])
        assert first.pollers[0].poll("jobs")
        first.close()
        now[0] += 600
        sim.set_job(old, status="FINISHED")  # while the exporter is down
        second = Exporter(parse_config(config))
        try:
            poller = second.pollers[0]
            on_clock(poller, lambda: now[0])
            assert poller.poll("jobs")
            assert (finished(poller), jobs(poller).submitted[()]) == (1, 0)
        finally:
            second.close()
