"""A source at run time: ``Source``, what every kind shares (the targets of groups made from
the template, each name once and at most ``max_targets``, the version and health the series
show), and ``FileSource``: the files its globs match, each re-read when it changes (inode,
size or modification time), and the targets of each file's last good version.

A file that cannot be used (unreadable, not file_sd, a refused label or address) keeps the
targets of its last good version: the problem is counted by reason and logged once, when the
file changes into it; a file that no longer matches the globs takes its targets away.
"""

from __future__ import annotations

import glob
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from exporter.config.discovery import DiscoverySource, discovered_target
from exporter.config.types import Defaults, Target, one_line
from exporter.discovery.file_sd import SHOWN, Group, Labels, SdProblem, read_groups

log = logging.getLogger(__name__)

REASONS = ("read", "format", "labels", "target", "duplicate", "limit")  # of a file source
_versions = itertools.count(1)  # a change of any source's targets, never the same twice

Signature = tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class Discovered:
    """A target a source found, and the labels of its group."""

    target: Target
    source: str
    labels: Labels


@dataclass(frozen=True, slots=True)
class _File:
    signature: Signature | None
    found: tuple[Discovered, ...]  # of its last good version
    good: bool


def _signature(path: str) -> Signature | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_ino, info.st_size, info.st_mtime_ns)


class Source:
    """What every kind of source shares; ``refresh`` (each kind's) reads what changed and
    returns True when the targets did, ``found`` is what the source gives."""

    reasons: tuple[str, ...] = ()  # of jobfleet_discovery_errors_total, each shown from 0
    local = False  # read from this machine (files): quick enough to read while a reload waits

    def __init__(
        self,
        settings: DiscoverySource,
        defaults: Defaults,
        errors: dict[str, int] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.defaults = defaults
        self.name = settings.name
        self.clock = clock
        self.errors = dict.fromkeys(self.reasons, 0) | (errors or {})
        self.found: tuple[Discovered, ...] = ()
        self.ok = False
        self.last_success: float | None = None
        self.version = next(_versions)
        self.next_refresh = 0.0  # monotonic
        self._built: dict[object, Target] = {}  # by address, while listed
        self._within_bounds = True
        self._problem: str | None = None  # the key of the problem ``_report`` logged last
        self._refreshing = threading.Lock()

    def refresh(self, force: bool = False) -> bool:
        raise NotImplementedError

    def refresh_once(self, force: bool = False, wait: bool = True) -> None:
        """``refresh``, never two at once (a reload and the background may both ask): without
        ``wait``, nothing when a refresh is under way. Never raises: a bug is logged."""
        if not self._refreshing.acquire(blocking=wait):
            return
        try:
            self.refresh(force)
        except Exception as err:  # a bug: the source keeps what it found, the loop goes on
            log.error("discovery %s: refresh failed: %s", self.name, type(err).__name__)
        finally:
            self._refreshing.release()

    def _schedule(self) -> None:
        self.next_refresh = time.monotonic() + self.settings.refresh_interval

    def _report(self, problem: SdProblem | None, where: str, kept: str) -> None:
        """Log a problem of a whole refresh (``where`` could not be used) when it is another
        than the last one, and the recovery from one; ``kept`` names what the targets kept
        are of."""
        key = problem.key if problem is not None else None
        if key == self._problem:
            return
        self._problem = key
        if problem is None:
            log.info("discovery %s: %s is usable again", self.name, where)
        else:
            log.error(
                "discovery %s: %s: keeping the %d targets of its %s",
                self.name,
                problem,
                len(self.found),
                kept,
            )

    def _settle(self, good: bool) -> None:
        """The health of a refresh: every part used, and within ``max_targets``."""
        self.ok = self._within_bounds and good
        if self.ok:
            self.last_success = self.clock()

    def _publish(self, found: tuple[Discovered, ...], origin: str) -> None:
        """Give ``found`` from now on, a new version if it changed."""
        if found == self.found:
            return
        self.found, self.version = found, next(_versions)
        names = {item.target.name for item in found}
        self._built = {a: t for a, t in self._built.items() if t.name in names}
        log.info("discovery %s: %d targets from %s", self.name, len(found), origin)

    def _targets(self, groups: list[Group], where: str) -> tuple[Discovered, ...]:
        """The targets of ``groups`` (read from ``where``); SdProblem for a refused address."""
        built: dict[object, Target] = {}
        found = []
        for index, group in enumerate(groups):
            for at, address in enumerate(group.addresses):
                target = self._built.get(address) if isinstance(address, str) else None
                if target is None:
                    try:
                        target = discovered_target(self.settings, self.defaults, address)
                    except ValueError as err:
                        shown = one_line(str(address), SHOWN)
                        place = f"{where}: [{index}].targets[{at}] ({shown})"
                        raise SdProblem("target", f"{place}: {err}") from None
                built[address] = target
                found.append(Discovered(target, self.name, group.labels))
        self._built.update(built)
        return tuple(found)

    def _merge(self, parts: Iterable[tuple[str, tuple[Discovered, ...]]]) -> tuple[Discovered, ...]:
        """The targets of every part (a file, an answer) in order, each name once, at most
        ``max_targets``."""
        names: dict[str, Discovered] = {}
        for where, found in parts:
            for item in found:
                if item.target.name in names:
                    self.errors["duplicate"] += 1
                    log.warning(
                        "discovery %s: %s: %s is listed again: the first one is kept",
                        self.name,
                        where,
                        item.target.name,
                    )
                    continue
                names[item.target.name] = item
        limit = self.settings.max_targets
        self._within_bounds = len(names) <= limit
        if not self._within_bounds:
            self.errors["limit"] += 1
            log.error(
                "discovery %s: %d targets, more than max_targets (%d): the first %d are kept",
                self.name,
                len(names),
                limit,
                limit,
            )
        return tuple(itertools.islice(names.values(), limit))


class RemoteSource(Source):
    """A source read over the network (``http``, ``kuberay``): each refresh reads it whole
    (``_read``, which publishes what it found); one that fails keeps the last good targets,
    counts the problem and logs it once per change."""

    kept = "last good answer"  # what a failed refresh keeps, as the log says it
    where = ""  # the source's address, safe to print

    def refresh(self, force: bool = False) -> bool:
        """Read the source; True when the targets changed. Never raises for what it answers."""
        self._schedule()
        before = self.version
        try:
            good = self._read(force)
        except SdProblem as problem:
            self.errors[problem.reason] += 1
            self._report(problem, self.where, self.kept)
            self._settle(False)
        else:
            self._report(None, self.where, self.kept)
            self._settle(good)
        return self.version != before

    def _read(self, force: bool) -> bool:
        """Read and publish what the source gives; whether all of it was usable. SdProblem."""
        raise NotImplementedError


class FileSource(Source):
    """One ``file`` source; ``refresh`` re-reads the files that changed."""

    reasons = REASONS
    local = True

    def __init__(
        self,
        settings: DiscoverySource,
        defaults: Defaults,
        errors: dict[str, int] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(settings, defaults, errors, clock)
        self.files: dict[str, _File] = {}

    def matching(self) -> list[str]:
        """The files the paths and globs match now, each once, in order."""
        assert self.settings.file is not None
        found: dict[str, None] = {}
        for pattern in self.settings.file.paths:
            for path in sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]:
                if os.path.isfile(path) or not glob.has_magic(pattern):
                    found[path] = None
        return list(found)

    def refresh(self, force: bool = False) -> bool:
        """Re-read the files that changed (all with ``force``); True when the targets did."""
        self._schedule()
        files: dict[str, _File] = {}
        for path in self.matching():
            known = self.files.get(path)
            signature = _signature(path)
            if known is not None and not force and signature == known.signature:
                files[path] = known
            else:
                files[path] = self._read(path, signature, known)
        before = self.version
        if files != self.files:
            self.files = files
            found = self._merge((path, file.found) for path, file in files.items())
            self._publish(found, f"{len(files)} files")
        self._settle(all(file.good for file in files.values()))
        return self.version != before

    def _read(self, path: str, signature: Signature | None, known: _File | None) -> _File:
        kept = known.found if known is not None else ()
        try:
            if signature is None:
                raise SdProblem("read", f"cannot read {path}: it does not exist")
            found = self._targets(read_groups(path), path)
        except SdProblem as problem:
            self.errors[problem.reason] += 1
            log.error(
                "discovery %s: %s: keeping the %d targets of its last good version",
                self.name,
                problem,
                len(kept),
            )
            return _File(signature, kept, good=False)
        return _File(signature, found, good=True)
