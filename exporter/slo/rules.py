"""Prometheus rule groups of the objectives, in the style of the SRE workbook (chapter 5,
"Alerting on SLOs"): the share of bad jobs recorded over each alert window, and the
multi-window, multi-burn-rate alerts of its table 5-8, a page and a ticket per objective.

A window in which no job counts is recorded as 0 (no error), never as 0/0: an idle target
neither pages nor spends budget. The burn rate is that share over the error budget (1 - the
objective): 1 spends the budget exactly over the objective's window."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from exporter.exposition.text import format_value
from exporter.slo.model import Slo, duration_text

WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
SECONDS = {"m": 60, "h": 3600, "d": 86400}
RATIO = "jobfleet:slo_errors:ratio_rate{window}"
OBJECTIVE = "jobfleet:slo_objective:ratio"
REMAINING = "jobfleet:slo_error_budget:remaining_ratio"
RUNBOOKS = "https://github.com/jobfleet/jobfleet-exporter/blob/main/docs/runbooks.md"
BUDGET_INTERVAL = "5m"  # the window's ratio reads weeks of samples: not every evaluation
FINISHED = "jobfleet_jobs_finished_total"
QUEUE_WAIT = "jobfleet_job_queue_wait_seconds"


@dataclass(frozen=True)
class BurnAlert:
    """One alert of table 5-8: each (long window, short window, burn rate) fires it when the
    burn rate over both windows is above that rate."""

    name: str
    severity: str
    wait: str
    speed: str
    pairs: tuple[tuple[str, str, float], ...]


PAGE = BurnAlert(
    "JobfleetSloFastBurn", "critical", "2m", "fast", (("1h", "5m", 14.4), ("6h", "30m", 6))
)
TICKET = BurnAlert(
    "JobfleetSloSlowBurn", "warning", "15m", "slowly", (("1d", "2h", 3), ("3d", "6h", 1))
)
ALERTS = (PAGE, TICKET)


def rule_groups(slos: list[Slo]) -> list[dict[str, Any]]:
    """Two groups per objective: the alert windows' ratios and the alerts on them, and, less
    often, the objective, its window's ratio and the error budget left, for dashboards."""
    groups: list[dict[str, Any]] = []
    for slo in slos:
        labels = {"slo": slo.name}
        ratios = [_record(RATIO.format(window=w), error_ratio(slo, w), labels) for w in WINDOWS]
        groups.append(
            {
                "name": f"jobfleet-slo-{slo.name}",
                "rules": [*ratios, *(alert(slo, a) for a in ALERTS)],
            }
        )
        window = duration_text(slo.window)
        groups.append(
            {
                "name": f"jobfleet-slo-{slo.name}-budget",
                "interval": BUDGET_INTERVAL,
                "rules": [
                    _record(
                        OBJECTIVE,
                        f"vector({_number(1 - slo.error_budget)})",
                        {**labels, "slo_window": window},
                    ),
                    _record(RATIO.format(window=window), error_ratio(slo, window), labels),
                    _record(
                        REMAINING,
                        f"1 - {_series(RATIO.format(window=window), slo)} / "
                        f"{_number(slo.error_budget)}",
                        labels,
                    ),
                ],
            }
        )
    return groups


def grouping(slo: Slo) -> str:
    """The labels each objective's series keep: a target's, or an attribution label's; and
    ``resource``, so that two lists of jobs of a target (Ray jobs, Spark job runs) stay apart."""
    return "target, backend, resource" if slo.by == "target" else f"{slo.by}, resource"


def error_ratio(slo: Slo, window: str) -> str:
    """Bad jobs over all jobs of ``slo`` in ``window``, per group; 0 where no job counts."""
    by = grouping(slo)

    def summed(metric: str, *matchers: str) -> str:
        chosen = ", ".join(m for m in (slo.selector, *matchers) if m)
        selector = f"{{{chosen}}}" if chosen else ""
        return f"sum by ({by}) (increase({metric}{selector}[{window}]))"

    if slo.queue_wait is not None:
        total = summed(f"{QUEUE_WAIT}_count")
        bound = format_value(float(slo.queue_wait.under))
        # the text formats write le="600"; Prometheus 2.x stores protobuf's as le="600.0"
        le = f'le=~"{bound}(\\\\.0)?"' if bound.isdigit() else f'le="{bound}"'
        bad = f"({total} - {summed(f'{QUEUE_WAIT}_bucket', le)})"
    else:
        total = summed(FINISHED)
        bad = summed(FINISHED, 'phase!="succeeded"')
    return f"(\n  {bad}\n/\n  ({total} > 0)\n)\nor\n  {total} * 0\n"


def alert(slo: Slo, burn: BurnAlert) -> dict[str, Any]:
    budget = _number(slo.error_budget)
    paths = [
        f"(\n  {_series(RATIO.format(window=long), slo)} / {budget} > {rate:g}\nand\n"
        f"  {_series(RATIO.format(window=short), slo)} / {budget} > {rate:g}\n)"
        for long, short, rate in burn.pairs
    ]
    of = (
        " of {{ $labels.target }}"
        if slo.by == "target"
        else f" of {slo.by} {{{{ $labels.{slo.by} }}}}"
    )
    return {
        "alert": burn.name,
        "expr": "\nor\n".join(paths) + "\n",
        "for": burn.wait,
        "labels": {"severity": burn.severity, "slo": slo.name},
        "annotations": {
            "summary": f"SLO {slo.name}{of} burns its error budget {burn.speed}",
            "description": f"{_goal(slo)}. {_burning(slo, burn)}",
            "runbook_url": f"{RUNBOOKS}#{burn.name.lower()}",
        },
    }


def _goal(slo: Slo) -> str:
    window = duration_text(slo.window)
    if slo.queue_wait is not None:
        under = duration_text(slo.queue_wait.under)
        goal = f"of jobs start within {under} of submission"
    else:
        goal = "of finished jobs succeed"
    return f"Objective: {slo.objective:g}% {goal}, over {window}"


def _burning(slo: Slo, burn: BurnAlert) -> str:
    """The windows, rates and the share of the budget each spends in its long window."""
    parts = []
    for long, short, rate in burn.pairs:
        spent = Decimal(str(rate)) * _seconds(long) / Decimal(str(slo.window)) * 100
        parts.append(
            f"{rate:g} times the rate the budget allows over {long} and {short} "
            f"({_number(round(spent, 1))}% of the budget in {long})"
        )
    return f"Bad jobs came at over {', or '.join(parts)}."


def _seconds(window: str) -> Decimal:
    return Decimal(int(window[:-1]) * SECONDS[window[-1]])


def _series(name: str, slo: Slo) -> str:
    return f'{name}{{slo="{slo.name}"}}'


def _record(name: str, expr: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"record": name, "expr": expr, "labels": dict(labels)}


def _number(value: Decimal) -> str:
    """A decimal as PromQL reads it, without trailing zeros (0.001, 0.95, 2.1)."""
    return format(value.normalize(), "f")
