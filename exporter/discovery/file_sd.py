"""Prometheus' target groups, as file_sd files and http_sd answers hold them: a JSON (or, in a
file, YAML) list of ``{targets: [address, ...], labels: {name: value}}``, read within bounds.

The labels of a group become labels of each of its targets (on ``jobfleet_target_info``):
names starting with ``__`` and empty values are left out, as Prometheus drops them; names
the exporter or Prometheus use, and more labels or longer values than the bounds, refuse
the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exporter.config.files import FileProblem, read_text_file
from exporter.config.types import one_line
from exporter.config.yaml_loader import YamlProblem, load_yaml
from exporter.ledger.attribution import label_name_problem

FILE_LIMIT = 4 * 1024 * 1024  # bytes of one file: some 50,000 addresses with labels
MAX_LABELS = 16  # per group, those starting with __ aside
MAX_LABEL_VALUE = 256  # characters
SHOWN = 64  # characters of a refused name or address in a problem line
FORMATS = {".json": "json", ".yml": "yaml", ".yaml": "yaml"}

Labels = tuple[tuple[str, str], ...]


class SdProblem(ValueError):
    """Why a file or an answer cannot be used, as ``reason`` (``read``, ``format``,
    ``labels``, ...) and one line naming the file or URL and where in it, never a label value;
    ``key`` tells one problem from another (the message, unless it quotes text that changes)."""

    def __init__(self, reason: str, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.key = key or message


@dataclass(frozen=True, slots=True)
class Group:
    addresses: tuple[object, ...]
    labels: Labels


def read_groups(path: str | Path) -> list[Group]:
    """The target groups of the file at ``path``; SdProblem."""
    kind = FORMATS.get(Path(path).suffix.lower())
    if kind is None:
        raise SdProblem("format", f"{path}: a file_sd file ends in .json, .yml or .yaml")
    try:
        text = read_text_file(path, FILE_LIMIT)
    except FileProblem as err:
        raise SdProblem("read", str(err)) from None
    try:
        document = json.loads(text) if kind == "json" else load_yaml(text)
    except (ValueError, YamlProblem, RecursionError) as err:
        detail = f"not JSON (line {err.lineno})" if isinstance(err, json.JSONDecodeError) else err
        raise SdProblem("format", f"{path}: {detail}") from None
    return parse_groups(document, str(path))


def parse_groups(document: Any, where: str) -> list[Group]:
    """The groups of a parsed document; SdProblem naming ``where`` and the group."""
    if document is None:  # an empty file: no targets
        return []
    if not isinstance(document, list):
        raise SdProblem("format", f"{where}: must be a list of target groups")
    return [_group(group, f"{where}: [{index}]") for index, group in enumerate(document)]


def _group(group: Any, where: str) -> Group:
    if not isinstance(group, dict):
        raise SdProblem("format", f"{where}: must be a mapping with targets and labels")
    unknown = sorted(str(key) for key in group if key not in ("targets", "labels"))
    if unknown:
        raise SdProblem("format", f"{where}: unknown key {one_line(unknown[0], SHOWN)}")
    addresses = group.get("targets")
    if not isinstance(addresses, list):
        raise SdProblem("format", f"{where}.targets: must be a list of addresses")
    labels = group.get("labels") or {}
    if not isinstance(labels, dict):
        raise SdProblem("format", f"{where}.labels: must be a mapping of names to values")
    return Group(tuple(addresses), _labels(labels, f"{where}.labels"))


def label_value_problem(value: str) -> str | None:
    """Why ``value`` cannot be a discovered target's label value, or None when it can."""
    if len(value) > MAX_LABEL_VALUE or not value.isprintable():
        return f"a label value is at most {MAX_LABEL_VALUE} printable characters"
    return None


def _labels(labels: dict[Any, Any], where: str) -> Labels:
    kept = []
    for name, value in labels.items():
        if not isinstance(name, str):
            raise SdProblem("labels", f"{where}: a label name must be a string")
        if name.startswith("__"):
            continue
        shown = one_line(name, SHOWN)
        problem = label_name_problem(name)
        if problem is not None:
            raise SdProblem("labels", f"{where}.{shown}: {problem}")
        if not isinstance(value, str):
            raise SdProblem("labels", f"{where}.{shown}: a label value must be a string")
        if not value:  # an empty value is no label, as in Prometheus
            continue
        problem = label_value_problem(value)
        if problem is not None:
            raise SdProblem("labels", f"{where}.{shown}: {problem}")
        kept.append((name, value))
    if len(kept) > MAX_LABELS:
        raise SdProblem("labels", f"{where}: more than {MAX_LABELS} labels")
    return tuple(sorted(kept))
