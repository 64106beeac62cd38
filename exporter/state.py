"""What each target has counted, by target name: the exporter's memory of its targets.

One rule for a restart and a reload (docs/metrics.md, "Counting"): a target continues from its
entry when the entry has the target's identity (``identity.fingerprint``); an entry of another
identity is dropped and the target starts a new baseline. A target that leaves the
configuration keeps its entry, unpublished, for ``forget_after`` (7 days) of absence, so one
that comes back within that time continues counting; then the entry is dropped.

With ``state_file`` the entries live in that file, saved after every successful job poll and
read at start, so a restart (even ``kill -9``) neither recounts finished jobs nor misses those
that finished while the exporter was down. Without it they live in memory: a reload keeps
them, a restart starts clean.

Writes are atomic: a temporary file in the same directory, fsync, rename, fsync of the
directory; temporary files a kill -9 left behind are removed at start. A missing or unreadable
file is reported and the exporter starts clean; a target whose saved entry is unusable starts
clean alone (checked by ``ledger_state``). One process at a time: ``<file>.lock`` beside it is
held with ``flock`` for the process' lifetime, and a second process on the same file exits.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from .config import ConfigError
from .config_files import FileProblem, read_regular_file

log = logging.getLogger(__name__)

FORMAT_VERSION = 2  # version 1 held each target's counts alone, without identity
STATE_FILE_LIMIT = 512 * 1024 * 1024  # ~5 million known jobs
FORGET_AFTER = 7 * 86400.0


@dataclass(slots=True)
class _Entry:
    identity: str | None  # None: written by version 1, adopted by the first target of its name
    counts: str  # the ledger's state, JSON-encoded once, so a save re-encodes only what changed
    absent_since: float | None = None


class StateFile:
    """Entries by target name, in ``path`` when given, else in memory only.

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
        if self.path is not None:
            self._lock_fd = self._acquire(self.path)
            self._remove_leftovers(self.path)

    @staticmethod
    def _acquire(path: Path) -> int:
        """Lock ``<file>.lock``; ConfigError when another process holds it or it cannot be made.

        The state file itself cannot carry the lock: every save replaces it by a new file."""
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
        """Temporary files of saves cut short (kill -9 between mkstemp and rename)."""
        pattern = re.compile(rf"\.{re.escape(path.name)}\.[A-Za-z0-9_]{{8}}")
        removed = 0
        for entry in path.parent.iterdir():
            if pattern.fullmatch(entry.name) and entry.is_file() and not entry.is_symlink():
                entry.unlink(missing_ok=True)
                removed += 1
        if removed:
            log.info("state file %s: removed %d unfinished temporary files", path, removed)

    def close(self) -> None:
        """Release the lock (the lock file stays: removing it would race a starting process)."""
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    def load(self) -> None:
        """Read the file; no entries (and a log line) when there is none to use.

        Counts are checked when a target restores its own (one bad entry costs that target
        only); here the envelope and each entry's identity and absence."""
        if self.path is None:
            return
        if not self.path.exists() and not self.path.is_symlink():
            log.info("state file %s does not exist yet: starting clean", self.path)
            return
        try:
            data = json.loads(read_regular_file(self.path, STATE_FILE_LIMIT))
        except FileProblem as err:
            return self._unusable(str(err))
        except (ValueError, RecursionError):  # RecursionError: JSON nested too deep
            return self._unusable("not JSON")
        try:
            entries = _entries(data)
        except (ValueError, TypeError, KeyError, AttributeError) as err:
            return self._unusable(str(err) or type(err).__name__)
        with self._lock:
            self._entries = entries
        log.info("state file %s: restored %d targets", self.path, len(entries))

    def _unusable(self, why: str) -> None:
        log.error("state file %s is unusable (%s): starting clean", self.path, why)

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
                return None
            if self.path is None:
                del self._entries[name]
            else:
                entry.absent_since = None
            return json.loads(entry.counts)

    def save(self, name: str, identity: str, counts: dict) -> None:
        """Record a configured target's counts and write the file atomically."""
        with self._lock:
            self._entries[name] = _Entry(identity, json.dumps(counts))
            self._write()

    def keep_absent(self, retired: Iterable[tuple[str, str, dict]]) -> None:
        """Record the final (name, identity, counts) of targets a reload took out of the
        configuration, or replaced: kept, absent from now on, until their target comes back
        or ``forget_after`` passes; one write for all, and a reload goes on if it fails."""
        with self._lock:
            now, changed = self.clock(), False
            for name, identity, counts in retired:
                self._entries[name] = _Entry(identity, json.dumps(counts), now)
                changed = True
            if not changed:
                return
            try:
                self._write()
            except OSError as err:  # kept in memory; the next save writes them
                log.error("cannot write the state file %s: %s", self.path, err.strerror or err)

    def forget(self, configured: Iterable[str]) -> None:
        """Mark the entries of targets not in ``configured`` absent from now (when not
        already), and drop those absent longer than ``forget_after``."""
        configured = set(configured)
        now = self.clock()
        with self._lock:
            for name, entry in list(self._entries.items()):
                if name in configured:
                    continue
                if entry.absent_since is None:
                    entry.absent_since = now
                elif now - entry.absent_since > self.forget_after:
                    del self._entries[name]
                    log.info(
                        "target %s: absent for %.0f days: its state is dropped",
                        name,
                        self.forget_after / 86400,
                    )

    def _write(self) -> None:
        if self.path is None:
            return
        targets = ",".join(
            f'{json.dumps(name)}:{{"identity":{json.dumps(e.identity)},'
            f'"absent_since":{json.dumps(e.absent_since)},"counts":{e.counts}}}'
            for name, e in self._entries.items()
        )
        payload = f'{{"version":{FORMAT_VERSION},"targets":{{{targets}}}}}'.encode()
        directory = self.path.parent
        directory.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=directory)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(payload)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


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
