"""Field maps: how an API's job record becomes a ``Job``, declared once per backend, and the one
parser that applies every map.

A backend declares where each part of a ``Job`` is in its record (``FieldMap``) and which
lenient reader of ``backends.kit.fields`` reads it. ``FieldMap.parser`` compiles the map, once per
target, into a closure per field (paths split, readers, tables and caches bound), so the work
per item is the reading alone: a Ray target parses every changed item of a 100k-job list.

A path is dotted (``metadata.name``, ``status.jobStatus``) and reads through dicts and typed
records (``decode.TypedRecord``) alike; a step that finds anything else reads as unset, and so
does an item that is neither (the parser gives None: the item is skipped and counted).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from exporter.backends.kit.extras import NO_EXTRAS, Extras
from exporter.backends.kit.field_parse import Parse, Reader, compile_parser
from exporter.backends.kit.fields import text
from exporter.ledger.attribution import SourceFields
from exporter.model import Phase

TIMES = ("submit", "start", "end", "updated")  # each sets the Job's <time>_time
LABEL_TUPLES_KEPT = 1024  # distinct label values whose label tuples are shared, per map


@dataclass(frozen=True, slots=True)
class Value:
    """One value of a record: the field at ``path`` read by ``read`` (a ``backends.kit.fields``
    reader: ``word``, ``number``, ``parse_epoch``, ``parse_time``, ``parse_quantity``...).

    A number below ``minimum`` or above ``maximum`` reads as unset (None), and is made an int
    when ``integer``. ``default`` is the text of an empty text field. A ``terminal_only`` time
    is read only when the job's phase is terminal (an API that tells the end as its last
    update)."""

    path: str
    read: Reader = text
    minimum: float | None = None
    maximum: float | None = None
    integer: bool = False
    default: str = ""
    terminal_only: bool = False


@dataclass(frozen=True, slots=True)
class Status:
    """Where a record's status is, and the phase it means.

    Each of ``paths`` is read as an interned word, upper-cased when ``upper``; the native
    status is the first value that is not empty, or ``default``. ``phases`` is a table keyed by
    that status (one path) or by the tuple of the values (several paths; "" where one is
    unset), a key it lacks meaning ``Phase.UNKNOWN``; or a function of the values, followed by
    the values of the named value fields in ``uses`` (a phase that depends on a count)."""

    paths: str | tuple[str, ...]
    phases: Mapping[Any, Phase] | Callable[..., Phase]
    default: str = "UNKNOWN"
    upper: bool = False
    uses: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a failed job failed (a job in another phase has no reason: "").

    From ``path``: its value when in ``vocabulary``, ``other`` for any other value, "" when
    unset. Without a path: ``fixed``, or the native status when that is "" too."""

    path: str = ""
    vocabulary: tuple[str, ...] = ()
    fixed: str = ""


@dataclass(frozen=True)
class FieldMap:
    """How one API's job record maps to a ``Job``.

    ``id``: the paths of its identity, the first not empty wins (none: the item is skipped).
    ``name``: the paths of its name, the id when all are empty. ``job_type``: a constant, or a
    ``Value`` (with a ``default``). ``times``: ``submit``, ``start``, ``end``, ``updated``, each a
    ``Value`` read by a time reader; ``run`` names the one that tells runs apart (``Job.run``).
    ``values``: the backend's own values, by the name its ``extras`` declares each (they land
    in ``Job.values``, in the declared order; a declared value the map does not read is None,
    and a status may read one: ``Status.uses``). ``labels``: path ->
    label name of the job's extra labels (a label with an empty value is left out).
    ``attribution``: the source fields offered to attribution labels, each its path and reader;
    ``keyed``: prefixes (``metadata.``) of sources naming any key of an object; ``secret``:
    fields that may carry secrets, never read. ``reason``: where a failure's reason is.
    """

    id: tuple[str, ...]
    status: Status
    name: tuple[str, ...] = ()
    job_type: str | Value = ""
    times: Mapping[str, Value] = field(default_factory=dict)
    run: str = ""
    values: Mapping[str, Value] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    attribution: Mapping[str, Reader] = field(default_factory=dict)
    keyed: tuple[str, ...] = ()
    secret: tuple[str, ...] = ()
    reason: Reason | None = None
    extras: Extras = NO_EXTRAS

    def __post_init__(self) -> None:
        problems = [f"time {name!r}" for name in self.times if name not in TIMES]
        problems += [f"run {self.run!r}"] if self.run and self.run not in self.times else []
        declared = {value.name for value in self.extras.values}
        problems += [f"value {name!r}" for name in self.values if name not in declared]
        uses = self.status.uses
        problems += [f"status uses {name!r}" for name in uses if name not in self.values]
        problems += [f"secret attribution {source!r}" for source in self._secret_sources()]
        if not self.id or problems:
            raise ValueError(f"field map: no id, or unknown {', '.join(problems)}")

    def _secret_sources(self) -> list[str]:
        fields = self.source_fields
        return [source for source in self.attribution if fields.problem(source)]

    @property
    def source_fields(self) -> SourceFields:
        """The attribution source fields the backend offers (``ledger.attribution``)."""
        return SourceFields(fields=tuple(self.attribution), keyed=self.keyed, secret=self.secret)

    @functools.cached_property
    def label_tuples(self) -> Callable[[tuple[str, ...]], tuple[tuple[str, str], ...]]:
        """A job's extra labels from their values: one tuple shared by every job with the
        same values (the most recent ``LABEL_TUPLES_KEPT`` kept)."""
        names = tuple(self.labels.values())

        @functools.lru_cache(maxsize=LABEL_TUPLES_KEPT)
        def label_tuples(values: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
            return tuple((name, value) for name, value in zip(names, values, strict=True) if value)

        return label_tuples

    def parser(
        self, sources: tuple[str, ...] = (), job_type: Callable[[str], str] | None = None
    ) -> Parse:
        """The parser of one item: a ``Job``, or None when the item has no identity or is no
        record. ``sources`` are the target's attribution source fields (ValueError for one the
        map does not offer); ``job_type`` bounds an open-ended job type (a label cap)."""
        return compile_parser(self, sources, job_type)
