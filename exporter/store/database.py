"""What each target has counted, by target name: the exporter's memory of its targets.

One rule for a restart and a reload (docs/metrics.md, "Counting"): a target continues from its
entry when the entry has the target's identity (``identity.fingerprint``); an entry of another
identity is dropped and the target starts a new baseline. A target that leaves the
configuration keeps its entry, unpublished, for ``forget_after`` (7 days) of absence, so one
that comes back within that time continues counting; then the entry is dropped.

With ``state_file`` the entries live in that file, an SQLite database (``opening``), saved after
every successful job poll in one transaction that writes the target's counters and only the
remembered jobs that changed (as the ledger's journal names them), and read at start, so a
restart (even ``kill -9``) neither recounts finished jobs nor misses those that finished while
the exporter was down. Without it they live in memory: a reload keeps them, a restart starts
clean.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from exporter.ledger.job_ledger import JobLedger
from exporter.store import ledger_form
from exporter.store.opening import LockedDatabase
from exporter.store.rows import (
    decoded,
    delete_target,
    departed_rows,
    insert_departed,
    write_counts,
    write_runs,
)
from exporter.store.schema import Entry

log = logging.getLogger(__name__)

FORGET_AFTER = 7 * 86400.0


class StateFile(LockedDatabase):
    """Entries by target name, kept across reloads, and across restarts with a file."""

    def __init__(
        self,
        path: str | Path | None,
        clock: Callable[[], float] = time.time,
        forget_after: float = FORGET_AFTER,
    ) -> None:
        super().__init__(path, clock)
        self.forget_after = forget_after

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
                            delete_target(db, name)
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
            known = {key: decoded(entry) for key, entry in rows}
            departed = departed_rows(self._db, name)
        except sqlite3.Error as err:
            log.error("target %s: its saved state cannot be read (%s): it starts clean", name, err)
            return None
        counts = decoded(row[0]) if row is not None else None
        if row is not None and counts is None:
            log.error("state file: target %s: field counts is not JSON: it starts clean", name)
        if isinstance(counts, dict) and "known" not in counts:
            counts["known"] = known
            counts["departed"] = departed
        return counts

    def save(self, name: str, identity: str, ledger: JobLedger) -> None:
        """Record a configured target's counts: its counters and the remembered jobs that
        changed since its last save (as its journal names them), in one durable transaction;
        the journal is drained only once that is committed.

        A poll that changed nothing the file holds writes nothing: a durable commit (an
        fsync) per poll, under one lock, held 10,000 targets' polls in line."""
        with ledger.journal.draining() as changes:
            counts = json.dumps(ledger_form.counts_state(ledger))
            digest = hashlib.blake2b(counts.encode(), digest_size=16).digest()
            with self._lock:
                kept = self._entries.get(name)
                if (
                    kept is not None
                    and kept.saved == digest
                    and (kept.identity, kept.counts, kept.absent_since) == (identity, None, None)
                    and changes.none()
                ):
                    return
            runs = ledger_form.changed_runs(ledger, changes)
            records = (
                ledger.departed.records()
                if changes.departed_whole
                else ledger.departed.records_of(changes.departed_added)
            )
            departed = [ledger_form.saved_departed(record) for record in records]
            with self._lock:
                entry = self._entries[name] = Entry(identity, None)
                with self._transaction() as db:
                    written = self._write_pending(db)
                    db.execute(
                        "INSERT INTO targets VALUES (?, ?, NULL, ?) ON CONFLICT(name) DO UPDATE"
                        " SET identity = excluded.identity, absent_since = NULL,"
                        " counts = excluded.counts",
                        (name, identity, counts),
                    )
                    write_runs(db, name, changes.whole, runs, changes.forgotten)
                    if changes.departed_whole:
                        db.execute("DELETE FROM departed WHERE target = ?", (name,))
                    db.executemany(
                        "DELETE FROM departed WHERE target = ? AND digest = ? AND run = ?",
                        ((name, *key) for key in changes.departed_removed),
                    )
                    insert_departed(db, name, departed)
                self._written(written)
                entry.saved = digest

    def keep_absent(self, retired: Iterable[tuple[str, str, dict]]) -> None:
        """Record the final (name, identity, counts) of targets a reload took out of the
        configuration, or replaced: kept, absent from now on, until their target comes back
        or ``forget_after`` passes; one write for all, and a reload goes on if it fails."""
        with self._lock:
            now = self.clock()
            for name, identity, counts in retired:
                self._entries[name] = Entry(identity, json.dumps(counts), now)
            if self._db is None:
                return
            try:
                with self._transaction() as db:
                    written = self._write_pending(db)
                self._written(written)
            except OSError as err:  # kept in memory; the next save writes them
                log.error("cannot write the state file %s: %s", self.path, err)

    def _write_pending(self, db: sqlite3.Connection) -> list[Entry]:
        """Write the entries held in memory only (their write failed) whole; the caller lets
        go of their counts once the transaction is committed."""
        pending = [(name, e) for name, e in self._entries.items() if e.counts is not None]
        for name, entry in pending:
            write_counts(db, name, entry.identity, entry.absent_since, entry.counts)
        return [entry for _name, entry in pending]

    @staticmethod
    def _written(entries: list[Entry]) -> None:
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
                        delete_target(db, name)
            except OSError as err:  # the next successful write of each entry catches up
                log.error("cannot write the state file %s: %s", self.path, err)
