"""The one parser of every field map: a ``FieldMap`` compiled into closures.

Each part of the map becomes a closure over what it needs (its path split into steps, its
reader, its table), picked once per target, so the work per item is the reading alone. A path
reads through dicts and typed records (``decode.TypedRecord``) alike; a step that finds
anything else reads as unset.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from exporter.backends.kit.fields import text, word
from exporter.http.decode import TypedRecord
from exporter.model import Job, Phase

if TYPE_CHECKING:
    from exporter.backends.kit.field_map import FieldMap, Status, Value

Reader = Callable[[Any], Any]  # a raw field value -> what the Job holds (``backends.kit.fields``)
Read = Callable[[Any], Any]  # an item -> one of its values, read
Parse = Callable[[Any], Job | None]

_RECORDS = (dict, TypedRecord)
OTHER_REASON = "other"


def field_reader(path: str | tuple[str, ...], read: Reader, record: bool) -> Read:
    """``read`` of the value at ``path`` (dotted, or its steps) of an item that is a typed
    record (``record``) or a dict: a record's field is read by ``getattr``, in C, as
    ``TypedRecord.get`` would in Python. A step past the first that finds no record gives
    None to ``read``."""
    first, *rest = path.split(".") if isinstance(path, str) else path
    if not rest:
        if record:
            return lambda item: read(getattr(item, first, None))
        return lambda item: read(item.get(first))
    *heads, last = rest

    def get(item: Any) -> Any:
        value = getattr(item, first, None) if record else item.get(first)
        for step in heads:
            if not isinstance(value, _RECORDS):
                return read(None)
            value = value.get(step)
        return read(value.get(last) if isinstance(value, _RECORDS) else None)

    return get


def first_of(reads: list[Read]) -> Read:
    """The first value of ``reads`` that is not empty, or ""."""
    if len(reads) == 1:
        return reads[0]
    if len(reads) == 2:
        one, two = reads
        return lambda item: one(item) or two(item)

    def first(item: Any) -> Any:
        for read in reads:
            value = read(item)
            if value:
                return value
        return ""

    return first


def value_reader(value: Value, record: bool) -> Read:
    """The reader of one ``Value``: its path, reader, default and bounds."""
    read = field_reader(value.path, value.read, record)
    if value.default:
        default = value.default
        return lambda item: read(item) or default
    low, high, integer = value.minimum, value.maximum, value.integer
    if low is None and high is None and not integer:
        return read

    def bounded(item: Any) -> Any:
        number = read(item)
        if number is None or (low is not None and number < low):
            return None
        if high is not None and number > high:
            return None
        return int(number) if integer else number

    return bounded


def upper_word(value: Any) -> str:
    """A status sent in any case, upper-cased and interned."""
    return word(text(value).upper())


def status_reader(
    status: Status, values: dict[str, Read], record: bool
) -> Callable[[Any], tuple[str, Phase]]:
    """The reader of an item's (native status, phase)."""
    paths = (status.paths,) if isinstance(status.paths, str) else status.paths
    reads = [field_reader(path, upper_word if status.upper else word, record) for path in paths]
    default, phases, unknown = status.default, status.phases, Phase.UNKNOWN
    if callable(phases):
        uses = [values[name] for name in status.uses]

        def by_function(item: Any) -> tuple[str, Phase]:
            found = [read(item) for read in reads]
            phase = phases(*found, *[read(item) for read in uses])
            return next(filter(None, found), default), phase

        return by_function
    if len(reads) == 1:
        (read,) = reads
        phase_of = phases.get

        def by_status(item: Any) -> tuple[str, Phase]:
            native = read(item) or default
            return native, phase_of(native, unknown)

        return by_status

    def by_values(item: Any) -> tuple[str, Phase]:
        found = tuple([read(item) for read in reads])
        return next(filter(None, found), default), phases.get(found, unknown)

    return by_values


def reason_reader(fields: FieldMap, record: bool) -> Callable[[Any, str], str]:
    """The reader of a failed item's reason, given its native status."""
    reason = fields.reason
    if reason is None:
        return lambda item, status: ""
    if not reason.path:
        fixed = reason.fixed
        return lambda item, status: fixed or status
    read, vocabulary = field_reader(reason.path, word, record), frozenset(reason.vocabulary)

    def from_path(item: Any, status: str) -> str:
        found = read(item)
        return found if not found or found in vocabulary else OTHER_REASON

    return from_path


def labels_reader(fields: FieldMap, record: bool) -> Read | None:
    """The reader of an item's extra labels (a tuple shared by the items of the same values);
    None when the map has none."""
    reads = [field_reader(path, word, record) for path in fields.labels]
    tuples = fields.label_tuples
    if not reads:
        return None
    if len(reads) == 1:
        (read,) = reads

        def one(item: Any) -> tuple[tuple[str, str], ...]:
            value = read(item)
            return tuples((value,)) if value else ()

        return one
    return lambda item: tuples(tuple([read(item) for read in reads]))


def type_reader(fields: FieldMap, bound: Callable[[str], str] | None, record: bool) -> Read:
    """The reader of an item's job type: the map's constant or path, through ``bound``."""
    kind = fields.job_type
    read = (lambda item: kind) if isinstance(kind, str) else value_reader(kind, record)
    if bound is None:
        return read
    return lambda item: bound(read(item))


def attribution_reader(fields: FieldMap, sources: tuple[str, ...], record: bool) -> Read | None:
    """The reader of an item's attribution values, one per source ("" for a source "": the
    label names no field of this list); None without sources. ValueError for a source the map
    does not offer (a secret field is never read)."""
    reads: list[Read] = []
    for source in sources:
        if not source:
            reads.append(_blank)
            continue
        problem = fields.source_fields.problem(source)
        if problem:
            raise ValueError(problem)
        if source in fields.attribution:
            reads.append(field_reader(source, fields.attribution[source], record))
            continue
        prefix = next(p for p in fields.keyed if source.startswith(p))
        # the key is whole after the prefix: metadata.a.b is the key "a.b" of metadata
        path = (*prefix.rstrip(".").split("."), source[len(prefix) :])
        reads.append(field_reader(path, text, record))
    if not reads:
        return None
    return lambda item: tuple([read(item) for read in reads])


def _blank(item: Any) -> str:
    """The reader of an attribution label this list gives no field for."""
    return ""


def _unset(item: Any) -> None:
    """The reader of a declared value the map does not read."""
    return None


def readers(
    fields: FieldMap, sources: tuple[str, ...], bound: Callable[[str], str] | None, record: bool
) -> tuple[Any, ...]:
    """The readers of each part of a ``Job``, for typed records (``record``) or dicts."""
    values = {name: value_reader(value, record) for name, value in fields.values.items()}
    sets = [
        (f"{name}_time", value_reader(value, record), value.terminal_only)
        for name, value in fields.times.items()
    ]
    # the backend's own values, in the order its extras declare them (Job.values)
    extra = tuple(values.get(value.name, _unset) for value in fields.extras.values)
    return (
        first_of([field_reader(path, text, record) for path in fields.id]),
        first_of([field_reader(path, text, record) for path in fields.name]),
        status_reader(fields.status, values, record),
        type_reader(fields, bound, record),
        sets,
        extra,
        labels_reader(fields, record),
        attribution_reader(fields, sources, record),
        reason_reader(fields, record),
    )


def compile_parser(
    fields: FieldMap, sources: tuple[str, ...], bound: Callable[[str], str] | None
) -> Parse:
    """``fields`` as the parser of one item (``FieldMap.parser``)."""
    for_dicts = readers(fields, sources, bound, record=False)
    for_records = readers(fields, sources, bound, record=True)
    run = f"{fields.run}_time" if fields.run else ""
    failed = Phase.FAILED

    def parse(item: Any) -> Job | None:
        if isinstance(item, TypedRecord):
            parts = for_records
        elif isinstance(item, dict):
            parts = for_dicts
        else:
            return None
        read_id, read_name, read_status, read_type, sets, extra, labels, attribution, reason = parts
        key = read_id(item)
        if not key:
            return None
        status, phase = read_status(item)
        job = Job(key, read_name(item) or key, status, phase, read_type(item))
        for name, read, terminal_only in sets:
            if not terminal_only or phase.terminal:
                setattr(job, name, read(item))
        if extra:
            job.values = tuple([read(item) for read in extra])
        if run:
            job.run = getattr(job, run)
        if labels is not None:
            job.extra_labels = labels(item)
        if attribution is not None:
            job.attribution = attribution(item)
        if phase is failed:
            job.reason = reason(item, status)
        return job

    return parse
