"""``RayHeads``: several Ray heads behind one URL, answering in turn or with their job lists
merged."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from email.message import Message
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from exporter.simulators.base import Simulator
from exporter.simulators.ray.common import Reply
from exporter.simulators.ray.handler import handler
from exporter.simulators.ray.simulator import RaySimulator


class RayHeads(Simulator):
    """Ray heads behind one URL, as a balancer, a stale proxy or two clusters taken for one show
    them (docs/metrics.md, "Counting"). ``mode`` ``alternate``: each request is answered by the
    next head in turn; ``merged``: the job list holds the jobs of every head, in the heads'
    order; ``shuffled``: the same, in a new (seeded) order every time. In the merged modes, other
    requests go to the first head."""

    def __init__(self, heads: list[RaySimulator], mode: str = "alternate", seed: int = 0) -> None:
        super().__init__()
        if mode not in ("alternate", "merged", "shuffled"):
            raise ValueError(f"unknown mode {mode!r}")
        self.heads = heads
        self.mode = mode
        self._rng = random.Random(seed)
        self._turn = 0
        self._lock = threading.Lock()

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return handler(self)

    @property
    def clock(self) -> Callable[[], float]:
        return self.heads[0].clock

    def target_config(self, name: str, **settings: Any) -> dict[str, Any]:
        return self.heads[0].target_config(name, **settings) | {"url": self.url}

    def answer(self, method: str, target: str, headers: Message, body: bytes) -> Reply:
        with self._lock:
            turn = self._turn
            self._turn += 1
        if self.mode == "alternate":
            return self.heads[turn % len(self.heads)].answer(method, target, headers, body)
        first = self.heads[0]
        if method != "GET" or urlsplit(target).path != first.jobs_path:
            return first.answer(method, target, headers, body)
        jobs = []
        for head in self.heads:
            status, payload = head.answer(method, target, headers, body)
            if status != 200:
                return status, payload
            jobs += payload
        if self.mode == "shuffled":
            with self._lock:
                self._rng.shuffle(jobs)
        return 200, jobs
