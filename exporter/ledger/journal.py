"""What changed in a ledger since its journal was last drained, so that whoever keeps a copy
of the ledger (the state file) rewrites only that.

The ledger notes every change of what it remembers: the ids whose remembered runs changed, the
ids it forgot, the departed records added and removed (by digest and run). A new journal, and
one noted ``whole``, stands for everything: nothing has taken the ledger yet, or so much
changed that naming each change would cost more than taking it all. The counters are not
journaled: the time of the last complete listing changes at every poll, so they are always
taken whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

RecordKey = tuple[int, int]  # a departed record's digest and run (whole milliseconds)


@dataclass(frozen=True, slots=True)
class Changes:
    """What a journal held when drained."""

    whole: bool  # every remembered run changed: ``runs`` and ``forgotten`` are empty
    runs: frozenset[str]  # ids whose remembered runs changed (some may be forgotten since)
    forgotten: tuple[str, ...]  # ids no run of which is remembered in full any more, sorted
    departed_whole: bool  # every departed record changed: the two below are empty
    departed_added: tuple[RecordKey, ...]
    departed_removed: tuple[RecordKey, ...]

    def none(self) -> bool:
        """Nothing changed: no remembered run, no departed record."""
        return not (
            self.whole
            or self.runs
            or self.forgotten
            or self.departed_whole
            or self.departed_added
            or self.departed_removed
        )


class Journal:
    """The changes of one ledger since ``draining`` last ended without an error."""

    __slots__ = ("_added", "_departed_whole", "_forgotten", "_removed", "_runs", "whole")

    def __init__(self) -> None:
        self.whole = True  # read on the hot path: a whole journal notes nothing more
        self._runs: set[str] = set()
        self._forgotten: set[str] = set()
        self._departed_whole = True
        self._added: set[RecordKey] = set()
        self._removed: set[RecordKey] = set()

    def note_run(self, key: str, remembered: int) -> None:
        """The runs remembered of id ``key`` changed; ``remembered``: ids remembered in all."""
        if self.whole:
            return
        self._runs.add(key)
        if len(self._runs) > remembered:  # never drained: nothing holds this ledger
            self.note_whole()

    def note_forgotten(self, key: str) -> None:
        """No run of id ``key`` is remembered in full any more."""
        if self.whole:
            return
        self._runs.discard(key)
        self._forgotten.add(key)

    def bound(self, remembered: int) -> None:
        """Take everything once more ids were forgotten than are remembered (``remembered``)."""
        if len(self._forgotten) > remembered:
            self.note_whole()

    def note_whole(self) -> None:
        self._runs.clear()
        self._forgotten.clear()
        self.whole = True

    def note_departed(self, record: RecordKey, added: bool) -> None:
        """A departed record was added, or removed (taken back, expired or evicted)."""
        if self._departed_whole:
            return
        if added:
            self._removed.discard(record)
            self._added.add(record)
        else:
            self._added.discard(record)
            self._removed.add(record)

    def note_departed_whole(self) -> None:
        self._added.clear()
        self._removed.clear()
        self._departed_whole = True

    def clear(self) -> None:
        """Nothing changed from here on (as after a drain)."""
        self._runs, self._forgotten, self.whole = set(), set(), False
        self._added, self._removed, self._departed_whole = set(), set(), False

    @contextmanager
    def draining(self) -> Iterator[Changes]:
        """The changes so far; cleared when the block ends without an error, kept otherwise
        (whoever failed to take them takes them again next time)."""
        yield Changes(
            self.whole,
            frozenset(self._runs),
            tuple(sorted(self._forgotten)),
            self._departed_whole,
            tuple(self._added),
            tuple(self._removed),
        )
        self.clear()
