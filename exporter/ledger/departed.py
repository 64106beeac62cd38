"""Runs counted and then gone from the listings: a small fixed record each, until forgotten.

A job the platform stops listing may still come back (a list that shifts, a head restarted with
its history, two heads behind one address); until ``forget_after`` passes it must not be counted
again. Its id is no longer needed, only a way to know it again: each such run is kept as a
keyed 64-bit digest of its id (BLAKE2b, keyed by a random key saved with the ledger, so no
backend can make two ids collide on purpose), its run time, and what the counting rules read of
it when it returns: when it became absent, when it finished, the last reading of each usage
value its backend declares (``usage``; EMR: its CU hours) and two flags. That is 33 bytes in
parallel arrays, and 8 more a usage value, plus a slot of the open-addressing index (4 bytes,
made 3/5 full and grown at 4/5): about 50 bytes a run, where a remembered ``KnownJob`` with its
id costs about 200 (bench/departed.py).

Records are kept in the order they departed, which is the order of their ``absent_since``
(a run departs at the time of the listing that lacked it; after an outage every absence starts
again at the same time), so expiry and the cap drop from the front. A run that comes back is
marked dead in place and dropped when the arrays are compacted.

Two distinct ids share a digest with a chance of about n²/2⁶⁵ (n: records kept); such an id
would be taken for the run it collides with if its run time is also within ``RUN_TOLERANCE``.
"""

from __future__ import annotations

import hashlib
import math
import os
import sys
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from exporter.ledger.journal import Journal, RecordKey
from exporter.ledger.usage import Readings, kept

NO_RUN = -(2**63)  # the run time of a run remembered without one
DEFAULT_CAP = 1_000_000  # records per target: about 50 MB
_EMPTY, _DELETED = -1, -2  # index slots holding no position
_STARTED, _SEEN_PENDING, _DEAD = 1, 2, 4
_KEY_BYTES = 16


@dataclass(frozen=True, slots=True)
class DepartedRun:
    """One run as kept: what the counting rules need of it should it come back."""

    run: float | None
    absent_since: float
    finished_at: float | None
    readings: Readings
    started: bool
    seen_pending: bool


# one record as plain values: digest, run (whole ms, ``NO_RUN`` for none), absent_since,
# finished_at, readings, flags (1: started, 2: seen pending)
DepartedRecord = tuple[int, int, float, float | None, Readings, int]
FLAGS = _STARTED | _SEEN_PENDING


def run_milliseconds(run: float | None) -> int:
    return NO_RUN if run is None else round(run * 1000)


def _optional(value: float) -> float | None:
    return None if math.isnan(value) else value


class Departed:
    """The departed runs of one target, findable by id, oldest first; at most ``cap``. Records
    added and removed are noted in ``journal`` (the ledger's). Each keeps ``usage`` readings."""

    def __init__(
        self,
        key: bytes | None = None,
        cap: int = DEFAULT_CAP,
        journal: Journal | None = None,
        usage: int = 0,
    ) -> None:
        self.key = key if key is not None else os.urandom(_KEY_BYTES)
        self.cap = cap
        self._digest = array("q")
        self._run = array("q")
        self._absent = array("d")
        self._finished = array("d")
        self._readings = tuple(array("d") for _ in range(usage))
        self._flags = bytearray()
        self._head = 0  # records before it are gone
        self._live = 0
        self._dead = 0  # dead records at or after the head
        self._index = array("i", [_EMPTY]) * 8
        self._used = 0  # index slots not empty (positions and deleted marks)
        self._journal = journal if journal is not None else Journal()

    def __len__(self) -> int:
        return self._live

    def footprint(self) -> int:
        """Bytes held by the records and their index."""
        parts = (
            self._digest,
            self._run,
            self._absent,
            self._finished,
            *self._readings,
            self._flags,
        )
        return sum(map(sys.getsizeof, (*parts, self._index)))

    def digest(self, key: str) -> int:
        hashed = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8, key=self.key)
        return int.from_bytes(hashed.digest(), "little", signed=True)

    # --- runs in and out

    def add(self, key: str, run: DepartedRun) -> int:
        """Keep a run of id ``key``; the number of the oldest dropped to stay within the cap."""
        self._append(self.digest(key), run_milliseconds(run.run), run)
        return self._evict_over_cap()

    def runs(self, key: str) -> list[tuple[int, DepartedRun]]:
        """The runs kept of id ``key``, each with the position ``take`` wants."""
        digest = self.digest(key)
        return [(p, self._record(p)) for p in self._positions(digest)]

    def take(self, position: int) -> None:
        """A run found by ``runs`` came back: it is no longer kept here."""
        self._note(position, added=False)
        self._unindex(position)
        self._flags[position] |= _DEAD
        self._live -= 1
        self._dead += 1
        self._compact_if_sparse()

    def expire(self, now: float, forget_after: float) -> int:
        """Drop the runs absent for ``forget_after``; how many."""
        dropped = 0
        while self._head < len(self._flags):
            position = self._head
            if not self._flags[position] & _DEAD:
                if now - self._absent[position] < forget_after:
                    break
                self._drop(position)
                dropped += 1
            else:
                self._dead -= 1
            self._head += 1
        self._compact_if_sparse()
        return dropped

    def restart_absence(self, now: float) -> None:
        """After a gap in the watch, every absence is counted again from ``now``."""
        for position in range(self._head, len(self._absent)):
            self._absent[position] = now
        self._journal.note_departed_whole()

    # --- as plain values

    def records(self) -> Iterator[DepartedRecord]:
        for position in self._live_positions():
            yield self._plain(position)

    def records_of(self, keys: Iterable[RecordKey]) -> list[DepartedRecord]:
        """The records kept of those (digest, run) ``keys`` (one each, or none: gone since)."""
        return [
            self._plain(p)
            for digest, run_ms in keys
            for p in self._positions(digest)
            if self._run[p] == run_ms
        ]

    def restore(self, records: Iterable[DepartedRecord]) -> int:
        """Take ``records`` (any order: they are kept oldest first); the number of the
        oldest dropped to stay within the cap."""
        for digest, run_ms, absent, finished, readings, flags in sorted(
            records, key=lambda r: r[2]
        ):
            run = DepartedRun(
                None if run_ms == NO_RUN else run_ms / 1000,
                absent,
                finished,
                readings,
                bool(flags & _STARTED),
                bool(flags & _SEEN_PENDING),
            )
            self._append(digest, run_ms, run)
        return self._evict_over_cap()

    # --- the arrays and their index

    def _append(self, digest: int, run_ms: int, run: DepartedRun) -> None:
        position = len(self._flags)
        self._digest.append(digest)
        self._run.append(run_ms)
        self._absent.append(run.absent_since)
        self._finished.append(math.nan if run.finished_at is None else run.finished_at)
        readings = run.readings
        for i, values in enumerate(self._readings):
            reading = readings[i] if i < len(readings) else None
            values.append(math.nan if reading is None else reading)
        self._flags.append(_STARTED * run.started | _SEEN_PENDING * run.seen_pending)
        self._live += 1
        self._index_position(position)
        self._note(position, added=True)

    def _record(self, position: int) -> DepartedRun:
        run_ms, flags = self._run[position], self._flags[position]
        return DepartedRun(
            None if run_ms == NO_RUN else run_ms / 1000,
            self._absent[position],
            _optional(self._finished[position]),
            self._readings_at(position),
            bool(flags & _STARTED),
            bool(flags & _SEEN_PENDING),
        )

    def _plain(self, position: int) -> DepartedRecord:
        return (
            self._digest[position],
            self._run[position],
            self._absent[position],
            _optional(self._finished[position]),
            self._readings_at(position),
            self._flags[position] & FLAGS,
        )

    def _readings_at(self, position: int) -> Readings:
        return kept(tuple(_optional(values[position]) for values in self._readings))

    def _live_positions(self) -> Iterator[int]:
        flags = self._flags
        return (p for p in range(self._head, len(flags)) if not flags[p] & _DEAD)

    def _note(self, position: int, added: bool) -> None:
        self._journal.note_departed((self._digest[position], self._run[position]), added)

    def _drop(self, position: int) -> None:
        """A live record at the head leaves (expired or over the cap)."""
        self._note(position, added=False)
        self._unindex(position)
        self._live -= 1

    def _evict_over_cap(self) -> int:
        evicted = 0
        while self._live > self.cap:
            position = self._head
            if not self._flags[position] & _DEAD:
                self._drop(position)
                evicted += 1
            else:
                self._dead -= 1
            self._head += 1
        if evicted:
            self._compact_if_sparse()
        return evicted

    def _compact_if_sparse(self) -> None:
        """Rewrite the arrays without what is gone once that is more than 1/16 of them."""
        gone = self._head + self._dead
        if gone * 16 <= len(self._flags) + 256:
            return
        live = list(self._live_positions())
        for name in ("_digest", "_run", "_absent", "_finished"):
            old = getattr(self, name)
            setattr(self, name, array(old.typecode, [old[p] for p in live]))
        self._readings = tuple(array("d", [old[p] for p in live]) for old in self._readings)
        self._flags = bytearray(self._flags[p] for p in live)
        self._head, self._dead = 0, 0
        self._rebuild_index(len(live))

    def _rebuild_index(self, live: int) -> None:
        size = max(8, live * 5 // 3)
        index, digests = array("i", [_EMPTY]) * size, self._digest
        for position in self._live_positions():
            slot = digests[position] % size
            while index[slot] >= 0:
                slot = slot + 1 if slot + 1 < size else 0
            index[slot] = position
        self._index, self._used = index, self._live

    def _index_position(self, position: int) -> None:
        if (self._used + 1) * 5 > len(self._index) * 4:
            self._rebuild_index(self._live)  # also clears the deleted marks
            return  # the rebuild indexed every record, this one too
        index, size = self._index, len(self._index)
        slot = self._digest[position] % size
        while index[slot] >= 0:
            slot = slot + 1 if slot + 1 < size else 0
        if index[slot] == _EMPTY:
            self._used += 1
        index[slot] = position

    def _slots(self, digest: int) -> Iterator[int]:
        """The index slots of ``digest``'s probe sequence, up to the first empty one."""
        index, size = self._index, len(self._index)
        slot = digest % size
        while index[slot] != _EMPTY:
            yield slot
            slot = slot + 1 if slot + 1 < size else 0

    def _positions(self, digest: int) -> list[int]:
        digests = self._digest
        return [
            self._index[s]
            for s in self._slots(digest)
            if self._index[s] >= 0 and digests[self._index[s]] == digest
        ]

    def _unindex(self, position: int) -> None:
        for slot in self._slots(self._digest[position]):
            if self._index[slot] == position:
                self._index[slot] = _DELETED
                return
