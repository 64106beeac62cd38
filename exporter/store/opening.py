"""The state database file: checked, locked, opened, migrated or set aside, and written to.

The database is opened in WAL mode, ``synchronous=FULL``, and every transaction is committed
durably before it returns (``_transaction``).

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
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from exporter.config.files import FileProblem, read_regular_file
from exporter.config.types import ConfigError
from exporter.store.checks import (
    APPLICATION_ID,
    SIDECARS,
    SQLITE_MAGIC,
    check_state_path,
    header,
    is_ours,
    real_path,
)
from exporter.store.rows import write_counts
from exporter.store.schema import (
    SCHEMA,
    STATE_FILE_LIMIT,
    STORE_VERSION,
    Entry,
    connect,
    json_entries,
    new_number,
)

log = logging.getLogger(__name__)

_CORRUPTION = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB: proven; any other error is not


class NotOurs(Exception):
    """The file is readable and proven not to be a state database of ours."""


class LockedDatabase:
    """The entries by target name, in the database at ``path`` when given, else in memory only.

    With a path, the file is checked (ConfigError when it cannot be used as it is) and locked
    from construction until ``close``."""

    def __init__(
        self,
        path: str | Path | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = real_path(Path(path)) if path is not None else None
        self.clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, Entry] = {}
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
            entries = json_entries(data)
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
                entries[str(name)] = Entry(identity, None, absent)
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
                self._number = new_number()
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
        fsync_path(self.path.parent)
        self._replace({})

    def _move_aside(self, aside: Path) -> None:
        """The journals beside the file, renamed beside ``aside``: a new database must not
        replay them, and they may hold what the file is missing."""
        for suffix in SIDECARS:
            journal = Path(f"{self.path}{suffix}")
            if journal.exists():
                os.replace(journal, f"{aside}{suffix}")

    def _replace(self, entries: dict[str, Entry]) -> None:
        """A new database holding ``entries`` (JSON-encoded counts), built beside the file and
        renamed over it: a crash leaves the old file or the new one, never half of either."""
        directory = self.path.parent
        directory.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=directory)
        number = new_number()
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
                    write_counts(build, name, entry.identity, entry.absent_since, entry.counts)
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
        fsync_path(directory)
        db = connect(self.path)
        with self._lock:
            self._db, self._number = db, number
            self._entries = {
                name: Entry(e.identity, None, e.absent_since) for name, e in entries.items()
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


def _open_error(path: Path, err: sqlite3.Error) -> ConfigError:
    """An error opening the database that proves nothing about its content: stop, and say it."""
    return ConfigError(
        [
            f"state_file: cannot open the database {path}: {err}: check that the exporter's user"
            " can read and write it and its directory, and that the disk is healthy"
        ]
    )


def fsync_path(path: str | Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
