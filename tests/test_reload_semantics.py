"""A reload follows the rule of a restart: a target keeps counting while its identity stays (also
removed and added back), starts a new baseline when its identity changes, and a poll begun
under an older configuration never publishes or counts."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from exporter.app import Exporter
from exporter.backends.ray import STATUSES
from exporter.config.parse import Config, parse_config
from exporter.ledger.job_ledger import JobLedger
from exporter.model import status_pairs
from exporter.simulators.ray import RaySimulator
from exporter.store.database import StateFile
from exporter.store.rows import read_state

from .helpers import eventually, exporter_process, samples, value


class GatedRaySimulator(RaySimulator):
    """A Ray simulator whose job list, while ``armed``, signals ``arrived`` and waits for
    ``release``: a poll held in flight for as long as the test wants."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.armed = False
        self.arrived = threading.Event()
        self.release = threading.Event()

    def answer(self, method: str, target: str, headers: Message, body: bytes):
        if self.armed and target.startswith("/api/jobs/"):
            self.armed = False
            self.arrived.set()
            self.release.wait(30)
        return super().answer(method, target, headers, body)


class Reloadable:
    """An in-process exporter whose configuration the test swaps and reloads."""

    def __init__(self, targets: list[dict], state_file: Path | None = None) -> None:
        self.state_file = state_file
        self.current = self._config(targets)
        self.exporter = Exporter(self.current, lambda: self.current)

    def _config(self, targets: list[dict]) -> Config:
        data: dict[str, Any] = {"targets": targets}
        if self.state_file is not None:
            data["state_file"] = str(self.state_file)
        return parse_config(data)

    def reload(self, targets: list[dict]) -> str:
        self.current = self._config(targets)
        ok, summary = self.exporter.reload()
        assert ok, summary
        return summary

    def poller(self, name: str):
        return next(p for p in self.exporter.pollers if p.target.name == name)

    def body(self) -> bytes:
        return self.exporter.exposition.body()


@contextmanager
def reloadable(targets: list[dict], state_file: Path | None = None) -> Iterator[Reloadable]:
    exporter = Reloadable(targets, state_file)
    try:
        yield exporter
    finally:
        exporter.exporter.close()


def finished(body: bytes, target: str) -> float:
    return value(body, "jobfleet_jobs_finished_total", target=target)


def test_a_poll_in_flight_when_its_target_is_removed_never_publishes(tmp_path: Path) -> None:
    with GatedRaySimulator() as gated, RaySimulator() as other:
        gated.add_job("a", status="RUNNING")
        both = [gated.target_config("gone", resources=["jobs"]), other.target_config("stays")]
        with reloadable(both, tmp_path / "state.json") as exporter:
            for _ in range(50):
                exporter.reload(both)
                poller = exporter.poller("gone")
                assert b'target="gone"' in exporter.body()
                gated.arrived.clear()
                gated.release.clear()
                gated.armed = True
                poll = threading.Thread(target=poller.poll, args=("jobs",))
                poll.start()
                assert gated.arrived.wait(10), "the poll never reached the simulator"
                exporter.reload(both[1:])  # removes "gone" while its poll is in flight
                assert b'target="gone"' not in exporter.body()
                gated.release.set()
                poll.join(10)
                assert not poll.is_alive()
                assert b'target="gone"' not in exporter.body()
                assert poller.retired


def test_a_removed_target_added_back_continues_counting(tmp_path: Path) -> None:
    for state_file in (None, tmp_path / "state.json"):
        with RaySimulator() as sim, RaySimulator() as other:
            for key in ("a", "b", "c"):
                sim.add_job(key, status="RUNNING")
            sim.add_job("old", status="SUCCEEDED")  # before the baseline: never counted
            targets = [sim.target_config("t"), other.target_config("o")]
            with reloadable(targets, state_file) as exporter:
                assert exporter.exporter.poll_all_once()
                sim.set_status("a", "SUCCEEDED")
                assert exporter.exporter.poll_all_once()
                assert finished(exporter.body(), "t") == 1

                exporter.reload(targets[1:])
                assert b'target="t"' not in exporter.body()
                sim.set_status("b", "FAILED")  # while the target is absent
                sim.add_job("d", status="STOPPED")  # born and ended while absent

                summary = exporter.reload(targets)
                assert "1 new or changed" in summary
                assert finished(exporter.body(), "t") == 1  # the memory, before any poll
                assert exporter.exporter.poll_all_once() and exporter.exporter.poll_all_once()
                body = exporter.body()
                assert finished(body, "t") == 3, state_file
                assert value(body, "jobfleet_jobs_submitted_total", target="t") == 1  # "d"


@pytest.mark.parametrize("how", ["reload", "restart"])
def test_repointing_a_target_starts_a_new_baseline(tmp_path: Path, how: str) -> None:
    state = tmp_path / "state.json"
    with RaySimulator() as first, RaySimulator(seed=5) as second:
        first.add_job("a", status="RUNNING")
        for i in range(5):  # the new endpoint's history
            second.add_job(f"history-{i}", status="SUCCEEDED")
        second.add_job("b", status="RUNNING")
        with reloadable([first.target_config("t")], state) as exporter:
            assert exporter.exporter.poll_all_once()
            first.set_status("a", "FAILED")
            assert exporter.exporter.poll_all_once()
            assert finished(exporter.body(), "t") == 1
            if how == "reload":
                exporter.reload([second.target_config("t")])
                current = exporter.exporter
            else:
                exporter.exporter.close()
                config = parse_config(
                    {"state_file": str(state), "targets": [second.target_config("t")]}
                )
                current = Exporter(config)
            assert b"jobfleet_jobs_finished_total" not in current.exposition.body()
            assert current.poll_all_once()
            assert finished(current.exposition.body(), "t") == 0  # no history counted
            second.set_status("b", "SUCCEEDED")
            assert current.poll_all_once()
            assert finished(current.exposition.body(), "t") == 1
            current.close()
    saved = read_state(state)["targets"]["t"]
    assert saved["identity"] == current.pollers[0].counted["jobs"].identity


def test_changing_only_how_a_target_is_polled_keeps_its_counts() -> None:
    with RaySimulator() as sim:
        sim.add_job("a", status="RUNNING")
        with reloadable([sim.target_config("t")]) as exporter:
            assert exporter.exporter.poll_all_once()
            sim.set_status("a", "SUCCEEDED")
            assert exporter.exporter.poll_all_once()
            before = exporter.poller("t")
            exporter.reload([sim.target_config("t", poll_interval="7s", timeout="3s")])
            assert exporter.poller("t") is not before and before.retired
            assert finished(exporter.body(), "t") == 1


def test_absent_entries_are_kept_for_forget_after_then_dropped(tmp_path: Path) -> None:
    now = [1e9]
    path = tmp_path / "state.json"
    state = StateFile(path, clock=lambda: now[0], forget_after=7 * 86400)
    state.load()
    ledger = JobLedger(status_pairs(STATUSES))
    ledger.submitted[()] = 1
    state.save("stays", "id-1", ledger)
    state.keep_absent([("gone", "id-2", {"submitted": 2})])
    state.forget({"stays"})
    state.close()
    now[0] += 6 * 86400  # a restart within the week: the entry is still there
    again = StateFile(path, clock=lambda: now[0], forget_after=7 * 86400)
    again.load()
    again.forget({"stays"})
    assert again.restore("gone", "id-2")["submitted"] == 2
    again.keep_absent([("gone", "id-2", {"submitted": 2})])
    now[0] += 7 * 86400 + 1
    again.forget({"stays"})
    assert again.restore("gone", "id-2") is None
    assert again.restore("stays", "id-1")["submitted"] == 1
    assert again.restore("stays", "another identity") is None  # and dropped
    assert again.restore("stays", "id-1") is None
    again.close()


def test_a_version_1_state_file_is_adopted(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text('{"version": 1, "targets": {"t": {"submitted": 4}}}')
    state = StateFile(path)
    state.load()
    assert state.restore("t", "any identity")["submitted"] == 4
    state.close()


def test_a_reload_that_fails_unexpectedly_is_logged_and_the_exporter_lives(caplog) -> None:
    caplog.set_level(logging.INFO)

    def broken_loader() -> Config:
        raise RuntimeError("token=hunter2 in a message")

    with RaySimulator() as sim:
        exporter = Exporter(parse_config({"targets": [sim.target_config("t")]}), broken_loader)
        stop, reload_requested = threading.Event(), threading.Event()
        ports: list[int] = []
        serving = threading.Thread(
            target=exporter.serve,
            args=("127.0.0.1", 0, stop),
            kwargs={"on_ready": ports.append, "reload_requested": reload_requested},
        )
        serving.start()
        try:
            assert eventually(lambda: ports, timeout=10, step=0.05)
            base = f"http://127.0.0.1:{ports[0]}"
            reload_requested.set()

            def failed() -> bool:
                body = httpx.get(f"{base}/metrics", timeout=5).content
                return value(body, "jobfleet_config_last_reload_successful") == 0

            assert eventually(failed, timeout=10, step=0.05)
            assert serving.is_alive()
            assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
        finally:
            stop.set()
            serving.join(20)
    assert not serving.is_alive()
    assert "configuration reload failed: RuntimeError" in caplog.text
    assert "hunter2" not in caplog.text


@pytest.mark.slow
def test_reload_storm_with_state_file_keeps_the_process_and_exact_counts(tmp_path: Path) -> None:
    """200 reloads while 20 targets poll: replaced, removed and re-added pollers, the state
    file written meanwhile; every counter ends equal to the jobs that finished."""
    config, state = tmp_path / "config.yaml", tmp_path / "state.json"
    with ExitStack() as stack:
        sims = [stack.enter_context(RaySimulator(seed=i)) for i in range(4)]
        running = {
            i: [sim.add_job(f"r{j}", status="RUNNING") for j in range(60)]
            for i, sim in enumerate(sims)
        }
        for sim in sims:
            sim.add_job("history", status="SUCCEEDED")

        def targets(variant: int) -> list[dict]:
            """Variant 0: all 20 targets; then, in turn, a group of 5 removed, or re-timed."""
            chosen = []
            for n in range(20):
                group, settings = n % 4, {"resources": ["jobs"], "poll_interval": "1s"}
                if variant % 2 == 1 and group == (variant // 2) % 4:
                    continue  # removed, to be added back by the next variant
                if variant % 4 == 2 and group == (variant // 4) % 4:
                    settings["timeout"] = "4s"  # changed, same identity: counts carried over
                chosen.append(sims[group].target_config(f"t{n}", **settings))
            return chosen

        def write(variant: int) -> None:
            data = {"state_file": str(state), "targets": targets(variant)}
            config.write_text(yaml.safe_dump(data))

        write(0)
        lifecycle = ("--config.file", str(config), "--web.enable-lifecycle")
        with exporter_process(*lifecycle) as (process, base):

            def scrape() -> dict:
                return samples(httpx.get(f"{base}/metrics", timeout=10).content)

            def baselined() -> bool:
                names = {
                    dict(labels)["target"]
                    for (name, labels) in scrape()
                    if name == "jobfleet_jobs_finished_total"
                }
                return len(names) == 20

            eventually(baselined, timeout=30, step=0.1, what="every target baselined")
            done = [0] * 4
            statuses = ("SUCCEEDED", "FAILED", "STOPPED")
            for reload in range(1, 201):
                group = reload % 4
                sims[group].set_status(running[group].pop(), statuses[reload % 3])
                done[group] += 1
                write(reload % 8)
                answer = httpx.post(f"{base}/-/reload", timeout=30)
                assert answer.status_code == 200, answer.text
                assert process.poll() is None
            write(0)
            assert httpx.post(f"{base}/-/reload", timeout=30).status_code == 200

            def exact() -> bool:
                got = scrape()
                return all(
                    sum(
                        v
                        for (name, labels), v in got.items()
                        if name == "jobfleet_jobs_finished_total"
                        and dict(labels)["target"] == f"t{n}"
                    )
                    == done[n % 4]
                    for n in range(20)
                )

            eventually(exact, timeout=30, what=f"exact counts of {done}")
            assert process.poll() is None
