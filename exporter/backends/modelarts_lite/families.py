"""What only ModelArts Lite jobs report: the nodes a job failed on, shown per job, and the
family that carries it."""

from __future__ import annotations

from exporter.backends.kit.extras import Extras, ExtraValue
from exporter.exposition.families import JOB, MODELARTS
from exporter.exposition.family import Family

JOB_ABNORMAL_NODES = Family(
    "jobfleet_job_abnormal_nodes",
    "gauge",
    "Nodes on which a job failed (ModelArts Lite).",
    JOB,
    backends=(MODELARTS,),
)
EXTRAS = Extras((ExtraValue("abnormal_nodes", gauge=JOB_ABNORMAL_NODES),))
ABNORMAL_NODES = EXTRAS.position("abnormal_nodes")  # where Job.values holds it
