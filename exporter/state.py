"""``state_file``: what each target's ledger has counted, saved after every successful job poll
and read at start, so a restart (even ``kill -9``) neither recounts finished jobs nor misses
those that finished while the exporter was down.

Writes are atomic: a temporary file in the same directory, fsync, rename, fsync of the
directory. A missing or unreadable file is reported and the exporter starts clean.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from pathlib import Path

log = logging.getLogger(__name__)

FORMAT_VERSION = 1


class StateFile:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._targets: dict[str, dict] = {}

    def load(self) -> dict[str, dict]:
        """The saved state per target name; {} (and a log line) when there is none to use."""
        try:
            data = json.loads(self.path.read_bytes())
            if data.get("version") != FORMAT_VERSION or not isinstance(data.get("targets"), dict):
                raise ValueError(f"not a version {FORMAT_VERSION} state file")
        except FileNotFoundError:
            log.info("state file %s does not exist yet: starting clean", self.path)
            return {}
        except (OSError, ValueError, AttributeError) as err:
            log.error("state file %s is unusable (%s): starting clean", self.path, err)
            return {}
        self._targets = data["targets"]
        log.info("state file %s: restored %d targets", self.path, len(self._targets))
        return dict(self._targets)

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
