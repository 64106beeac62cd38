"""What only ModelArts jobs report, and the families that carry it: the nodes a Lite Server job
failed on, shown per job; the node-seconds and accelerator-seconds of training jobs, counted;
the time an ended training job spent queueing and preparing (its stages), observed once.

The training jobs are a job resource beside the Lite Server jobs (``training_jobs``): their
series carry ``resource="training_jobs"``."""

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
)
JOB_PREPARING_SECONDS = Family(
    "jobfleet_job_preparing_seconds",
    "histogram",
    "Time ended training jobs spent preparing to run (image pull, code and data download).",
    TARGET,
    optional=RESOURCE,
    attribution=True,
    backends=(MODELARTS,),
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
