"""The job contract over the RayJobs of the simulated cluster: a job is a RayJob, its id the
object's ``metadata.uid`` (a name is handed out again once its RayJob is deleted; a uid never
is), its native status the stage the simulator moved it to (``rayjob.STAGES``)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any, ClassVar

from exporter.simulators.base import JobResource, Outcome
from exporter.simulators.kuberay.rayjob import ENDED, enter, new_ray_job, stage_of
from exporter.simulators.kubernetes.server import KubernetesApi
from exporter.simulators.kubernetes.store import Key

NAMESPACES = ("team-a", "team-b", "research")
ENDS: dict[Outcome, str] = {"succeeded": "SUCCEEDED", "failed": "FAILED", "cancelled": "STOPPED"}
DELETED = "Deleted"  # what a watch shows of a RayJob deleted before it ended


class RayJobs(JobResource):
    JOB_LIST_KEY: ClassVar[str | None] = "items"
    JOB_ID_FIELD: ClassVar[str] = "metadata.uid"
    JOB_SUBMIT_FIELD: ClassVar[str] = "metadata.creationTimestamp"
    RUNNING = "RUNNING"
    ENDS = ENDS
    ANSWERS_CHANGES = True  # a watch from the last poll's version: its changes, deletions too

    def __init__(self, api: KubernetesApi, now: Callable[[], float]) -> None:
        super().__init__()
        self.api = api
        self.now = now
        self._lock = threading.Lock()
        self._keys: dict[str, Key] = {}  # uid -> (namespace, name), while the RayJob exists
        self._used: set[str] = set()
        self._count = 0
        api.on_answer = self._record

    def submit_job(
        self, key: str | None = None, *, running: bool = False, name: str | None = None
    ) -> str:
        # a name given is the RayJob's name and its app label (what the demo's workload reads)
        labels = {"app": name} if name else None
        uid = self.create_ray_job(name or f"rayjob-{self._count + 1}", key=key, labels=labels)
        if running:
            self.move(uid, "RUNNING")
        return uid

    def create_ray_job(
        self,
        name: str,
        *,
        key: str | None = None,
        labels: dict[str, str] | None = None,
        on: tuple[str, str] | None = None,
        backoff_limit: int | None = None,
    ) -> str:
        """Create RayJob ``name`` (its uid ``key``, else a new one) in the next namespace in
        turn, initializing, on a RayCluster of its own; ``on`` (namespace, name): in that
        namespace, on that RayCluster (``clusterSelector``); retried up to ``backoff_limit``
        times when given. Its uid; ValueError when the uid was used or the name is taken."""
        with self._lock:
            uid = key or str(uuid.uuid4())
            if uid in self._used:
                raise ValueError(f"RayJob uid {uid} was used before")
            self._count += 1
            namespace = on[0] if on else NAMESPACES[self._count % len(NAMESPACES)]
            given = {"team": namespace.removeprefix("team-"), "app": "rayjob", **(labels or {})}
            item = new_ray_job(
                name,
                namespace,
                uid,
                labels=given,
                entrypoint="python main.py",
                ttl=600,
                cluster=on[1] if on else None,
                backoff_limit=backoff_limit,
            )
            enter(item, "Initializing", self.now())
            self.api.store.create("rayjobs", item)
            self._used.add(uid)
            self._keys[uid] = (namespace, name)
        return uid

    def end_job(self, key: str, outcome: Outcome) -> str:
        if outcome == "failed" and not self.ran(key):
            self.move(key, "Failed")  # the submission failed: Ray never ran it
            return "Failed"
        return super().end_job(key, outcome)

    def retry_job(self, key: str) -> None:
        """The attempt of RayJob ``key`` fails now and is to be retried (``Retrying``, one more
        failed); ``restart_job`` begins the next attempt."""
        self.move(key, "Retrying")

    def restart_job(self, key: str) -> str:
        """A retried RayJob begins its next attempt now (``Initializing``, a new RayCluster);
        the name of that RayCluster."""
        self.move(key, "Initializing")
        return self.item(key)["status"]["rayClusterName"]

    def move(self, key: str, status: str) -> None:
        with self._lock:
            where = self._keys[key]
        now = self.now()
        self.api.store.update("rayjobs", where, lambda item: enter(item, status, now))

    def item(self, key: str) -> dict[str, Any]:
        """RayJob ``key`` as the API holds it now; KeyError once deleted."""
        with self._lock:
            found = self.api.store.get("rayjobs", self._keys[key])
        if found is None:
            raise KeyError(key)
        return found

    def ran(self, key: str) -> bool:
        return "startTime" in self.item(key)["status"].get("rayJobInfo", {})

    def ended(self, key: str) -> bool:
        return stage_of(self.item(key)["status"]) in ENDED

    def remove_job(self, key: str) -> None:
        with self._lock:
            where = self._keys.pop(key, None)
        if where is not None:
            self.api.store.delete("rayjobs", where)

    def fail_job_lists(self, n: int) -> None:
        self.api.throttle_lists("rayjobs", n)

    def live(self) -> list[str]:
        with self._lock:
            return list(self._keys)

    def _record(self, plural: str, items: list[dict[str, Any]], deleted: bool) -> None:
        """What an answer showed of each RayJob: its stage; one a watch shows deleted before
        it ended, ``Deleted`` (as the exporter counts it)."""
        if plural == "rayjobs":
            shown = [(item["metadata"]["uid"], self._stage_shown(item, deleted)) for item in items]
            self.record_answer(self.now(), shown)

    @staticmethod
    def _stage_shown(item: dict[str, Any], deleted: bool) -> str:
        stage = stage_of(item["status"])
        return DELETED if deleted and stage not in ENDED else stage
