"""state_file: exactly-once counting across restarts, kill -9 included."""

from __future__ import annotations

import logging
import os
import random
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest
import yaml

from exporter.app import Exporter
from exporter.config import parse_config
from exporter.simulators.ray import RaySimulator

from .helpers import exporter_process, samples, value

TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")


def test_corrupt_or_missing_state_starts_clean(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO)
    path = tmp_path / "state.json"
    path.write_text('{"version": 1, "targets": {"t": {"baselined": tr')
    with RaySimulator() as sim:
        sim.add_job("a", status="SUCCEEDED")
        config = {"state_file": str(path), "targets": [sim.target_config("t")]}
        exporter = Exporter(parse_config(config))
        assert "unusable" in caplog.text
        assert exporter.poll_all_once()
        exporter.close()
    assert path.exists() and '"baselined": true' in path.read_text()  # rewritten whole
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


def finished_total(body: bytes) -> float:
    return sum(v for (n, _), v in samples(body).items() if n == "jobfleet_jobs_finished_total")


@pytest.mark.timeout(240)
def test_soak_2000_jobs_five_kill_9_restarts(tmp_path: Path) -> None:
    rng = random.Random(7)
    state, config_path = tmp_path / "state.json", tmp_path / "config.yaml"
    with RaySimulator(seed=7) as sim:
        for i in range(100):
            sim.add_job(f"before-{i}", status=rng.choice(TERMINAL))
        active = [sim.add_job(f"start-{i}", status="RUNNING") for i in range(50)]
        target = sim.target_config("soak", resources=["jobs"], poll_interval="300ms", timeout="2s")
        config_path.write_text(
            yaml.safe_dump(
                {
                    "state_file": str(state),
                    "defaults": {"per_job_series": "none"},
                    "targets": [target],
                }
            )
        )
        observed = {"increase": 0.0, "last": None, "resets": 0}
        current: dict[str, str] = {}
        stop_sampling = threading.Event()

        def sample() -> None:  # what Prometheus' increase() would see, scraping every 0.1 s
            while not stop_sampling.wait(0.1):
                try:
                    body = httpx.get(current["url"] + "/metrics", timeout=2).content
                    total = finished_total(body)
                except (httpx.HTTPError, KeyError, ValueError, AssertionError):
                    continue
                last = observed["last"]
                if last is not None:
                    if total >= last:
                        observed["increase"] += total - last
                    else:
                        observed["resets"] += 1
                        observed["increase"] += total
                observed["last"] = total

        finished_after_baseline = 0
        created = 0
        sampler = threading.Thread(target=sample, daemon=True)
        for restart in range(6):
            with exporter_process("--config.file", str(config_path)) as (process, base):
                current["url"] = base
                if restart == 0:
                    deadline = time.monotonic() + 20
                    while (
                        b"jobfleet_jobs_finished_total"
                        not in httpx.get(base + "/metrics", timeout=5).content
                    ):
                        assert time.monotonic() < deadline, "no baseline"
                        time.sleep(0.1)
                    sampler.start()
                # drive the workload: new jobs, finished jobs, and now and then a failing API
                for _ in range(40 if restart < 5 else 50):
                    for _ in range(8):
                        if created < 2000:
                            active.append(
                                sim.add_job(
                                    f"job-{created}", status=rng.choice(("PENDING", "RUNNING"))
                                )
                            )
                            created += 1
                    rng.shuffle(active)
                    for _ in range(min(len(active), 8)):
                        sim.set_status(active.pop(), rng.choice(TERMINAL))
                        finished_after_baseline += 1
                    if rng.random() < 0.1:
                        sim.fail_next(rng.randint(1, 3), status=rng.choice((500, 503)))
                    time.sleep(0.05)
                if restart < 5:
                    os.kill(process.pid, signal.SIGKILL)
                    process.wait(timeout=10)
                    continue
                while active:
                    sim.set_status(active.pop(), rng.choice(TERMINAL))
                    finished_after_baseline += 1
                deadline = time.monotonic() + 20
                while observed["last"] != finished_after_baseline and time.monotonic() < deadline:
                    time.sleep(0.2)
                stop_sampling.set()
                sampler.join(timeout=5)
    assert created == 2000
    assert observed["last"] == finished_after_baseline
    assert observed["increase"] == finished_after_baseline
    assert observed["resets"] == 0
