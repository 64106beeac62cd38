"""Rules, alerts, Alertmanager config and dashboards: linted by the real tools, and every metric
they name checked against what the exporter really exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from functools import cache
from pathlib import Path

import promql_parser
import pytest
import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard

from exporter.exposition.declared import all_families
from exporter.exposition.runtime import RuntimeMetrics
from exporter.exposition.text import TEXT

from .helpers import ROOT, need, samples, simulated_fleet

RULES = ROOT / "rules"
DASHBOARDS = sorted((ROOT / "grafana" / "dashboards").glob("*.json"))


def tool(name: str) -> str:
    path = shutil.which(name)
    need(path is not None, f"{name} is not installed (scripts/install-tools.sh)")
    return path


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        command, capture_output=True, text=True, timeout=60, cwd=ROOT, check=False
    )


def alert_rules() -> list[dict]:
    groups = yaml.safe_load((RULES / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def recording_names(name: str = "recording.yml") -> set[str]:
    groups = yaml.safe_load((RULES / name).read_text())["groups"]
    return {rule["record"] for group in groups for rule in group["rules"] if "record" in rule}


# The SLO rules generated from docs/slo.example.yaml: the dashboards' SLO row reads their records.
SLO_RULES = "slo.example.yml"


def test_promtool_checks_the_rule_files() -> None:
    result = run(tool("promtool"), "check", "rules", "rules/recording.yml", "rules/alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS: 12 rules found") == 1  # recording
    assert result.stdout.count("SUCCESS: 18 rules found") == 1  # alerts


@pytest.mark.slow
def test_promtool_rule_unit_tests_pass() -> None:
    result = run(tool("promtool"), "test", "rules", "rules/tests/alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    tests = yaml.safe_load((RULES / "tests" / "alerts_test.yml").read_text())["tests"]
    cases = [case for test in tests for case in test.get("alert_rule_test", [])]
    for rule in alert_rules():
        outcomes = {bool(c["exp_alerts"]) for c in cases if c["alertname"] == rule["alert"]}
        assert outcomes == {True, False}, rule["alert"]


def test_every_alert_has_severity_annotations_and_a_runbook_section() -> None:
    runbooks = (ROOT / "docs" / "runbooks.md").read_text()
    for rule in alert_rules():
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert {"summary", "description", "runbook_url"} <= set(rule["annotations"])
        anchor = rule["annotations"]["runbook_url"].rsplit("#", 1)[1]
        assert anchor == rule["alert"].lower()
        assert f"\n## {rule['alert']}\n" in runbooks


def test_amtool_accepts_the_alertmanager_config() -> None:
    result = run(tool("amtool"), "check-config", "alertmanager/alertmanager.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboards_are_generated_and_complete() -> None:
    result = run("python3", "grafana/generate.py", "--check")
    assert result.returncode == 0, result.stdout
    assert [d.name for d in DASHBOARDS] == [
        "clusters.json",
        "exporter-health.json",
        "fleet-overview.json",
        "jobs.json",
        "pools.json",
        "queues.json",
        "usage.json",
    ]
    extras = {"usage.json": {"label"}, **{name: {"namespace"} for name in BY_NAMESPACE}}
    for path in DASHBOARDS:
        names = {v["name"] for v in json.loads(path.read_text())["templating"]["list"]}
        extra = extras.get(path.name, set())  # the attribution label; KubeRay's namespace
        assert names == {"datasource", "target", "backend", *extra}, path.name


# dashboards filtered by KubeRay's namespace, and the family their variable lists it from
BY_NAMESPACE = {"jobs.json": "jobfleet_jobs", "clusters.json": "jobfleet_cluster_info"}
NAMESPACE_FILTER = 'namespace=~"$namespace"'
INFO = {"job_id": "jobfleet_job_info", "cluster_id": "jobfleet_cluster_info"}


def carries_namespace(family: str) -> bool:
    """Whether a KubeRay target's series of ``family`` have the namespace label: the families
    that declare it, and those with attribution labels (which always include it there)."""
    declared = all_families()[family]
    return "namespace" in declared.label_names or declared.attribution


@pytest.mark.parametrize("name", sorted(BY_NAMESPACE))
def test_jobs_and_clusters_dashboards_filter_every_query_by_namespace(name: str) -> None:
    """A multi-value namespace variable whose All (``.*``, put in the query unescaped) also
    matches series without the label; every query filters on it: directly on the series that
    carry the label (and on those that cannot be split by namespace at all, which a chosen
    namespace then hides), through a join with the info series on the per-job and per-cluster
    series, which do not carry it (a matcher there would hide a KubeRay target's own series)."""
    data = json.loads((ROOT / "grafana" / "dashboards" / name).read_text())
    variable = next(v for v in data["templating"]["list"] if v["name"] == "namespace")
    assert variable["type"] == "query"
    assert (variable["multi"], variable["includeAll"], variable["allValue"]) == (True, True, ".*")
    assert variable["current"]["value"] == "$__all"
    query = (
        f'label_values({BY_NAMESPACE[name]}{{target=~"$target", backend=~"$backend"}}, namespace)'
    )
    assert variable["query"]["query"] == query
    exprs = [(p["title"], t["expr"]) for p in data["panels"] for t in p["targets"]]
    assert len(exprs) >= 8
    for title, expr in exprs:
        assert NAMESPACE_FILTER in expr, title
        parsed = promql_parser.parse(expr.replace("$namespace", "NS"))
        filtered = {
            s.name
            for s in selectors(parsed)
            if any((m.name, m.value) == ("namespace", "NS") for m in s.matchers.matchers)
        }
        for selector in selectors(parsed):
            family = all_families()[selector.name]
            keys = [key for key in INFO if key in family.label_names]
            if selector.name in filtered:
                assert carries_namespace(selector.name) or not keys, (title, selector.name)
            else:
                assert keys and not carries_namespace(selector.name), (title, selector.name)
                assert INFO[keys[0]] in filtered, (title, selector.name)
                assert f"on (target, backend, {keys[0]})" in expr, (title, selector.name)


def keys(node: object, path: str = "") -> set[str]:
    if isinstance(node, dict):
        return {f"{path}.{k}" for k in node} | {
            key for k, v in node.items() for key in keys(v, f"{path}.{k}")
        }
    if isinstance(node, list):
        return {key for i, v in enumerate(node) for key in keys(v, f"{path}[{i}]")}
    return set()


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_json_survives_the_schema_round_trip(path) -> None:
    data = json.loads(path.read_text())
    again = json.loads(json.dumps(Dashboard.from_json(data), cls=JSONEncoder))
    assert keys(data) - keys(again) == set()


def concrete(expr: str, namespace: str = ".*") -> str:
    """A dashboard expression with Grafana's variables replaced, as Prometheus would get it
    (the attribution label: ``team``, which the demo's attribution has; the namespace: All,
    unless one is given as Grafana puts a multi-value choice in, ``(team-a)``)."""
    for variable, replacement in (
        ("$__rate_interval", "1m"),
        ("$target", ".*"),
        ("$backend", ".*"),
        ("$label", "team"),
        ("$namespace", namespace),
    ):
        expr = expr.replace(variable, replacement)
    return expr


def dashboard_exprs(namespace: str = ".*") -> list[tuple[str, str, str]]:
    out = []
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):  # a row has none
                out.append((path.stem, panel["title"], concrete(target["expr"], namespace)))
    return out


def rule_exprs() -> list[str]:
    return [rule["expr"] for rule in alert_rules()] + [
        rule["expr"]
        for group in yaml.safe_load((RULES / "recording.yml").read_text())["groups"]
        for rule in group["rules"]
    ]


def selectors(node: object) -> list:
    """The vector selectors of a parsed PromQL expression."""
    if type(node).__name__ == "VectorSelector":
        return [node]
    found = []
    for attr in ("lhs", "rhs", "expr", "param", "vector_selector", "args"):
        value = getattr(node, attr, None)
        for item in value if isinstance(value, list | tuple) else [value]:
            if item is not None and type(item).__module__.startswith("promql_parser"):
                found += selectors(item)
    return found


def metric_names(node: object) -> set[str]:
    return {selector.name for selector in selectors(node)}


@cache
def exported_names() -> frozenset[str]:
    """Sample names the exporter really emits, with all four backends polled for a while (and
    saved to a state file) and a file discovery source, and the process's own series that each
    scrape appends."""
    with (
        tempfile.TemporaryDirectory() as directory,
        simulated_fleet(
            state_file=Path(directory) / "state.db",
            discovery_file=Path(directory) / "targets.json",
        ) as (exporter, advance),
    ):
        for _ in range(13):
            advance()
        body = exporter.exposition.body() + RuntimeMetrics().tail(TEXT)
    return frozenset(name for name, _ in samples(body)) | frozenset(
        re.findall(r"^# TYPE (\S+)", body.decode(), re.MULTILINE)
    )


@pytest.mark.slow
def test_every_promql_expression_parses_and_names_only_exported_metrics() -> None:
    known = exported_names() | recording_names() | recording_names(SLO_RULES)
    exprs = [expr for *_, expr in dashboard_exprs()] + rule_exprs()
    assert len(exprs) > 60
    for expr in exprs:
        names = metric_names(promql_parser.parse(expr))
        assert names, expr
        assert names <= known, (expr, names - known)
