"""Writes the Grafana dashboards under grafana/dashboards/ from the panel lists below.

    python grafana/generate.py          # rewrite the JSON files
    python grafana/generate.py --check  # exit 1 if a file differs from what this would write

Every dashboard has a Prometheus datasource variable and multi-value ``target``/``backend``
variables; every query of a target's series filters on them with ``S`` below. The Jobs and
Clusters dashboards also filter on ``namespace`` (KubeRay's): ``NS`` on the series that carry
it, and ``JOB_IN_NS``/``CLUSTER_IN_NS`` (a join with the info series, which carry it) on the
per-job and per-cluster series, which do not. Its All is ``.*``, which matches the series of
the other backends too, as they have no ``namespace`` label. The process's own series
(``process_*``, ``python_*``) have no target: ``EXPORTER`` keeps those of jobfleet exporters.
Histogram panels ask for exemplars: each bucket names the job last observed in it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
S = 'target=~"$target", backend=~"$backend"'
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
EXPORTER = "and on (job, instance) jobfleet_build_info"
NS = 'namespace=~"$namespace"'
JOB_IN_NS = f"and on (target, backend, job_id) jobfleet_job_info{{{S}, {NS}}}"
CLUSTER_IN_NS = f"and on (target, backend, cluster_id) jobfleet_cluster_info{{{S}, {NS}}}"


def q(
    expr: str,
    legend: str = "",
    instant: bool = False,
    table: bool = False,
    exemplar: bool = False,
) -> dict:
    target = {"datasource": DATASOURCE, "expr": expr, "legendFormat": legend or "__auto"}
    if exemplar:
        target["exemplar"] = True
    if instant:
        target["instant"], target["range"] = True, False
    if table:
        target["format"] = "table"
    return target


def panel(
    kind: str,
    title: str,
    targets: list[dict],
    unit: str = "short",
    w: int = 12,
    h: int = 8,
    description: str = "",
    **options: object,
) -> dict:
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "targets": targets,
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": options,
        "_size": (w, h),
    }


def row(title: str) -> dict:
    """A row header: the panels after it, up to the next row, are its (shown, not collapsed)."""
    return {"type": "row", "title": title, "collapsed": False, "panels": [], "_size": (24, 1)}


def layout(panels: list[dict]) -> list[dict]:
    """Place panels left to right, wrapping at Grafana's 24 columns; number them and refIds."""
    x = y = row_height = 0
    for number, item in enumerate(panels, start=1):
        w, h = item.pop("_size")
        if x + w > 24:
            x, y, row_height = 0, y + row_height, 0
        item["id"] = number
        item["gridPos"] = {"h": h, "w": w, "x": x, "y": y}
        for index, target in enumerate(item.get("targets", [])):
            target["refId"] = chr(ord("A") + index)
        x, row_height = x + w, max(row_height, h)
    return panels


def variable(name: str, label: str) -> dict:
    query = f"label_values(jobfleet_target_up, {name})"
    return {
        "type": "query",
        "name": name,
        "label": label,
        "datasource": DATASOURCE,
        "query": {"query": query, "refId": f"{name}-values"},
        "refresh": 2,
        "multi": True,
        "includeAll": True,
        "allValue": ".*",
        "current": {"text": "All", "value": "$__all"},
        "sort": 1,
    }


def namespace_variable(family: str) -> dict:
    """KubeRay's namespaces, as ``family`` has them for the chosen targets. Its All is ``.*``,
    which Grafana puts in the query as it is (a custom all value is not escaped), so that it
    also matches the series without a ``namespace`` label: those of the other backends."""
    return {
        "type": "query",
        "name": "namespace",
        "label": "Namespace",
        "description": "KubeRay targets: the namespaces of their RayJobs and RayClusters. "
        "Series of other backends have none: All shows them, a chosen namespace hides them.",
        "datasource": DATASOURCE,
        "query": {
            "query": f"label_values({family}{{{S}}}, namespace)",
            "refId": "namespace-values",
        },
        "refresh": 2,
        "multi": True,
        "includeAll": True,
        "allValue": ".*",
        "current": {"text": "All", "value": "$__all"},
        "sort": 1,
    }


def attribution_variable() -> dict:
    """The attribution label to group by: any label of jobfleet_jobs_submitted_total beyond
    the target's own and Prometheus' (those are the configured attribution labels)."""
    return {
        "type": "query",
        "name": "label",
        "label": "Attribution label",
        "description": "An attribution label of the targets (docs/metrics.md, Attribution)",
        "datasource": DATASOURCE,
        "query": {
            "query": "label_names(jobfleet_jobs_submitted_total)",
            "refId": "label-names",
        },
        "regex": "/^(?!(__name__|target|backend|instance|job)$).+$/",
        "refresh": 2,
        "multi": False,
        "includeAll": False,
        "current": {"text": "team", "value": "team"},
        "sort": 1,
    }


def dashboard(
    uid: str, title: str, description: str, panels: list[dict], extra: tuple[dict, ...] = ()
) -> dict:
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["jobfleet"],
        "editable": True,
        "graphTooltip": 1,
        "refresh": "1m",
        "schemaVersion": 39,
        "time": {"from": "now-6h", "to": "now"},
        "timezone": "browser",
        "templating": {
            "list": [
                {
                    "type": "datasource",
                    "name": "datasource",
                    "label": "Data source",
                    "query": "prometheus",
                    "current": {},
                },
                variable("target", "Target"),
                variable("backend", "Backend"),
                *extra,
            ]
        },
        "links": [
            {"type": "dashboards", "tags": ["jobfleet"], "asDropdown": True, "title": "jobfleet"}
        ],
        "panels": layout(panels),
    }


def quantiles(metric: str, selector: str, by: str = "") -> list[dict]:
    group = f"{by}, le" if by else "le"
    return [
        q(
            f"histogram_quantile({p}, sum by ({group}) (rate({metric}_bucket{{{selector}}}[$__rate_interval])))",
            f"p{int(p * 100)}" + (f" {{{{{by}}}}}" if by else ""),
            exemplar=True,
        )
        for p in (0.5, 0.9, 0.99)
    ]


# The records of the SLO rules generated from the configuration's objectives (docs/slo.md),
# each with its ``slo`` label; the series of an objective by target carry target and backend.
SLO_OBJECTIVE = "jobfleet:slo_objective:ratio"
SLO_LEFT = "jobfleet:slo_error_budget:remaining_ratio"


def burn_rate(window: str, alert: str) -> dict:
    return panel(
        "timeseries",
        f"SLO burn rate over {window}",
        [
            q(
                f"jobfleet:slo_errors:ratio_rate{window}{{{S}}} / on (slo) group_left () (1 - {SLO_OBJECTIVE})"
            )
        ],
        w=8,
        description=f"Bad jobs over the error budget (1 spends it exactly in the objective's window); {alert}.",
    )


SLO_ROW = [
    row("Service level objectives"),
    panel(
        "table",
        "SLO objectives",
        [q(SLO_OBJECTIVE, instant=True, table=True)],
        unit="percentunit",
        w=8,
        description="Each objective of the generated SLO rules: the share of jobs that must be "
        "good over its window (slo_window). Empty without the SLO rules (docs/slo.md).",
    ),
    panel(
        "bargauge",
        "SLO error budget left",
        [q(f"sort({SLO_LEFT}{{{S}}})", instant=True)],
        unit="percentunit",
        w=16,
        description="Share of the error budget not yet spent over the objective's window, per "
        "objective and group (target or attribution value); below 0 the objective is missed.",
        displayMode="gradient",
    ),
    burn_rate("1h", "JobfleetSloFastBurn pages above 14.4 (with the 5 m window)"),
    burn_rate("6h", "JobfleetSloFastBurn pages above 6 (with the 30 m window)"),
    burn_rate("1d", "JobfleetSloSlowBurn opens a ticket above 3 (with the 2 h window)"),
]

OVERVIEW = dashboard(
    "jobfleet-overview",
    "jobfleet / Fleet overview",
    "Jobs by phase, throughput, failures, durations, cost and target health across the fleet.",
    [
        panel(
            "stat",
            "Jobs by phase now",
            [q(f"sum by (phase) (jobfleet_jobs{{{S}}})", "{{phase}}", instant=True)],
            w=12,
            h=5,
            description="Jobs tracked now: active ones, and finished ones within the retention window.",
            colorMode="background",
            textMode="value_and_name",
        ),
        panel(
            "stat",
            "Targets up",
            [q(f"min by (target) (jobfleet_target_up{{{S}}})", "{{target}}", instant=True)],
            w=12,
            h=5,
            description="1 when the last poll of every resource of the target succeeded.",
            colorMode="background",
            textMode="value_and_name",
        ),
        panel(
            "timeseries",
            "Submitted and finished per hour",
            [
                q(f"sum(target_backend:jobfleet_jobs_submitted:increase1h{{{S}}})", "submitted"),
                q(
                    f"sum by (phase) (target_backend_phase:jobfleet_jobs_finished:increase1h{{{S}}})",
                    "finished {{phase}}",
                ),
            ],
            description="Jobs seen new, and jobs that reached each terminal phase, over the past hour.",
        ),
        panel(
            "timeseries",
            "Failure ratio (1 h)",
            [q(f"target_backend:jobfleet_job_failure_ratio:1h{{{S}}}", "{{target}}")],
            unit="percentunit",
            description="Failed / finished over the past hour, per target.",
        ),
        panel(
            "timeseries",
            "Job duration (succeeded)",
            quantiles("jobfleet_job_duration_seconds", f'{S}, phase="succeeded"'),
            unit="s",
            w=8,
        ),
        panel(
            "timeseries",
            "Queue wait",
            quantiles("jobfleet_job_queue_wait_seconds", S),
            unit="s",
            w=8,
        ),
        panel(
            "timeseries",
            "Failed and cancelled job durations (p90)",
            [
                q(
                    f'histogram_quantile(0.9, sum by (phase, le) (rate(jobfleet_job_duration_seconds_bucket{{{S}, phase!="succeeded"}}[$__rate_interval])))',
                    "{{phase}}",
                    exemplar=True,
                )
            ],
            unit="s",
            w=8,
        ),
        panel(
            "timeseries",
            "CU-hours per hour",
            [
                q(
                    f"sum by (resource_queue) (increase(jobfleet_cu_seconds_total{{{S}}}[1h])) / 3600",
                    "{{resource_queue}}",
                )
            ],
            unit="short",
            description="Compute units consumed (EMR cuHours), by engine queue.",
        ),
        panel(
            "timeseries",
            "CU-hours per day",
            [
                q(
                    f"sum by (target) (increase(jobfleet_cu_seconds_total{{{S}}}[1d])) / 3600",
                    "{{target}}",
                )
            ],
            unit="short",
        ),
        *SLO_ROW,
    ],
)

JOBS = dashboard(
    "jobfleet-jobs",
    "jobfleet / Jobs",
    "Per target: jobs by native status and type, the active jobs, the slowest and longest waiting.",
    [
        panel(
            "timeseries",
            "Tracked jobs by native status",
            [q(f"sum by (target, status) (jobfleet_jobs{{{S}, {NS}}})", "{{target}} {{status}}")],
        ),
        panel(
            "timeseries",
            "Finished per hour by native status",
            [
                q(
                    f"sum by (target, status) (increase(jobfleet_jobs_finished_total{{{S}, {NS}}}[1h]))",
                    "{{target}} {{status}}",
                )
            ],
        ),
        panel(
            "bargauge",
            "Tracked jobs by type",
            [
                q(
                    f"sum by (target, job_type) (jobfleet_jobs_by_type{{{S}, {NS}}})",
                    "{{target}} {{job_type}}",
                    instant=True,
                )
            ],
            w=8,
            description="Counted per target, not per namespace: empty when namespaces are chosen.",
            displayMode="gradient",
        ),
        panel(
            "table",
            "Active jobs",
            [
                q(
                    f'jobfleet_job_status{{{S}, phase=~"pending|running"}} * on (target, backend, job_id) group_left (job_name, job_type, namespace) jobfleet_job_info{{{S}, {NS}}}',
                    instant=True,
                    table=True,
                )
            ],
            w=16,
            description="Needs per_job_series: active (default) or all.",
        ),
        panel(
            "bargauge",
            "Longest running now",
            [
                q(
                    f'topk(10, (time() - jobfleet_job_submit_timestamp_seconds{{{S}}}) and on (target, backend, job_id) (jobfleet_job_status{{{S}, phase="running"}} == 1) {JOB_IN_NS})',
                    "{{target}} {{job_id}}",
                    instant=True,
                )
            ],
            unit="s",
            w=12,
            displayMode="gradient",
        ),
        panel(
            "bargauge",
            "Longest pending now",
            [
                q(
                    f'topk(10, (time() - jobfleet_job_submit_timestamp_seconds{{{S}}}) and on (target, backend, job_id) (jobfleet_job_status{{{S}, phase="pending"}} == 1) {JOB_IN_NS})',
                    "{{target}} {{job_id}}",
                    instant=True,
                )
            ],
            unit="s",
            w=12,
            displayMode="gradient",
        ),
        panel(
            "bargauge",
            "Most CU-hours (EMR)",
            [
                q(
                    f"topk(10, jobfleet_job_cu_seconds{{{S}}} {JOB_IN_NS}) / 3600",
                    "{{target}} {{job_id}}",
                    instant=True,
                )
            ],
            w=12,
            displayMode="gradient",
        ),
        panel(
            "bargauge",
            "Most abnormal nodes (ModelArts)",
            [
                q(
                    f"topk(10, jobfleet_job_abnormal_nodes{{{S}}} {JOB_IN_NS})",
                    "{{target}} {{job_id}}",
                    instant=True,
                )
            ],
            w=12,
            displayMode="gradient",
        ),
    ],
    extra=(namespace_variable("jobfleet_jobs"),),
)

CLUSTERS = dashboard(
    "jobfleet-clusters",
    "jobfleet / Clusters",
    "Cluster states over time, capacity and use, nodes alive and dead, autoscaling bounds,"
    " idle RayClusters.",
    [
        panel(
            "state-timeline",
            "Cluster state",
            [
                q(
                    f"jobfleet_cluster_state{{{S}}} == 1 {CLUSTER_IN_NS}",
                    "{{target}} {{cluster_id}} {{state}}",
                )
            ],
            w=24,
            h=8,
        ),
        panel(
            "bargauge",
            "Clusters per state",
            [
                q(
                    f"sum by (state) (jobfleet_cluster_state{{{S}}} {CLUSTER_IN_NS})",
                    "{{state}}",
                    instant=True,
                )
            ],
            w=8,
            description="Each cluster's one-hot state, summed (jobfleet_clusters counts the "
            "same, but per target only, with no namespace to filter on).",
            displayMode="gradient",
        ),
        panel(
            "timeseries",
            "Nodes alive and dead",
            [
                q(
                    f"sum by (target, cluster_id, state) (jobfleet_cluster_nodes{{{S}}} {CLUSTER_IN_NS})",
                    "{{target}} {{cluster_id}} {{state}}",
                )
            ],
            w=16,
        ),
        panel(
            "timeseries",
            "CPU cores: total and used",
            [
                q(
                    f"sum by (target, cluster_id) (jobfleet_cluster_cpu_cores{{{S}}} {CLUSTER_IN_NS})",
                    "{{cluster_id}} total",
                ),
                q(f"jobfleet_cluster_cpu_cores_used{{{S}}} {CLUSTER_IN_NS}", "{{cluster_id}} used"),
            ],
            w=8,
        ),
        panel(
            "timeseries",
            "Memory: total and used",
            [
                q(
                    f"sum by (target, cluster_id) (jobfleet_cluster_memory_bytes{{{S}}} {CLUSTER_IN_NS})",
                    "{{cluster_id}} total",
                ),
                q(
                    f"jobfleet_cluster_memory_used_bytes{{{S}}} {CLUSTER_IN_NS}",
                    "{{cluster_id}} used",
                ),
            ],
            unit="bytes",
            w=8,
        ),
        panel(
            "timeseries",
            "GPUs: total and used",
            [
                q(
                    f"sum by (target, cluster_id) (jobfleet_cluster_gpus{{{S}}} {CLUSTER_IN_NS})",
                    "{{cluster_id}} total",
                ),
                q(f"jobfleet_cluster_gpus_used{{{S}}} {CLUSTER_IN_NS}", "{{cluster_id}} used"),
            ],
            w=8,
        ),
        panel(
            "timeseries",
            "Worker replicas and autoscaling bounds",
            [
                q(
                    f'jobfleet_cluster_nodes{{{S}, role="worker", state="alive"}} {CLUSTER_IN_NS}',
                    "{{cluster_id}} {{group}} replicas",
                ),
                q(
                    f"jobfleet_cluster_group_replicas_min{{{S}}} {CLUSTER_IN_NS}",
                    "{{cluster_id}} {{group}} min",
                ),
                q(
                    f"jobfleet_cluster_group_replicas_max{{{S}}} {CLUSTER_IN_NS}",
                    "{{cluster_id}} {{group}} max",
                ),
            ],
            w=24,
        ),
        panel(
            "bargauge",
            "Idle RayClusters",
            [
                q(
                    f"sort_desc((time() - jobfleet_cluster_idle_since_timestamp_seconds{{{S}}})"
                    " * on (target, backend, cluster_id) group_left (namespace, cluster_name)"
                    f" jobfleet_cluster_info{{{S}, {NS}}})",
                    "{{namespace}}/{{cluster_name}}",
                    instant=True,
                )
            ],
            unit="s",
            w=24,
            description="KubeRay: how long each ready RayCluster has had no RayJob on it "
            "(jobs submitted to its dashboard directly are not seen). Absent while one is.",
            displayMode="gradient",
        ),
    ],
    extra=(namespace_variable("jobfleet_cluster_info"),),
)

QUEUE_KEY = "target, backend, resource_queue, resource_kind"


def capacity(kind: str, title: str, unit: str, bounds: tuple[str, ...]) -> dict:
    """One resource kind of every queue: its bounds and its use, a line each."""
    return panel(
        "timeseries",
        title,
        [
            q(
                f'jobfleet_queue_resource_{bound}{{{S}, resource_kind="{kind}"}}',
                f"{{{{resource_queue}}}} {bound}",
            )
            for bound in (*bounds, "used")
        ],
        unit=unit,
        w=8,
    )


QUEUES = dashboard(
    "jobfleet-queues",
    "jobfleet / Resource queues",
    "EMR Serverless Spark resource queues: status, capacity against use, and the runs waiting.",
    [
        panel(
            "state-timeline",
            "Queue status",
            [
                q(
                    f"jobfleet_queue_status{{{S}}} == 1",
                    "{{target}} {{resource_queue}} {{status}}",
                )
            ],
            w=24,
            h=6,
        ),
        capacity("cpu", "CPU cores: maximum, minimum and used", "short", ("max", "min")),
        capacity("memory", "Memory: maximum, minimum and used", "bytes", ("max", "min")),
        capacity("gpu", "GPUs: maximum and used", "short", ("max",)),
        panel(
            "timeseries",
            "Use of the maximum",
            [
                q(
                    f'jobfleet_queue_resource_used{{{S}, resource_kind=~"cpu|memory"}} / on ({QUEUE_KEY}) (jobfleet_queue_resource_max{{{S}}} > 0)',
                    "{{resource_queue}} {{resource_kind}}",
                )
            ],
            unit="percentunit",
            description="JobfleetQueueSaturated fires when CPU or memory stays at 90% or more "
            "of a queue's maximum for 15 minutes while runs wait in it.",
        ),
        panel(
            "timeseries",
            "Runs waiting",
            [
                q(
                    f"sum by (target, resource_queue) (jobfleet_queue_jobs_waiting{{{S}}})",
                    "{{target}} {{resource_queue}}",
                )
            ],
            description="Spark job runs Submitted or Pending in each queue: waiting for its resources.",
        ),
        panel(
            "table",
            "Queues",
            [q(f"jobfleet_queue_info{{{S}}}", instant=True, table=True)],
            w=24,
            h=6,
            description="Type, category (CPU, GPU), payment type and environments of each queue.",
        ),
    ],
)

POOL_KEY = "target, backend, resource_pool, resource_kind"


def pool_capacity(kind: str, title: str, unit: str) -> dict:
    """One resource kind of every pool: its capacity and what is allocated, a line each."""
    return panel(
        "timeseries",
        title,
        [
            q(
                f'jobfleet_pool_resource_{amount}{{{S}, resource_kind="{kind}"}}',
                f"{{{{resource_pool}}}} {amount}",
            )
            for amount in ("capacity", "allocated")
        ],
        unit=unit,
        w=6,
    )


POOLS = dashboard(
    "jobfleet-pools",
    "jobfleet / Resource pools",
    "ModelArts resource pools: status, nodes, capacity against allocation, and the training "
    "jobs waiting.",
    [
        panel(
            "state-timeline",
            "Pool status",
            [
                q(
                    f"jobfleet_pool_status{{{S}}} == 1",
                    "{{target}} {{resource_pool}} {{status}}",
                )
            ],
            w=24,
            h=6,
        ),
        pool_capacity("cpu", "CPU cores: capacity and allocated", "short"),
        pool_capacity("memory", "Memory: capacity and allocated", "bytes"),
        pool_capacity("gpu", "GPUs: capacity and allocated", "short"),
        pool_capacity("npu", "NPUs: capacity and allocated", "short"),
        panel(
            "timeseries",
            "Allocation of the capacity",
            [
                q(
                    f"jobfleet_pool_resource_allocated{{{S}}} / on ({POOL_KEY}) (jobfleet_pool_resource_capacity{{{S}}} > 0)",
                    "{{resource_pool}} {{resource_kind}}",
                )
            ],
            unit="percentunit",
            description="JobfleetPoolSaturated fires when any resource stays 90% or more "
            "allocated for 15 minutes while training jobs wait for the pool.",
        ),
        panel(
            "timeseries",
            "Training jobs waiting",
            [
                q(
                    f"sum by (target, resource_pool) (jobfleet_pool_jobs_waiting{{{S}}})",
                    "{{target}} {{resource_pool}}",
                )
            ],
            description="Training jobs Creating or Pending for each pool: waiting for its nodes.",
        ),
        panel(
            "timeseries",
            "Nodes by status",
            [
                q(
                    f"sum by (target, resource_pool, status) (jobfleet_pool_nodes{{{S}}}) > 0",
                    "{{resource_pool}} {{status}}",
                )
            ],
            description="Only Available nodes take jobs and count in the capacity.",
        ),
        panel(
            "timeseries",
            "Pools by status",
            [q(f"sum by (target, status) (jobfleet_pools{{{S}}})", "{{target}} {{status}}")],
            description="The project's pools as its pool statistics count them, failed ones too.",
        ),
        panel(
            "table",
            "Pools",
            [q(f"jobfleet_pool_info{{{S}}}", instant=True, table=True)],
            w=24,
            h=6,
            description="Name, type, scope and node flavors of each pool.",
        ),
    ],
)

HEALTH = dashboard(
    "jobfleet-health",
    "jobfleet / Exporter health",
    "Is the exporter polling every target, how fast, what the APIs answer, and how fresh the data is.",
    [
        panel(
            "state-timeline",
            "Poll success",
            [q(f"jobfleet_target_up{{{S}}}", "{{target}} {{resource}}")],
            w=24,
            h=7,
        ),
        panel(
            "timeseries",
            "Poll duration (p90)",
            [
                q(
                    f"histogram_quantile(0.9, sum by (target, resource, le) (rate(jobfleet_poll_duration_seconds_bucket{{{S}}}[$__rate_interval])))",
                    "{{target}} {{resource}}",
                )
            ],
            unit="s",
            w=8,
        ),
        panel(
            "timeseries",
            "Age of the last successful poll",
            [
                q(
                    f"time() - jobfleet_poll_last_success_timestamp_seconds{{{S}}}",
                    "{{target}} {{resource}}",
                )
            ],
            unit="s",
            w=8,
        ),
        panel(
            "timeseries",
            "Failed polls by reason (per hour)",
            [
                q(
                    f"sum by (target, reason) (increase(jobfleet_poll_errors_total{{{S}}}[1h]))",
                    "{{target}} {{reason}}",
                )
            ],
            w=8,
        ),
        panel(
            "timeseries",
            "API requests by operation and code",
            [
                q(
                    f"sum by (target, operation, code) (rate(jobfleet_api_requests_total{{{S}}}[$__rate_interval]))",
                    "{{target}} {{operation}} {{code}}",
                )
            ],
            unit="reqps",
        ),
        panel(
            "timeseries",
            "API latency (p90)",
            [
                q(
                    f"histogram_quantile(0.9, sum by (target, operation, le) (rate(jobfleet_api_request_duration_seconds_bucket{{{S}}}[$__rate_interval])))",
                    "{{target}} {{operation}}",
                )
            ],
            unit="s",
        ),
        panel(
            "timeseries",
            "Throttled polls (per hour)",
            [
                q(
                    f'sum by (target) (increase(jobfleet_poll_errors_total{{{S}, reason="throttled"}}[1h]))',
                    "{{target}}",
                )
            ],
            w=8,
        ),
        panel(
            "stat",
            "Partial lists",
            [q(f"jobfleet_list_incomplete{{{S}}}", "{{target}} {{resource}}", instant=True)],
            w=8,
            colorMode="background",
            textMode="value_and_name",
        ),
        panel("table", "Exporter build", [q("jobfleet_build_info", instant=True, table=True)], w=8),
        panel(
            "timeseries",
            "Exporter CPU",
            [
                q(
                    f"rate(process_cpu_seconds_total[$__rate_interval]) {EXPORTER}",
                    "{{instance}}",
                )
            ],
            unit="percentunit",
            w=6,
            description="CPU seconds per second of each exporter process (1 = one core).",
        ),
        panel(
            "timeseries",
            "Exporter memory (RSS)",
            [q(f"process_resident_memory_bytes {EXPORTER}", "{{instance}}")],
            unit="bytes",
            w=6,
            description="Resident memory of each exporter process; JobfleetExporterMemoryHigh fires above 1 GiB.",
        ),
        panel(
            "timeseries",
            "Exporter open file descriptors",
            [
                q(f"process_open_fds {EXPORTER}", "{{instance}} open"),
                q(f"process_max_fds {EXPORTER}", "{{instance}} limit"),
            ],
            w=6,
        ),
        panel(
            "timeseries",
            "Exporter garbage collections",
            [
                q(
                    f"sum by (instance, generation) (rate(python_gc_collections_total[$__rate_interval]) {EXPORTER})",
                    "{{instance}} gen {{generation}}",
                )
            ],
            unit="ops",
            w=6,
            description="Python garbage collector runs per second, by generation.",
        ),
    ],
)

CU_DAY = "target_backend_attribution:jobfleet_cu_hours:increase1d"
CU_HOUR = "target_backend_attribution:jobfleet_cu_hours:increase1h"
FINISHED = "jobfleet_jobs_finished_total"

USAGE = dashboard(
    "jobfleet-usage",
    "jobfleet / Usage and cost",
    "Who runs the jobs, who waits and fails, and who spends the compute, by an attribution "
    "label (team, user, queue: whatever the targets' attribution names).",
    [
        panel(
            "bargauge",
            "CU-hours in the last day by $label (top 10, and other)",
            [
                q(
                    f'topk(10, sum by ($label) ({CU_DAY}{{{S}, $label!="other"}}))',
                    "{{$label}}",
                    instant=True,
                ),
                q(f'sum({CU_DAY}{{{S}, $label="other"}}) or vector(0)', "other", instant=True),
            ],
            w=8,
            displayMode="gradient",
            description="other: the values past the attribution cap (max_values) of a target.",
        ),
        panel(
            "timeseries",
            "CU-hours per day by $label",
            [q(f"topk(10, sum by ($label) ({CU_DAY}{{{S}}}))", "{{$label}}")],
            w=8,
            description="Compute units consumed over the last 24 h (EMR cuHours), at each time.",
        ),
        panel(
            "timeseries",
            "CU-hours per hour by $label",
            [q(f"topk(10, sum by ($label) ({CU_HOUR}{{{S}}}))", "{{$label}}")],
            w=8,
        ),
        panel(
            "timeseries",
            "Failure ratio by $label (1 h)",
            [
                q(
                    f'sum by ($label) (increase({FINISHED}{{{S}, phase="failed"}}[1h])) / clamp_min(sum by ($label) (increase({FINISHED}{{{S}}}[1h])), 1)',
                    "{{$label}}",
                )
            ],
            unit="percentunit",
            w=8,
        ),
        panel(
            "timeseries",
            "Failed jobs by $label and reason (per hour)",
            [
                q(
                    f'sum by ($label, reason) (increase({FINISHED}{{{S}, phase="failed"}}[1h]))',
                    "{{$label}} {{reason}}",
                )
            ],
            w=8,
            description="reason: Ray error_type, EMR Failed or Timeout, ModelArts abnormal_nodes.",
        ),
        panel(
            "timeseries",
            "Queue wait by $label (p90)",
            [
                q(
                    f"histogram_quantile(0.9, sum by ($label, le) (rate(jobfleet_job_queue_wait_seconds_bucket{{{S}}}[$__rate_interval])))",
                    "{{$label}}",
                    exemplar=True,
                )
            ],
            unit="s",
            w=8,
            description="Needs the label in the target's attribution.histograms; without it the "
            "targets' waits show as one series with an empty label.",
        ),
        panel(
            "timeseries",
            "Jobs submitted by $label (per hour)",
            [
                q(
                    f"sum by ($label) (increase(jobfleet_jobs_submitted_total{{{S}}}[1h]))",
                    "{{$label}}",
                )
            ],
            w=8,
        ),
        panel(
            "timeseries",
            "Running and pending jobs by $label",
            [
                q(
                    f'sum by ($label, phase) (jobfleet_jobs{{{S}, phase=~"pending|running"}})',
                    "{{$label}} {{phase}}",
                )
            ],
            w=8,
        ),
        panel(
            "timeseries",
            "Jobs past the attribution cap (per hour)",
            [
                q(
                    f"sum by (target, label) (increase(jobfleet_attribution_overflow_total{{{S}}}[1h]))",
                    "{{target}} {{label}}",
                )
            ],
            w=8,
            description="Jobs exported as other because every slot of the label was taken: "
            "raise max_values or choose a field with fewer values (docs/runbooks.md).",
        ),
    ],
    extra=(attribution_variable(),),
)

DASHBOARDS = {
    "fleet-overview.json": OVERVIEW,
    "jobs.json": JOBS,
    "clusters.json": CLUSTERS,
    "queues.json": QUEUES,
    "pools.json": POOLS,
    "exporter-health.json": HEALTH,
    "usage.json": USAGE,
}


def render(data: dict) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a file is out of date")
    args = parser.parse_args()
    stale = []
    for name, data in DASHBOARDS.items():
        path = HERE / "dashboards" / name
        text = render(data)
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.parent.mkdir(exist_ok=True)
            path.write_text(text)
    if stale:
        print(f"out of date (run python grafana/generate.py): {', '.join(stale)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
