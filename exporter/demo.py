"""``--demo``: built-in simulators on loopback, and a config that polls them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from .config import Config, parse_config
from .simulators.ray import RaySimulator

DEMO_LISTEN_ADDRESS = "127.0.0.1:9760"
DEMO_POLL_INTERVAL = "5s"


@contextlib.contextmanager
def demo_environment() -> Iterator[Config]:
    """Start the simulators with an evolving workload; yield a config polling them."""
    simulators = [
        ("demo-ray", RaySimulator(flavour="ray", seed=1)),
        ("demo-openyuanrong", RaySimulator(flavour="openyuanrong", seed=2)),
    ]
    targets = []
    try:
        for name, simulator in simulators:
            url = simulator.start()
            simulator.start_workload(rate_per_min=12)
            targets.append(
                {
                    "name": name,
                    "backend": simulator.flavour,
                    "url": url,
                    "poll_interval": DEMO_POLL_INTERVAL,
                    "per_job_series": "all",
                }
            )
        yield parse_config({"web": {"listen_address": DEMO_LISTEN_ADDRESS}, "targets": targets})
    finally:
        for _, simulator in simulators:
            simulator.stop()
