"""The ``queues`` resource of EMR Serverless Spark targets: the families its queues are shown
in, and how a listing of them is rendered into them at each poll.

Amounts are by ``resource_kind``: ``cpu`` in cores, ``memory`` in bytes, ``gpu`` in devices,
each family holding the three (as kube-state-metrics keeps requests by ``resource``), so that
use over capacity is one division matched on the queue and the kind.
"""

from __future__ import annotations

from collections.abc import Sequence

from exporter.backends.emr_serverless.queue_records import Queue
from exporter.backends.kit.resources import SnapshotResource
from exporter.exposition.block import Block
from exporter.exposition.families import EMR, TARGET
from exporter.exposition.family import Family

QUEUE = (*TARGET, "resource_queue")
AMOUNT = (*QUEUE, "resource_kind")
QUEUE_STATUSES = ("RUNNING",)  # every status the API documents: each shown from 0

QUEUE_INFO = Family(
    "jobfleet_queue_info",
    "gauge",
    "Descriptive labels of a resource queue; value 1.",
    QUEUE,
    optional=("queue_type", "queue_category", "payment_type", "environments"),
    backends=(EMR,),
)
QUEUE_STATUS = Family(
    "jobfleet_queue_status",
    "gauge",
    "One-hot status of a resource queue.",
    (*QUEUE, "status"),
    backends=(EMR,),
)
QUEUE_RESOURCE_MAX = Family(
    "jobfleet_queue_resource_max",
    "gauge",
    "Most of a resource a queue may use (cpu in cores, memory in bytes, gpu in devices).",
    AMOUNT,
    backends=(EMR,),
)
QUEUE_RESOURCE_MIN = Family(
    "jobfleet_queue_resource_min",
    "gauge",
    "Resource guaranteed to a queue (cpu in cores, memory in bytes, gpu in devices).",
    AMOUNT,
    backends=(EMR,),
)
QUEUE_RESOURCE_USED = Family(
    "jobfleet_queue_resource_used",
    "gauge",
    "Resource a queue uses now (cpu in cores, memory in bytes, gpu in devices).",
    AMOUNT,
    backends=(EMR,),
)
QUEUE_JOBS_WAITING = Family(
    "jobfleet_queue_jobs_waiting",
    "gauge",
    "Spark job runs waiting for resources in a queue (Submitted or Pending).",
    QUEUE,
    backends=(EMR,),
)
FAMILIES = (
    QUEUE_INFO,
    QUEUE_STATUS,
    QUEUE_RESOURCE_MAX,
    QUEUE_RESOURCE_MIN,
    QUEUE_RESOURCE_USED,
    QUEUE_JOBS_WAITING,
)
BOUND_FAMILIES = (
    ("max", QUEUE_RESOURCE_MAX),
    ("min", QUEUE_RESOURCE_MIN),
    ("used", QUEUE_RESOURCE_USED),
)


def render_queues(block: Block, queues: Sequence[Queue]) -> None:
    """Per queue: its info, its status one-hot (every documented status, and its own), each
    amount the API gave, and the runs waiting in it (0 included)."""
    for queue in queues:
        key = (("resource_queue", queue.name),)
        block.add(QUEUE_INFO, 1, (*key, *queue.info))
        own = () if queue.status in QUEUE_STATUSES else (queue.status,)
        for status in (*QUEUE_STATUSES, *own):
            block.add(QUEUE_STATUS, int(status == queue.status), (*key, ("status", status)))
        for bound, family in BOUND_FAMILIES:
            for kind, amount in queue.amounts.get(bound, {}).items():
                block.add(family, amount, (*key, ("resource_kind", kind)))
        block.add(QUEUE_JOBS_WAITING, queue.waiting, key)


QUEUES = SnapshotResource("queues", render_queues, FAMILIES)
