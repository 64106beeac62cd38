"""The state database's layout, and the JSON state files of earlier versions it migrates.

A JSON state file (format version 1 or 2) is read into entries (``json_entries``) that the
store writes into a new database (``opening.LockedDatabase``).
"""

from __future__ import annotations

import json
import logging
import secrets
import sqlite3
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

FORMAT_VERSION = 2  # of JSON state files: version 1 held each target's counts alone
STORE_VERSION = 3  # of the database, which holds what version 2 held, one row per job
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS targets (
    name TEXT PRIMARY KEY, identity TEXT, absent_since REAL, counts TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS known (
    target TEXT NOT NULL, key TEXT NOT NULL, entry TEXT NOT NULL,
    PRIMARY KEY (target, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS departed (
    target TEXT NOT NULL, digest INTEGER NOT NULL, run INTEGER NOT NULL, absent REAL NOT NULL,
    finished REAL, cu REAL, flags INTEGER NOT NULL,
    PRIMARY KEY (target, digest, run)) WITHOUT ROWID;
"""
STATE_FILE_LIMIT = 512 * 1024 * 1024  # ~5 million known jobs


@dataclass(slots=True)
class Entry:
    """A target's entry: its identity, its counts when not in the database yet, its absence."""

    identity: str | None  # None: written by version 1, adopted by the first target of its name
    counts: str | None  # the ledger's state, JSON-encoded; None: it is in the database
    absent_since: float | None = None
    saved: bytes | None = None  # a digest of the counts this process last committed


def connect(path: Path) -> sqlite3.Connection:
    """The database at ``path``: WAL, and every commit durable before ``save`` returns (what
    was scraped was saved first)."""
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = FULL")
        db.executescript(SCHEMA)
    except BaseException:
        db.close()
        raise
    return db


def new_number() -> int:
    """A database's number: random, non-zero, within SQLite's signed 32-bit ``user_version``."""
    return secrets.randbelow(2**31 - 1) + 1


def json_entries(data: object) -> dict[str, Entry]:
    """The entries of a decoded state file, version 1 or 2."""
    if not isinstance(data, dict) or data.get("version") not in (1, FORMAT_VERSION):
        raise ValueError(f"not a version 1 or {FORMAT_VERSION} state file")
    version, targets = data["version"], data.get("targets")
    if not isinstance(targets, dict):
        raise ValueError("no targets object")
    encode = json.JSONEncoder().encode
    if version == 1:
        return {str(name): Entry(None, encode(counts)) for name, counts in targets.items()}
    entries = {}
    for name, entry in targets.items():
        try:
            identity, absent = entry["identity"], entry["absent_since"]
            entries[str(name)] = Entry(
                None if identity is None else str(identity),
                encode(entry["counts"]),
                None if absent is None else float(absent),
            )
        except (TypeError, KeyError, ValueError):  # that target alone starts clean
            log.error("state file: the entry of target %s is unusable: it starts clean", name)
    return entries
