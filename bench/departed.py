"""Jobs that left the list: bytes per departed id, in memory and in the state file, beside the
previous design (each kept as a ``KnownJob`` by its id, saved as one JSON row per id).

Memory is what tracemalloc sees allocated and still held after ``ids`` jobs ended and left one
target's list (the new design), or after the same ids were kept as ``KnownJob`` objects in a
dict by id with the same content (the previous one); the file is the SQLite pages the rows take.
"""

from __future__ import annotations

import gc
import json
import sqlite3
import tempfile
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from exporter.backends.ray import STATUSES
from exporter.ledger.job_ledger import JobLedger, KnownJob
from exporter.model import Job, status_pairs
from exporter.store.ledger_form import saved_runs
from exporter.store.schema import SCHEMA

from .common import table

T0 = 1_800_000_000.0
BATCH = 1_000


def _ids(count: int) -> list[str]:
    return [f"raysubmit_{i:016x}" for i in range(count)]


def _traced(build: Callable[[], object]) -> tuple[object, int]:
    """What ``build`` returns, and the bytes it allocated that are still held."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        built = build()
        gc.collect()
        return built, tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def _churned(ids: list[str]) -> JobLedger:
    """A ledger through which every id ran, ended and left the list, ``BATCH`` a poll."""
    ledger = JobLedger(status_pairs(STATUSES), retention=60, forget_after=30 * 86400)
    ledger.apply([], T0)
    for start in range(0, len(ids), BATCH):
        at = T0 + 60 * (start // BATCH + 1)
        jobs = [
            Job(key=key, name=key, status="SUCCEEDED", phase=STATUSES["SUCCEEDED"],
                submit_time=at - 50, end_time=at - 5, run=at - 50)
            for key in ids[start : start + BATCH]
        ]  # fmt: skip
        ledger.apply(jobs, at + 10)
    ledger.apply([], T0 + 60 * (len(ids) // BATCH + 2))
    return ledger


def _previous(ids: list[str]) -> dict[str, KnownJob]:
    """The previous design's memory of the same jobs: a ``KnownJob`` each, by its id."""
    return {key: KnownJob(T0, True, True, False, T0 - 5, None, T0 - 50, T0 + 60) for key in ids}


def _file_bytes(rows: Callable[[sqlite3.Connection], None]) -> int:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "state.db"
        db = sqlite3.connect(path)
        db.executescript(SCHEMA)
        with db:
            rows(db)
        db.execute("VACUUM")
        db.close()
        return path.stat().st_size


def run(count: int = 100_000) -> str:
    ids = _ids(count)
    ledger, new_memory = _traced(lambda: _churned(ids))
    assert isinstance(ledger, JobLedger) and len(ledger.departed) == count
    previous, old_memory = _traced(lambda: _previous(ids))
    assert isinstance(previous, dict)
    records = list(ledger.departed.records())
    new_file = _file_bytes(
        lambda db: db.executemany(
            "INSERT INTO departed VALUES ('target', ?, ?, ?, ?, ?, ?)", records
        )
    )
    old_file = _file_bytes(
        lambda db: db.executemany(
            "INSERT INTO known VALUES ('target', ?, ?)",
            ((key, json.dumps(saved_runs(known))) for key, known in previous.items()),
        )
    )
    rows = [
        ["memory", f"{old_memory / count:.0f} B", f"{new_memory / count:.0f} B"],
        ["state file", f"{old_file / count:.0f} B", f"{new_file / count:.0f} B"],
    ]
    return table(
        f"Bytes per departed job id, {count:,} ids (target: <= 64 B in memory)",
        ["kept in", "previous design (KnownJob by id)", "departed record"],
        rows,
    )


if __name__ == "__main__":
    print(run())
