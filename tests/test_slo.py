"""The ``slos`` section: what is refused and why, and the rules made from it: the example's
rule file is the generator's output, promtool accepts it, its alerts follow the house rules
(severity, runbook sections), and its expressions read only series the exporter exports."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import promql_parser
import pytest
import yaml

from exporter.config.parse import load_config, parse_config
from exporter.config.types import ConfigError
from exporter.exposition.declared import families
from exporter.slo.model import parse_selector
from exporter.slo.render import rules_text
from exporter.slo.rules import ALERTS, OBJECTIVE, REMAINING, WINDOWS, rule_groups

from .helpers import ROOT, run_cli
from .test_observability import SLO_RULES, concrete, metric_names, recording_names, run, tool

EXAMPLE = "docs/slo.example.yaml"
RULES = ROOT / "rules" / "slo.example.yml"
TARGET = {"name": "ray-prod", "backend": "ray", "url": "http://127.0.0.1:8265"}
TEAM = {"labels": {"team": "metadata.team"}}
TEAM_ON_HISTOGRAMS = {"labels": {"team": "metadata.team"}, "histograms": ["team"]}
SUCCESS = {"name": "ok", "objective": 99, "success_ratio": {}}
QUEUE = {"name": "wait", "objective": 95, "queue_wait": {"under": "10m"}}


def config(*slos: dict, attribution: dict | None = None) -> dict:
    defaults = {"attribution": attribution} if attribution else {}
    return {"defaults": defaults, "targets": [TARGET], "slos": list(slos)}


def problems(data: dict) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(data, environ={})
    return caught.value.problems


REFUSED = {
    "objective as a ratio": (
        config({**SUCCESS, "objective": 0.99}),
        "slos[0].objective: is a percentage: 99.5 means 99.5 % of jobs; write 99 rather than 0.99",
    ),
    "objective of 100": (
        config({**SUCCESS, "objective": 100}),
        "slos[0].objective: must be a percentage above 0 and below 100, such as 99.5",
    ),
    "objective true": (
        config({**SUCCESS, "objective": True}),
        "slos[0].objective: must be a percentage, such as 99.5",
    ),
    "not a bucket bound": (
        config({**QUEUE, "queue_wait": {"under": "7m"}}),
        "slos[0].queue_wait.under: must be a bound of the queue wait histogram's buckets: one "
        "of 1s, 5s, 10s, 30s, 1m, 2m, 5m, 10m, 30m, 1h, 2h",
    ),
    "both kinds": (
        config({**SUCCESS, "queue_wait": {"under": "10m"}}),
        "slos[0]: give one of queue_wait or success_ratio",
    ),
    "no kind": (
        config({"name": "x", "objective": 99}),
        "slos[0]: give one of queue_wait or success_ratio",
    ),
    "short window": (
        config({**SUCCESS, "window": "2d"}),
        "slos[0].window: must be whole days from 7d to 90d, such as 30d",
    ),
    "window in hours": (
        config({**SUCCESS, "window": "170h"}),
        "slos[0].window: must be whole days from 7d to 90d, such as 30d",
    ),
    "bad name": (
        config({**SUCCESS, "name": "Jobs Succeed"}),
        "slos[0].name: must be 1-64 characters: lower-case letters, digits, _ and -",
    ),
    "duplicate name": (
        config(SUCCESS, {**QUEUE, "name": "ok"}),
        "slos[1].name: duplicate objective name 'ok'",
    ),
    "unknown key": (config({**SUCCESS, "objectve": 99}), "slos[0].objectve: unknown key"),
    "by a label no target has": (
        config({**SUCCESS, "by": "team"}),
        "slos[0].by: team is not a label of the series this objective reads; one of: target",
    ),
    "queue wait by a label not on the histogram": (
        config({**QUEUE, "by": "team"}, attribution=TEAM),
        "slos[0].by: team is not in any attribution.histograms: the queue wait histogram does "
        "not carry it (labels on it: none)",
    ),
    "selector syntax": (
        config({**SUCCESS, "selector": "backend=ray"}),
        'slos[0].selector: matcher 1: must be label="value" (or !=, =~, !~), matchers '
        "separated by commas",
    ),
    "selector regex": (
        config({**SUCCESS, "selector": 'target=~"prod-("'}),
        "slos[0].selector: target: not a regular expression",
    ),
    "selector le": (
        config({**QUEUE, "selector": 'le="600"'}),
        "slos[0].selector: le: is chosen by the objective, not by the selector",
    ),
    "selector phase of the histogram": (
        config({**QUEUE, "selector": 'phase!="cancelled"'}),
        "slos[0].selector: phase is not a label of the series this objective reads; one of: "
        "target, backend, resource",
    ),
    "selector of an unknown label": (
        config({**SUCCESS, "selector": 'region="eu"'}, attribution=TEAM),
        "slos[0].selector: region is not a label of the series this objective reads; one of: "
        "target, backend, resource, phase, status, reason, team",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_broken_objective_is_one_line_naming_its_field(case: str) -> None:
    data, expected = REFUSED[case]
    found = problems(data)
    assert len(found) == 1, found
    assert found[0].startswith(expected), found[0]


def test_objectives_read_with_their_defaults_and_normal_forms() -> None:
    slos = parse_config(
        config(
            {**SUCCESS, "objective": "99.95", "success_ratio": None, "selector": '{phase="x"}'},
            {**QUEUE, "by": "team", "window": "28d", "selector": ' target =~ "prod-.*" ,'},
            attribution=TEAM_ON_HISTOGRAMS,
        ),
        environ={},
    ).slos
    assert [slo.kind for slo in slos] == ["success_ratio", "queue_wait"]
    assert slos[0].error_budget == Decimal("0.0005")
    assert (slos[0].window, slos[0].by, slos[0].selector) == (30 * 86400, "target", 'phase="x"')
    assert (slos[1].window, slos[1].selector) == (28 * 86400, 'target=~"prod-.*"')
    assert slos[1].queue_wait is not None and slos[1].queue_wait.under == 600


def test_a_label_of_one_target_or_template_is_enough() -> None:
    target = {**TARGET, "attribution": TEAM_ON_HISTOGRAMS}
    data = {"targets": [target], "slos": [{**QUEUE, "by": "team"}]}
    assert parse_config(data, environ={}).slos[0].by == "team"
    template = {"backend": "ray", "attribution": TEAM}
    source = {"name": "fleet", "file": {"paths": ["/nonexistent/*.json"]}, "template": template}
    data = {"targets": [TARGET], "discovery": [source], "slos": [{**SUCCESS, "by": "team"}]}
    assert parse_config(data, environ={}).slos[0].by == "team"


def test_selector_values_keep_their_escapes() -> None:
    text = r'target=~"a\\.b", backend!="x\"y"'
    assert parse_selector(text) == [("target", "=~", r"a\\.b"), ("backend", "!=", r"x\"y")]


def test_the_committed_example_rules_are_the_generators_output() -> None:
    slos = load_config(ROOT / EXAMPLE, environ={}).slos
    assert RULES.read_text() == rules_text(slos, EXAMPLE), "run: make slo-rules"


def test_promtool_accepts_the_example_rules() -> None:
    result = run(tool("promtool"), "check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    per_slo = len(WINDOWS) + len(ALERTS) + 3  # the windows, page and ticket, the budget's
    assert f"SUCCESS: {2 * per_slo} rules found" in result.stdout


def test_each_objective_has_a_page_and_a_ticket_with_runbook_sections() -> None:
    runbooks = (ROOT / "docs" / "runbooks.md").read_text()
    groups = yaml.safe_load(RULES.read_text())["groups"]
    alerts = [rule for group in groups for rule in group["rules"] if "alert" in rule]
    assert sorted((a["labels"]["slo"], a["labels"]["severity"]) for a in alerts) == [
        ("ray-jobs-succeed", "critical"),
        ("ray-jobs-succeed", "warning"),
        ("team-queue-wait", "critical"),
        ("team-queue-wait", "warning"),
    ]
    for rule in alerts:
        assert {"summary", "description", "runbook_url"} <= set(rule["annotations"])
        anchor = rule["annotations"]["runbook_url"].rsplit("#", 1)[1]
        assert anchor == rule["alert"].lower()
        assert f"\n## {rule['alert']}\n" in runbooks


def test_expressions_read_only_exported_series_and_their_own_records() -> None:
    groups = rule_groups(load_config(ROOT / EXAMPLE, environ={}).slos)
    rules = [rule for group in groups for rule in group["rules"]]
    recorded = {rule["record"] for rule in rules if "record" in rule}
    exported = set()
    for family in families().values():
        suffixes = ("_bucket", "_count", "_sum") if family.type == "histogram" else ("",)
        exported |= {family.name + suffix for suffix in suffixes}
    for rule in rules:
        names = metric_names(promql_parser.parse(rule["expr"]))
        assert names <= exported | recorded, names - exported - recorded
    assert {"jobfleet_jobs_finished_total", "jobfleet_job_queue_wait_seconds_bucket"} <= {
        name for rule in rules for name in metric_names(promql_parser.parse(rule["expr"]))
    }


@pytest.mark.slow
def test_print_rules_prints_the_rule_file_and_check_config_lists_the_objectives() -> None:
    result = run_cli("--config.file", EXAMPLE, "--slo.print-rules")
    assert result.returncode == 0, result.stderr
    assert result.stdout == RULES.read_text()
    result = run_cli("--config.file", EXAMPLE, "--check-config")
    assert result.returncode == 0, result.stderr
    succeed = "slo ray-jobs-succeed: success_ratio objective=99% window=30d by=target"
    assert f'{succeed} selector=backend="ray" (rules: --slo.print-rules)' in result.stdout
    assert "slo team-queue-wait: queue_wait under=10m objective=95% window=28d by=team" in (
        result.stdout
    )


@pytest.mark.slow
def test_print_rules_without_objectives_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"targets": [TARGET]}))
    result = run_cli("--config.file", str(path), "--slo.print-rules")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip() == f"{path}: slos: none configured"


def test_the_fleet_overview_row_reads_the_generated_records() -> None:
    panels = json.loads((ROOT / "grafana" / "dashboards" / "fleet-overview.json").read_text())[
        "panels"
    ]
    row = next(i for i, p in enumerate(panels) if p["type"] == "row")
    assert panels[row]["title"] == "Service level objectives"
    exprs = [concrete(t["expr"]) for p in panels[row + 1 :] for t in p["targets"]]
    names = {name for expr in exprs for name in metric_names(promql_parser.parse(expr))}
    assert {OBJECTIVE, REMAINING, "jobfleet:slo_errors:ratio_rate1h"} <= names
    assert names <= recording_names(SLO_RULES)
