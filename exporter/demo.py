"""``--demo``: a simulator of every declared backend on loopback, and a config that polls them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from exporter.backends import registry
from exporter.config.parse import Config, parse_config

if TYPE_CHECKING:
    from exporter.simulators.base import Simulator

DEMO_LISTEN_ADDRESS = "127.0.0.1:9760"
DEMO_POLL_INTERVAL = "5s"


def demo_target_name(backend: str) -> str:
    """The demo's target for ``backend``."""
    return f"demo-{backend}"


def demo_target(backend: str, simulator: Simulator, name: str, **settings: Any) -> dict[str, Any]:
    """A target named ``name`` polling ``simulator`` of ``backend`` as the demo does: every
    resource its targets may list (those a real target names itself, such as EMR's resource
    queues, too), with the attribution its declaration gives the demo."""
    declaration = registry.declaration(backend)
    return simulator.target_config(
        name,
        attribution=declaration.demo_attribution,
        resources=list(declaration.target.resource_names()),
        **settings,
    )


@contextlib.contextmanager
def demo_environment() -> Iterator[Config]:
    """Start the simulators with an evolving workload; yield a config polling them."""
    simulators = {
        name: registry.declaration(name).simulator(name, seed=seed)
        for seed, name in enumerate(registry.names(), start=1)
    }
    try:
        for simulator in simulators.values():
            simulator.start()
            simulator.start_workload()
        common = {"poll_interval": DEMO_POLL_INTERVAL, "per_job_series": "all"}
        targets = [
            demo_target(name, simulator, demo_target_name(name), **common)
            for name, simulator in simulators.items()
        ]
        yield parse_config({"web": {"listen_address": DEMO_LISTEN_ADDRESS}, "targets": targets})
    finally:
        for simulator in simulators.values():
            simulator.stop()
