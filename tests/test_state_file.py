"""state_file as hostile input, and as a file two processes could share.

Every corrupted field of a saved target costs that target its saved counts (logged with the
target and the field, never the value) and nothing else: the exporter starts, the other targets
go on from their counts, every poll works, and no counter is negative.
"""

from __future__ import annotations

import copy
import json
import logging
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.app import Exporter
from exporter.backends.ray import STATUSES
from exporter.config.parse import parse_config
from exporter.config.types import ConfigError
from exporter.ledger.job_ledger import JobLedger
from exporter.model import Job, Phase, status_pairs
from exporter.simulators.ray import RaySimulator
from exporter.store import ledger_form
from exporter.store.database import StateFile
from exporter.store.rows import read_state

from .helpers import ROOT, exporter_process, samples, stop_with_sigterm, value

POISON = 987654321  # a value that must never be logged or exported


@pytest.fixture(scope="module")
def simulator() -> Iterator[RaySimulator]:
    with RaySimulator() as sim:
        sim.add_job("old", status="SUCCEEDED")
        sim.add_job("a", status="PENDING")
        sim.add_job("b", status="RUNNING")
        yield sim


def config_for(sim: RaySimulator, state: Path) -> Any:
    targets = [sim.target_config(name, resources=["jobs"]) for name in ("good", "bad")]
    return parse_config({"state_file": str(state), "targets": targets})


@pytest.fixture(scope="module")
def saved(simulator: RaySimulator, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A real state file's content: both targets saw the baseline, then 'b' fail and 'a' start
    (a count, a duration and a queue wait for each)."""
    path = tmp_path_factory.mktemp("saved") / "state.json"
    exporter = Exporter(config_for(simulator, path))
    try:
        assert exporter.poll_all_once()
        simulator.set_status("a", "RUNNING")
        simulator.set_status("b", "FAILED")
        assert exporter.poll_all_once()
    finally:
        exporter.close()
    data = read_state(path)
    assert set(data["targets"]) == {"good", "bad"}
    return data


def _set(path: tuple, new: Any) -> Callable[[dict], None]:
    def mutate(entry: dict) -> None:
        node = entry
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = new

    return mutate


def _known_entry(index: int, new: Any) -> Callable[[dict], None]:
    def mutate(entry: dict) -> None:
        next(iter(entry["known"].values()))[index] = new

    return mutate


def _legacy(cu_seconds: Any) -> Callable[[dict], None]:
    """Counts as saved before usage values were declared: ``cu_seconds`` by queue."""

    def mutate(entry: dict) -> None:
        del entry["usage"], entry["usage_totals"]
        entry["cu_seconds"] = cu_seconds

    return mutate


def _usage_total(total: Any) -> Callable[[dict], None]:
    def mutate(entry: dict) -> None:
        entry["usage"] = ["cu_hours"]
        entry["usage_totals"] = {"cu_hours": [[["q"], [], total]]}

    return mutate


def _finished_entry(index: int, new: Any) -> Callable[[dict], None]:
    def mutate(entry: dict) -> None:
        entry["finished"][0][index] = new

    return mutate


def _drop(key: str) -> Callable[[dict], None]:
    def mutate(entry: dict) -> None:
        del entry[key]

    return mutate


# (mutation of the "bad" target's entry, the field the log must name)
CORRUPTIONS: dict[str, tuple[Callable[[dict], Any], str]] = {
    "entry not an object": (lambda e: [POISON], "(state): must be an object"),
    "entry of unknown keys": (lambda e: e.clear() or e.update({"x": [POISON]}), "finished"),
    "baselined string": (_set(("baselined",), "yes"), "baselined"),
    "baselined missing": (_drop("baselined"), "baselined"),
    "baseline_time string": (_set(("baseline_time",), f"{POISON}"), "baseline_time"),
    "submitted negative": (_set(("submitted",), -POISON), "submitted"),
    "submitted string": (_set(("submitted",), f"{POISON}"), "submitted"),
    "submitted float": (_set(("submitted",), 1.5), "submitted"),
    "submitted bool": (_set(("submitted",), True), "submitted"),
    "finished not a list": (_set(("finished",), {"a": POISON}), "finished"),
    "finished count negative": (_finished_entry(2, -5), "finished[0][2]"),
    "finished count string": (_finished_entry(2, f"{POISON}"), "finished[0][2]"),
    "finished phase unknown": (_finished_entry(0, "running"), "finished[0][0]"),
    "finished status number": (_finished_entry(1, POISON), "finished[0]"),
    "finished entry short": (_set(("finished",), [["failed", POISON]]), "finished[0]"),
    "duration not an object": (_set(("duration",), [POISON]), "duration"),
    "duration phase unknown": (_set(("duration", "pending"), {}), "duration"),
    "histogram buckets string": (_set(("duration", "failed", "buckets"), "x"), "buckets"),
    "histogram bucket negative": (
        _set(("duration", "failed", "buckets"), [-POISON] + [0] * 11),
        "duration.failed.buckets[0]",
    ),
    "histogram count below buckets": (
        _set(("queue_wait", "buckets"), [5] + [0] * 10),
        "queue_wait: more observations in buckets than in count",
    ),
    "histogram total negative": (_set(("queue_wait", "total"), -1.0), "queue_wait.total"),
    "histogram total NaN": (_set(("queue_wait", "total"), float("nan")), "queue_wait.total"),
    "histogram count float": (_set(("queue_wait", "count"), 2.5), "queue_wait.count"),
    "legacy cu_seconds negative": (_legacy({"q": -POISON}), "cu_seconds"),
    "legacy cu_seconds list": (_legacy([POISON]), "cu_seconds[0]"),
    "usage not a list": (_set(("usage",), "cu_hours"), "usage"),
    "usage_totals list": (_set(("usage_totals",), [POISON]), "usage_totals"),
    "usage_totals of a value not saved": (_set(("usage_totals",), {"x": []}), "usage_totals"),
    "usage_totals negative": (_usage_total(-POISON), "usage_totals.cu_hours[0][2]"),
    "usage_totals string": (_usage_total(f"{POISON}"), "usage_totals.cu_hours[0][2]"),
    "known list": (_set(("known",), [POISON]), "known"),
    "known entry short": (lambda e: e["known"].update({"x": [POISON]}), "known"),
    "known last_seen string": (_known_entry(0, f"{POISON}"), "known[0]"),
    "known counted string": (_known_entry(1, "true"), "known[1]"),
    "known finished_at string": (_known_entry(4, f"{POISON}"), "known[4]"),
    "known readings of no usage value": (_known_entry(5, POISON), "known[5]"),
    "known run number": (_known_entry(6, POISON), "known[6]"),
}


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_a_corrupt_target_entry_starts_that_target_clean(
    case: str, saved: dict, simulator: RaySimulator, tmp_path: Path, caplog
) -> None:
    mutate, field = CORRUPTIONS[case]
    data = copy.deepcopy(saved)
    counts = data["targets"]["bad"]["counts"]
    data["targets"]["bad"]["counts"] = mutate(counts) or counts
    path = tmp_path / "state.json"
    path.write_text(json.dumps(data))
    caplog.set_level(logging.INFO)
    exporter = Exporter(config_for(simulator, path))
    try:
        body = exporter.exposition.body()
        assert value(body, "jobfleet_jobs_finished_total", target="good", status="FAILED") == 1
        assert not [
            line for line in caplog.messages if "saved state unusable" in line and "good" in line
        ]
        (logged,) = [line for line in caplog.messages if "saved state unusable" in line]
        assert logged.startswith("target bad: saved state unusable (") and field in logged
        assert str(POISON) not in caplog.text
        assert exporter.poll_all_once()  # polls keep working: no TypeError, ever
        assert exporter.poll_all_once()
        body = exporter.exposition.body()
    finally:
        exporter.close()
    # 'bad' took a new baseline: its counters start from zero, the good ones went on
    assert value(body, "jobfleet_jobs_finished_total", target="bad") == 0
    assert value(body, "jobfleet_jobs_finished_total", target="good", status="FAILED") == 1
    for (name, _labels), number in samples(body).items():
        assert number >= 0 or not name.endswith(("_total", "_count", "_sum", "_bucket")), name
    assert str(POISON) not in body.decode()
    rewritten = read_state(path)["targets"]["bad"]["counts"]
    assert rewritten["baselined"] is True and rewritten["submitted"] >= 0  # usable again


def test_negative_count_is_never_exported(saved: dict, simulator: RaySimulator, tmp_path: Path):
    data = copy.deepcopy(saved)
    for entry in data["targets"].values():
        counts = entry["counts"]
        counts["finished"] = [[*entry[:2], -5, *entry[3:]] for entry in counts["finished"]]
    path = tmp_path / "state.json"
    path.write_text(json.dumps(data))
    exporter = Exporter(config_for(simulator, path))
    try:
        assert exporter.poll_all_once()
        body = exporter.exposition.body()
    finally:
        exporter.close()
    finished = [v for (n, _), v in samples(body).items() if n == "jobfleet_jobs_finished_total"]
    assert finished and set(finished) == {0}  # both targets took a new baseline


@pytest.mark.parametrize(
    "content",
    [b"[" * 100_000, b'{"version": 1, "targets": [1]}', b"\xff\xfe", b"null", b""],
    ids=["deep JSON", "targets a list", "not UTF-8", "null", "empty"],
)
def test_unusable_file_is_set_aside_and_every_target_starts_clean(
    content: bytes, simulator: RaySimulator, tmp_path: Path, caplog
) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(content)
    caplog.set_level(logging.INFO)
    exporter = Exporter(config_for(simulator, path))
    try:
        assert "is not a state database" in caplog.text
        assert exporter.poll_all_once()
    finally:
        exporter.close()
    assert set(read_state(path)["targets"]) == {"good", "bad"}  # a new database
    (aside,) = tmp_path.glob("state.json.corrupt-*")  # the old file, moved, never deleted
    assert aside.read_bytes() == content


def test_leftover_temporary_files_are_removed_at_start(
    simulator: RaySimulator, tmp_path: Path
) -> None:
    path = tmp_path / "state.json"
    leftovers = [tmp_path / ".state.json.k3x_9a0q", tmp_path / ".state.json.abcdefgh"]
    kept = [tmp_path / ".state.json.keep", tmp_path / "other.json", tmp_path / ".other.abcdefgh"]
    for file in leftovers + kept:
        file.write_text("{")
    exporter = Exporter(config_for(simulator, path))
    exporter.close()
    assert not [file for file in leftovers if file.exists()]
    assert all(file.exists() for file in kept)


def test_one_process_per_state_file_in_process(simulator: RaySimulator, tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    first = Exporter(config_for(simulator, path))
    try:
        with pytest.raises(ConfigError) as refused:
            Exporter(config_for(simulator, path))
        assert refused.value.problems == [f"state_file: {path} is in use by another process"]
    finally:
        first.close()
    Exporter(config_for(simulator, path)).close()  # released by close


@pytest.mark.slow
def test_second_process_on_the_same_state_file_exits_2(
    simulator: RaySimulator, tmp_path: Path
) -> None:
    state, config = tmp_path / "state.json", tmp_path / "config.yaml"
    target = simulator.target_config("t", resources=["jobs"], poll_interval="1s")
    config.write_text(yaml.safe_dump({"state_file": str(state), "targets": [target]}))
    with exporter_process("--config.file", str(config)) as (first, _base):
        for extra in ([], ["--once"]):
            second = subprocess.run(
                [sys.executable, "-m", "exporter", "--config.file", str(config), *extra],
                capture_output=True,
                text=True,
                timeout=60,
                cwd=ROOT,
                check=False,
            )
            assert second.returncode == 2, second.stderr
            assert second.stderr.strip().splitlines() == [
                f"config error: state_file: {state} is in use by another process"
            ]
        assert first.poll() is None
        stop_with_sigterm(first)
    # the lock went with the first process: the next one starts
    with exporter_process("--config.file", str(config)) as (third, _base):
        stop_with_sigterm(third)


def test_a_json_state_file_is_migrated_to_the_database_at_start(
    saved: dict, simulator: RaySimulator, tmp_path: Path
) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps(saved))
    exporter = Exporter(config_for(simulator, path))
    try:
        assert path.read_bytes().startswith(b"SQLite format 3\x00")
        assert read_state(path) == saved  # every target, identity and count, as it was
        assert exporter.poll_all_once()
        body = exporter.exposition.body()
    finally:
        exporter.close()
    # both go on from their counts: 'b' failed and was counted before the migration
    for target in ("good", "bad"):
        assert value(body, "jobfleet_jobs_finished_total", target=target, status="FAILED") == 1
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".state.json.")]


def test_a_save_writes_the_counters_and_only_the_jobs_that_changed(tmp_path: Path) -> None:
    ledger = JobLedger(status_pairs(STATUSES))
    running = [
        Job(key=f"j{i}", name="n", status="RUNNING", phase=Phase.RUNNING, submit_time=1.0)
        for i in range(2000)
    ]
    state = StateFile(tmp_path / "state.json")
    state.load()
    try:
        ledger.apply(running, 100.0)
        state.save("t", "id", ledger)
        assert len(read_state(state.path)["targets"]["t"]["counts"]["known"]) == 2000
        before = state._db.total_changes
        ledger.apply(running, 130.0)  # nothing changed: the counters' row alone
        state.save("t", "id", ledger)
        assert state._db.total_changes - before == 1
        done = [
            replace(job, status="SUCCEEDED", phase=Phase.SUCCEEDED, end_time=150.0)
            for job in running[:20]
        ]
        before = state._db.total_changes
        ledger.apply(done + running[20:], 160.0)  # 1% finished
        state.save("t", "id", ledger)
        assert state._db.total_changes - before == 1 + 20
        saved_known = read_state(state.path)["targets"]["t"]["counts"]["known"]
        assert saved_known["j0"][1] is True and saved_known["j20"][1] is False  # counted or not
    finally:
        state.close()
    restored = JobLedger(status_pairs(STATUSES))
    again = StateFile(tmp_path / "state.json")
    again.load()
    ledger_form.restore(restored, again.restore("t", "id"))
    again.close()
    assert restored.finished[(Phase.SUCCEEDED, "SUCCEEDED", "", ())] == 20
    assert {key: k.kept_fields() for key, k in restored.known.items()} == {
        key: k.kept_fields() for key, k in ledger.known.items()
    }
