"""Attribution: which team, user or queue a job belongs to, as label values with bounded
cardinality.

A target's ``attribution`` maps label names to source fields of its jobs, chosen from the
fields its backend declares (``SourceFields``). Each value passes through the exposition's
label-value cleaning (``render.storable``) once, so it stays storable and distinct: the slots
and the counts hold label values, rendered as they are (never cleaned again, which would change
a changed value again). Per label and target, the first ``max_values`` distinct values each hold
a slot; a later value is exported as ``other`` and the job counted in
``jobfleet_attribution_overflow_total{label}``. A value that is literally ``other`` is that
series already: it takes no slot and is no overflow. Which values hold a slot is saved with the
target's counts, so a restart gives every value the slot it had; slots saved in the form before
``SAVED_FORM`` are upgraded (``upgraded``).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from exporter.exposition.declared import exporter_labels
from exporter.exposition.labels import OTHER
from exporter.exposition.text import MARKER, MAX_LABEL_VALUE_LENGTH, is_label_value, storable

AttributionValues = tuple[str, ...]  # a job's values, in the order of the configured labels
LOOKUPS_KEPT = 10_000  # distinct field values whose label values are remembered between lookups
# Only field values this short are remembered: the memory of the lookups stays bounded (a
# backend can send values of any length, each new one kept until a slot is taken).
MAX_KEPT_LENGTH = MAX_LABEL_VALUE_LENGTH

# Label names an attribution label must not take (a collision would merge or break series):
# those Prometheus adds or reserves, and every label a declared family carries
# (``reserved_labels``).
PROMETHEUS_LABELS = frozenset(
    {
        # Prometheus: target labels, histogram and summary labels
        "job",
        "instance",
        "cluster",
        "region",
        "type",
        "le",
        "quantile",
        "name",
        # the target labels a ServiceMonitor adds (the chart's): a clash renames ours exported_*
        "namespace",
        "service",
        "pod",
        "container",
        "endpoint",
    }
)
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]{0,63}")
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")  # NAME=value before a command
MAX_COMMAND_HEAD = 4096  # of a command line, read for its program (a value may be huge)

# The form of the label values saved with the slots, saved beside them as "form". Form 1 (no
# "form": versions before it) changed a value by appending ``~`` and 8 hex digits, which a value
# kept as sent could also end with. ``upgraded`` brings form 1 values to form 2.
SAVED_FORM = 2
_FORM_1_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_FORM_1_CHANGED = re.compile(r"~[0-9a-f]{8}\Z")
# a form 1 changed value, upgraded: its ``~`` made MARKER (no value form 2 makes ends so)
_FORM_1_UPGRADED = re.compile(f"[^\x00\ud800-\udfff]*{MARKER}[0-9a-f]{{8}}")


def reserved_labels() -> frozenset[str]:
    """Label names an attribution label must not take: Prometheus' and the declared families'
    (the backends' among them, once registered)."""
    return PROMETHEUS_LABELS | exporter_labels()


def label_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be an attribution label, or None when it can."""
    if not _LABEL_NAME.fullmatch(name):
        return "must be a label name: up to 64 letters, digits and _, not starting with a digit"
    if name.startswith("__"):
        return "names starting with __ are reserved by Prometheus"
    if name in reserved_labels():
        return f"{name} is a label the exporter or Prometheus already uses"
    return None


@dataclass(frozen=True, slots=True)
class SourceFields:
    """The job fields a backend offers as attribution sources (docs/metrics.md lists them).

    ``fields`` are names as they are; ``keyed`` are prefixes followed by any key (``metadata.``
    for ``metadata.team``). ``secret`` fields, and every key under them, can carry secrets (a
    URL with a token, an environment) and can never be chosen."""

    fields: tuple[str, ...]
    keyed: tuple[str, ...] = ()
    secret: tuple[str, ...] = ()

    def problem(self, source: str) -> str | None:
        """Why ``source`` cannot be chosen, or None when it can."""
        if any(source == s or source.startswith(f"{s}.") for s in self.secret):
            return f"{source} can carry secrets (a token in a URL, an environment): never a label"
        if source in self.fields:
            return None
        if any(source.startswith(p) and len(source) > len(p) for p in self.keyed):
            return None
        choices = [*self.fields, *(f"{p}<key>" for p in self.keyed)]
        if not choices:
            return "this backend offers no attribution fields"
        return f"{source} is not an attribution field of this backend; one of: {', '.join(choices)}"


NO_FIELDS = SourceFields(fields=())  # a backend that offers none


def source_key(source: str) -> str:
    """The key after a keyed source's prefix (``team`` of ``metadata.team``)."""
    return source.partition(".")[2]


class Slots:
    """The values each attribution label may take on one target, first come first served."""

    def __init__(self, labels: tuple[str, ...], max_values: int) -> None:
        self.labels = labels
        self.max_values = max_values
        self.values: dict[str, dict[str, None]] = {label: {} for label in labels}  # in order
        self.overflow: dict[str, int] = dict.fromkeys(labels, 0)
        # lookups by a job's field values: every tracked job is looked up at every publish;
        # forgotten when a slot is taken (a value may then stop being other)
        self._looked_up: dict[AttributionValues, AttributionValues] = {}

    def admit(self, raw: AttributionValues, new_job: bool) -> AttributionValues:
        """The label values of a job whose fields read ``raw``: each value holds its slot, takes
        a free one, or becomes ``other`` (counted once per job: when ``new_job``)."""
        out = []
        for label, value in zip(self.labels, raw, strict=True):
            value = storable(value)
            slots = self.values[label]
            if value and value != OTHER and value not in slots:
                if len(slots) < self.max_values:
                    slots[value] = None
                    self._looked_up.clear()
                else:
                    if new_job:
                        self.overflow[label] += 1
                    value = OTHER
            out.append(value)
        return tuple(out)

    def lookup(self, raw: AttributionValues) -> AttributionValues:
        """The label values of ``raw`` as admitted, without taking a slot."""
        found = self._looked_up.get(raw)
        if found is not None:
            return found
        out = []
        for label, value in zip(self.labels, raw, strict=True):
            value = storable(value)
            out.append(value if not value or value in self.values[label] else OTHER)
        found = tuple(out)
        if len(self._looked_up) < LOOKUPS_KEPT and all(len(v) <= MAX_KEPT_LENGTH for v in raw):
            self._looked_up[raw] = found
        return found

    def check(self, values: Mapping[str, list[str]]) -> None:
        """ValueError unless ``values`` are slots this target could have saved: for the same
        labels, within the cap, each a value ``admit`` keeps (a label value, not empty, not
        other) or a form 1 changed value ``upgraded``."""
        if set(values) != set(self.labels) or any(
            len(v) > self.max_values for v in values.values()
        ):
            raise ValueError("attribution: saved for other labels or a smaller cap")
        for saved in values.values():
            if not all(v and v != OTHER and _slot_value(v) for v in saved):
                raise ValueError("attribution: a saved slot holds no value a job can have")

    def restore(self, values: Mapping[str, list[str]], overflow: Mapping[str, int]) -> None:
        """Take the slots a target of the same labels held (checked by ``check``)."""
        self.check(values)
        self.values = {label: dict.fromkeys(values[label]) for label in self.labels}
        self.overflow = {label: overflow.get(label, 0) for label in self.labels}
        self._looked_up.clear()


def _slot_value(value: str) -> bool:
    """Whether a slot can hold ``value``: a label value, or a form 1 changed value upgraded."""
    if is_label_value(value):
        return True
    return len(value) <= MAX_LABEL_VALUE_LENGTH and _FORM_1_UPGRADED.fullmatch(value) is not None


def upgraded(value: str) -> str:
    """A label value saved in form 1 (slots and counts saved before ``SAVED_FORM``), in form 2.

    A value form 1 kept as sent is what form 2 makes of it: itself, or changed when it holds
    MARKER. A value ending in ``~`` and 8 hex digits may be one form 1 changed or one it kept;
    which, and what the original was, cannot be told, so it gets its ``~`` made MARKER
    (``ops~f2f06f2b`` becomes ``ops¤f2f06f2b``): its series keeps its counts under a value no job
    can have in form 2 (form 2 ends a changed value in 32 hex digits), and the job values it
    stood for take new slots, never merging with it. Distinct saved values stay distinct. A
    value form 1 could not have saved is returned as it is, for ``Slots.check`` to refuse."""
    if len(value) > MAX_LABEL_VALUE_LENGTH or _FORM_1_UNSTORABLE.search(value):
        return value
    if _FORM_1_CHANGED.search(value):
        return f"{value[:-9]}{MARKER}{value[-8:]}"
    return storable(value)


def first_word(command: Any) -> str:
    """The program of a command line: its first word after any ``NAME=value`` environment
    assignments; "" when that word is a URL or carries user info (never a secret as a label).

    Words are split as a shell splits them when the command quotes or escapes anything (an
    assignment ``TOKEN="a b"`` is one word: a part of its value is never taken for the
    program); a quote left open before the program gives ""."""
    if not isinstance(command, str):
        return ""
    head = command[:MAX_COMMAND_HEAD]
    words: Iterator[str] = iter(head.split())
    if any(quote in head for quote in "'\"\\"):
        lexer = shlex.shlex(head, posix=True)
        lexer.whitespace_split = True
        words = iter(lexer)
    try:
        for word in words:
            if _ASSIGNMENT.match(word):
                continue
            return "" if "://" in word or "@" in word else word
    except ValueError:  # a quote or escape left open
        return ""
    return ""
