"""Thousands of targets: the port answers before any poller is built, first polls are spread
over the interval, and every target is polled within one interval."""

from __future__ import annotations

import datetime as dt
import itertools
import queue
import threading
import time
from contextlib import ExitStack

import httpx
import pytest

from exporter.app import Exporter
from exporter.config.parse import parse_config
from exporter.exposition import families
from exporter.exposition.block import Block
from exporter.exposition.store import BlockKey, Exposition
from exporter.polling.scheduler import SPREAD, first_poll
from exporter.simulators.ray import RaySimulator

from .helpers import eventually, samples

TARGETS = 1_000
INTERVAL = 20.0


@pytest.mark.slow
def test_a_thousand_targets_listen_first_and_are_all_polled_within_one_interval() -> None:
    with ExitStack() as stack:
        sims = [stack.enter_context(RaySimulator(seed=i)) for i in range(10)]
        for sim in sims:
            sim.add_job("running", status="RUNNING")
        config = parse_config(
            {
                "defaults": {"poll_interval": f"{INTERVAL:g}s", "timeout": "10s"},
                "targets": [
                    sims[i % len(sims)].target_config(f"t{i:04d}", resources=["jobs"])
                    for i in range(TARGETS)
                ],
            }
        )
        started = time.monotonic()
        exporter = Exporter(config, defer_pollers=True)
        at_listen: dict[str, object] = {}
        ports: queue.Queue[int] = queue.Queue()

        def on_ready(port: int) -> None:
            """Runs in the serving thread once the port listens, before it builds pollers."""
            base = f"http://127.0.0.1:{port}"
            at_listen["healthz"] = httpx.get(f"{base}/healthz", timeout=5).status_code
            at_listen["after"] = time.monotonic() - started
            readyz = httpx.get(f"{base}/readyz", timeout=5)
            at_listen["readyz"] = (readyz.status_code, readyz.text)
            at_listen["pollers"] = len(exporter.pollers)
            at_listen["requests"] = sum(len(sim.requests) for sim in sims)
            ports.put(port)

        stop = threading.Event()
        serving = threading.Thread(
            target=exporter.serve, args=("127.0.0.1", 0, stop), kwargs={"on_ready": on_ready}
        )
        serving.start()
        try:
            base = f"http://127.0.0.1:{ports.get(timeout=30)}"
            print(
                f"\n{TARGETS} targets: /healthz 200 {at_listen['after'] * 1000:.0f} ms after start"
            )
            assert at_listen["healthz"] == 200
            assert at_listen["pollers"] == 0 and at_listen["requests"] == 0
            status, text = at_listen["readyz"]
            assert status == 503 and f"and {TARGETS - 20} more" in text

            def ready() -> bool:
                return httpx.get(f"{base}/readyz", timeout=5).status_code == 200

            eventually(ready, timeout=INTERVAL * 1.5, what="every target polled")
            elapsed = time.monotonic() - started
            print(f"{TARGETS} targets: all polled after {elapsed:.1f} s, interval {INTERVAL:g} s")
            body = httpx.get(f"{base}/metrics", timeout=30).content
            up = [v for (n, _), v in samples(body).items() if n == "jobfleet_target_up"]
            assert len(up) == TARGETS and all(up)
        finally:
            stop.set()
            serving.join(30)
        assert not serving.is_alive()


def test_first_polls_are_spread_evenly_over_most_of_an_interval() -> None:
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    times = [(first_poll(start, 30.0, rank, 1000) - start).total_seconds() for rank in range(1000)]
    assert times[0] == 0.0 and times == sorted(times)
    assert max(times) <= SPREAD * 30.0
    gaps = {round(b - a, 9) for a, b in itertools.pairwise(times)}
    assert gaps == {round(SPREAD * 30.0 / 1000, 9)}


def test_publishing_costs_the_block_not_the_exposition() -> None:
    """A publish stores bytes; the body is joined once when asked, after any number of them."""
    exposition = Exposition()
    for n in range(2_000):
        block = Block((("target", f"t{n}"), ("backend", "ray")))
        block.add(families.TARGET_UP, 1, (("resource", "jobs"),))
        exposition.update({BlockKey(f"t{n}", "jobs"): block.encode()})
        assert not exposition._bodies  # nothing joined per publish
    body = exposition.body()
    assert body.count(b"jobfleet_target_up{") == 2_000
    assert exposition.body() is body  # joined once, handed out until the next change
    assert exposition.gzipped() is exposition.gzipped()
