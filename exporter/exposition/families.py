"""The metric families every backend shares, declared once: name, type, help, the labels
its samples carry, whether they carry the target's attribution labels, its stability, and
the backends that emit it. In exposition order.

A family only one backend emits for values only it reports (its ``kit.extras``) is declared by
that backend, and joins these through the registry (``declared.families``): together they are
the one list the exposition writes headers from and holds samples to (``Block``), that
attribution labels may not take a label name of (``declared.exporter_labels``), and that tests
freeze against ``tests/data/stable-metrics.yaml`` and check docs/metrics.md, the dashboards and
the alert rules against.
"""

from __future__ import annotations

from exporter.exposition.family import Family, index_families

TARGET = ("target", "backend")  # on every sample of a target's families
POLLED = (*TARGET, "resource")
# on every sample a job resource other than ``jobs`` renders from its ledger (Spark job runs
# beside Ray jobs): optional on every family a ledger renders
RESOURCE = ("resource",)
JOB = (*TARGET, "job_id")
CLUSTER = (*TARGET, "cluster_id")
GROUP = (*CLUSTER, "role", "group")
EMR, MODELARTS, KUBERAY = "emr_serverless", "modelarts_lite", "kuberay"
RAY_API = ("ray", "openyuanrong")  # the backends that speak Ray's REST API

BUILD_INFO = Family(
    "jobfleet_build_info",
    "gauge",
    "Build information of the exporter.",
    ("version", "revision", "python_version"),
    health=True,
)
SHARD_ORDINAL = Family(
    "jobfleet_shard_ordinal",
    "gauge",
    "Which shard this replica is (0 when unsharded).",
    health=True,
)
TOTAL_SHARDS = Family(
    "jobfleet_total_shards",
    "gauge",
    "How many shards share the targets (1: unsharded).",
    health=True,
)
CONFIG_LAST_RELOAD_SUCCESSFUL = Family(
    "jobfleet_config_last_reload_successful",
    "gauge",
    "1 if the last configuration reload succeeded (or none was asked for).",
    health=True,
)
CONFIG_LAST_RELOAD_SUCCESS_TIMESTAMP_SECONDS = Family(
    "jobfleet_config_last_reload_success_timestamp_seconds",
    "gauge",
    "When the configuration was last loaded successfully (epoch).",
    health=True,
)
# Discovery: each source's targets and problems.
SOURCE = ("source",)
DISCOVERY_TARGETS = Family(
    "jobfleet_discovery_targets",
    "gauge",
    "Targets a discovery source gives (of its files' or answer's last good version), before"
    " sharding.",
    SOURCE,
    health=True,
)
DISCOVERY_REFRESH_SUCCESSFUL = Family(
    "jobfleet_discovery_refresh_successful",
    "gauge",
    "1 if the source's last refresh used every file it matched (or the answer) and every"
    " target they list.",
    SOURCE,
    health=True,
)
DISCOVERY_LAST_SUCCESS_TIMESTAMP_SECONDS = Family(
    "jobfleet_discovery_last_success_timestamp_seconds",
    "gauge",
    "When a refresh of the source last used every file (or the answer) and target (epoch).",
    SOURCE,
    health=True,
)
DISCOVERY_ERRORS_TOTAL = Family(
    "jobfleet_discovery_errors_total",
    "counter",
    "Problems of a discovery source by reason: a file version, an answer or a list not used (read,"
    " http, auth, timeout, connection, tls, too_large, format, incomplete, labels, target), a"
    " target listed twice (duplicate), more than max_targets (limit).",
    (*SOURCE, "reason"),
    health=True,
)
# Jobs: aggregates.
JOBS = Family(
    "jobfleet_jobs",
    "gauge",
    "Jobs currently tracked, by phase and native status.",
    (*TARGET, "phase", "status"),
    attribution=True,
    optional=RESOURCE,
)
JOBS_SUBMITTED_TOTAL = Family(
    "jobfleet_jobs_submitted_total",
    "counter",
    "New jobs seen since the baseline.",
    TARGET,
    attribution=True,
    optional=RESOURCE,
)
JOBS_FINISHED_TOTAL = Family(
    "jobfleet_jobs_finished_total",
    "counter",
    "Jobs that reached a terminal phase, each counted once.",
    (*TARGET, "phase", "status"),
    optional=("reason", *RESOURCE),
    attribution=True,
)
JOB_DURATION_SECONDS = Family(
    "jobfleet_job_duration_seconds",
    "histogram",
    "Run time of finished jobs (start, or submission where no start is known, to end).",
    (*TARGET, "phase"),
    attribution=True,
    optional=RESOURCE,
    native=True,
)
JOB_QUEUE_WAIT_SECONDS = Family(
    "jobfleet_job_queue_wait_seconds",
    "histogram",
    "Time from submission to start.",
    TARGET,
    attribution=True,
    optional=RESOURCE,
    native=True,
)
JOBS_BY_TYPE = Family(
    "jobfleet_jobs_by_type",
    "gauge",
    "Jobs currently tracked, by job type.",
    (*TARGET, "job_type"),
    optional=RESOURCE,
)
ATTRIBUTION_OVERFLOW_TOTAL = Family(
    "jobfleet_attribution_overflow_total",
    "counter",
    "Jobs whose value of an attribution label found every slot taken (exported as other).",
    (*TARGET, "label"),
    optional=RESOURCE,
)
JOBS_DEPARTED = Family(
    "jobfleet_jobs_departed",
    "gauge",
    "Finished jobs no longer listed, remembered (a small record each) so that they are not"
    " counted again if listed again, until forgotten after 7 days.",
    TARGET,
    optional=RESOURCE,
)
JOBS_DEPARTED_EVICTED_TOTAL = Family(
    "jobfleet_jobs_departed_evicted_total",
    "counter",
    "Departed jobs forgotten early because max_departed_jobs were remembered (such a job"
    " is counted again if it is listed again).",
    TARGET,
    optional=RESOURCE,
)
# Jobs: per job, bounded by per_job_series and the retention window.
JOB_INFO = Family(
    "jobfleet_job_info",
    "gauge",
    "Descriptive labels of a tracked job; value 1.",
    (*JOB, "job_name", "job_type"),
    optional=(
        "error_type",
        "resource_queue",
        "cluster_state",
        "namespace",
        "ray_cluster",
        *RESOURCE,
    ),
)
JOB_STATUS = Family(
    "jobfleet_job_status",
    "gauge",
    "Current phase and native status of a job; value 1.",
    (*JOB, "phase", "status"),
    optional=RESOURCE,
)
JOB_SUBMIT_TIMESTAMP_SECONDS = Family(
    "jobfleet_job_submit_timestamp_seconds",
    "gauge",
    "When a job was submitted (epoch).",
    JOB,
    optional=RESOURCE,
)
JOB_START_TIMESTAMP_SECONDS = Family(
    "jobfleet_job_start_timestamp_seconds",
    "gauge",
    "When a job started (epoch).",
    JOB,
    optional=RESOURCE,
)
JOB_END_TIMESTAMP_SECONDS = Family(
    "jobfleet_job_end_timestamp_seconds",
    "gauge",
    "When a job ended (epoch).",
    JOB,
    optional=RESOURCE,
)
JOB_UPDATED_TIMESTAMP_SECONDS = Family(
    "jobfleet_job_updated_timestamp_seconds",
    "gauge",
    "When the backend last updated a job (epoch).",
    JOB,
    backends=(MODELARTS,),
    optional=RESOURCE,
)
# Clusters.
CLUSTERS = Family("jobfleet_clusters", "gauge", "Clusters per state.", (*TARGET, "state"))
CLUSTER_INFO = Family(
    "jobfleet_cluster_info",
    "gauge",
    "Descriptive labels of a cluster; value 1.",
    (*CLUSTER, "cluster_name"),
    optional=("namespace", "version", "network_service"),
)
CLUSTER_STATE = Family(
    "jobfleet_cluster_state", "gauge", "One-hot state of a cluster.", (*CLUSTER, "state")
)
CLUSTER_NODES = Family(
    "jobfleet_cluster_nodes",
    "gauge",
    "Nodes of a cluster by role and state.",
    (*GROUP, "state"),
)
CLUSTER_CPU_CORES = Family(
    "jobfleet_cluster_cpu_cores",
    "gauge",
    "CPU cores of a cluster's alive nodes by role.",
    GROUP,
)
CLUSTER_MEMORY_BYTES = Family(
    "jobfleet_cluster_memory_bytes",
    "gauge",
    "Memory of a cluster's alive nodes by role.",
    GROUP,
)
CLUSTER_GPUS = Family(
    "jobfleet_cluster_gpus", "gauge", "GPUs of a cluster's alive nodes by role.", GROUP
)
CLUSTER_GROUP_INFO = Family(
    "jobfleet_cluster_group_info",
    "gauge",
    "Descriptive labels of a cluster's node group; value 1.",
    GROUP,
    optional=("worker_type", "gpu_spec", "queue"),
    backends=(EMR,),
)
CLUSTER_GROUP_REPLICAS_MIN = Family(
    "jobfleet_cluster_group_replicas_min",
    "gauge",
    "Fewest nodes an autoscaling group may shrink to.",
    GROUP,
    backends=(EMR, KUBERAY),
)
CLUSTER_GROUP_REPLICAS_MAX = Family(
    "jobfleet_cluster_group_replicas_max",
    "gauge",
    "Most nodes an autoscaling group may grow to.",
    GROUP,
    backends=(EMR, KUBERAY),
)
CLUSTER_CPU_CORES_USED = Family(
    "jobfleet_cluster_cpu_cores_used",
    "gauge",
    "CPU cores in use in a cluster.",
    CLUSTER,
    backends=RAY_API,
)
CLUSTER_MEMORY_USED_BYTES = Family(
    "jobfleet_cluster_memory_used_bytes",
    "gauge",
    "Memory in use in a cluster.",
    CLUSTER,
    backends=RAY_API,
)
CLUSTER_GPUS_USED = Family(
    "jobfleet_cluster_gpus_used", "gauge", "GPUs in use in a cluster.", CLUSTER, backends=RAY_API
)
CLUSTER_CREATED_TIMESTAMP_SECONDS = Family(
    "jobfleet_cluster_created_timestamp_seconds",
    "gauge",
    "When a cluster was created.",
    CLUSTER,
)
CLUSTER_STARTED_TIMESTAMP_SECONDS = Family(
    "jobfleet_cluster_started_timestamp_seconds",
    "gauge",
    "When a cluster last started.",
    CLUSTER,
)
CLUSTER_IDLE_SINCE_TIMESTAMP_SECONDS = Family(
    "jobfleet_cluster_idle_since_timestamp_seconds",
    "gauge",
    "Since when a ready cluster has run no job (absent while one runs).",
    CLUSTER,
    backends=(KUBERAY,),
)
# The exporter's own view of each target.
TARGET_INFO = Family(
    "jobfleet_target_info",
    "gauge",
    "A polled target: where it comes from (config, or the discovery source that found it)"
    " and the labels its discovery gave it; value 1.",
    (*TARGET, "source"),
    discovered=True,
)
TARGET_UP = Family(
    "jobfleet_target_up",
    "gauge",
    "1 if the last poll of the resource succeeded.",
    POLLED,
    health=True,
)
POLL_LAST_SUCCESS_TIMESTAMP_SECONDS = Family(
    "jobfleet_poll_last_success_timestamp_seconds",
    "gauge",
    "When the last successful poll of the resource ended (epoch).",
    POLLED,
    health=True,
)
POLL_DURATION_SECONDS = Family(
    "jobfleet_poll_duration_seconds",
    "histogram",
    "Time a poll of the resource took.",
    POLLED,
    health=True,
)
POLL_ERRORS_TOTAL = Family(
    "jobfleet_poll_errors_total",
    "counter",
    "Failed polls by reason.",
    (*POLLED, "reason"),
    health=True,
)
LIST_INCOMPLETE = Family(
    "jobfleet_list_incomplete",
    "gauge",
    "1 if the backend's last answer held only part of the list.",
    POLLED,
    health=True,
)
LIST_ITEMS_SKIPPED_TOTAL = Family(
    "jobfleet_list_items_skipped_total",
    "counter",
    "Listed items left out because they had no identity or the wrong shape.",
    POLLED,
    health=True,
)
STATE_SAVE_FAILURES_TOTAL = Family(
    "jobfleet_state_save_failures_total",
    "counter",
    "Saves of the target's counts to the state file that failed (the counts since are"
    " not published until a save succeeds).",
    TARGET,
    health=True,
)
STATE_LAST_SAVE_TIMESTAMP_SECONDS = Family(
    "jobfleet_state_last_save_timestamp_seconds",
    "gauge",
    "When the target's counts were last saved to the state file (epoch).",
    TARGET,
    health=True,
)
SERIES_REFUSED_TOTAL = Family(
    "jobfleet_series_refused_total",
    "counter",
    "Samples left out because their family or labels are not declared (a bug: the log says which).",
    TARGET,
    health=True,
)
API_REQUESTS_TOTAL = Family(
    "jobfleet_api_requests_total",
    "counter",
    "Backend API requests by operation and code.",
    (*TARGET, "operation", "code"),
    health=True,
)
API_REQUEST_DURATION_SECONDS = Family(
    "jobfleet_api_request_duration_seconds",
    "histogram",
    "Backend API request latency by operation.",
    (*TARGET, "operation"),
    health=True,
)

# every family declared above, in the order declared: the exposition's
SHARED: dict[str, Family] = index_families(
    [value for value in list(globals().values()) if isinstance(value, Family)]
)
