"""Every metric family the exporter can emit, declared once: name, type, help, the labels
its samples carry, whether they carry the target's attribution labels, its stability, and
the backends that emit it. In exposition order.

This is the one list: the exposition writes headers from it and refuses a sample of a family
or a label set it does not declare (``Block``); attribution labels may not take a name that is
declared here (``RESERVED_LABELS``); tests freeze it against ``tests/data/stable-metrics.yaml``
and check docs/metrics.md, the dashboards and the alert rules against it.
"""

from __future__ import annotations

from exporter.exposition.family import Family, index_families

TARGET = ("target", "backend")  # on every sample of a target's families
POLLED = (*TARGET, "resource")
JOB = (*TARGET, "job_id")
CLUSTER = (*TARGET, "cluster_id")
GROUP = (*CLUSTER, "role", "group")
EMR, MODELARTS, RAY = "emr_serverless", "modelarts_lite", "ray"

_FAMILIES = [
    Family(
        "jobfleet_build_info",
        "gauge",
        "Build information of the exporter.",
        ("version", "revision", "python_version"),
    ),
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
    Family(
        "jobfleet_jobs",
        "gauge",
        "Jobs currently tracked, by phase and native status.",
        (*TARGET, "phase", "status"),
        attribution=True,
    ),
    Family(
        "jobfleet_jobs_submitted_total",
        "counter",
        "New jobs seen since the baseline.",
        TARGET,
        attribution=True,
    ),
    Family(
        "jobfleet_jobs_finished_total",
        "counter",
        "Jobs that reached a terminal phase, each counted once.",
        (*TARGET, "phase", "status"),
        optional=("reason",),
        attribution=True,
    ),
    Family(
        "jobfleet_job_duration_seconds",
        "histogram",
        "Run time of finished jobs (start, or submission where no start is known, to end).",
        (*TARGET, "phase"),
        attribution=True,
    ),
    Family(
        "jobfleet_job_queue_wait_seconds",
        "histogram",
        "Time from submission to start.",
        TARGET,
        attribution=True,
    ),
    Family(
        "jobfleet_jobs_by_type",
        "gauge",
        "Jobs currently tracked, by job type.",
        (*TARGET, "job_type"),
    ),
    Family(
        "jobfleet_cu_seconds_total",
        "counter",
        "Compute-unit seconds consumed by jobs.",
        (*TARGET, "resource_queue"),
        attribution=True,
        backends=(EMR,),
    ),
    Family(
        "jobfleet_attribution_overflow_total",
        "counter",
        "Jobs whose value of an attribution label found every slot taken (exported as other).",
        (*TARGET, "label"),
    ),
    Family(
        "jobfleet_jobs_departed",
        "gauge",
        "Finished jobs no longer listed, remembered (a small record each) so that they are not"
        " counted again if listed again, until forgotten after 7 days.",
        TARGET,
    ),
    Family(
        "jobfleet_jobs_departed_evicted_total",
        "counter",
        "Departed jobs forgotten early because max_departed_jobs were remembered (such a job"
        " is counted again if it is listed again).",
        TARGET,
    ),
    # Jobs: per job, bounded by per_job_series and the retention window.
    Family(
        "jobfleet_job_info",
        "gauge",
        "Descriptive labels of a tracked job; value 1.",
        (*JOB, "job_name", "job_type"),
        optional=("error_type", "resource_queue", "cluster_state"),
    ),
    Family(
        "jobfleet_job_status",
        "gauge",
        "Current phase and native status of a job; value 1.",
        (*JOB, "phase", "status"),
    ),
    Family(
        "jobfleet_job_submit_timestamp_seconds", "gauge", "When a job was submitted (epoch).", JOB
    ),
    Family("jobfleet_job_start_timestamp_seconds", "gauge", "When a job started (epoch).", JOB),
    Family("jobfleet_job_end_timestamp_seconds", "gauge", "When a job ended (epoch).", JOB),
    Family(
        "jobfleet_job_updated_timestamp_seconds",
        "gauge",
        "When the backend last updated a job (epoch).",
        JOB,
        backends=(MODELARTS,),
    ),
    Family(
        "jobfleet_job_abnormal_nodes",
        "gauge",
        "Nodes on which a job failed (ModelArts Lite).",
        JOB,
        backends=(MODELARTS,),
    ),
    Family(
        "jobfleet_job_cu_seconds",
        "gauge",
        "Compute-unit seconds a job has consumed so far (the backend's cuHours estimate x 3600).",
        JOB,
        backends=(EMR,),
    ),
    # Clusters.
    Family("jobfleet_clusters", "gauge", "Clusters per state.", (*TARGET, "state")),
    Family(
        "jobfleet_cluster_info",
        "gauge",
        "Descriptive labels of a cluster; value 1.",
        (*CLUSTER, "cluster_name"),
        optional=("version", "network_service"),
    ),
    Family("jobfleet_cluster_state", "gauge", "One-hot state of a cluster.", (*CLUSTER, "state")),
    Family(
        "jobfleet_cluster_nodes",
        "gauge",
        "Nodes of a cluster by role and state.",
        (*GROUP, "state"),
    ),
    Family(
        "jobfleet_cluster_cpu_cores",
        "gauge",
        "CPU cores of a cluster's alive nodes by role.",
        GROUP,
    ),
    Family(
        "jobfleet_cluster_memory_bytes",
        "gauge",
        "Memory of a cluster's alive nodes by role.",
        GROUP,
    ),
    Family("jobfleet_cluster_gpus", "gauge", "GPUs of a cluster's alive nodes by role.", GROUP),
    Family(
        "jobfleet_cluster_group_info",
        "gauge",
        "Descriptive labels of a cluster's node group; value 1.",
        GROUP,
        optional=("worker_type", "gpu_spec", "queue"),
        backends=(EMR,),
    ),
    Family(
        "jobfleet_cluster_group_replicas_min",
        "gauge",
        "Fewest nodes an autoscaling group may shrink to.",
        GROUP,
        backends=(EMR,),
    ),
    Family(
        "jobfleet_cluster_group_replicas_max",
        "gauge",
        "Most nodes an autoscaling group may grow to.",
        GROUP,
        backends=(EMR,),
    ),
    Family(
        "jobfleet_cluster_cpu_cores_used",
        "gauge",
        "CPU cores in use in a cluster.",
        CLUSTER,
        backends=(RAY,),
    ),
    Family(
        "jobfleet_cluster_memory_used_bytes",
        "gauge",
        "Memory in use in a cluster.",
        CLUSTER,
        backends=(RAY,),
    ),
    Family(
        "jobfleet_cluster_gpus_used", "gauge", "GPUs in use in a cluster.", CLUSTER, backends=(RAY,)
    ),
    Family(
        "jobfleet_cluster_created_timestamp_seconds",
        "gauge",
        "When a cluster was created.",
        CLUSTER,
    ),
    Family(
        "jobfleet_cluster_started_timestamp_seconds",
        "gauge",
        "When a cluster last started.",
        CLUSTER,
        backends=(EMR,),
    ),
    # The exporter's own view of each target.
    Family("jobfleet_target_up", "gauge", "1 if the last poll of the resource succeeded.", POLLED),
    Family(
        "jobfleet_poll_last_success_timestamp_seconds",
        "gauge",
        "When the last successful poll of the resource ended (epoch).",
        POLLED,
    ),
    Family(
        "jobfleet_poll_duration_seconds", "histogram", "Time a poll of the resource took.", POLLED
    ),
    Family("jobfleet_poll_errors_total", "counter", "Failed polls by reason.", (*POLLED, "reason")),
    Family(
        "jobfleet_list_incomplete",
        "gauge",
        "1 if the backend's last answer held only part of the list.",
        POLLED,
    ),
    Family(
        "jobfleet_list_items_skipped_total",
        "counter",
        "Listed items left out because they had no identity or the wrong shape.",
        POLLED,
    ),
    Family(
        "jobfleet_state_save_failures_total",
        "counter",
        "Saves of the target's counts to the state file that failed (the counts since are"
        " not published until a save succeeds).",
        TARGET,
    ),
    Family(
        "jobfleet_state_last_save_timestamp_seconds",
        "gauge",
        "When the target's counts were last saved to the state file (epoch).",
        TARGET,
    ),
    Family(
        "jobfleet_api_requests_total",
        "counter",
        "Backend API requests by operation and code.",
        (*TARGET, "operation", "code"),
    ),
    Family(
        "jobfleet_api_request_duration_seconds",
        "histogram",
        "Backend API request latency by operation.",
        (*TARGET, "operation"),
    ),
]

FAMILIES: dict[str, Family] = index_families(_FAMILIES)
_GC = ("generation",)
# client_python's process and Python collectors, rendered at each scrape (``runtime``): not
# stored, but in the contract as much as the exporter's own.
RUNTIME_FAMILIES: dict[str, Family] = index_families(
    [
        Family("process_cpu_seconds_total", "counter", "Total user and system CPU time spent."),
        Family("process_max_fds", "gauge", "Maximum number of open file descriptors."),
        Family("process_open_fds", "gauge", "Number of open file descriptors."),
        Family("process_resident_memory_bytes", "gauge", "Resident memory size."),
        Family("process_start_time_seconds", "gauge", "Start time of the process (epoch)."),
        Family("process_virtual_memory_bytes", "gauge", "Virtual memory size."),
        Family("python_gc_collections_total", "counter", "Collections per generation.", _GC),
        Family("python_gc_objects_collected_total", "counter", "Objects collected.", _GC),
        Family("python_gc_objects_uncollectable_total", "counter", "Uncollectable objects.", _GC),
        Family(
            "python_info",
            "gauge",
            "Python platform information.",
            ("implementation", "major", "minor", "patchlevel", "version"),
        ),
    ]
)
# Label names the exporter writes itself: an attribution label may not take one.
EXPORTER_LABELS = frozenset(
    name
    for family in (*FAMILIES.values(), *RUNTIME_FAMILIES.values())
    for name in family.label_names
)
