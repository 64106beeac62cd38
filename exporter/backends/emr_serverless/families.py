"""What only EMR Serverless Spark jobs report: compute units (``cuHours``, cumulative per run),
shown per job and counted, and the families that carry them."""

from __future__ import annotations

from exporter.backends.kit.extras import Extras, ExtraValue
from exporter.exposition.families import EMR, JOB, TARGET
from exporter.exposition.family import Family

CU_SECONDS_TOTAL = Family(
    "jobfleet_cu_seconds_total",
    "counter",
    "Compute-unit seconds consumed by jobs.",
    (*TARGET, "resource_queue"),
    attribution=True,
    backends=(EMR,),
)
JOB_CU_SECONDS = Family(
    "jobfleet_job_cu_seconds",
    "gauge",
    "Compute-unit seconds a job has consumed so far (the backend's cuHours estimate x 3600).",
    JOB,
    backends=(EMR,),
)
EXTRAS = Extras(
    (
        ExtraValue(
            "cu_hours",
            gauge=JOB_CU_SECONDS,
            counter=CU_SECONDS_TOTAL,
            scale=3600.0,
            split_by=("resource_queue",),
        ),
    )
)
CU_HOURS = EXTRAS.position("cu_hours")  # where Job.values holds it
