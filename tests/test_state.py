"""state_file: exactly-once counting across restarts, kill -9 included."""

from __future__ import annotations

import logging
import os
import random
import signal
import threading
import time
from collections import Counter
from pathlib import Path
from typing import ClassVar

import httpx
import pytest
import yaml

from exporter.app import Exporter
from exporter.config.parse import parse_config
from exporter.simulators.emr_serverless import EmrServerlessSimulator
from exporter.simulators.ray import RaySimulator
from exporter.store.rows import read_state

from .helpers import eventually, exporter_process, samples, value

TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")
TEAMS = ("vision", "nlp", "data-eng", "recsys", "search")  # five values for three slots


def test_corrupt_or_missing_state_starts_clean(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO)
    path = tmp_path / "state.json"
    path.write_text('{"version": 1, "targets": {"t": {"baselined": tr')
    with RaySimulator() as sim:
        sim.add_job("a", status="SUCCEEDED")
        config = {"state_file": str(path), "targets": [sim.target_config("t")]}
        exporter = Exporter(parse_config(config))
        assert "is not a state database (neither a database nor JSON)" in caplog.text
        assert exporter.poll_all_once()
        exporter.close()
    assert read_state(path)["targets"]["t"]["counts"]["baselined"] is True  # a new database
    (aside,) = tmp_path.glob("state.json.corrupt-*")
    assert aside.read_text().startswith('{"version": 1')  # kept, never deleted
    path.unlink()
    with RaySimulator() as sim:
        exporter = Exporter(
            parse_config({"state_file": str(path), "targets": [sim.target_config("t")]})
        )
        assert exporter.poll_all_once()
        exporter.close()
    assert "does not exist yet" in caplog.text


def test_jobs_finished_while_down_are_counted_once_after_restart(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with RaySimulator() as sim:
        sim.add_job("old", status="SUCCEEDED")
        sim.add_job("a", status="RUNNING")
        sim.add_job("b", status="RUNNING")
        config = parse_config({"state_file": str(state), "targets": [sim.target_config("t")]})
        first = Exporter(config)
        assert first.poll_all_once()
        sim.set_status("a", "FAILED")
        assert first.poll_all_once()
        first.close()
        sim.set_status("b", "SUCCEEDED")  # while the exporter is down
        sim.add_job("c", status="STOPPED")  # born and ended while down
        second = Exporter(config)
        before = second.exposition.body()
        assert value(before, "jobfleet_jobs_finished_total", status="FAILED") == 1  # restored
        assert second.poll_all_once() and second.poll_all_once()
        second.close()
    body = second.exposition.body()
    assert value(body, "jobfleet_jobs_finished_total", status="FAILED") == 1
    assert value(body, "jobfleet_jobs_finished_total", status="SUCCEEDED") == 1
    assert value(body, "jobfleet_jobs_finished_total", status="STOPPED") == 1
    assert value(body, "jobfleet_job_duration_seconds_count") == 3


def total(body: bytes, family: str) -> float:
    return sum(v for (n, _), v in samples(body).items() if n == family)


class RayWork:
    """Ray jobs: created pending or running, ended in every terminal status; with ``teams``,
    each has a team in its metadata, which the exporter's attribution reads."""

    attribution: ClassVar[dict] = {"labels": {"team": "metadata.team"}, "max_values": 3}
    label = "team"

    def __init__(self, rng: random.Random, teams: bool = False) -> None:
        self.rng, self.sim = rng, RaySimulator(seed=7)
        self.teams = teams
        self.active: list[str] = []
        self.finished = self.created = 0
        self.cu = 0.0
        self.team_of: dict[str, str] = {}
        self.finished_by: Counter[str] = Counter()  # by team, after the baseline

    def _add(self, key: str, status: str) -> str:
        if not self.teams:
            return self.sim.add_job(key, status=status)
        team = self.team_of[key] = self.rng.choice(TEAMS)
        return self.sim.add_job(key, status=status, metadata={"team": team})

    def before_baseline(self) -> None:
        for i in range(100):
            self._add(f"before-{i}", self.rng.choice(TERMINAL))
        self.active = [self._add(f"start-{i}", "RUNNING") for i in range(50)]

    def create(self) -> None:
        status = self.rng.choice(("PENDING", "RUNNING"))
        self.active.append(self._add(f"job-{self.created}", status))

    def end(self, key: str) -> None:
        self.sim.set_status(key, self.rng.choice(TERMINAL))
        self.finished_by[self.team_of.get(key, "")] += 1

    def fault(self) -> None:
        self.sim.fail_next(self.rng.randint(1, 3), status=self.rng.choice((500, 503)))


class EmrWork:
    """EMR jobs whose cuHours grow while they run; throttling now and then; with ``teams``,
    each has one of five creators, which the exporter's attribution reads."""

    attribution: ClassVar[dict] = {"labels": {"user": "creatorName"}, "max_values": 3}
    label = "user"

    def __init__(self, rng: random.Random, teams: bool = False) -> None:
        self.rng, self.sim = rng, EmrServerlessSimulator(seed=7)
        self.teams = teams
        self.active: list[str] = []
        self.finished = self.created = 0
        self.cu = 0.0  # cuHours consumed since the baseline: what jobfleet_cu_seconds_total counts
        self.cu_of: dict[str, float] = {}
        self.team_of: dict[str, str] = {}
        self.finished_by: Counter[str] = Counter()  # by creator, after the baseline

    def _add(self, key: str, status: str, cu_hours: float) -> str:
        if not self.teams:
            return self.sim.add_job(key, status=status, cu_hours=cu_hours)
        team = self.team_of[key] = self.rng.choice(TEAMS)
        return self.sim.add_job(key, status=status, cu_hours=cu_hours, creator_name=team)

    def before_baseline(self) -> None:
        for i in range(100):
            self._add(f"rj-before-{i}", "Succeeded", 2.0)
        for i in range(50):
            key = self._add(f"rj-start-{i}", "Running", 1.0)
            self.active.append(key)
            self.cu_of[key] = 1.0

    def _grow(self, key: str) -> None:
        more = self.rng.choice((0.25, 0.5, 1.0))
        self.cu_of[key] += more
        self.cu += more
        self.sim.set_job(key, cu_hours=self.cu_of[key])

    def create(self) -> None:
        key = self._add(f"rj-{self.created}", "Running", 0.0)
        self.active.append(key)
        self.cu_of[key] = 0.0
        for running in self.rng.sample(self.active, min(5, len(self.active))):
            self._grow(running)

    def end(self, key: str) -> None:
        self._grow(key)
        status = self.rng.choice(("Succeeded", "Failed", "Cancelled", "Timeout"))
        self.sim.set_job(key, status=status)
        self.finished_by[self.team_of.get(key, "")] += 1

    def fault(self) -> None:
        self.sim.throttle_next(1, retry_after_ms=self.rng.choice((50, 200)))


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("teams", [False, True], ids=["plain", "attributed"])
@pytest.mark.parametrize("work_class", [RayWork, EmrWork], ids=["ray", "emr_serverless"])
def test_soak_2000_jobs_five_kill_9_restarts(tmp_path: Path, work_class, teams: bool) -> None:
    """With ``teams``, the jobs are also counted by an attribution label whose five values
    share three slots: every series only grows across the restarts (a value never changes
    slot), and each value's count is exact."""
    rng = random.Random(7)
    work = work_class(rng, teams)
    state, config_path = tmp_path / "state.json", tmp_path / "config.yaml"
    families = ("jobfleet_jobs_finished_total", "jobfleet_cu_seconds_total")
    with work.sim as sim:
        work.before_baseline()
        target = sim.target_config(
            "soak", resources=["jobs"], poll_interval="300ms", timeout="5s", per_job_series="none"
        )
        if teams:
            target["attribution"] = work.attribution
        config_path.write_text(yaml.safe_dump({"state_file": str(state), "targets": [target]}))
        observed = {family: {"increase": 0.0, "last": None, "resets": 0} for family in families}
        by_series: dict[frozenset, float] = {}  # the finished counters, series by series
        series_resets: list[frozenset] = []
        current: dict[str, str] = {}
        stop_sampling = threading.Event()

        def take_sample() -> bool:
            """One scrape, folded into what Prometheus' increase() would see."""
            try:
                body = httpx.get(current["url"] + "/metrics", timeout=2).content
            except (httpx.HTTPError, KeyError):
                return False
            for labels, number in samples(body).items():
                if labels[0] == "jobfleet_jobs_finished_total":
                    if number < by_series.get(labels[1], 0.0):
                        series_resets.append(labels[1])
                    by_series[labels[1]] = number
            for family, seen in observed.items():
                now, last = total(body, family), seen["last"]
                if last is not None:
                    if now >= last:
                        seen["increase"] += now - last
                    else:
                        seen["resets"] += 1
                        seen["increase"] += now
                seen["last"] = now
            return True

        def sample() -> None:  # scraping every 0.1 s, as Prometheus would
            while not stop_sampling.wait(0.1):
                take_sample()

        def settled() -> bool:
            finished = observed["jobfleet_jobs_finished_total"]["last"]
            cu = observed["jobfleet_cu_seconds_total"]["last"] or 0.0
            return finished == work.finished and abs(cu - work.cu * 3600) < 1e-6

        sampler = threading.Thread(target=sample, daemon=True)
        for restart in range(6):
            with exporter_process("--config.file", str(config_path)) as (process, base):
                current["url"] = base
                if restart == 0:
                    assert eventually(
                        lambda: (
                            b"jobfleet_jobs_finished_total" in httpx.get(base + "/metrics").content
                        ),
                        timeout=20,
                        step=0.1,
                    ), "no baseline"
                    # The first reading is taken before the workload starts: a reading taken
                    # later could already include finished jobs, which increase() would miss.
                    assert take_sample(), "the baseline scrape failed"
                    assert observed["jobfleet_jobs_finished_total"]["last"] == 0
                    sampler.start()
                # the workload: new jobs, ended jobs, and now and then a failing API
                for _ in range(40 if restart < 5 else 50):
                    for _ in range(8):
                        if work.created < 2000:
                            work.create()
                            work.created += 1
                    rng.shuffle(work.active)
                    for _ in range(min(len(work.active), 8)):
                        work.end(work.active.pop())
                        work.finished += 1
                    if rng.random() < 0.1:
                        work.fault()
                    time.sleep(0.05)  # pacing: the workload moves between polls
                if restart < 5:
                    os.kill(process.pid, signal.SIGKILL)
                    process.wait(timeout=10)
                    continue
                while work.active:
                    work.end(work.active.pop())
                    work.finished += 1
                eventually(settled, timeout=30)
                stop_sampling.set()
                sampler.join(timeout=5)
    assert work.created == 2000
    finished, cu = observed["jobfleet_jobs_finished_total"], observed["jobfleet_cu_seconds_total"]
    assert finished["last"] == finished["increase"] == work.finished == 2050
    assert cu["increase"] == pytest.approx(work.cu * 3600, rel=1e-9, abs=1e-6)
    assert finished["resets"] == cu["resets"] == 0
    assert series_resets == []
    if teams:
        by_value: Counter[str] = Counter()
        for labels, number in by_series.items():
            by_value[dict(labels)[work.label]] += number
        admitted = set(by_value) - {"other"}
        assert len(admitted) == 3 and by_value["other"] > 0, by_value
        assert {value: by_value[value] for value in admitted} == {
            value: work.finished_by[value] for value in admitted
        }
        assert by_value["other"] == sum(
            n for value, n in work.finished_by.items() if value not in admitted
        )
