"""A target's rows in the state database, written and read back.

A target has one row in ``targets`` (its identity, absence and counters, JSON), one row in
``known`` per id remembered (its runs, JSON) and one row in ``departed`` per departed record.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

from exporter.store.schema import FORMAT_VERSION

_DEPARTED_COLUMNS = "digest, run, absent, finished, cu, flags"


def write_counts(
    db: sqlite3.Connection, name: str, identity: str | None, absent: float | None, counts: str
) -> None:
    """A target's whole entry (``to_state`` JSON), its remembered jobs one row each."""
    data = decoded(counts)
    known = data.pop("known", None) if isinstance(data, dict) else None
    departed = data.pop("departed", []) if isinstance(data, dict) else []
    if not isinstance(known, dict) or not _records(departed):
        data, known, departed = decoded(counts), {}, []  # for check_ledger_state to name
    delete_target(db, name)
    db.execute(
        "INSERT INTO targets VALUES (?, ?, ?, ?)", (name, identity, absent, json.dumps(data))
    )
    db.executemany(
        "INSERT INTO known VALUES (?, ?, ?)",
        ((name, str(key), json.dumps(entry)) for key, entry in known.items()),
    )
    insert_departed(db, name, departed)


def write_runs(
    db: sqlite3.Connection,
    name: str,
    whole: bool,
    runs: dict[str, list],
    forgotten: Iterable[str],
) -> None:
    """A target's remembered runs: ``runs`` by id (all of them when ``whole``), ``forgotten``
    ids gone."""
    if whole:
        db.execute("DELETE FROM known WHERE target = ?", (name,))
    db.executemany(
        "INSERT OR REPLACE INTO known VALUES (?, ?, ?)",
        ((name, key, json.dumps(entry)) for key, entry in runs.items()),
    )
    db.executemany(
        "DELETE FROM known WHERE target = ? AND key = ?", ((name, key) for key in forgotten)
    )


def _records(value: object) -> bool:
    """Whether ``value`` can be written as departed rows (a list of 6-entry lists)."""
    return isinstance(value, list) and all(
        isinstance(record, (list, tuple)) and len(record) == 6 for record in value
    )


def insert_departed(db: sqlite3.Connection, name: str, records: Iterable[Sequence]) -> None:
    """Departed records in their saved form (``ledger_form.saved_departed``): readings of
    several usage values, a list, are kept as its JSON text in the ``cu`` column, which holds
    the one value's reading as a number, as it did before there were several."""
    db.executemany(
        f"INSERT OR REPLACE INTO departed (target, {_DEPARTED_COLUMNS})"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        ((name, *_stored(record)) for record in records),
    )


def _stored(record: Sequence) -> Sequence:
    readings = record[4]
    if not isinstance(readings, list):
        return record
    return (*record[:4], json.dumps(readings), *record[5:])


def departed_rows(db: sqlite3.Connection, name: str) -> list[list]:
    rows = db.execute(f"SELECT {_DEPARTED_COLUMNS} FROM departed WHERE target = ?", (name,))
    return [
        [*row[:4], decoded(row[4]), *row[5:]] if isinstance(row[4], str) else list(row)
        for row in rows
    ]


def delete_target(db: sqlite3.Connection, name: str) -> None:
    db.execute("DELETE FROM targets WHERE name = ?", (name,))
    db.execute("DELETE FROM known WHERE target = ?", (name,))
    db.execute("DELETE FROM departed WHERE target = ?", (name,))


def decoded(text: str) -> object:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def read_state(path: str | Path) -> dict:
    """A state database's content in the shape of a version 2 JSON state file (for inspection
    and tests); opened read-only, so it can be read while an exporter holds it."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        targets = {}
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        rows = db.execute("SELECT name, identity, absent_since, counts FROM targets").fetchall()
        for name, identity, absent, counts in rows:
            data = decoded(counts)
            if isinstance(data, dict) and "known" not in data:
                known = db.execute("SELECT key, entry FROM known WHERE target = ?", (name,))
                data["known"] = {key: decoded(entry) for key, entry in known}
                data["departed"] = departed_rows(db, name) if "departed" in tables else []
            targets[name] = {"identity": identity, "absent_since": absent, "counts": data}
    finally:
        db.close()
    return {"version": FORMAT_VERSION, "targets": targets}
