"""A thread pool whose idle threads end, for the polls.

Polls block on I/O, so a burst needs many threads at once: a backend timing out for all its
targets, a discovery change adding a thousand targets, a state file slow to write. The standard
``ThreadPoolExecutor`` keeps every thread it ever started, and with each one the memory it
used (its stack and its share of the allocator's arenas: 0.1-0.2 MB), for the life of the
process. Here a thread idle for ``idle_seconds`` ends, so memory comes back after the burst.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

from apscheduler.executors.pool import BasePoolExecutor

IDLE_SECONDS = 60.0
_Work = tuple[Future, Callable[..., Any], tuple, dict] | None  # None: shut down


class ElasticThreadPool(Executor):
    """At most ``max_workers`` threads, started as work waits for one, each ending once idle
    for ``idle_seconds``."""

    def __init__(
        self, max_workers: int, idle_seconds: float = IDLE_SECONDS, name: str = "poll"
    ) -> None:
        self._max = max_workers
        self._idle_seconds = idle_seconds
        self._name = name
        self._work: queue.SimpleQueue[_Work] = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)  # one token per idle thread no work counts on
        self._lock = threading.Lock()
        self._alive: set[threading.Thread] = set()
        self._started = 0
        self._shut = False

    @property
    def threads(self) -> int:
        """Threads alive now."""
        with self._lock:
            return len(self._alive)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        with self._lock:
            if self._shut:
                raise RuntimeError("cannot schedule new work after shutdown")
            self._work.put((future, fn, args, kwargs))
            if not self._idle.acquire(blocking=False) and len(self._alive) < self._max:
                self._started += 1
                thread = threading.Thread(
                    target=self._run, name=f"{self._name}-{self._started}", daemon=True
                )
                self._alive.add(thread)
                thread.start()
        return future

    def _run(self) -> None:
        while True:
            try:
                work = self._work.get(timeout=self._idle_seconds)
            except queue.Empty:
                with self._lock:
                    if self._idle.acquire(blocking=False):  # no work counts on this thread
                        self._alive.discard(threading.current_thread())
                        return
                continue  # a submit counted on an idle thread: its work is coming
            if work is None:
                with self._lock:
                    self._alive.discard(threading.current_thread())
                return
            future, fn, args, kwargs = work
            if not future.set_running_or_notify_cancel():
                self._idle.release()
                continue
            try:
                result = fn(*args, **kwargs)
            except BaseException as err:  # handed to whoever waits on the future
                self._idle.release()  # idle before the future says so: see below
                future.set_exception(err)
            else:
                # idle before the future says so, so that work submitted upon its result
                # finds this thread rather than starting another
                self._idle.release()
                future.set_result(result)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """No more work: each thread ends after the work it runs (``wait``: wait for that)."""
        with self._lock:
            self._shut = True
            threads = list(self._alive)
        for _ in threads:
            self._work.put(None)
        if wait:
            for thread in threads:
                thread.join()


class ElasticExecutor(BasePoolExecutor):
    """APScheduler's pool executor over an ``ElasticThreadPool``."""

    def __init__(self, max_workers: int, idle_seconds: float = IDLE_SECONDS) -> None:
        super().__init__(ElasticThreadPool(max_workers, idle_seconds))
