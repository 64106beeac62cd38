"""Metrics are an API: the declarations, the contract file, the docs, the dashboards and the
rules agree, and what the exporter emits is what it declares."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from exporter.exposition.families import FAMILIES, RUNTIME_FAMILIES
from exporter.exposition.family import Family, index_families

from .helpers import ROOT
from .stable_metrics import CONTRACT, declared_contract, render

PROMETHEUS_LABELS = frozenset({"job", "instance", "le"})  # added by Prometheus, or by histograms


def test_the_contract_file_matches_the_declarations() -> None:
    """A family or a label renamed, added or removed in code without the file fails here:
    ``make stable-metrics`` rewrites it, and the diff is the change of the contract."""
    written = yaml.safe_load(CONTRACT.read_text())
    declared = declared_contract()
    assert [entry["name"] for entry in written] == [entry["name"] for entry in declared]
    for was, now in zip(written, declared, strict=True):
        assert was == now, f"{now['name']} changed: run make stable-metrics and review the diff"
    assert CONTRACT.read_text() == render(declared)


@pytest.mark.parametrize(
    ("declaration", "problem"),
    [
        (Family("jobfleet_jobs", "gauge", "again"), "declared twice"),
        (Family("jobfleet_x", "summary", "x"), "unknown type summary"),
        (Family("jobfleet_x", "gauge", "x", stability="beta"), "unknown stability beta"),
        (Family("jobfleet_x", "gauge", "x", ("a",), optional=("a",)), "a label declared twice"),
        (Family("jobfleet_x", "gauge", "x", ("le",)), "label name 'le'"),
        (Family("jobfleet_x", "gauge", "x", ("a-b",)), "label name 'a-b'"),
        (Family("jobfleet_x", "gauge", "x", stability="deprecated"), "replaced_by"),
        (
            Family("jobfleet_x", "gauge", "x", stability="deprecated", replaced_by="jobfleet_y"),
            "replaced by jobfleet_y, not declared",
        ),
    ],
)
def test_a_declaration_that_breaks_the_rules_is_refused(declaration: Family, problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        index_families([*FAMILIES.values(), declaration])


def test_a_deprecated_family_says_what_replaces_it() -> None:
    old = Family(
        "jobfleet_old_total", "counter", "Old.", stability="deprecated", replaced_by="jobfleet_jobs"
    )
    index_families([*FAMILIES.values(), old])
    assert old.header().startswith(b"# HELP jobfleet_old_total Old. Deprecated: use jobfleet_jobs.")
    assert b"Deprecated: use jobfleet_jobs." in old.openmetrics_header()


# --- docs/metrics.md --------------------------------------------------------------------------

ROW = re.compile(r"^\| `(jobfleet_[a-z_]+)` \| ([a-z]+) \|([^|]*)\|", re.MULTILINE)


def test_the_metric_tables_in_the_docs_agree_with_the_declarations() -> None:
    """Type and labels of each family (its table names the labels beyond target and backend,
    and says whether attribution labels are on it)."""
    rows = {name: (kind, labels) for name, kind, labels in ROW.findall(_metrics_doc())}
    assert set(rows) == set(FAMILIES)
    for name, (kind, labels) in rows.items():
        family = FAMILIES[name]
        assert kind == family.type, name
        documented = set(re.findall(r"`([a-z_]+)`", labels)) - {"histograms"}
        assert documented == family.label_names - {"target", "backend"}, name
        assert ("attribution labels" in labels) == family.attribution, name


def _metrics_doc() -> str:
    return (ROOT / "docs" / "metrics.md").read_text()


# --- dashboards and rules ---------------------------------------------------------------------

# a series name, not part of a recorded one (``target_backend:jobfleet_jobs_submitted:increase1h``)
SELECTOR = re.compile(r"(?<![\w:])((?:jobfleet|process|python)_[a-z_]+)(?![\w:])\s*(\{[^}]*\})?")
MATCHER = re.compile(r"([a-zA-Z_$][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
SUFFIXES = ("_bucket", "_sum", "_count")


def expressions() -> list[tuple[str, str]]:
    """(where, PromQL) of every dashboard panel and every rule."""
    found: list[tuple[str, str]] = []

    def walk(where: str, node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "expr" and isinstance(value, str):
                    found.append((where, value))
                else:
                    walk(where, value)
        elif isinstance(node, list):
            for value in node:
                walk(where, value)

    for path in sorted((ROOT / "grafana" / "dashboards").glob("*.json")):
        walk(path.name, json.loads(path.read_text()))
    for path in sorted((ROOT / "rules").glob("*.yml")):
        walk(path.name, yaml.safe_load(path.read_text()))
    return found


DECLARED = {**FAMILIES, **RUNTIME_FAMILIES}


def _family(series: str) -> Family | None:
    if series in DECLARED:
        return DECLARED[series]
    for suffix in SUFFIXES:
        family = DECLARED.get(series.removesuffix(suffix))
        if family is not None and family.type == "histogram":
            return family
    return None


def test_dashboards_and_rules_use_only_declared_families_and_labels() -> None:
    found = expressions()
    assert len(found) >= 40
    for where, expr in found:
        named: set[str] = set()
        for series, matchers in SELECTOR.findall(expr):
            family = _family(series)
            assert family is not None, f"{where}: {series} is not a declared family"
            allowed = family.label_names | PROMETHEUS_LABELS
            used = {name for name in MATCHER.findall(matchers) if not name.startswith("$")}
            assert used <= allowed, f"{where}: {series} has no label {used - allowed}"
            named |= allowed
        for group in GROUPING.findall(expr):
            labels = {label.strip() for label in group.split(",") if label.strip()}
            labels = {label for label in labels if not label.startswith("$")}
            if named:
                assert labels <= named, f"{where}: no family here has {labels - named}"
