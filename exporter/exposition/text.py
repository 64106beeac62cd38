"""Sample lines in the text formats (Prometheus text and OpenMetrics, which agree here):
label values made storable and distinct, escaped, numbers and exemplars written."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable

MAX_LABEL_VALUE_LENGTH = 256
# OpenMetrics caps an exemplar's label names and values at 128 characters together
MAX_EXEMPLAR_JOB_ID_LENGTH = 128 - len("job_id")
TEXT, OPENMETRICS = "text", "openmetrics"  # the two exposition formats
# A changed label value ends in MARKER and DIGEST_LENGTH hex digits of the original's SHA-256
# (``storable``); a value kept as sent never holds MARKER. Not ASCII: a plain ASCII value, the
# common case, can never hold it, so escaping such a value needs no scan for it.
MARKER = "\u00a4"  # ¤
DIGEST_LENGTH = 32  # 128 bits: see ``storable`` for why this suffices
_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n"})
# What makes a value change: NUL and lone surrogates (Prometheus cannot store them: no UTF-8
# carries a surrogate), and MARKER (so that no kept value reads like a changed one)
_CHANGES = re.compile(f"[\x00\ud800-\udfff{MARKER}]")
_CHANGED = re.compile(f"[^\x00\ud800-\udfff{MARKER}]*{MARKER}[0-9a-f]{{{DIGEST_LENGTH}}}")

Labels = tuple[tuple[str, str], ...]


def storable(value: str, limit: int = MAX_LABEL_VALUE_LENGTH) -> str:
    """``value`` as a label value Prometheus stores, distinct from that of every other value.

    A value of at most ``limit`` characters without NUL, lone surrogates or ``MARKER`` is kept
    as it is. Any other is changed: NUL dropped, lone surrogates and ``MARKER`` made U+FFFD, cut
    to leave room, then ``MARKER`` and the first ``DIGEST_LENGTH`` hex digits of the SHA-256 of
    the original (UTF-8, surrogates as they came) appended; ``limit`` must leave room for them.

    Distinct values never give one label value: a kept value holds no ``MARKER`` and a changed
    one holds it exactly once, so a kept value is never a changed one; two kept values are
    themselves; two changed values end in their digests, so they are one only if 128 bits of
    SHA-256 collide. By chance: among n changed values of one label the odds are below
    n**2 / 2**129, under 1e-20 for a billion (a target sees far fewer: only values too long or
    holding NUL, surrogates or ``MARKER`` change). On purpose: a backend user crafting two values
    that collide must do about 2**64 SHA-256 evaluations (a birthday search), and 2**128 to match
    a given value: far more than merging two series of a label is worth. A secret key would
    stop crafting altogether, but label values would then differ between replicas and across
    restarts unless the key were shared and kept, and no one could check a digest by hand.
    """
    if len(value) <= limit:  # the common case, checked cheaply: every job's
        if value.isascii():  # labels pass here at every poll (MARKER is not ASCII)
            if "\x00" not in value:
                return value
        elif not _CHANGES.search(value):
            return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:DIGEST_LENGTH]
    cleaned = _CHANGES.sub(lambda m: "" if m.group() == "\x00" else "\ufffd", value)
    return f"{cleaned[: limit - DIGEST_LENGTH - 1]}{MARKER}{digest}"


def is_label_value(value: str, limit: int = MAX_LABEL_VALUE_LENGTH) -> bool:
    """Whether ``value`` is one ``storable`` can return: kept as sent, or a changed value."""
    if len(value) > limit:
        return False
    return storable(value, limit) == value or _CHANGED.fullmatch(value) is not None


def escape(value: str, limit: int = MAX_LABEL_VALUE_LENGTH) -> str:
    """A label value, made storable and distinct (``storable``), escaped for the text format
    and OpenMetrics (which escape label values alike).

    This runs for every label of every per-job series at every poll: plain ASCII values within
    the cap skip both the cleaning and the translation, with only a few C-speed scans.
    """
    if len(value) > limit or not value.isascii() or "\x00" in value:
        value = storable(value, limit)
    if "\\" in value or '"' in value or "\n" in value:
        return value.translate(_ESCAPES)
    return value


def escape_stored(value: str) -> str:
    """A value that is already a label value (``storable``'s, as attribution slots hold),
    escaped for the text format only: ``storable`` again would change a changed value again."""
    if "\\" in value or '"' in value or "\n" in value:
        return value.translate(_ESCAPES)
    return value


def label_text(pairs: Iterable[tuple[str, str]]) -> str:
    """Render ``name="value",...`` (without braces) from label pairs."""
    return ",".join(f'{name}="{escape(value)}"' for name, value in pairs)


def stored_label_text(pairs: Iterable[tuple[str, str]]) -> str:
    """``label_text`` of pairs whose values are already label values (``escape_stored``)."""
    return ",".join(f'{name}="{escape_stored(value)}"' for name, value in pairs)


def format_value(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def exemplar_text(exemplar: tuple[str, float, float] | None) -> str:
    """An OpenMetrics exemplar to append to a bucket's sample line, or nothing."""
    if exemplar is None:
        return ""
    job_id, value, at = exemplar
    return (
        f' # {{job_id="{escape(job_id, MAX_EXEMPLAR_JOB_ID_LENGTH)}"}} '
        f"{format_value(value)} {format_value(at)}"
    )
