"""``state_file``: what each target's ledger has counted, saved after every successful job poll
and read at start, so a restart (even ``kill -9``) neither recounts finished jobs nor misses
those that finished while the exporter was down.

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
from pathlib import Path

from .config import ConfigError
from .config_files import FileProblem, read_regular_file

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
STATE_FILE_LIMIT = 512 * 1024 * 1024  # ~5 million known jobs


class StateFile:
    """The state file of one process: locked from construction until ``close``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._targets: dict[str, dict] = {}
        self._lock_fd = self._acquire()
        self._remove_leftovers()

    def _acquire(self) -> int:
        """Lock ``<file>.lock``; ConfigError when another process holds it or it cannot be made.

        The state file itself cannot carry the lock: every save replaces it by a new file."""
        lock_path = self.path.with_name(self.path.name + ".lock")
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
            raise ConfigError([f"state_file: {self.path} is in use by another process"]) from None
        return fd

    def _remove_leftovers(self) -> None:
        """Temporary files of saves cut short (kill -9 between mkstemp and rename)."""
        pattern = re.compile(rf"\.{re.escape(self.path.name)}\.[A-Za-z0-9_]{{8}}")
        removed = 0
        for entry in self.path.parent.iterdir():
            if pattern.fullmatch(entry.name) and entry.is_file() and not entry.is_symlink():
                entry.unlink(missing_ok=True)
                removed += 1
        if removed:
            log.info("state file %s: removed %d unfinished temporary files", self.path, removed)

    def close(self) -> None:
        """Release the lock (the lock file stays: removing it would race a starting process)."""
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    def load(self) -> dict[str, dict]:
        """The saved state per target name; {} (and a log line) when there is none to use.

        Entries are checked when a target restores its own (one bad entry costs that target
        only); here only the envelope."""
        if not self.path.exists() and not self.path.is_symlink():
            log.info("state file %s does not exist yet: starting clean", self.path)
            return {}
        try:
            data = json.loads(read_regular_file(self.path, STATE_FILE_LIMIT))
        except FileProblem as err:
            return self._unusable(str(err))
        except (ValueError, RecursionError):  # RecursionError: JSON nested too deep
            return self._unusable("not JSON")
        if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
            return self._unusable(f"not a version {FORMAT_VERSION} state file")
        if not isinstance(data.get("targets"), dict):
            return self._unusable("no targets object")
        self._targets = data["targets"]
        log.info("state file %s: restored %d targets", self.path, len(self._targets))
        return dict(self._targets)

    def _unusable(self, why: str) -> dict[str, dict]:
        log.error("state file %s is unusable (%s): starting clean", self.path, why)
        return {}

    def save(self, target: str, state: dict) -> None:
        """Record one target's state and write the whole file atomically."""
        with self._lock:
            self._targets[target] = state
            payload = json.dumps({"version": FORMAT_VERSION, "targets": self._targets}).encode()
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

    def forget(self, keep: set[str]) -> None:
        """Drop the state of targets no longer configured (written with the next save)."""
        with self._lock:
            self._targets = {name: s for name, s in self._targets.items() if name in keep}
