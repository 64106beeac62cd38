"""The state file's failure modes, each designed (docs/limits.md, "The state file").

A file the exporter cannot use as it is (another user's, a read-only directory, a journal that
is a directory or a FIFO, another database's journal, a link to nothing) stops the start with
one ``config error:`` line and is left as it was: once the cause is fixed, the counts are all
there. A file proven not to be a database of ours is moved aside, never deleted. Two names of
one file (a hard link, a symbolic link) are one file and one lock. A save the disk refuses
fails the poll and publishes nothing it did not save, so no counter ever goes down.

Permission cases run the exporter as root without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH,
which is what another UID is to a file: the interpreter stays readable, the state file is not.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import resource
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from exporter.app import Exporter
from exporter.config.parse import parse_config
from exporter.config.types import ConfigError
from exporter.simulators.ray import RaySimulator
from exporter.store.database import StateFile
from exporter.store.rows import read_state

from .helpers import eventually, exporter_process, run_cli, samples, value

NOBODY = 65534
_PR_CAPBSET_DROP = 24
_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH = 1, 2
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to play another user")


@pytest.fixture
def simulator() -> Iterator[RaySimulator]:
    with RaySimulator() as sim:
        sim.add_job("a", status="RUNNING")
        sim.add_job("b", status="RUNNING")
        yield sim


@pytest.fixture
def place() -> Iterator[Path]:
    """A directory every user can enter (pytest's own is root's alone)."""
    directory = Path(tempfile.mkdtemp(prefix="jobfleet-state-"))
    directory.chmod(0o755)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def write_config(sim: RaySimulator, state: Path, directory: Path) -> Path:
    config = directory / "config.yaml"
    target = sim.target_config("t", resources=["jobs"], poll_interval="1s")
    config.write_text(yaml.safe_dump({"state_file": str(state), "targets": [target]}))
    config.chmod(0o644)
    return config


def count_one_finish(sim: RaySimulator, state: Path) -> None:
    """A state file holding a baseline and one finished job (``a``)."""
    exporter = Exporter(parse_config({"state_file": str(state), "targets": [config_of(sim)]}))
    try:
        assert exporter.poll_all_once()
        sim.set_status("a", "SUCCEEDED")
        assert exporter.poll_all_once()
    finally:
        exporter.close()
    assert finished(read_state(state)) == 1


def config_of(sim: RaySimulator) -> dict:
    return sim.target_config("t", resources=["jobs"])


def finished(data: dict) -> int:
    return sum(entry[2] for entry in data["targets"]["t"]["counts"]["finished"])


def _without_dac_override() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
        if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def run_once(
    config: Path, preexec: Callable[[], None] | None = None
) -> subprocess.CompletedProcess:
    return run_cli("--config.file", str(config), "--once", preexec=preexec)


def fingerprint(directory: Path) -> dict[str, tuple[int, str]]:
    """Every entry of ``directory``: its kind and mode, and its content's digest if a file."""
    out = {}
    for entry in sorted(directory.iterdir()):
        st = entry.lstat()
        digest = hashlib.sha256(entry.read_bytes()).hexdigest() if entry.is_file() else ""
        out[entry.name] = (st.st_mode, digest)
    return out


def assert_refused(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("config error: state_file: "), lines
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def assert_counts_intact(config: Path) -> None:
    """A run after the cause is fixed goes on from the saved count."""
    result = run_once(config)
    assert result.returncode == 0, result.stderr
    total = sum(
        v
        for (name, labels), v in samples(result.stdout).items()
        if name == "jobfleet_jobs_finished_total"
    )
    assert total == 1


# --- refused, touching nothing -----------------------------------------------------------


@pytest.mark.slow
@as_root
def test_a_database_of_another_user_is_refused_and_left_as_it_was(
    simulator: RaySimulator, place: Path
) -> None:
    state = place / "state.db"
    count_one_finish(simulator, state)
    os.chown(state, NOBODY, NOBODY)
    state.chmod(0o600)
    config = write_config(simulator, state, place)
    before = fingerprint(place)
    assert_refused(run_once(config, _without_dac_override), "Permission denied", "uid 0")
    assert fingerprint(place) == before
    os.chown(state, 0, 0)
    assert_counts_intact(config)


@pytest.mark.slow
@as_root
def test_a_read_only_directory_is_refused_without_a_traceback(
    simulator: RaySimulator, place: Path
) -> None:
    directory = place / "ro"
    directory.mkdir()
    state = directory / "state.db"
    count_one_finish(simulator, state)
    os.chown(directory, NOBODY, NOBODY)  # 0755 and another owner: not writable
    directory.chmod(0o755)
    config = write_config(simulator, state, place)
    before = fingerprint(directory)
    assert_refused(run_once(config, _without_dac_override), str(directory), "writable")
    assert fingerprint(directory) == before
    os.chown(directory, 0, 0)
    assert_counts_intact(config)


@pytest.mark.slow
def test_a_journal_that_is_a_directory_is_refused(simulator: RaySimulator, place: Path) -> None:
    state = place / "state.db"
    count_one_finish(simulator, state)
    Path(f"{state}-wal").unlink(missing_ok=True)  # empty: left by read_state's reader
    Path(f"{state}-wal").mkdir()
    config = write_config(simulator, state, place)
    before = fingerprint(place)
    assert_refused(run_once(config), f"{state}-wal is a directory")
    assert fingerprint(place) == before
    Path(f"{state}-wal").rmdir()
    assert_counts_intact(config)


@pytest.mark.slow
def test_a_fifo_beside_the_database_is_refused_without_waiting_on_it(
    simulator: RaySimulator, place: Path
) -> None:
    state = place / "state.db"
    count_one_finish(simulator, state)
    Path(f"{state}-shm").unlink(missing_ok=True)  # left by read_state's reader
    os.mkfifo(f"{state}-shm")
    config = write_config(simulator, state, place)
    before = fingerprint(place)
    assert_refused(run_once(config), f"{state}-shm is a FIFO")
    assert fingerprint(place) == before
    os.unlink(f"{state}-shm")
    assert_counts_intact(config)


@pytest.mark.slow
def test_a_journal_of_another_database_is_refused_not_replayed(
    simulator: RaySimulator, place: Path
) -> None:
    """A backup copied over the file, an old journal left beside it: SQLite would replay the
    journal's pages into the backup."""
    state, other = place / "state.db", place / "other" / "state.db"
    count_one_finish(simulator, state)
    with RaySimulator() as elsewhere:
        for key in "xyz":
            elsewhere.add_job(key, status="SUCCEEDED")
        store = StateFile(other)
        store.load()
        exporter = Exporter(
            parse_config(
                {"state_file": str(place / "unused.db"), "targets": [config_of(elsewhere)]}
            )
        )
        try:
            assert exporter.poll_all_once()
            poller = exporter.pollers[0]
            jobs = poller.counted["jobs"]
            store.save(jobs.key, jobs.identity, jobs.ledger)  # its journal holds these pages
            shutil.copy(f"{other}-wal", f"{state}-wal")
        finally:
            exporter.close()
            store.close()
    config = write_config(simulator, state, place)
    before = fingerprint(place)
    assert_refused(run_once(config), f"{state}-wal belongs to another database")
    assert fingerprint(place) == before
    os.replace(f"{state}-wal", place / "moved-away-wal")
    assert_counts_intact(config)


@pytest.mark.slow
def test_the_journal_a_kill_9_left_is_our_own_and_replayed(
    simulator: RaySimulator, place: Path
) -> None:
    state = place / "state.db"
    config = write_config(simulator, state, place)
    with exporter_process("--config.file", str(config)) as (process, base):
        assert eventually(lambda: b"jobfleet_jobs_finished_total" in scrape(base))
        simulator.set_status("a", "SUCCEEDED")
        assert eventually(lambda: finished_in(scrape(base)) == 1)
        process.kill()
        process.wait(timeout=10)
    assert Path(f"{state}-wal").stat().st_size > 0  # what the last saves wrote is in it
    assert_counts_intact(config)


@pytest.mark.slow
def test_a_symbolic_link_to_nothing_is_refused(simulator: RaySimulator, place: Path) -> None:
    link = place / "state.db"
    link.symlink_to(place / "missing" / "state.db")
    config = write_config(simulator, link, place)
    assert_refused(run_once(config), "symbolic link", "does not exist")
    assert_refused(run_cli("--config.file", str(config), "--check-config"), "symbolic link")
    assert link.is_symlink() and not (place / "missing").exists()


# --- one file, one lock, whatever its names ------------------------------------------------


def test_a_symbolic_link_is_followed_and_the_real_file_kept(
    simulator: RaySimulator, place: Path
) -> None:
    real = place / "data" / "state.db"
    real.parent.mkdir()
    count_one_finish(simulator, real)
    link = place / "state.db"
    link.symlink_to(real)
    config = write_config(simulator, link, place)
    assert_counts_intact(config)
    assert link.is_symlink() and os.path.realpath(link) == str(real)
    assert not list(place.glob("state.db.corrupt-*")) and not list(place.glob("state.db-*"))
    first = Exporter(parse_config({"state_file": str(real), "targets": [config_of(simulator)]}))
    try:
        with pytest.raises(ConfigError, match="in use by another process"):
            Exporter(parse_config({"state_file": str(link), "targets": [config_of(simulator)]}))
    finally:
        first.close()


def test_a_hard_link_cannot_share_the_database(simulator: RaySimulator, place: Path) -> None:
    state = place / "state.db"
    count_one_finish(simulator, state)
    twin = place / "twin.db"
    os.link(state, twin)
    first = Exporter(parse_config({"state_file": str(state), "targets": [config_of(simulator)]}))
    try:
        with pytest.raises(ConfigError) as refused:
            Exporter(parse_config({"state_file": str(twin), "targets": [config_of(simulator)]}))
        assert refused.value.problems == [
            f"state_file: {twin} is in use by another process, under another name"
            " (a hard link or another path to the same file)"
        ]
        assert first.poll_all_once()
    finally:
        first.close()
    assert finished(read_state(state)) == 1


# --- proven corruption: set aside, never deleted -------------------------------------------


def test_a_database_that_fails_its_check_is_moved_aside(
    simulator: RaySimulator, place: Path, caplog
) -> None:
    state = place / "state.db"
    count_one_finish(simulator, state)
    content = bytearray(state.read_bytes())
    page = 4096
    content[page : 2 * page] = b"\xa5" * page  # a table's page overwritten
    state.write_bytes(bytes(content))
    exporter = Exporter(parse_config({"state_file": str(state), "targets": [config_of(simulator)]}))
    try:
        assert exporter.poll_all_once()
    finally:
        exporter.close()
    (aside,) = place.glob("state.db.corrupt-*")
    assert aside.read_bytes() == bytes(content)
    assert "is not a state database" in caplog.text
    assert read_state(state)["targets"]["t"]["counts"]["baselined"] is True


def test_another_programs_database_is_moved_aside_unchanged(
    simulator: RaySimulator, place: Path
) -> None:
    state = place / "state.db"
    db = sqlite3.connect(state)
    db.execute("PRAGMA application_id = 1234")
    db.execute("CREATE TABLE songs (title TEXT)")
    db.commit()
    db.close()
    content = state.read_bytes()
    config = write_config(simulator, state, place)
    result = run_once(config)
    assert result.returncode == 0, result.stderr
    assert "of another program" in result.stderr
    (aside,) = place.glob("state.db.corrupt-*")
    assert aside.read_bytes() == content


def test_a_row_whose_counts_are_not_json_is_logged_with_target_and_field(
    simulator: RaySimulator, place: Path, caplog
) -> None:
    state = place / "state.db"
    count_one_finish(simulator, state)
    db = sqlite3.connect(state)
    db.execute("UPDATE targets SET counts = '{not json' WHERE name = 't'")
    db.commit()
    db.close()
    exporter = Exporter(parse_config({"state_file": str(state), "targets": [config_of(simulator)]}))
    exporter.close()
    assert "target t: field counts is not JSON: it starts clean" in caplog.text


# --- saved before published, also when the disk says no ------------------------------------


def scrape(base: str) -> bytes:
    return httpx.get(f"{base}/metrics", timeout=10).content


def finished_in(body: bytes) -> float:
    return sum(
        v for (name, _), v in samples(body).items() if name == "jobfleet_jobs_finished_total"
    )


@pytest.mark.slow
def test_a_full_disk_fails_the_poll_publishes_no_unsaved_count_and_counting_resumes(
    simulator: RaySimulator, place: Path
) -> None:
    """The disk is full (RLIMIT_FSIZE 0 on the process: every write that grows a file fails),
    then freed; full again, then kill -9 and a restart. The finished counter, read at every
    scrape, never goes down and ends at the truth."""
    for key in "cdef":
        simulator.add_job(key, status="RUNNING")
    state = place / "state.db"
    config = write_config(simulator, state, place)
    seen: list[float] = []

    def finished_now(base: str) -> float:
        seen.append(finished_in(scrape(base)))
        return seen[-1]

    def saves_failed(base: str) -> float:
        body = scrape(base)
        seen.append(finished_in(body))
        return value(body, "jobfleet_state_save_failures_total", target="t")

    def disk(pid: int, limit: int) -> None:
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

    with exporter_process("--config.file", str(config)) as (process, base):
        assert eventually(lambda: b"jobfleet_jobs_finished_total" in scrape(base))
        simulator.set_status("a", "SUCCEEDED")
        assert eventually(lambda: finished_now(base) == 1)
        saved_at = value(scrape(base), "jobfleet_state_last_save_timestamp_seconds", target="t")

        disk(process.pid, 0)
        simulator.set_status("b", "SUCCEEDED")
        simulator.set_status("c", "FAILED")
        assert eventually(lambda: saves_failed(base) >= 2)
        body = scrape(base)
        assert finished_in(body) == 1  # counted in memory, not saved, so not published
        assert value(body, "jobfleet_target_up", target="t", resource="jobs") == 0
        assert value(body, "jobfleet_poll_errors_total", resource="jobs", reason="state_save") >= 2
        assert value(body, "jobfleet_state_last_save_timestamp_seconds", target="t") == saved_at

        disk(process.pid, resource.RLIM_INFINITY)  # freed
        assert eventually(lambda: finished_now(base) == 3)
        body = scrape(base)
        assert value(body, "jobfleet_target_up", target="t", resource="jobs") == 1
        assert value(body, "jobfleet_state_last_save_timestamp_seconds", target="t") > saved_at

        disk(process.pid, 0)
        simulator.set_status("d", "SUCCEEDED")
        simulator.set_status("e", "STOPPED")
        assert eventually(lambda: saves_failed(base) >= 4)
        assert finished_in(scrape(base)) == 3
        process.kill()
        process.wait(timeout=10)
    assert finished(read_state(state)) == 3

    simulator.set_status("f", "SUCCEEDED")  # while it was down
    with exporter_process("--config.file", str(config)) as (_process, base):
        assert eventually(lambda: finished_now(base) == 6)
    assert seen == sorted(seen), seen  # never a decrease
    assert finished(read_state(state)) == 6
