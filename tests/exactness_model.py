"""What an exactness history knows of its jobs (``Model``) and the truth it derives from what
polls could see (``History``): shared by every backend's history (tests/test_exactness.py,
tests/exactness_kuberay.py)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from .exactness_harness import JITTER, Counts


@dataclass
class Model:
    """What the test knows of one job: its times on the API's clock, what polls could see."""

    key: str
    submit: float
    phase: str = "pending"  # pending, running, or the terminal phase
    status: str = ""
    start: float | None = None
    end: float | None = None
    visible_at: float = 0.0
    rate: float = 0.0  # CU
    null_cu: bool = False  # cuHours null until the job ends
    gone: bool = False  # deleted, or lost in a head restart: no poll shows it again
    seen: bool = False
    seen_ended: bool = False
    known_active: bool = False  # seen, not yet ended (ModelArts follows these by id)
    read_until: float | None = None  # the time of the last cuHours reading seen

    @property
    def ended(self) -> bool:
        return self.end is not None


class History:
    """A seeded random history: what happens between polls, and what each poll could see."""

    def __init__(self, seed: int, now: list[float], margin: int = 0) -> None:
        self.rng = random.Random(seed)
        self.now = now
        self.margin = margin  # nothing happens within this many seconds of a poll
        self.jobs: dict[str, Model] = {}
        self.baseline: float | None = None
        self.serial = 0
        self.trace: list[str] = []  # what happened, for a failure's message

    # hooks
    def api_now(self) -> float:
        return self.now[0]

    def before_poll(self) -> None:
        pass

    def seen_by_poll(self, ok: bool) -> list[Model]:
        raise NotImplementedError

    def happen(self, at: float) -> None:
        raise NotImplementedError

    def outage(self, start: float, end: float) -> None:
        for at in sorted(self.rng.sample(range(int(start), int(end)), 3)):
            self.happen(at)

    # the truth
    def observe(self, ok: bool) -> None:
        """Mark what this poll could see; set the baseline at the first successful one."""
        if not ok:
            return
        api_now = self.api_now()
        if self.baseline is None:
            self.baseline = api_now
        for job in self.seen_by_poll(ok):
            job.seen = True
            if job.ended:
                job.seen_ended, job.known_active = True, False
            else:
                job.known_active = True
            if not job.null_cu or job.ended:
                job.read_until = job.end if job.ended else api_now

    def truth(self) -> Counts:
        bt = self.baseline
        assert bt is not None
        counts = Counts()
        for job in self.jobs.values():
            if job.seen and job.submit > bt:
                counts.submitted += 1
            if job.seen_ended and job.end is not None and job.end > bt:
                counts.finished[(job.phase, job.status)] += 1
            if job.rate and job.start is not None and job.read_until is not None:
                counts.cu_seconds += job.rate * max(0.0, job.read_until - max(job.start, bt))
        return counts

    def cu_slack(self) -> float:
        """How far jitter may move the CU-seconds: the share after ``bt`` of a first reading of
        a job begun before it is pro rata of its times as an answer gives them (each moved by
        up to JITTER, and half a second of rounding)."""
        if not self.margin or self.baseline is None:
            return 0.0
        moved = 4 * (JITTER + 0.5)
        bt = self.baseline
        return sum(
            job.rate * moved
            for job in self.jobs.values()
            if job.start is not None and job.start < bt and job.read_until is not None
        )

    def new_key(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}-{self.serial:05d}"
