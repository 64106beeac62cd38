"""What only EMR Serverless Spark jobs report, and the families that carry it: compute units
(``cuHours``, cumulative per run) of Ray jobs and Spark job runs, shown per job and counted;
and the vcore and memory seconds of Spark job runs (``vcoreSeconds``, ``mbSeconds``), counted.

Each family takes the optional ``resource`` label: the Spark job runs are a job resource beside
the Ray jobs (``spark_runs``), and their series carry ``resource="spark_runs"``.
"""

from __future__ import annotations

from exporter.backends.kit.extras import Extras, ExtraValue
from exporter.exposition.families import EMR, JOB, RESOURCE, TARGET
from exporter.exposition.family import Family

MIB = 2.0**20  # bytes in the MB of ``mbSeconds``: Spark's memory unit, a mebibyte

CU_SECONDS_TOTAL = Family(
    "jobfleet_cu_seconds_total",
    "counter",
    "Compute-unit seconds consumed by jobs.",
    (*TARGET, "resource_queue"),
    optional=RESOURCE,
    attribution=True,
    backends=(EMR,),
)
JOB_CU_SECONDS = Family(
    "jobfleet_job_cu_seconds",
    "gauge",
    "Compute-unit seconds a job has consumed so far (the backend's cuHours estimate x 3600).",
    JOB,
    optional=RESOURCE,
    backends=(EMR,),
)
VCORE_SECONDS_TOTAL = Family(
    "jobfleet_vcore_seconds_total",
    "counter",
    "Vcore seconds allocated to jobs (vcores held x seconds held).",
    (*TARGET, "resource_queue"),
    optional=RESOURCE,
    attribution=True,
    backends=(EMR,),
)
MEMORY_BYTE_SECONDS_TOTAL = Family(
    "jobfleet_memory_byte_seconds_total",
    "counter",
    "Memory allocated to jobs, in byte seconds (bytes held x seconds held).",
    (*TARGET, "resource_queue"),
    optional=RESOURCE,
    attribution=True,
    backends=(EMR,),
)
CU = ExtraValue(
    "cu_hours",
    gauge=JOB_CU_SECONDS,
    counter=CU_SECONDS_TOTAL,
    scale=3600.0,
    split_by=("resource_queue",),
)
EXTRAS = Extras((CU,))  # of Ray jobs
SPARK_EXTRAS = Extras(  # of Spark job runs; each name is its name in the state file
    (
        CU,
        ExtraValue("vcore_seconds", counter=VCORE_SECONDS_TOTAL, split_by=("resource_queue",)),
        ExtraValue(
            "mb_seconds",
            counter=MEMORY_BYTE_SECONDS_TOTAL,
            scale=MIB,
            split_by=("resource_queue",),
        ),
    )
)
CU_HOURS = EXTRAS.position("cu_hours")  # where Job.values holds it, of a Ray job and a run
