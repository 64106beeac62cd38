"""How long each RayCluster has been ready with no RayJob on it.

A RayJob is on the RayCluster its ``status.rayClusterName`` names in its namespace (or its
``spec.clusterSelector`` selects, until the operator copies that there: ``rayjobs``). It holds
the cluster while it has not ended (pending or running), except a cron RayJob between its runs
(``Scheduling``, ``Scheduled``). A ready cluster no RayJob holds is idle since the later of
when it became ready and when a RayJob last held it: the end (``status.endTime``, or when its
deletion was read) of the last one that ended, or the last listing that showed one holding it
where the end is unknown. A cluster that is not ready is not idle.

Only RayJobs count: a Ray job submitted to the cluster's dashboard (``ray job submit``) is no
object of the Kubernetes API, and does not keep the cluster from looking idle.

What is known is as of the last RayJob listing (``note_jobs``); until one has been read, no
cluster is shown idle. When a cluster became ready is its ``status.stateTransitionTimes.ready``
where the operator writes it; else when a listing first showed it ready after one showed it
not ready, or its creation when the first listing that showed it at all showed it ready.
After a restart only the RayJobs still listed tell when the cluster was last held: one that
ended and was deleted before it is unknown, so the cluster may show idle since earlier.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Sequence

from exporter.backends.kuberay.rayclusters import ListedCluster
from exporter.backends.kuberay.rayjobs import RAY_CLUSTER
from exporter.model import Cluster, Job

Where = tuple[str, str]  # a RayCluster's namespace and name
READY = "ready"
BETWEEN_RUNS = frozenset({"Scheduling", "Scheduled", "SCHEDULED"})  # a cron RayJob's waits


def cluster_of(job: Job) -> Where | None:
    """The RayCluster ``job`` runs on; None when it names none."""
    labels = dict(job.extra_labels)
    name = labels.get(RAY_CLUSTER)
    return (labels.get("namespace", ""), name) if name else None


def holds(job: Job) -> bool:
    """Whether ``job`` keeps its RayCluster from being idle."""
    return job.phase.active and job.status not in BETWEEN_RUNS


class ClusterActivity:
    """Which RayClusters RayJobs hold, and since when those they do not are idle. A RayJob
    listing and a RayCluster listing may be read at once (two polls): each takes the lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._known = False  # a RayJob listing was read
        self._held: set[Where] = set()
        self._last_held: dict[Where, float] = {}  # when a RayJob last held each cluster
        self._ready_seen: dict[str, float] = {}  # uid -> when it was seen become ready
        self._not_ready: set[str] = set()  # uids last listed not ready

    def note_jobs(self, jobs: Iterable[Job], complete: bool, now: float) -> None:
        """A RayJob listing read at ``now`` (every RayJob, and those deleted since the last
        once); an incomplete one may leave out a RayJob that holds a cluster: those held
        before stay held."""
        held: set[Where] = set()
        ends: dict[Where, float] = {}
        for job in jobs:
            where = cluster_of(job)
            if where is None:
                continue
            if holds(job):
                held.add(where)
                ends[where] = max(ends.get(where, -math.inf), now)
            elif job.phase.terminal and job.end_time is not None:
                ends[where] = max(ends.get(where, -math.inf), job.end_time)
        with self._lock:
            self._held = held if complete else held | self._held
            for where, at in ends.items():
                self._last_held[where] = max(self._last_held.get(where, -math.inf), at)
            self._known = True

    def clusters(
        self, listed: Sequence[ListedCluster], complete: bool, now: float
    ) -> list[Cluster]:
        """The clusters of a RayCluster listing read at ``now``, each idle since when it is;
        a complete listing forgets what it knew of clusters no longer there."""
        with self._lock:
            for item in listed:
                item.cluster.idle_since = self._idle_since(item, now)
            if complete:
                self._forget({item.where for item in listed}, {item.key for item in listed})
        return [item.cluster for item in listed]

    def _idle_since(self, item: ListedCluster, now: float) -> float | None:
        if item.cluster.state != READY:
            self._ready_seen.pop(item.key, None)
            self._not_ready.add(item.key)
            return None
        ready = item.ready_since
        if ready is None:
            first = now if item.key in self._not_ready else item.cluster.created_time
            ready = self._ready_seen.setdefault(item.key, now if first is None else first)
        self._not_ready.discard(item.key)
        if not self._known or item.where in self._held:
            return None
        return max(ready, self._last_held.get(item.where, ready))

    def _forget(self, listed: set[Where], uids: set[str]) -> None:
        keep = listed | self._held
        self._last_held = {w: at for w, at in self._last_held.items() if w in keep}
        self._ready_seen = {uid: at for uid, at in self._ready_seen.items() if uid in uids}
        self._not_ready &= uids
