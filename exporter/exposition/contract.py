"""Samples held to the declarations (``declared.families``): a sample of a family that is not
declared, or whose labels are not the family's (one missing, one unknown, attribution labels on
a family without them), breaks the metrics contract and is refused.

Refused how depends on who is asking: under test (``JOBFLEET_STRICT_METRICS=1``, which the test
suite sets) it raises ``ContractViolation`` where it was written, so the bug fails a test; in
production the sample is left out, and the publisher logs and counts it
(``jobfleet_series_refused_total``): never a crash, never a silent drop.
"""

from __future__ import annotations

import os
from operator import itemgetter

from exporter.exposition import declared as declarations
from exporter.exposition.family import Family
from exporter.exposition.text import Labels

STRICT = os.environ.get("JOBFLEET_STRICT_METRICS") == "1"
# the shapes seen to keep the contract: (family, base label names, label names, attributed)
_kept: set[tuple[str, tuple[str, ...], tuple[str, ...], bool]] = set()
_name = itemgetter(0)


class ContractViolation(ValueError):
    """A sample the declarations do not allow; the message says which family and labels."""


def refusal(family: Family, base: tuple[str, ...], labels: Labels, attributed: bool) -> str | None:
    """Why a sample of ``family`` with the label names ``base`` and those of ``labels`` (and
    attribution labels, when ``attributed``) breaks the contract; None when it keeps it.
    Quick for a shape seen before: every sample of a block is checked."""
    key = (family.name, base, tuple(map(_name, labels)), attributed)
    if key in _kept and declared(family):
        return None
    problem = _problem(family, {*base, *key[2]}, attributed)
    if problem is None:
        _kept.add(key)
    return problem


def declared(family: Family) -> bool:
    return declarations.families().get(family.name) is family


def _problem(family: Family, names: set[str], attributed: bool) -> str | None:
    if not declared(family):
        return f"{family.name} is not a declared family"
    missing = sorted(set(family.labels) - names)
    unknown = sorted(names - family.label_names)
    if missing or unknown:
        return f"{family.name}: labels {sorted(names)}: missing {missing}, not declared {unknown}"
    if attributed and not (family.attribution or family.discovered):
        return f"{family.name}: attribution labels on a family declared without them"
    return None


def refuse(problem: str, refused: list[str]) -> None:
    """Raise (strict) or note ``problem`` in ``refused`` for the publisher to log and count."""
    if STRICT:
        raise ContractViolation(problem)
    refused.append(problem)
