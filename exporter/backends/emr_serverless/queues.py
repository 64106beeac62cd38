"""Resource queues: ListWorkspaceQueues, as the SDK sends it, each queue read into a ``Queue``
(``queue_records``), and the Spark job runs waiting in each, counted from ListJobRuns.

ListWorkspaceQueues takes no paging parameter: one answer holds every queue (one that says
there is more, by ``nextToken`` or ``totalCount``, makes the listing incomplete). The waiting
runs are those ListJobRuns lists in the waiting states, walked by token and counted by their
``resourceQueueId``: only the id, state and queue of each run are read.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from typing import Any

from exporter.backends.base import Listing
from exporter.backends.emr_serverless.api import (
    PAGE_SIZE,
    stale_token,
    workspace_path,
)
from exporter.backends.emr_serverless.queue_records import Queue, parse_queue
from exporter.backends.emr_serverless.target import EmrServerlessTarget
from exporter.backends.kit.fields import listed_items, read_items, text, whole_number, word
from exporter.backends.kit.token_list import TokenEnvelope, TokenList
from exporter.http.client import ApiClient
from exporter.http.decode import TypedRecord
from exporter.model import Job, Phase

log = logging.getLogger(__package__)  # the backend's logger, whichever module logs

QUEUES_ACTION = "ListWorkspaceQueues"
RUNS_ACTION = "ListJobRuns"
WAITING_STATES = ("Submitted", "Pending")  # a run waits for its queue's resources in these
QUEUE_LABEL = "resource_queue"
RUNS_ENVELOPE = TokenEnvelope(items="jobRuns", next_token="nextToken", total="totalCount")


def list_queues(api: ApiClient, target: EmrServerlessTarget, deadline: float) -> Listing:
    """Every queue of ``target``'s workspace, with the runs waiting in each."""
    params = {"regionId": target.region} if target.region else {}
    if target.queue_environment:
        params["environment"] = target.queue_environment
    payload = api.get_json(
        workspace_path(target, "queues"),
        QUEUES_ACTION,
        deadline=deadline,
        params=params,
        headers={"x-acs-action": QUEUES_ACTION},
    )
    items = listed_items(payload, "queues", QUEUES_ACTION)
    size = len(items)
    queues, skipped = read_items(parse_queue, items)
    by_name: dict[str, Queue] = {}
    for queue in queues:
        by_name.setdefault(queue.name, queue)
    skipped += len(queues) - len(by_name)  # a name listed twice is one queue: the first
    unreadable = [f"{q.name}: {value}" for q in by_name.values() for value in q.unreadable]
    if unreadable:
        log.warning(
            "target %s: %s: resource values unreadable, left out: %s",
            target.name,
            QUEUES_ACTION,
            ", ".join(unreadable),
        )
    walk = waiting_runs(api, target).walk({}, deadline)
    waiting = Counter(
        dict(run.extra_labels)[QUEUE_LABEL]
        for run in walk.found.values()
        if run.status in WAITING_STATES
    )
    for queue in by_name.values():
        queue.waiting = waiting[queue.name]
    return Listing(
        items=list(by_name.values()),
        complete=_whole(payload, size) and walk.complete,
        skipped=skipped + len(unreadable) + walk.skipped,
    )


def _whole(payload: Any, size: int) -> bool:
    """Whether an answer of ``size`` queues says it holds them all."""
    total = whole_number(payload.get("totalCount"))
    return not text(payload.get("nextToken")) and (total is None or total <= size)


def waiting_runs(api: ApiClient, target: EmrServerlessTarget) -> TokenList:
    """ListJobRuns of the runs in a waiting state, as the SDK sends it (``states`` as compact
    JSON), read into ``Job`` records holding only what counting needs (``waiting_run``)."""
    params: dict[str, Any] = {"states": json.dumps(WAITING_STATES, separators=(",", ":"))}
    if target.region:
        params["regionId"] = target.region
    return TokenList(
        api,
        workspace_path(target, "jobRuns"),
        RUNS_ACTION,
        waiting_run,
        RUNS_ENVELOPE,
        name=f"target {target.name}: {RUNS_ACTION} (waiting runs)",
        page_size=PAGE_SIZE,
        max_pages=target.max_pages,
        params=params,
        headers={"x-acs-action": RUNS_ACTION},
        token_refused=stale_token,
    )


def waiting_run(item: Any) -> Job | None:
    """A run's id, state and queue (``extra_labels``); None without a ``jobRunId``."""
    if not isinstance(item, dict | TypedRecord):
        return None
    key = text(item.get("jobRunId"))
    if not key:
        return None
    queue = ((QUEUE_LABEL, word(item.get("resourceQueueId"))),)
    return Job(key, key, word(item.get("state")), Phase.PENDING, extra_labels=queue)
