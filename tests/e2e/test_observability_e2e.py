"""A real Prometheus scrapes a real exporter process (all four simulated backends), evaluates the
rules, and sends alerts to a real Alertmanager, which delivers them to a webhook in this test."""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
import yaml

from exporter.backends import registry
from exporter.demo import demo_target
from exporter.simulators.emr_serverless import EmrServerlessSimulator
from exporter.simulators.emr_serverless.workload import SPARK_NAMES, EmrWorkload

from ..helpers import ROOT, eventually, exporter_process, free_port, loopback_server, need
from ..test_observability import SLO_RULES, concrete, dashboard_exprs, recording_names
from .prometheus import daemon, prometheus_scraping

pytestmark = pytest.mark.e2e


@contextlib.contextmanager
def webhook() -> Iterator[tuple[str, list[dict]]]:
    """An Alertmanager webhook receiver; yields its URL and the alerts it got."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            received.extend(json.loads(body).get("alerts", []))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    with loopback_server(Handler) as url:
        yield f"{url}/alerts", received


def values_of(result: list[dict], label: str) -> set[str]:
    """The values of ``label`` in a query's result, absent ones left out."""
    return {series["metric"][label] for series in result if label in series["metric"]}


def panel_expr(dashboard: str, title: str) -> str:
    """The first query of a dashboard's panel, as generated (its variables in place)."""
    data = json.loads((ROOT / "grafana" / "dashboards" / f"{dashboard}.json").read_text())
    return next(t["expr"] for p in data["panels"] if p["title"] == title for t in p["targets"])


def test_prometheus_rules_dashboards_and_alerts_end_to_end(tmp_path: Path) -> None:
    alertmanager = shutil.which("prometheus-alertmanager")
    need(alertmanager is not None, "prometheus-alertmanager is not installed")
    simulators = {  # every declared backend, a target named after it
        name: registry.declaration(name).simulator(name, seed=seed)
        for seed, name in enumerate(registry.names(), start=1)
    }
    ray = simulators["ray"]
    emr = next(sim for sim in simulators.values() if isinstance(sim, EmrServerlessSimulator))
    with contextlib.ExitStack() as stack:
        for simulator in simulators.values():
            stack.enter_context(simulator)
            simulator.start_workload(30)
        ray.add_job("stuck-for-2h", status="PENDING", start_time=time.time() - 7200)
        bad_keys = emr.target_config("emr-bad-keys", resources=["jobs"])
        bad_keys["credentials"]["access_key_secret"] = "not-the-secret"
        common = {"poll_interval": "2s", "per_job_series": "all"}
        targets = [  # as the demo's: its attribution (Usage and cost), its queues (Queues)
            *(demo_target(name, sim, name, **common) for name, sim in simulators.items()),
            {**bad_keys, **common},
        ]
        config = tmp_path / "exporter.yaml"
        config.write_text(yaml.safe_dump({"targets": targets}))
        _, exporter_url = stack.enter_context(exporter_process("--config.file", str(config)))

        hook_url, received = stack.enter_context(webhook())
        am_port = free_port()
        (tmp_path / "am.yml").write_text(
            yaml.safe_dump(
                {
                    "route": {
                        "receiver": "test",
                        "group_by": ["alertname", "target"],
                        "group_wait": "1s",
                        "group_interval": "1s",
                    },
                    "receivers": [{"name": "test", "webhook_configs": [{"url": hook_url}]}],
                }
            )
        )
        stack.enter_context(
            daemon(
                [
                    alertmanager,
                    f"--config.file={tmp_path / 'am.yml'}",
                    f"--storage.path={tmp_path / 'am-data'}",
                    f"--web.listen-address=127.0.0.1:{am_port}",
                    "--cluster.listen-address=",
                ],
                tmp_path / "alertmanager.log",
            )
        )

        # The shipped rules and the example's SLO rules (which the dashboards' SLO row reads),
        # evaluated every second (the groups' own intervals are dropped).
        rule_names = ("recording.yml", "alerts.yml", SLO_RULES)
        for name in rule_names:
            rules = yaml.safe_load((ROOT / "rules" / name).read_text())
            for group in rules["groups"]:
                group.pop("interval", None)
            (tmp_path / name).write_text(yaml.safe_dump(rules))
        alerts_to = f"127.0.0.1:{am_port}"
        prometheus_server = stack.enter_context(
            prometheus_scraping(
                exporter_url,
                tmp_path,
                rule_files=[str(tmp_path / name) for name in rule_names],
                alerting={"alertmanagers": [{"static_configs": [{"targets": [alerts_to]}]}]},
            )
        )
        query = prometheus_server.query

        assert eventually(lambda: query("jobfleet_build_info"), 30, step=0.5), "no scrape"
        every_target_polled = "count(increase(jobfleet_poll_duration_seconds_count[1m]) > 0) >= 5"
        assert eventually(lambda: query(every_target_polled), 30, step=0.5), "targets not polled"

        empty = [
            (dashboard, title, expr)
            for dashboard, title, expr in dashboard_exprs()
            if not eventually(lambda expr=expr: query(expr), 15, step=0.5)
        ]
        assert empty == [], f"dashboard queries without data: {empty}"
        missing = [
            name
            for name in sorted(recording_names() | recording_names(SLO_RULES))
            if not eventually(lambda n=name: query(n), 15, step=0.5)
        ]
        assert missing == [], f"recording rules without data: {missing}"

        def values(expr: str, label: str) -> set[str]:
            return {series["metric"].get(label, "") for series in query(expr)}

        # The Jobs and Clusters dashboards by KubeRay namespace. All (.*) keeps the series of
        # the backends that have no namespace label; one namespace chosen keeps only KubeRay's
        # series of that namespace, per-job and per-cluster ones included.
        state = concrete(panel_expr("clusters", "Cluster state"))
        assert {"kuberay", "ray"} <= values(state, "backend"), values(state, "backend")
        namespace = min(
            values('jobfleet_job_info{backend="kuberay"}', "namespace")
            & values('jobfleet_cluster_info{backend="kuberay"}', "namespace")
        )
        chosen = [
            (title, query(expr))
            for dashboard, title, expr in dashboard_exprs(f"({namespace})")
            if dashboard in ("jobs", "clusters")
        ]
        for title, result in chosen:
            assert values_of(result, "backend") <= {"kuberay"}, title
            assert values_of(result, "namespace") <= {namespace}, title
        shown = {title for title, result in chosen if result}
        always = {"Tracked jobs by native status", "Cluster state", "Nodes alive and dead"}
        assert always <= shown, shown
        assert "Tracked jobs by type" not in shown  # counted per target only
        per_state = panel_expr("clusters", "Clusters per state")
        every = sum(float(s["value"][1]) for s in query(concrete(per_state)))
        some = sum(float(s["value"][1]) for s in query(concrete(per_state, f"({namespace})")))
        assert 0 < some < every, (some, every)

        # the attribution labels themselves, through the exporter and the rules: EMR's
        # workloads (the names of its Ray jobs and of its Spark runs, each list on its own
        # series) on the CU-hours, Ray's teams (four, on four slots) on the job counters
        workloads = (
            'target_backend_attribution:jobfleet_cu_hours:increase1h{backend="emr_serverless"}'
        )

        def workloads_of(resource: str) -> set[str]:
            found = query(f'{workloads[:-1]},resource="{resource}"}}')
            return {series["metric"].get("workload", "") for series in found}

        ray_names, spark_names = set(EmrWorkload.NAMES), set(SPARK_NAMES)
        assert eventually(lambda: set() < workloads_of("") <= ray_names, 30, 0.5), workloads_of("")
        assert eventually(lambda: set() < workloads_of("spark_runs") <= spark_names, 30, 0.5), (
            workloads_of("spark_runs")
        )
        teams = 'sum by (team) (jobfleet_jobs_submitted_total{backend="ray"})'
        every_team = {"vision", "nlp", "data-eng", "recsys", ""}  # "": DRIVER jobs have none
        assert eventually(lambda: values(teams, "team") == every_team, 30, 0.5)

        def delivered() -> set[str]:
            return {alert["labels"]["alertname"] for alert in received}

        expected = {"JobfleetJobPendingTooLong", "JobfleetAuthFailing"}
        assert eventually(lambda: expected <= delivered(), 60, step=1), delivered()
        by_name = {alert["labels"]["alertname"]: alert for alert in received}
        pending, auth = by_name["JobfleetJobPendingTooLong"], by_name["JobfleetAuthFailing"]
        assert pending["labels"]["job_id"] == "stuck-for-2h"
        assert auth["labels"]["target"] == "emr-bad-keys"
        assert auth["annotations"]["runbook_url"].endswith("#jobfleetauthfailing")
