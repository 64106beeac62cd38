"""The polls' thread pool: threads start as work waits for one, within the maximum, and end
once idle, so a burst's threads (and their memory) do not stay for the life of the process."""

from __future__ import annotations

import threading

import pytest

from exporter.polling.pool import ElasticThreadPool

from .helpers import eventually

DEADLINE_S = 10.0


def wait_for(condition, what: str) -> None:
    eventually(condition, DEADLINE_S, 0.005, what)


def test_a_bursts_threads_end_once_idle_and_its_work_is_all_done() -> None:
    pool = ElasticThreadPool(max_workers=50, idle_seconds=0.05)
    release = threading.Event()
    running = threading.Semaphore(0)

    def work(n: int) -> int:
        running.release()
        release.wait(DEADLINE_S)
        return n * 2

    futures = [pool.submit(work, n) for n in range(20)]
    for _ in range(20):
        assert running.acquire(timeout=DEADLINE_S)  # all 20 run at once: 20 threads
    assert pool.threads == 20
    release.set()
    assert [f.result(timeout=DEADLINE_S) for f in futures] == [n * 2 for n in range(20)]
    wait_for(lambda: pool.threads == 0, "the idle threads ended")
    assert pool.submit(work, 21).result(timeout=DEADLINE_S) == 42  # a new thread starts
    pool.shutdown()


def test_an_idle_thread_takes_new_work_and_the_maximum_holds() -> None:
    pool = ElasticThreadPool(max_workers=3, idle_seconds=30)
    assert pool.submit(lambda: 1).result(timeout=DEADLINE_S) == 1
    wait_for(lambda: pool.threads == 1, "one thread")
    for _ in range(5):  # one after the other: the idle thread takes each
        assert pool.submit(lambda: 2).result(timeout=DEADLINE_S) == 2
    assert pool.threads == 1
    gate, inside = threading.Event(), []
    lock = threading.Lock()

    def held() -> None:
        with lock:
            inside.append(1)
        gate.wait(DEADLINE_S)

    futures = [pool.submit(held) for _ in range(10)]
    wait_for(lambda: len(inside) == 3, "three at once")
    assert pool.threads == 3 and len(inside) == 3  # the others wait for a thread
    gate.set()
    for future in futures:
        future.result(timeout=DEADLINE_S)
    assert len(inside) == 10
    pool.shutdown(wait=True)
    assert pool.threads == 0


def test_an_error_reaches_the_future_and_work_after_shutdown_is_refused() -> None:
    pool = ElasticThreadPool(max_workers=2, idle_seconds=30)

    def fails() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        pool.submit(fails).result(timeout=DEADLINE_S)
    assert pool.submit(lambda: "after").result(timeout=DEADLINE_S) == "after"
    pool.shutdown(wait=True)
    with pytest.raises(RuntimeError):
        pool.submit(lambda: None)
