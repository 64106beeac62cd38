"""The exactness history of KubeRay: RayJobs created, started, ended in every way KubeRay ends
them, deleted by their TTL once ended (or by a user while they run), while the exporter is up
and while it is down; lists walked a few items a page, a ``continue`` now and then expired by a
compaction in the middle of a walk (410 Gone: the walk begins again).

The exporter lists RayJobs whole at its first poll (and after a 410), then each poll watches
from the version it reached: a poll so sees every change since the last successful one, also
of RayJobs deleted meanwhile, in their last state; one deleted before it ended counts as
cancelled, ``Deleted``. A poll that lists (after a start, or when etcd compacted the history
its watch needed) sees only the RayJobs that exist: one deleted unseen is never counted
finished (docs/backends/kuberay.md, "Deleted RayJobs").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from exporter.simulators.kuberay import KubeRaySimulator

from .exactness_harness import T0, Exporting, check, jittered
from .exactness_model import History, Model

PAGE_SIZE = 3  # items a page: most lists take several pages, so a walk can meet a 410
ENDS = {"SUCCEEDED": "succeeded", "FAILED": "failed", "STOPPED": "cancelled"}
SUBMISSION_FAILED = "Failed"  # jobDeploymentStatus Failed, jobStatus empty: Ray never ran it


class KubeRayHistory(History):
    def __init__(self, seed: int, now: list[float], sim: KubeRaySimulator, margin: int) -> None:
        super().__init__(seed, now, margin)
        self.sim = sim
        self.expire_pending = False  # a compaction after the next list's first page
        self.bumps = 0
        self.watching = False  # the exporter running has polled: its next poll watches
        self.broken = False  # etcd compacted the history its next watch needs: it lists
        self.touched: dict[str, Model] = {}  # changed since the last successful poll
        self.deleted_active: dict[str, float] = {}  # deleted before they ended, when
        self.version_at_poll = 0
        self.stale_after_poll = False  # the version this poll ends at is compacted already
        sim.api.on_answer = self._answered(sim.api.on_answer)
        first = now[0]
        for _ in range(self.rng.randint(0, 8)):  # RayJobs from before the exporter
            job = self._submit(first - self.rng.uniform(3000, 9000))
            if self.rng.random() < 0.7:
                self._start(job, job.submit + self.rng.uniform(5, 60))
        for job in list(self.jobs.values()):
            if self.rng.random() < 0.6:
                self._end(job, first - self.rng.uniform(1 + margin, 2000))
            if job.ended and self.rng.random() < 0.3:
                self._delete(job, first - margin - 0.5)
        now[0] = first

    def _answered(self, recorded: Any) -> Any:
        """The API's record of a list page, then, when armed, the expiry of its ``continue``:
        another object changes and etcd compacts, as it does every five minutes."""

        def answered(plural: str, items: list[dict[str, Any]], deleted: bool) -> None:
            if recorded is not None:
                recorded(plural, items, deleted)
            listing = "watch" not in self.sim.api.requests[-1][1]
            if plural == "rayjobs" and self.expire_pending and listing:
                self.expire_pending = False
                # a list of one page is complete already: the version it gives is gone
                self.stale_after_poll = len(self.sim.live()) <= PAGE_SIZE
                self.bumps += 1
                store = self.sim.api.store
                store.create(
                    "rayclusters", {"metadata": {"namespace": "x", "name": f"b{self.bumps}"}}
                )
                store.compact()
                self.trace.append("continue expired mid-walk")

        return answered

    # --- what happens ---------------------------------------------------------------------

    def _submit(self, at: float) -> Model:
        self.now[0] = at
        key = self.sim.submit_job()
        job = Model(key, at, "pending", "Initializing")
        self.jobs[key] = job
        self.touched[key] = job
        self.trace.append(f"{at:.0f} create {key}")
        return job

    def _start(self, job: Model, at: float) -> None:
        self.now[0] = at
        self.sim.move(job.key, "RUNNING")
        job.phase, job.status, job.start = "running", "RUNNING", at
        self.touched[job.key] = job
        self.trace.append(f"{at:.0f} start {job.key}")

    def _end(self, job: Model, at: float) -> None:
        self.now[0] = at
        if job.start is None:  # a RayJob that never ran fails to submit, or is stopped
            status = self.rng.choice((SUBMISSION_FAILED, "STOPPED"))
        else:
            status = self.rng.choice(tuple(ENDS))
        self.sim.move(job.key, status)
        job.phase = "failed" if status == SUBMISSION_FAILED else ENDS[status]
        job.status, job.end = status, at
        self.touched[job.key] = job
        self.trace.append(f"{at:.0f} end {job.key} {status}")

    def _delete(self, job: Model, at: float) -> None:
        self.now[0] = at
        self.sim.remove_job(job.key)
        job.gone = True
        self.touched[job.key] = job
        if not job.ended:
            self.deleted_active[job.key] = at
        self.trace.append(f"{at:.0f} delete {job.key} {'ended' if job.ended else 'active'}")

    def happen(self, at: float) -> None:
        roll = self.rng.random()
        present = [job for job in self.jobs.values() if not job.gone]
        active = [job for job in present if not job.ended]
        ended = [job for job in present if job.ended]
        waiting = [job for job in active if job.start is None]
        if roll < 0.3 or not active:
            self._submit(at)
        elif roll < 0.45 and waiting:
            self._start(self.rng.choice(waiting), at)
        elif roll < 0.7:
            self._end(self.rng.choice(active), at)
        elif roll < 0.9 and ended:  # ttlSecondsAfterFinished, or deletionStrategy DeleteSelf
            self._delete(self.rng.choice(ended), at)
        elif roll >= 0.95:  # kubectl delete while it runs
            self._delete(self.rng.choice(active), at)
        if self.rng.random() < 0.15:
            self.expire_pending = True
        if self.rng.random() < 0.1:
            self._compact(at)

    def _compact(self, at: float) -> None:
        """etcd compacts: a watch from before the last change is refused (410)."""
        self.sim.api.store.compact()
        if self.sim.api.store.version > self.version_at_poll:
            self.broken = True
        self.trace.append(f"{at:.0f} compaction{' (watch broken)' if self.broken else ''}")

    def started(self) -> None:
        """A new exporter: its first poll lists."""
        self.watching = self.broken = False
        self.trace.append("exporter started")

    # --- the truth --------------------------------------------------------------------------

    def seen_by_poll(self, ok: bool) -> list[Model]:
        present = [job for job in self.jobs.values() if not job.gone]
        if not self.watching or self.broken:
            return present
        for key, at in self.deleted_active.items():  # its watch showed it deleted
            job = self.jobs[key]
            job.phase, job.status, job.end = "cancelled", "Deleted", at
        return [*present, *(job for job in self.touched.values() if job.gone)]

    def observe(self, ok: bool) -> None:
        super().observe(ok)
        if ok:
            self.watching, self.broken = True, self.stale_after_poll
            self.touched, self.deleted_active = {}, {}
            self.version_at_poll = self.sim.api.store.version
        self.stale_after_poll = False


def kuberay_counts_exactly(tmp_path: Path, backend: str, jitter: bool, histories: int) -> None:
    now = [float(T0)]
    for seed in range(histories):
        now[0] = float(T0)
        with KubeRaySimulator(seed=seed, clock=lambda: now[0]) as sim:
            history = KubeRayHistory(seed, now, sim, jittered(sim, seed, jitter))
            now[0] = float(T0)
            target = sim.target_config("k8s", resources=["jobs"], page_size=PAGE_SIZE)
            exporting = Watching(history, target, tmp_path / f"state-{seed}.json", lambda: now[0])
            check(seed, history, exporting, lambda: sim.fail_job_lists(1))


class Watching(Exporting):
    """``Exporting`` that tells the history when a new exporter starts."""

    def __init__(self, history: KubeRayHistory, *args: Any) -> None:
        super().__init__(*args)
        self.history = history

    def start(self) -> None:
        super().start()
        self.history.started()
