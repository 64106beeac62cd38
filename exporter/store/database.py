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

Opening is designed to lose nothing (docs/limits.md, "The state file"): ``state_checks``
refuses, before anything is written, a file or directory the exporter cannot use as it is (a
ConfigError naming the cause and the fix); a missing file starts clean; only a file proven not
to be a database of ours (another program's database, not a database and not JSON, or one that
fails SQLite's ``quick_check``) is set aside, renamed to ``<file>.corrupt-<time>`` with its
journals, and the exporter starts clean. A JSON state file (format version 1 or 2, written by
earlier versions) is migrated: the database is built in a temporary file beside it and renamed
over it, so a crash leaves either the old file or the new one. Temporary files a kill -9 left
behind are removed at start. A target whose saved entry is unusable starts clean alone (checked
by ``check_ledger_state``), with a log line naming the target and the field.

One process at a time: ``<file>.lock`` beside the real file is held with ``flock`` for the
process' lifetime, and so is the database file itself, so neither a second process on the same
path nor one on a hard link or another spelling of it can write the same database.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import secrets
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from exporter.config.files import FileProblem, read_regular_file
from exporter.config.types import ConfigError
from exporter.ledger.job_ledger import JobLedger
from exporter.store import ledger_form
from exporter.store.checks import (
    APPLICATION_ID,
    SIDECARS,
    SQLITE_MAGIC,
    check_state_path,
    header,
    is_ours,
    real_path,
)

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
_DEPARTED_COLUMNS = "digest, run, absent, finished, cu, flags"
STATE_FILE_LIMIT = 512 * 1024 * 1024  # ~5 million known jobs
FORGET_AFTER = 7 * 86400.0
_CORRUPTION = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB: proven; any other error is not


class NotOurs(Exception):
    """The file is readable and proven not to be a state database of ours."""


@dataclass(slots=True)
class _Entry:
    identity: str | None  # None: written by version 1, adopted by the first target of its name
    counts: str | None  # the ledger's state, JSON-encoded; None: it is in the database
    absent_since: float | None = None


class StateFile:
    """Entries by target name, in the database at ``path`` when given, else in memory only.

    With a path, the file is checked (ConfigError when it cannot be used as it is) and locked
    from construction until ``close``."""

    def __init__(
        self,
        path: str | Path | None,
        clock: Callable[[], float] = time.time,
        forget_after: float = FORGET_AFTER,
    ) -> None:
        self.path = real_path(Path(path)) if path is not None else None
        self.clock = clock
        self.forget_after = forget_after
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._lock_fd = -1
        self._file_fd = -1  # the database file itself, locked
        self._number = 0  # this database's number, in its header and every save's journal
        self._db: sqlite3.Connection | None = None
        if self.path is not None:
            check_state_path(self.path)
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

    def _hold(self, fd: int) -> None:
        """Lock the database file open on ``fd`` (by its inode: a hard link or another path to
        it is the same lock) and keep it for the process' lifetime; ConfigError when another
        process holds it. The previous file's descriptor is closed (its database is closed)."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise ConfigError(
                [
                    f"state_file: {self.path} is in use by another process, under another name"
                    " (a hard link or another path to the same file)"
                ]
            ) from None
        if self._file_fd >= 0:
            os.close(self._file_fd)
        self._file_fd = fd

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
        """Close the database and release the locks (the lock file stays: removing it would
        race a starting process). The database closes first: closing another descriptor of
        its file would drop SQLite's own locks."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
        for name in ("_file_fd", "_lock_fd"):
            fd = getattr(self, name)
            if fd >= 0:
                os.close(fd)
                setattr(self, name, -1)

    def load(self) -> None:
        """Open the database (migrating a JSON state file); no entries (and a log line) when
        there is none to use. ConfigError when the database cannot be opened for a reason
        that is not proven corruption (the lock released, nothing touched).

        Counts are checked when a target restores its own (one bad entry costs that target
        only); here the envelope and each entry's identity and absence."""
        if self.path is None:
            return
        try:
            self._load(self.path)
        except (OSError, sqlite3.Error) as err:  # a full disk, say, while building it
            self.close()
            why = getattr(err, "strerror", None) or str(err) or type(err).__name__
            raise ConfigError(
                [f"state_file: cannot prepare {self.path}: {why}: nothing was changed in it"]
            ) from None
        except BaseException:
            self.close()
            raise

    def _load(self, path: Path) -> None:
        if not path.exists():
            log.info("state file %s does not exist yet: starting clean", path)
            return self._replace({})
        head = header(path)
        if head.startswith(SQLITE_MAGIC):
            try:
                return self._open_database(path, is_ours(head))
            except NotOurs as err:
                return self._set_aside(str(err))
        try:
            data = json.loads(read_regular_file(path, STATE_FILE_LIMIT))
        except FileProblem as err:
            raise ConfigError([f"state_file: {err}"]) from None
        except (ValueError, RecursionError):  # RecursionError: JSON nested too deep
            return self._set_aside("neither a database nor JSON")
        try:
            entries = _entries(data)
        except (ValueError, TypeError, KeyError, AttributeError) as err:
            return self._set_aside(str(err) or type(err).__name__)
        self._replace(entries)
        log.info("state file %s: migrated from JSON: restored %d targets", path, len(entries))

    def _open_database(self, path: Path, marked: bool | None) -> None:
        """Open the database at ``path``: NotOurs when it is proven not to be a state database
        of ours, ConfigError for any other error (permission, I/O, a lock)."""
        if marked is False:
            raise NotOurs("an SQLite database of another program")
        self._hold(os.open(path, os.O_RDWR | os.O_CLOEXEC))
        try:
            db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as err:
            raise _open_error(path, err) from None
        try:
            rows = self._check_database(db, path, marked)
        except BaseException:
            db.close()
            raise
        entries = {}
        for name, identity, absent in rows:
            if not isinstance(identity, (str, type(None))):
                log.error("state file: target %s: field identity is unusable: starts clean", name)
            elif not isinstance(absent, (float, type(None))):
                log.error(
                    "state file: target %s: field absent_since is unusable: it starts clean", name
                )
            else:
                entries[str(name)] = _Entry(identity, None, absent)
        with self._lock:
            self._db, self._entries = db, entries
        log.info("state file %s: restored %d targets", path, len(entries))

    def _check_database(
        self, db: sqlite3.Connection, path: Path, marked: bool | None
    ) -> list[tuple]:
        """Our tables, intact (``quick_check``), in WAL mode, marked; the targets' rows."""
        try:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
            if "meta" not in tables:
                raise NotOurs("an SQLite database without our tables")
            version = db.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
            if version is None or version[0] != str(STORE_VERSION):
                raise NotOurs(f"not a version {STORE_VERSION} state database")
            problems = [row[0] for row in db.execute("PRAGMA quick_check")]
            if problems != ["ok"]:
                raise NotOurs(f"SQLite's quick_check failed: {problems[0]}")
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = FULL")
            db.executescript(SCHEMA)
            self._number = db.execute("PRAGMA user_version").fetchone()[0]
            if not marked or not self._number:  # made before the mark: marked now
                self._number = _new_number()
                db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                db.execute(f"PRAGMA user_version = {self._number}")
            return db.execute("SELECT name, identity, absent_since FROM targets").fetchall()
        except sqlite3.Error as err:
            if err.sqlite_errorcode & 0xFF in _CORRUPTION:
                raise NotOurs(str(err)) from None
            raise _open_error(path, err) from None

    def _set_aside(self, why: str) -> None:
        """Rename a file proven unusable, with its journals, to ``<file>.corrupt-<time>``, and
        start clean in a new database."""
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(self.clock()))
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        serial = 1
        while aside.exists():
            serial += 1
            aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{serial}")
        log.error(
            "state file %s is not a state database (%s): moved to %s; starting clean",
            self.path,
            why,
            aside,
        )
        self._move_aside(aside)
        os.replace(self.path, aside)
        _fsync_path(self.path.parent)
        self._replace({})

    def _move_aside(self, aside: Path) -> None:
        """The journals beside the file, renamed beside ``aside``: a new database must not
        replay them, and they may hold what the file is missing."""
        for suffix in SIDECARS:
            journal = Path(f"{self.path}{suffix}")
            if journal.exists():
                os.replace(journal, f"{aside}{suffix}")

    def _replace(self, entries: dict[str, _Entry]) -> None:
        """A new database holding ``entries`` (JSON-encoded counts), built beside the file and
        renamed over it: a crash leaves the old file or the new one, never half of either."""
        directory = self.path.parent
        directory.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=directory)
        number = _new_number()
        held = False
        try:
            build = sqlite3.connect(temporary, isolation_level=None)
            try:
                build.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                build.execute(f"PRAGMA user_version = {number}")
                build.executescript(SCHEMA)
                build.execute("BEGIN")
                build.execute("INSERT INTO meta VALUES ('version', ?)", (str(STORE_VERSION),))
                for name, entry in entries.items():
                    _write_counts(build, name, entry.identity, entry.absent_since, entry.counts)
                build.execute("COMMIT")
            finally:
                build.close()
            os.fsync(fd)
            held = True
            self._hold(fd)  # the new file's inode, locked before it takes the name
            if any(Path(f"{self.path}{suffix}").exists() for suffix in SIDECARS):
                orphans = self.path.with_name(f"{self.path.name}.orphaned-{number}")
                log.warning("state file %s: stray journals moved to %s-*", self.path, orphans)
                self._move_aside(orphans)
            os.replace(temporary, self.path)
        except BaseException:
            if not held:
                os.close(fd)
            Path(temporary).unlink(missing_ok=True)
            raise
        _fsync_path(directory)
        db = _connect(self.path)
        with self._lock:
            self._db, self._number = db, number
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
                # the header page, rewritten by every transaction: binds the journal to this
                # database (state_checks.wal_belongs)
                self._db.execute(f"PRAGMA user_version = {self._number}")
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
                    try:
                        with self._transaction() as db:
                            _delete(db, name)
                    except OSError as err:  # its first save replaces the entry whole
                        log.error("cannot write the state file %s: %s", self.path, err)
                return None
            if self.path is None:
                del self._entries[name]
                return json.loads(entry.counts)
            entry.absent_since = None
            if entry.counts is not None:  # not written yet
                return json.loads(entry.counts)
            return self._read_counts(name)

    def _read_counts(self, name: str) -> dict | None:
        """A target's counts as ``ledger_form.to_state`` made them; what does not decode is left
        for ``check_ledger_state`` to name (the target then starts clean)."""
        if self._db is None:
            return None
        try:
            row = self._db.execute("SELECT counts FROM targets WHERE name = ?", (name,)).fetchone()
            rows = self._db.execute("SELECT key, entry FROM known WHERE target = ?", (name,))
            known = {key: _decoded(entry) for key, entry in rows}
            departed = _departed_rows(self._db, name)
        except sqlite3.Error as err:
            log.error("target %s: its saved state cannot be read (%s): it starts clean", name, err)
            return None
        counts = _decoded(row[0]) if row is not None else None
        if row is not None and counts is None:
            log.error("state file: target %s: field counts is not JSON: it starts clean", name)
        if isinstance(counts, dict) and "known" not in counts:
            counts["known"] = known
            counts["departed"] = departed
        return counts

    def save(self, name: str, identity: str, ledger: JobLedger) -> None:
        """Record a configured target's counts: its counters and the remembered jobs that
        changed since its last save (as its journal names them), in one durable transaction;
        the journal is drained only once that is committed."""
        with ledger.journal.draining() as changes:
            runs = ledger_form.changed_runs(ledger, changes)
            departed = (
                list(ledger.departed.records())
                if changes.departed_whole
                else ledger.departed.records_of(changes.departed_added)
            )
            counts = json.dumps(ledger_form.counts_state(ledger))
            with self._lock:
                self._entries[name] = _Entry(identity, None)
                with self._transaction() as db:
                    written = self._write_pending(db)
                    db.execute(
                        "INSERT INTO targets VALUES (?, ?, NULL, ?) ON CONFLICT(name) DO UPDATE"
                        " SET identity = excluded.identity, absent_since = NULL,"
                        " counts = excluded.counts",
                        (name, identity, counts),
                    )
                    _write_runs(db, name, changes.whole, runs, changes.forgotten)
                    if changes.departed_whole:
                        db.execute("DELETE FROM departed WHERE target = ?", (name,))
                    db.executemany(
                        "DELETE FROM departed WHERE target = ? AND digest = ? AND run = ?",
                        ((name, *key) for key in changes.departed_removed),
                    )
                    _insert_departed(db, name, departed)
                self._written(written)

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
            if self._db is None or not (absent or dropped):
                return
            try:
                with self._transaction() as db:
                    db.executemany(
                        "UPDATE targets SET absent_since = ? WHERE name = ?",
                        ((now, name) for name in absent),
                    )
                    for name in dropped:
                        _delete(db, name)
            except OSError as err:  # the next successful write of each entry catches up
                log.error("cannot write the state file %s: %s", self.path, err)


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


def _new_number() -> int:
    """A database's number: random, non-zero, within SQLite's signed 32-bit ``user_version``."""
    return secrets.randbelow(2**31 - 1) + 1


def _open_error(path: Path, err: sqlite3.Error) -> ConfigError:
    """An error opening the database that proves nothing about its content: stop, and say it."""
    return ConfigError(
        [
            f"state_file: cannot open the database {path}: {err}: check that the exporter's user"
            " can read and write it and its directory, and that the disk is healthy"
        ]
    )


def _write_counts(
    db: sqlite3.Connection, name: str, identity: str | None, absent: float | None, counts: str
) -> None:
    """A target's whole entry (``to_state`` JSON), its remembered jobs one row each."""
    data = _decoded(counts)
    known = data.pop("known", None) if isinstance(data, dict) else None
    departed = data.pop("departed", []) if isinstance(data, dict) else []
    if not isinstance(known, dict) or not _records(departed):
        data, known, departed = _decoded(counts), {}, []  # for check_ledger_state to name
    _delete(db, name)
    db.execute(
        "INSERT INTO targets VALUES (?, ?, ?, ?)", (name, identity, absent, json.dumps(data))
    )
    db.executemany(
        "INSERT INTO known VALUES (?, ?, ?)",
        ((name, str(key), json.dumps(entry)) for key, entry in known.items()),
    )
    _insert_departed(db, name, departed)


def _write_runs(
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


def _insert_departed(db: sqlite3.Connection, name: str, records: Iterable[Sequence]) -> None:
    db.executemany(
        f"INSERT OR REPLACE INTO departed (target, {_DEPARTED_COLUMNS})"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        ((name, *record) for record in records),
    )


def _departed_rows(db: sqlite3.Connection, name: str) -> list[list]:
    rows = db.execute(f"SELECT {_DEPARTED_COLUMNS} FROM departed WHERE target = ?", (name,))
    return [list(row) for row in rows]


def _delete(db: sqlite3.Connection, name: str) -> None:
    db.execute("DELETE FROM targets WHERE name = ?", (name,))
    db.execute("DELETE FROM known WHERE target = ?", (name,))
    db.execute("DELETE FROM departed WHERE target = ?", (name,))


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
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        rows = db.execute("SELECT name, identity, absent_since, counts FROM targets").fetchall()
        for name, identity, absent, counts in rows:
            data = _decoded(counts)
            if isinstance(data, dict) and "known" not in data:
                known = db.execute("SELECT key, entry FROM known WHERE target = ?", (name,))
                data["known"] = {key: _decoded(entry) for key, entry in known}
                data["departed"] = _departed_rows(db, name) if "departed" in tables else []
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
