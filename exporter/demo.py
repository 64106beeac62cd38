"""``--demo``: built-in simulators on loopback, and a config that polls them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from .config import Config, parse_config
from .simulators.emr_serverless import EmrServerlessSimulator
from .simulators.modelarts_lite import ModelArtsLiteSimulator
from .simulators.ray import RaySimulator

DEMO_LISTEN_ADDRESS = "127.0.0.1:9760"
DEMO_POLL_INTERVAL = "5s"


@contextlib.contextmanager
def demo_environment() -> Iterator[Config]:
    """Start the simulators with an evolving workload; yield a config polling them."""
    ray = RaySimulator(flavour="ray", seed=1)
    yuanrong = RaySimulator(flavour="openyuanrong", seed=2)
    emr = EmrServerlessSimulator(seed=3)
    modelarts = ModelArtsLiteSimulator(seed=4)
    simulators = (ray, yuanrong, emr, modelarts)
    try:
        for simulator in simulators:
            simulator.start()
            simulator.start_workload()
        common = {"poll_interval": DEMO_POLL_INTERVAL, "per_job_series": "all"}
        targets = [
            ray.target_config("demo-ray", **common),
            yuanrong.target_config("demo-openyuanrong", **common),
            emr.target_config("demo-emr", **common),
            modelarts.target_config("demo-modelarts", **common),
        ]
        yield parse_config({"web": {"listen_address": DEMO_LISTEN_ADDRESS}, "targets": targets})
    finally:
        for simulator in simulators:
            simulator.stop()
