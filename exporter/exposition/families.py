"""Every metric family the exporter can emit: name, type and help, in exposition order.

This is the one list: the renderer writes headers from it, and a test checks that
docs/metrics.md documents each family.
"""

from __future__ import annotations

from dataclasses import dataclass

_UNITS = ("seconds", "bytes")  # the base units the exporter's family names end in


@dataclass(frozen=True, slots=True)
class Family:
    name: str
    type: str
    help: str

    def header(self) -> bytes:
        return f"# HELP {self.name} {self.help}\n# TYPE {self.name} {self.type}\n".encode()

    def openmetrics_header(self) -> bytes:
        """HELP, TYPE and UNIT in OpenMetrics 1.0.0: a counter's family name drops ``_total``
        (its samples keep it), a gauge of ``*_info`` that is always 1 is an info, and a name
        ending in a base unit declares it."""
        name, kind = self.name, self.type
        if kind == "counter":
            name = name.removesuffix("_total")
        elif kind == "gauge" and name.endswith("_info"):
            name, kind = name.removesuffix("_info"), "info"
        unit = next((u for u in _UNITS if kind != "info" and name.endswith(f"_{u}")), None)
        text = f"# HELP {name} {self.help}\n# TYPE {name} {kind}\n"
        if unit is not None:
            text += f"# UNIT {name} {unit}\n"
        return text.encode()


_FAMILIES = [
    Family("jobfleet_build_info", "gauge", "Build information of the exporter."),
    Family("jobfleet_shard_ordinal", "gauge", "Which shard this replica is (0 when unsharded)."),
    Family("jobfleet_total_shards", "gauge", "How many shards share the targets (1: unsharded)."),
    Family(
        "jobfleet_config_last_reload_successful",
        "gauge",
        "1 if the last configuration reload succeeded (or none was asked for).",
    ),
    Family(
        "jobfleet_config_last_reload_success_timestamp_seconds",
        "gauge",
        "When the configuration was last loaded successfully (epoch).",
    ),
    # Jobs: aggregates.
    Family("jobfleet_jobs", "gauge", "Jobs currently tracked, by phase and native status."),
    Family("jobfleet_jobs_submitted_total", "counter", "New jobs seen since the baseline."),
    Family(
        "jobfleet_jobs_finished_total",
        "counter",
        "Jobs that reached a terminal phase, each counted once.",
    ),
    Family(
        "jobfleet_job_duration_seconds",
        "histogram",
        "Run time of finished jobs (start, or submission where no start is known, to end).",
    ),
    Family("jobfleet_job_queue_wait_seconds", "histogram", "Time from submission to start."),
    Family("jobfleet_jobs_by_type", "gauge", "Jobs currently tracked, by job type."),
    Family("jobfleet_cu_seconds_total", "counter", "Compute-unit seconds consumed by jobs."),
    Family(
        "jobfleet_attribution_overflow_total",
        "counter",
        "Jobs whose value of an attribution label found every slot taken (exported as other).",
    ),
    Family(
        "jobfleet_jobs_departed",
        "gauge",
        "Finished jobs no longer listed, remembered (a small record each) so that they are not"
        " counted again if listed again, until forgotten after 7 days.",
    ),
    Family(
        "jobfleet_jobs_departed_evicted_total",
        "counter",
        "Departed jobs forgotten early because max_departed_jobs were remembered (such a job"
        " is counted again if it is listed again).",
    ),
    # Jobs: per job, bounded by per_job_series and the retention window.
    Family("jobfleet_job_info", "gauge", "Descriptive labels of a tracked job; value 1."),
    Family("jobfleet_job_status", "gauge", "Current phase and native status of a job; value 1."),
    Family("jobfleet_job_submit_timestamp_seconds", "gauge", "When a job was submitted (epoch)."),
    Family("jobfleet_job_start_timestamp_seconds", "gauge", "When a job started (epoch)."),
    Family("jobfleet_job_end_timestamp_seconds", "gauge", "When a job ended (epoch)."),
    Family(
        "jobfleet_job_updated_timestamp_seconds",
        "gauge",
        "When the backend last updated a job (epoch).",
    ),
    Family(
        "jobfleet_job_abnormal_nodes",
        "gauge",
        "Nodes on which a job failed (ModelArts Lite).",
    ),
    Family(
        "jobfleet_job_cu_seconds",
        "gauge",
        "Compute-unit seconds a job has consumed so far (the backend's cuHours estimate x 3600).",
    ),
    # Clusters.
    Family("jobfleet_clusters", "gauge", "Clusters per state."),
    Family("jobfleet_cluster_info", "gauge", "Descriptive labels of a cluster; value 1."),
    Family("jobfleet_cluster_state", "gauge", "One-hot state of a cluster."),
    Family("jobfleet_cluster_nodes", "gauge", "Nodes of a cluster by role and state."),
    Family("jobfleet_cluster_cpu_cores", "gauge", "CPU cores of a cluster's alive nodes by role."),
    Family("jobfleet_cluster_memory_bytes", "gauge", "Memory of a cluster's alive nodes by role."),
    Family("jobfleet_cluster_gpus", "gauge", "GPUs of a cluster's alive nodes by role."),
    Family(
        "jobfleet_cluster_group_info",
        "gauge",
        "Descriptive labels of a cluster's node group; value 1.",
    ),
    Family(
        "jobfleet_cluster_group_replicas_min",
        "gauge",
        "Fewest nodes an autoscaling group may shrink to.",
    ),
    Family(
        "jobfleet_cluster_group_replicas_max",
        "gauge",
        "Most nodes an autoscaling group may grow to.",
    ),
    Family("jobfleet_cluster_cpu_cores_used", "gauge", "CPU cores in use in a cluster."),
    Family("jobfleet_cluster_memory_used_bytes", "gauge", "Memory in use in a cluster."),
    Family("jobfleet_cluster_gpus_used", "gauge", "GPUs in use in a cluster."),
    Family("jobfleet_cluster_created_timestamp_seconds", "gauge", "When a cluster was created."),
    Family("jobfleet_cluster_started_timestamp_seconds", "gauge", "When a cluster last started."),
    # The exporter's own view of each target.
    Family("jobfleet_target_up", "gauge", "1 if the last poll of the resource succeeded."),
    Family(
        "jobfleet_poll_last_success_timestamp_seconds",
        "gauge",
        "When the last successful poll of the resource ended (epoch).",
    ),
    Family("jobfleet_poll_duration_seconds", "histogram", "Time a poll of the resource took."),
    Family("jobfleet_poll_errors_total", "counter", "Failed polls by reason."),
    Family(
        "jobfleet_list_incomplete",
        "gauge",
        "1 if the backend's last answer held only part of the list.",
    ),
    Family(
        "jobfleet_list_items_skipped_total",
        "counter",
        "Listed items left out because they had no identity or the wrong shape.",
    ),
    Family(
        "jobfleet_state_save_failures_total",
        "counter",
        "Saves of the target's counts to the state file that failed (the counts since are"
        " not published until a save succeeds).",
    ),
    Family(
        "jobfleet_state_last_save_timestamp_seconds",
        "gauge",
        "When the target's counts were last saved to the state file (epoch).",
    ),
    Family("jobfleet_api_requests_total", "counter", "Backend API requests by operation and code."),
    Family(
        "jobfleet_api_request_duration_seconds",
        "histogram",
        "Backend API request latency by operation.",
    ),
]

FAMILIES: dict[str, Family] = {f.name: f for f in _FAMILIES}
