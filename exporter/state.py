"""What each target has counted, by target name: the exporter's memory of its targets.

One rule for a restart and a reload (docs/metrics.md, "Counting"): a target continues from its
entry when the entry has the target's identity (``identity.fingerprint``); an entry of another
identity is dropped and the target starts a new baseline. A target that leaves the
configuration keeps its entry, unpublished, for ``forget_after`` (7 days) of absence, so one
that comes back within that time continues counting; then the entry is dropped.

With ``state_file`` the entries live in that file, an SQLite database (WAL, ``synchronous=FULL``),
saved after every successful job poll in one transaction that writes the target's counters and
only the remembered jobs that changed, and read at start, so a restart (even ``kill -9``)
neither recounts finished jobs nor misses those that finished while the exporter was down.
Without it they live in memory: a reload keeps them, a restart starts clean.

A JSON state file (format version 1 or 2, written by earlier versions) at the configured path is
migrated at start: the database is built in a temporary file beside it and renamed over it, so
a crash leaves either the old file or the new one. Temporary files a kill -9 left behind are
removed at start. A missing or unreadable file is reported and the exporter starts clean (an
unreadable one is replaced); a target whose saved entry is unusable starts clean alone (checked
by ``ledger_state``). One process at a time: ``<file>.lock`` beside it is held with ``flock`` for
the process' lifetime, and a second process on the same file exits.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .config_files import FileProblem, read_regular_file
from .config_types import ConfigError

log = logging.getLogger(__name__)

FORMAT_VERSION = 2  # of JSON state files: version 1 held each target's counts alone
STORE_VERSION = 3  # of the database, which holds what version 2 held, one row per job
SQLITE_MAGIC = b"SQLite format 3\x00"
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS targets (
    name TEXT PRIMARY KEY, identity TEXT, absent_since REAL, counts TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS known (
    target TEXT NOT NULL, key TEXT NOT NULL, entry TEXT NOT NULL,
    PRIMARY KEY (target, key)) WITHOUT ROWID;
"""
STATE_FILE_LIMIT = 512 * 1024 * 1024  # ~5 million known jobs
FORGET_AFTER = 7 * 86400.0


@dataclass(slots=True)
class _Entry:
    identity: str | None  # None: written by version 1, adopted by the first target of its name
    counts: str | None  # the ledger's state, JSON-encoded; None: it is in the database
    absent_since: float | None = None


class SavedLedger(Protocol):
    """What the store needs of a ledger (``reconcile.JobLedger``) to write only its changes."""

    def header_state(self) -> dict: ...
    def changes(self) -> tuple[bool, dict[str, list], list[str]]: ...
    def changes_stored(self) -> None: ...


class StateFile:
    """Entries by target name, in the database at ``path`` when given, else in memory only.

    With a path, the file is locked from construction until ``close``."""

    def __init__(
        self,
        path: str | Path | None,
        clock: Callable[[], float] = time.time,
        forget_after: float = FORGET_AFTER,
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.clock = clock
        self.forget_after = forget_after
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._lock_fd = -1
        self._db: sqlite3.Connection | None = None
        if self.path is not None:
            self._lock_fd = self._acquire(self.path)
            self._remove_leftovers(self.path)

    @staticmethod
    def _acquire(path: Path) -> int:
        """Lock ``<file>.lock``; ConfigError when another process holds it or it cannot be made.

        The lock is not the file itself: a migration or a replacement renames a new file over it."""
        lock_path = path.with_name(path.name + ".lock")
        try:
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as err:
            why = err.strerror or type(err).__name__
            raise ConfigError(
                [f"state_file: cannot create the lock file {lock_path}: {why}"]
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise ConfigError([f"state_file: {path} is in use by another process"]) from None
        return fd

    @staticmethod
    def _remove_leftovers(path: Path) -> None:
        """Temporary files of migrations cut short (kill -9 before the rename)."""
        pattern = re.compile(rf"\.{re.escape(path.name)}\.[A-Za-z0-9_]{{8}}")
        removed = 0
        for entry in path.parent.iterdir():
            if pattern.fullmatch(entry.name) and entry.is_file() and not entry.is_symlink():
                entry.unlink(missing_ok=True)
                removed += 1
        if removed:
            log.info("state file %s: removed %d unfinished temporary files", path, removed)

    def close(self) -> None:
        """Close the database and release the lock (the lock file stays: removing it would race
        a starting process)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    def load(self) -> None:
        """Open the database (migrating a JSON state file); no entries (and a log line) when
        there is none to use.

        Counts are checked when a target restores its own (one bad entry costs that target
        only); here the envelope and each entry's identity and absence."""
        if self.path is None:
            return
        if not self.path.exists() and not self.path.is_symlink():
            log.info("state file %s does not exist yet: starting clean", self.path)
            return self._replace({})
        try:
            with open(self.path, "rb") as file:
                magic = file.read(len(SQLITE_MAGIC))
        except OSError:
            magic = b""
        if magic == SQLITE_MAGIC and self.path.is_file() and not self.path.is_symlink():
            return self._open_database()
        try:
            data = json.loads(read_regular_file(self.path, STATE_FILE_LIMIT))
        except FileProblem as err:
            return self._unusable(str(err))
        except (ValueError, RecursionError):  # RecursionError: JSON nested too deep
            return self._unusable("neither a database nor JSON")
        try:
            entries = _entries(data)
        except (ValueError, TypeError, KeyError, AttributeError) as err:
            return self._unusable(str(err) or type(err).__name__)
        self._replace(entries)
        log.info("state file %s: migrated from JSON: restored %d targets", self.path, len(entries))

    def _open_database(self) -> None:
        try:
            db = _connect(self.path)
            version = db.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
            if version is None or version[0] != str(STORE_VERSION):
                db.close()
                raise sqlite3.DatabaseError(f"not a version {STORE_VERSION} state database")
            rows = db.execute("SELECT name, identity, absent_since FROM targets").fetchall()
        except sqlite3.Error as err:
            return self._unusable(str(err) or type(err).__name__)
        entries = {}
        for name, identity, absent in rows:
            if isinstance(identity, (str, type(None))) and isinstance(absent, (float, type(None))):
                entries[str(name)] = _Entry(identity, None, absent)
            else:  # that target alone starts clean
                log.error("state file: the entry of target %s is unusable: it starts clean", name)
        with self._lock:
            self._db, self._entries = db, entries
        log.info("state file %s: restored %d targets", self.path, len(entries))

    def _unusable(self, why: str) -> None:
        log.error("state file %s is unusable (%s): starting clean", self.path, why)
        self._replace({})

    def _replace(self, entries: dict[str, _Entry]) -> None:
        """A new database holding ``entries`` (JSON-encoded counts), built beside the file and
        renamed over it: a crash leaves the old file or the new one, never half of either."""
        directory = self.path.parent
        directory.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=directory)
        os.close(fd)
        try:
            build = sqlite3.connect(temporary, isolation_level=None)
            try:
                build.executescript(SCHEMA)
                build.execute("BEGIN")
                build.execute("INSERT INTO meta VALUES ('version', ?)", (str(STORE_VERSION),))
                for name, entry in entries.items():
                    _write_counts(build, name, entry.identity, entry.absent_since, entry.counts)
                build.execute("COMMIT")
            finally:
                build.close()
            _fsync_path(temporary)
            for suffix in ("-wal", "-shm"):  # of the file replaced, if it was a database
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        _fsync_path(directory)
        db = _connect(self.path)
        with self._lock:
            self._db = db
            self._entries = {
                name: _Entry(e.identity, None, e.absent_since) for name, e in entries.items()
            }

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One transaction, committed durably; sqlite3 errors become OSError (the caller logs
        them and polling goes on)."""
        if self._db is None:
            raise OSError("the state database is not open")
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.Error as err:
            raise OSError(f"state database: {err}") from None

    def restore(self, name: str, identity: str) -> dict | None:
        """The counts target ``name`` of ``identity`` continues from, or None: none saved, or
        saved for another identity (that entry is dropped: the target starts a new baseline).

        Without a file the entry is handed over: the target's ledger is its memory from now on.
        """
        with self._lock:
            entry = self._entries.get(name)
            if entry is None:
                return None
            if entry.identity is not None and entry.identity != identity:
                del self._entries[name]
                log.info("target %s: its identity changed: new baseline", name)
                if self._db is not None:
                    with self._transaction() as db:
                        _delete(db, name)
                return None
            if self.path is None:
                del self._entries[name]
                return json.loads(entry.counts)
            entry.absent_since = None
            if entry.counts is not None:  # not written yet
                return json.loads(entry.counts)
            return self._read_counts(name)

    def _read_counts(self, name: str) -> dict | None:
        """A target's counts as ``JobLedger.to_state`` made them; what does not decode is left
        for ``ledger_state`` to name (the target then starts clean)."""
        if self._db is None:
            return None
        try:
            row = self._db.execute("SELECT counts FROM targets WHERE name = ?", (name,)).fetchone()
            rows = self._db.execute("SELECT key, entry FROM known WHERE target = ?", (name,))
            known = {key: _decoded(entry) for key, entry in rows}
        except sqlite3.Error as err:
            log.error("target %s: its saved state cannot be read (%s): it starts clean", name, err)
            return None
        counts = _decoded(row[0]) if row is not None else None
        if isinstance(counts, dict) and "known" not in counts:
            counts["known"] = known
        return counts

    def save(self, name: str, identity: str, ledger: SavedLedger) -> None:
        """Record a configured target's counts: its counters and the remembered jobs that
        changed since its last save, in one durable transaction."""
        everything, changed, dropped = ledger.changes()
        counts = json.dumps(ledger.header_state())
        with self._lock:
            self._entries[name] = _Entry(identity, None)
            with self._transaction() as db:
                written = self._write_pending(db)
                db.execute(
                    "INSERT INTO targets VALUES (?, ?, NULL, ?) ON CONFLICT(name) DO UPDATE SET"
                    " identity = excluded.identity, absent_since = NULL, counts = excluded.counts",
                    (name, identity, counts),
                )
                if everything:
                    db.execute("DELETE FROM known WHERE target = ?", (name,))
                db.executemany(
                    "INSERT OR REPLACE INTO known VALUES (?, ?, ?)",
                    ((name, key, json.dumps(entry)) for key, entry in changed.items()),
                )
                db.executemany(
                    "DELETE FROM known WHERE target = ? AND key = ?",
                    ((name, key) for key in dropped),
                )
            self._written(written)
        ledger.changes_stored()

    def keep_absent(self, retired: Iterable[tuple[str, str, dict]]) -> None:
        """Record the final (name, identity, counts) of targets a reload took out of the
        configuration, or replaced: kept, absent from now on, until their target comes back
        or ``forget_after`` passes; one write for all, and a reload goes on if it fails."""
        with self._lock:
            now = self.clock()
            for name, identity, counts in retired:
                self._entries[name] = _Entry(identity, json.dumps(counts), now)
            if self._db is None:
                return
            try:
                with self._transaction() as db:
                    written = self._write_pending(db)
                self._written(written)
            except OSError as err:  # kept in memory; the next save writes them
                log.error("cannot write the state file %s: %s", self.path, err)

    def _write_pending(self, db: sqlite3.Connection) -> list[_Entry]:
        """Write the entries held in memory only (their write failed) whole; the caller lets
        go of their counts once the transaction is committed."""
        pending = [(name, e) for name, e in self._entries.items() if e.counts is not None]
        for name, entry in pending:
            _write_counts(db, name, entry.identity, entry.absent_since, entry.counts)
        return [entry for _name, entry in pending]

    @staticmethod
    def _written(entries: list[_Entry]) -> None:
        for entry in entries:
            entry.counts = None

    def forget(self, configured: Iterable[str]) -> None:
        """Mark the entries of targets not in ``configured`` absent from now (when not
        already), and drop those absent longer than ``forget_after``."""
        configured = set(configured)
        now = self.clock()
        with self._lock:
            absent, dropped = [], []
            for name, entry in list(self._entries.items()):
                if name in configured:
                    continue
                if entry.absent_since is None:
                    entry.absent_since = now
                    absent.append(name)
                elif now - entry.absent_since > self.forget_after:
                    del self._entries[name]
                    dropped.append(name)
                    log.info(
                        "target %s: absent for %.0f days: its state is dropped",
                        name,
                        self.forget_after / 86400,
                    )
            if self._db is not None and (absent or dropped):
                with self._transaction() as db:
                    db.executemany(
                        "UPDATE targets SET absent_since = ? WHERE name = ?",
                        ((now, name) for name in absent),
                    )
                    for name in dropped:
                        _delete(db, name)


def _connect(path: Path) -> sqlite3.Connection:
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


def _write_counts(
    db: sqlite3.Connection, name: str, identity: str | None, absent: float | None, counts: str
) -> None:
    """A target's whole entry (``to_state`` JSON), its remembered jobs one row each."""
    data = _decoded(counts)
    known = data.pop("known", None) if isinstance(data, dict) else None
    if not isinstance(known, dict):  # left in place for ledger_state to name at restore
        data, known = _decoded(counts), {}
    _delete(db, name)
    db.execute(
        "INSERT INTO targets VALUES (?, ?, ?, ?)", (name, identity, absent, json.dumps(data))
    )
    db.executemany(
        "INSERT INTO known VALUES (?, ?, ?)",
        ((name, str(key), json.dumps(entry)) for key, entry in known.items()),
    )


def _delete(db: sqlite3.Connection, name: str) -> None:
    db.execute("DELETE FROM targets WHERE name = ?", (name,))
    db.execute("DELETE FROM known WHERE target = ?", (name,))


def _decoded(text: str) -> object:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _fsync_path(path: str | Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_state(path: str | Path) -> dict:
    """A state database's content in the shape of a version 2 JSON state file (for inspection
    and tests); opened read-only, so it can be read while an exporter holds it."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        targets = {}
        rows = db.execute("SELECT name, identity, absent_since, counts FROM targets").fetchall()
        for name, identity, absent, counts in rows:
            data = _decoded(counts)
            if isinstance(data, dict) and "known" not in data:
                known = db.execute("SELECT key, entry FROM known WHERE target = ?", (name,))
                data["known"] = {key: _decoded(entry) for key, entry in known}
            targets[name] = {"identity": identity, "absent_since": absent, "counts": data}
    finally:
        db.close()
    return {"version": FORMAT_VERSION, "targets": targets}


def _entries(data: object) -> dict[str, _Entry]:
    """The entries of a decoded state file, version 1 or 2."""
    if not isinstance(data, dict) or data.get("version") not in (1, FORMAT_VERSION):
        raise ValueError(f"not a version 1 or {FORMAT_VERSION} state file")
    version, targets = data["version"], data.get("targets")
    if not isinstance(targets, dict):
        raise ValueError("no targets object")
    encode = json.JSONEncoder().encode
    if version == 1:
        return {str(name): _Entry(None, encode(counts)) for name, counts in targets.items()}
    entries = {}
    for name, entry in targets.items():
        try:
            identity, absent = entry["identity"], entry["absent_since"]
            entries[str(name)] = _Entry(
                None if identity is None else str(identity),
                encode(entry["counts"]),
                None if absent is None else float(absent),
            )
        except (TypeError, KeyError, ValueError):  # that target alone starts clean
            log.error("state file: the entry of target %s is unusable: it starts clean", name)
    return entries
