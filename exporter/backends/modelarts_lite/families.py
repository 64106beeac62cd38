"""What only ModelArts jobs report, and the families that carry it: the nodes a Lite Server job
failed on, shown per job; the node-seconds and accelerator-seconds of training jobs, counted;
the time an ended training job spent queueing and preparing (its stages), observed once.

The training jobs are a job resource beside the Lite Server jobs (``training_jobs``): their
series carry ``resource="training_jobs"``. The resource pools (``pools``) are shown as gauges
at each poll, as clusters are: per pool, its info, status, nodes by status, capacity and
allocation by resource kind and the training jobs waiting for it."""

from __future__ import annotations

from exporter.backends.kit.extras import Extras, ExtraValue
from exporter.exposition.families import JOB, MODELARTS, RESOURCE, TARGET
from exporter.exposition.family import Family
from exporter.exposition.histogram import QUEUE_WAIT_BUCKETS

JOB_ABNORMAL_NODES = Family(
    "jobfleet_job_abnormal_nodes",
    "gauge",
    "Nodes on which a job failed (ModelArts Lite).",
    JOB,
    backends=(MODELARTS,),
)
EXTRAS = Extras((ExtraValue("abnormal_nodes", gauge=JOB_ABNORMAL_NODES),))
ABNORMAL_NODES = EXTRAS.position("abnormal_nodes")  # where Job.values holds it

NODE_SECONDS_TOTAL = Family(
    "jobfleet_node_seconds_total",
    "counter",
    "Node seconds held by jobs (nodes x seconds run).",
    TARGET,
    optional=RESOURCE,
    attribution=True,
    backends=(MODELARTS,),
)
ACCELERATOR_SECONDS_TOTAL = Family(
    "jobfleet_accelerator_seconds_total",
    "counter",
    "Accelerator (GPU, NPU) seconds held by jobs (nodes x accelerators each x seconds run).",
    TARGET,
    optional=RESOURCE,
    attribution=True,
    backends=(MODELARTS,),
)
JOB_QUEUEING_SECONDS = Family(
    "jobfleet_job_queueing_seconds",
    "histogram",
    "Time ended training jobs spent queueing for resources (their scheduling stage).",
    TARGET,
    optional=RESOURCE,
    attribution=True,
    backends=(MODELARTS,),
    native=True,
)
JOB_PREPARING_SECONDS = Family(
    "jobfleet_job_preparing_seconds",
    "histogram",
    "Time ended training jobs spent preparing to run (image pull, code and data download).",
    TARGET,
    optional=RESOURCE,
    attribution=True,
    backends=(MODELARTS,),
    native=True,
)
PREPARING_BUCKETS = (5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600)
TRAINING_EXTRAS = Extras(  # of training jobs; each name is its name in the state file
    (
        ExtraValue("node_seconds", counter=NODE_SECONDS_TOTAL),
        ExtraValue("accelerator_seconds", counter=ACCELERATOR_SECONDS_TOTAL),
        # from the job's stages, fetched once it has ended (``training_stages``)
        ExtraValue("queueing_seconds", histogram=JOB_QUEUEING_SECONDS, buckets=QUEUE_WAIT_BUCKETS),
        ExtraValue("preparing_seconds", histogram=JOB_PREPARING_SECONDS, buckets=PREPARING_BUCKETS),
    )
)

# The ``pools`` resource: amounts are by ``resource_kind`` (cpu in cores, memory in bytes, gpu
# and npu in devices), as the EMR queues' are, so that allocated over capacity is one division
POOL = (*TARGET, "resource_pool")
POOL_AMOUNT = (*POOL, "resource_kind")
POOL_INFO = Family(
    "jobfleet_pool_info",
    "gauge",
    "Descriptive labels of a resource pool (ModelArts); value 1.",
    POOL,
    optional=("display_name", "pool_type", "scope", "flavor"),
    backends=(MODELARTS,),
)
POOL_STATUS = Family(
    "jobfleet_pool_status",
    "gauge",
    "One-hot status (phase) of a resource pool.",
    (*POOL, "status"),
    backends=(MODELARTS,),
)
POOL_NODES = Family(
    "jobfleet_pool_nodes",
    "gauge",
    "Nodes of a resource pool by status (phase).",
    (*POOL, "status"),
    backends=(MODELARTS,),
)
POOL_RESOURCE_CAPACITY = Family(
    "jobfleet_pool_resource_capacity",
    "gauge",
    "Resource of a pool's nodes that take jobs (cpu in cores, memory in bytes, gpu and npu in "
    "devices).",
    POOL_AMOUNT,
    backends=(MODELARTS,),
)
POOL_RESOURCE_ALLOCATED = Family(
    "jobfleet_pool_resource_allocated",
    "gauge",
    "Resource of a pool that jobs hold now (cpu in cores, memory in bytes, gpu and npu in "
    "devices).",
    POOL_AMOUNT,
    backends=(MODELARTS,),
)
POOL_JOBS_WAITING = Family(
    "jobfleet_pool_jobs_waiting",
    "gauge",
    "Training jobs waiting for a resource pool (Creating or Pending).",
    POOL,
    backends=(MODELARTS,),
)
POOLS_BY_STATUS = Family(
    "jobfleet_pools",
    "gauge",
    "Resource pools of the project by the status its pool statistics count them in (created, "
    "creating, failed, pending).",
    (*TARGET, "status"),
    backends=(MODELARTS,),
)
POOL_FAMILIES = (
    POOL_INFO,
    POOL_STATUS,
    POOL_NODES,
    POOL_RESOURCE_CAPACITY,
    POOL_RESOURCE_ALLOCATED,
    POOL_JOBS_WAITING,
    POOLS_BY_STATUS,
)
