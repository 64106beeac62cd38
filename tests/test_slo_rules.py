"""The generated SLO alerts under promtool: for each objective of docs/slo.example.yaml (a
success ratio and a queue wait), the page and the ticket fire when the error budget burns at
their rates, resolve when it stops, and stay quiet on a burn below their thresholds and on a
fleet with no jobs. The series are made from burn rates, so one scenario serves both kinds."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from exporter.config.parse import load_config
from exporter.slo.model import Slo
from exporter.slo.rules import PAGE, REMAINING, TICKET, BurnAlert, alert

from .helpers import ROOT
from .test_observability import run, tool

EXAMPLE = ROOT / "docs" / "slo.example.yaml"
RULES = ROOT / "rules" / "slo.example.yml"
JOBS_PER_MINUTE = 100
HOUR, DAY = 60, 1440  # in minutes


@dataclass(frozen=True)
class Scenario:
    """Jobs at a steady rate, their bad share given as burn rates over spans of minutes
    (None: no job at all), sampled every ``step`` minutes; at each (minute, firing) of
    ``checks``, ``alert`` is expected firing or not. With ``neighbours``, other groups of jobs
    run beside: one of the objective doing well, and one its selector leaves out failing."""

    alert: BurnAlert
    spans: tuple[tuple[int, float | None], ...]
    checks: tuple[tuple[int, bool], ...]
    step: int = 1
    neighbours: bool = False


SCENARIOS = {
    # 20x after 6 quiet hours: over 1h and 5m past 14.4x after ~43 minutes (over 6h never
    # past 6x); 6 minutes after it stops, the 1h window still at 18x, the clean 5m ends it
    "page: 20x over 1h and 5m, then it stops": Scenario(
        PAGE,
        ((6 * HOUR, 0), (HOUR, 20), (6, 0)),
        ((360 + 40, False), (360 + 50, True), (426, False)),
        step=2,
        neighbours=True,
    ),
    # 8x after a quiet hour: never 14.4x, but past 6x over 6h (and 30m) after 3 hours of it
    "page: 8x over 6h and 30m, then it stops": Scenario(
        PAGE,
        ((HOUR, 0), (210, 8), (40, 0)),
        ((60 + 150, False), (60 + 200, True), (310, False)),
        step=2,
    ),
    "page: 5x for 3 hours is below both thresholds": Scenario(
        PAGE, ((3 * HOUR, 5),), ((HOUR, False), (2 * HOUR, False), (3 * HOUR, False)), step=2
    ),
    # 4x after 6 quiet hours: over 3d (6h of data) and 6h past 1x after 2 hours of it; 5h
    # after it stops, the 2h window is clean and the 6h back under 1x
    "ticket: 4x, then it stops": Scenario(
        TICKET,
        ((6 * HOUR, 0), (4 * HOUR, 4), (5 * HOUR, 0)),
        ((360 + 90, False), (360 + 180, True), (900, False)),
        step=15,
        neighbours=True,
    ),
    # 2x: never 3x over 2h, but past 1x over 3d and 6h after 6 hours of it
    "ticket: 2x over 3d and 6h, then it stops": Scenario(
        TICKET,
        ((6 * HOUR, 0), (450, 2), (210, 0)),
        ((360 + 300, False), (360 + 420, True), (1020, False)),
        step=15,
    ),
    "ticket: 0.8x for a day is below both thresholds": Scenario(
        TICKET, ((DAY, 0.8),), ((6 * HOUR, False), (DAY, False)), step=15
    ),
}
NO_JOBS = Scenario(PAGE, ((4 * HOUR, None),), ((HOUR, False), (4 * HOUR, False)), step=2)


def example_slos() -> list[Slo]:
    return load_config(EXAMPLE, environ={}).slos


def group_labels(slo: Slo, group: str) -> dict[str, str]:
    """The labels of the objective's series for one group of jobs (``group`` of them)."""
    if slo.by == "target":
        return {"target": group, "backend": "ray"}
    return {"team": group}


def series(slo: Slo, labels: dict[str, str], spans, step: int) -> list[dict]:
    """Counter series of ``slo``'s kind for ``labels``, from burn rates per span."""
    budget = float(slo.error_budget)
    total_steps = [
        (minutes // step, 0.0 if burn is None else JOBS_PER_MINUTE * step)
        for minutes, burn in spans
    ]
    bad_steps = [
        (minutes // step, 0.0 if burn is None else burn * budget * JOBS_PER_MINUTE * step)
        for minutes, burn in spans
    ]
    good_steps = [
        (n, total - bad) for (n, total), (_, bad) in zip(total_steps, bad_steps, strict=True)
    ]
    selector = ",".join(f'{k}="{v}"' for k, v in labels.items())
    if slo.kind == "success_ratio":
        finished = f"jobfleet_jobs_finished_total{{{selector}"
        made = {
            f'{finished},phase="succeeded",status="SUCCEEDED"}}': good_steps,
            f'{finished},phase="failed",status="FAILED"}}': bad_steps,
        }
    else:
        made = {
            f'jobfleet_job_queue_wait_seconds_bucket{{{selector},le="600"}}': good_steps,
            f"jobfleet_job_queue_wait_seconds_count{{{selector}}}": total_steps,
        }
    return [{"series": name, "values": expanding(steps)} for name, steps in made.items()]


def expanding(steps: list[tuple[int, float]]) -> str:
    """promtool's expanding notation of a counter growing by ``inc`` for ``n`` steps, span
    after span, from 0."""
    parts, value = ["0"], 0.0
    for n, inc in steps:
        parts.append(f"{value + inc:.10g}+{inc:.10g}x{n - 1}")
        value += n * inc
    return " ".join(parts)


def expected(slo: Slo, burn: BurnAlert, labels: dict[str, str]) -> dict:
    """The alert as promtool should see it: labels, and annotations with labels filled in."""
    rule = alert(slo, burn)
    annotations = {
        key: re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels[m.group(1)], text)
        for key, text in rule["annotations"].items()
    }
    return {"exp_labels": {**rule["labels"], **labels}, "exp_annotations": annotations}


def unit_test(slo: Slo, name: str, scenario: Scenario) -> dict:
    """One promtool test: the scenario on one group of jobs, and its neighbours if it has
    them: a second group of the objective doing well, and, for a selector, a group it leaves
    out failing every job."""
    burning = group_labels(slo, "a")
    quiet = [(minutes, 0.0) for minutes, _ in scenario.spans]
    inputs = series(slo, burning, scenario.spans, scenario.step)
    if scenario.neighbours:
        inputs += series(slo, group_labels(slo, "b"), quiet, scenario.step)
    if scenario.neighbours and slo.selector:  # backend="ray": not an EMR target's jobs
        failing = [(minutes, 1 / float(slo.error_budget)) for minutes, _ in scenario.spans]
        outside = {"target": "emr", "backend": "emr_serverless"}
        inputs += series(slo, outside, failing, scenario.step)
    return {
        "name": f"{slo.name}: {name}",
        "interval": f"{scenario.step}m",
        "input_series": inputs,
        "alert_rule_test": [
            {
                "eval_time": f"{minute}m",
                "alertname": scenario.alert.name,
                "exp_alerts": [expected(slo, scenario.alert, burning)] if firing else [],
            }
            for minute, firing in scenario.checks
        ],
    }


def no_jobs_test(slo: Slo) -> dict:
    """No job at all: no alert, every window's ratio 0, the whole budget left."""
    test = unit_test(slo, "no jobs", NO_JOBS)
    for minute, _ in NO_JOBS.checks:
        test["alert_rule_test"].append(
            {"eval_time": f"{minute}m", "alertname": TICKET.name, "exp_alerts": []}
        )
    labels = {**group_labels(slo, "a"), "slo": slo.name}
    chosen = ",".join(f'{k}="{v}"' for k, v in labels.items())
    test["promql_expr_test"] = [
        {
            "expr": f"{name}{{{chosen}}}",
            "eval_time": "4h",
            "exp_samples": [{"labels": f"{name}{{{chosen}}}", "value": value}],
        }
        for name, value in (
            ("jobfleet:slo_errors:ratio_rate5m", 0),
            ("jobfleet:slo_errors:ratio_rate3d", 0),
            (REMAINING, 1),
        )
    ]
    return test


def write_tests(directory: Path, step: int, le: str = "600") -> Path:
    """The promtool tests of the scenarios of ``step``, the queue-wait bucket spelled ``le``:
    as the text formats write it, or as Prometheus 2.x stores it from protobuf (``600.0``)."""
    slos = example_slos()
    tests = [
        unit_test(slo, name, scenario)
        for slo in slos
        for name, scenario in SCENARIOS.items()
        if scenario.step == step
    ]
    if step == NO_JOBS.step:
        tests += [no_jobs_test(slo) for slo in slos]
    path = directory / f"slo_test_{step}m.yml"
    document = {"rule_files": [str(RULES)], "evaluation_interval": f"{step}m", "tests": tests}
    text = yaml.safe_dump(document, sort_keys=False, width=1000)
    path.write_text(text.replace('le="600"', f'le="{le}"'))
    return path


def test_every_alert_of_each_kind_has_its_scenarios() -> None:
    slos = example_slos()
    assert {slo.kind for slo in slos} == {"success_ratio", "queue_wait"}
    for burn in (PAGE, TICKET):
        mine = [s for s in SCENARIOS.values() if s.alert is burn]
        assert {firing for s in mine for _, firing in s.checks} == {True, False}
        fired_then_resolved = [
            s for s in mine if any(f for _, f in s.checks) and not s.checks[-1][1]
        ]
        assert len(fired_then_resolved) >= 2
        rates = [burn for s in mine for _, burn in s.spans if burn]
        assert min(rates) < min(rate for *_, rate in burn.pairs)  # one below the thresholds


@pytest.mark.slow
@pytest.mark.parametrize("le", ["600", "600.0"])
@pytest.mark.parametrize("step", sorted({s.step for s in SCENARIOS.values()}))
def test_generated_alerts_fire_resolve_and_stay_quiet_under_promtool(
    step: int, le: str, tmp_path: Path
) -> None:
    path = write_tests(tmp_path, step, le)
    result = run(tool("promtool"), "test", "rules", str(path))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "SUCCESS" in result.stdout
