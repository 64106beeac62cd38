"""The runs a ledger remembers, in full and as departed, and the rules that forget them.

A run is forgotten only after complete listings have gone without it for ``forget_after``; a
counted run that complete listings lack is kept meanwhile as a small fixed record
(``departed.Departed``), at most ``max_departed`` of them: past that the oldest are forgotten
early, and counted in ``evicted``. Every change of what is remembered is noted in ``journal``.
"""

from __future__ import annotations

from exporter.ledger.departed import Departed
from exporter.ledger.journal import Journal
from exporter.ledger.runs import KnownJob, Remembered, Run, departing, returned, run_of, run_time

ABSENCE_GAP = 3600.0  # complete listings further apart do not prove a job gone in between


class RunMemory:
    """The runs of one target's jobs remembered, by id: a ``JobLedger``'s memory."""

    def __init__(self, forget_after: float, max_departed: int, usage: int = 0) -> None:
        self.forget_after = forget_after
        self.last_complete: float | None = None  # the last complete listing (our clock)
        self.known: dict[str, Remembered] = {}  # by id: its run, or its runs
        self.journal = Journal()
        self.departed = Departed(cap=max_departed, journal=self.journal, usage=usage)
        self.evicted = 0  # departed runs forgotten early, at the cap

    def _remembered(
        self,
        key: str,
        run: float | None,
        now: float,
        again: bool,
        seen_runs: dict[str, set[int]],
    ) -> Remembered | None:
        """The runs remembered of id ``key``; when none of them is the run of a record of run
        time ``run``, the departed run that is (if any) comes back among them."""
        entry = self.known.get(key)
        if not len(self.departed) or run_of(entry, run) is not None:
            return entry
        kept = self.departed.runs(key)
        match = run_of([record for _, record in kept], run) if kept else None
        if match is None:
            return entry
        self.departed.take(next(p for p, record in kept if record is match))
        return self._add_run(key, entry, returned(match, now), again, seen_runs)

    def _add_run(
        self,
        key: str,
        entry: Remembered | None,
        known: KnownJob,
        again: bool,
        seen_runs: dict[str, set[int]],
    ) -> Remembered:
        """Remember ``known``, a run of id ``key``, beside its runs remembered (``entry``)."""
        if entry is None:
            self.known[key] = known
            return known
        if type(entry) is KnownJob:  # another run of an id: both are remembered
            if again:  # the run remembered was the one listed before in this answer
                seen_runs[key] = {id(entry)}
            entry = self.known[key] = [entry, known]
            return entry
        entry.append(known)
        return entry

    def remembered_runs(self, key: str) -> list[Run]:
        """The runs of id ``key`` remembered, in full or as departed, earliest first."""
        entry = self.known.get(key)
        runs: list[Run] = [] if entry is None else entry if type(entry) is list else [entry]
        runs += [record for _, record in self.departed.runs(key)]
        return sorted(runs, key=run_time)

    def remembers(self, key: str) -> bool:
        """Whether a run of id ``key`` is remembered, in full or as departed."""
        return bool(self.remembered_runs(key))

    def unfinished(self) -> list[str]:
        """Jobs remembered as seen but not yet counted finished (by id: one of its runs)."""
        return [
            key
            for key, entry in self.known.items()
            if (not entry.counted if type(entry) is KnownJob else any(not k.counted for k in entry))
        ]

    def _forget(self, now: float, seen: set[str], seen_runs: dict[str, set[int]]) -> None:
        """Forget a run once complete listings have gone without it for ``forget_after``: the
        platform no longer returns it. Absence is counted from the first complete listing that
        lacks it, and counted again from the start after a gap of more than ``ABSENCE_GAP``
        between two complete listings (an outage, a long run of failed polls): what the
        exporter did not watch proves nothing, so a first poll after an outage forgets nothing.
        Each run of an id is absent, and forgotten, on its own; a counted run departs as soon
        as it is absent (``departed``), and is forgotten from there."""
        watched = self.last_complete is not None and now - self.last_complete <= ABSENCE_GAP
        if watched:
            self.departed.expire(now, self.forget_after)
        else:
            self.departed.restart_absence(now)
        stale = []  # ids none of whose runs is kept in full
        several: dict[str, set[int]] = {}  # ids of several runs: those of their runs listed
        for key, entry in self.known.items():
            if key in seen:
                continue
            if type(entry) is list:
                several[key] = set()
            elif self._gone(key, entry, now, watched):
                stale.append(key)
            elif entry.counted:
                self._depart(key, entry)
                stale.append(key)
        for key, listed in (*seen_runs.items(), *several.items()):
            runs = self.known[key]
            assert type(runs) is list  # an id listed is remembered, and runs are never fewer
            kept = []
            for known in runs:
                if id(known) in listed:
                    kept.append(known)
                elif self._gone(key, known, now, watched):
                    continue
                elif known.counted:
                    self._depart(key, known)
                else:
                    kept.append(known)
            if len(kept) < len(runs):
                if kept:
                    self.known[key] = kept[0] if len(kept) == 1 else kept
                    self.journal.note_run(key, len(self.known))
                else:
                    stale.append(key)
        self._drop_keys(stale)
        self.last_complete = now

    def _depart(self, key: str, known: KnownJob) -> None:
        """A counted run that complete listings lack is kept as a departed record."""
        self.evicted += self.departed.add(key, departing(known))

    def _drop_keys(self, keys: list[str]) -> None:
        """Ids no run of which is remembered in full any more."""
        journal = self.journal
        for key in keys:
            del self.known[key]
            journal.note_forgotten(key)
        journal.bound(len(self.known))

    def depart_absent(self) -> None:
        """The counted runs remembered absent depart (each id's once), oldest absence first:
        those of a ledger continued from counts kept before departed runs were kept apart."""
        absent = sorted(
            (
                (known.absent_since, key, known)
                for key, entry in self.known.items()
                for known in (entry if type(entry) is list else [entry])
                if known.counted and known.absent_since is not None
            ),
            key=lambda item: item[0],
        )
        stale = []
        for _, key, known in absent:
            self._depart(key, known)
            entry = self.known[key]
            if type(entry) is KnownJob:
                stale.append(key)
                continue
            entry.remove(known)
            self.known[key] = entry[0] if len(entry) == 1 else entry
            self.journal.note_run(key, len(self.known))
        self._drop_keys(stale)

    def _gone(self, key: str, known: KnownJob, now: float, watched: bool) -> bool:
        """Whether a run that a complete listing lacked is to be forgotten now."""
        if known.absent_since is None or not watched:
            known.absent_since = now
            self.journal.note_run(key, len(self.known))
            return False
        return now - known.absent_since >= self.forget_after
